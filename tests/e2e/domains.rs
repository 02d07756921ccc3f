use baton::FnWorker;
use baton::config::ConfigSources;
use baton::model::Task;
use baton_mock::EnqueueRequest;
use baton_tests::{assert_exactly_once, host_for, mock, wait_for_terminal};

#[tokio::test]
async fn workers_get_exactly_the_tasks_of_their_domain() {
    let mock = mock().await;
    let eu = mock.enqueue(EnqueueRequest::new("routed", 20).domain("eu"));
    let us = mock.enqueue(EnqueueRequest::new("routed", 20).domain("us"));
    let plain = mock.enqueue(EnqueueRequest::new("routed", 20));
    // The "us" worker takes its domain from the environment layer, the others from code.
    let env = [("conductor_worker_routed_domain".to_owned(), "us".to_owned())];
    let worker = |id: &str| FnWorker::blocking("routed", |_: Task| ()).worker_id(id);
    let host = host_for(&mock)
        .worker(worker("eu-worker").domain("eu"))
        .build()
        .unwrap()
        .start()
        .unwrap();
    let us_host = host_for(&mock)
        .config_sources(ConfigSources::new(env, None).unwrap())
        .worker(worker("us-worker"))
        .build()
        .unwrap()
        .start()
        .unwrap();
    let plain_host = host_for(&mock)
        .worker(worker("plain-worker").domain(""))
        .build()
        .unwrap()
        .start()
        .unwrap();

    let ledger = wait_for_terminal(&mock, 60).await;
    assert_exactly_once(&ledger);
    for (enqueued, expected) in [
        (&eu, "eu-worker"),
        (&us, "us-worker"),
        (&plain, "plain-worker"),
    ] {
        for task_id in enqueued.task_ids() {
            let task = mock.core().task(&task_id).unwrap();
            assert_eq!(task.worker_id.as_deref(), Some(expected), "{task_id}");
        }
    }
    for host in [host, us_host, plain_host] {
        host.shutdown_async().await;
    }
}
