use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use baton::FnWorker;
use baton::model::{Task, TaskResult};
use baton_mock::EnqueueRequest;
use baton_tests::{DEADLINE, assert_exactly_once, mock, start_host, wait_for, wait_for_terminal};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[tokio::test]
async fn in_flight_tasks_never_exceed_the_concurrency() {
    let mock = mock().await;
    mock.enqueue(EnqueueRequest::new("slow", 120));
    let worker = FnWorker::blocking("slow", |_: Task| {
        std::thread::sleep(Duration::from_millis(5));
    })
    .concurrency(4)
    .batch_size(4);
    let host = start_host(&mock, [worker.into()]);

    let (mut max_server, mut max_engine) = (0, 0);
    loop {
        let ledger = mock.ledger();
        max_server = max_server.max(ledger.in_flight);
        max_engine = max_engine.max(host.status().workers[0].executing);
        if ledger.completed == 120 {
            break;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    assert!(max_server <= 4, "server saw {max_server} tasks in flight");
    assert!(max_engine <= 4, "engine ran {max_engine} tasks at once");
    assert_eq!(max_server, 4, "the worker never used all its slots");
    assert_exactly_once(&mock.ledger());
    host.shutdown_async().await;
}

/// Counts the tasks running at once and lets each finish only once `target` run together.
struct Rendezvous {
    running: Mutex<usize>,
    all_here: Condvar,
    most: AtomicUsize,
    target: usize,
}

impl Rendezvous {
    fn arrive(&self) {
        let mut running = self.running.lock().unwrap();
        *running += 1;
        self.most.fetch_max(*running, Ordering::SeqCst);
        self.all_here.notify_all();
        let (mut running, _) = self
            .all_here
            .wait_timeout_while(running, DEADLINE, |_| {
                self.most.load(Ordering::SeqCst) < self.target
            })
            .unwrap();
        *running -= 1;
    }
}

#[tokio::test]
async fn instances_of_one_worker_type_add_up() {
    let mock = mock().await;
    mock.enqueue(EnqueueRequest::new("shared", 8));
    let rendezvous = Arc::new(Rendezvous {
        running: Mutex::new(0),
        all_here: Condvar::new(),
        most: AtomicUsize::new(0),
        target: 4,
    });
    let instance = |rendezvous: Arc<Rendezvous>| {
        FnWorker::blocking("shared", move |_: Task| rendezvous.arrive()).concurrency(2)
    };
    let host = start_host(
        &mock,
        [
            instance(rendezvous.clone()).into(),
            instance(rendezvous.clone()).into(),
        ],
    );

    let ledger = wait_for_terminal(&mock, 8).await;
    assert_eq!(
        rendezvous.most.load(Ordering::SeqCst),
        4,
        "two instances × 2 slots"
    );
    assert_exactly_once(&ledger);
    let status = host.status();
    assert!(
        status.workers.iter().all(|w| w.tasks_executed > 0),
        "{status:?}"
    );
    host.shutdown_async().await;
}

/// A server that answers the first poll with more tasks than asked for, then nothing, and
/// records every posted result.
async fn oversize_server(tasks: usize) -> (String, Arc<Mutex<HashMap<String, usize>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api", listener.local_addr().unwrap());
    let posted = Arc::new(Mutex::new(HashMap::new()));
    let polls = Arc::new(AtomicUsize::new(0));
    let state = (posted.clone(), polls);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (posted, polls) = state.clone();
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let (posted, polls) = (posted.clone(), polls.clone());
                async move {
                    let body = if request.uri().path().contains("/poll/") {
                        let batch: Vec<Task> = if polls.fetch_add(1, Ordering::SeqCst) == 0 {
                            (0..tasks)
                                .map(|n| Task::new("greedy", format!("task-{n}"), "wf"))
                                .collect()
                        } else {
                            Vec::new()
                        };
                        serde_json::to_vec(&batch).unwrap()
                    } else {
                        let bytes = request.into_body().collect().await.unwrap().to_bytes();
                        let result: TaskResult = serde_json::from_slice(&bytes).unwrap();
                        *posted
                            .lock()
                            .unwrap()
                            .entry(result.task_id.clone())
                            .or_default() += 1;
                        result.task_id.into_bytes()
                    };
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                }
            });
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, posted)
}

#[tokio::test]
async fn oversize_poll_answers_run_every_task() {
    let (url, posted) = oversize_server(5).await;
    let mock_free = host_for_url(&url);
    let worker = FnWorker::blocking("greedy", |_: Task| ()).concurrency(2);
    let host = mock_free.worker(worker).build().unwrap().start().unwrap();

    wait_for("5 results posted", || async {
        posted.lock().unwrap().len() >= 5
    })
    .await;
    let report = host.shutdown_async().await;
    assert!(report.clean);
    let posted = posted.lock().unwrap();
    assert!(posted.values().all(|&count| count == 1), "{posted:?}");
    assert_eq!(report.workers[0].tasks_polled, 5);
}

#[tokio::test]
async fn a_drain_waits_for_tasks_waiting_for_a_slot() {
    let (url, posted) = oversize_server(4).await;
    let worker = FnWorker::blocking("greedy", |_: Task| {
        std::thread::sleep(Duration::from_millis(500));
    })
    .concurrency(1);
    let host = host_for_url(&url)
        .worker(worker)
        .build()
        .unwrap()
        .start()
        .unwrap();
    wait_for("the first task", || async {
        host.status().workers[0].tasks_polled == 4
    })
    .await;
    // Three tasks wait for the one slot: they count as held, and the drain waits for them.
    assert_eq!(host.status().workers[0].executing, 4);
    let report = host.shutdown_async().await;
    assert!(report.clean, "{report:?}");
    assert_eq!(posted.lock().unwrap().len(), 4);
}

fn host_for_url(url: &str) -> baton::WorkerHostBuilder {
    let sources = baton::config::ConfigSources::new(Vec::<(String, String)>::new(), None).unwrap();
    baton::WorkerHost::builder()
        .config_sources(sources)
        .server_url(url)
}
