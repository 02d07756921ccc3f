//! Where a host's workers run: [`Placement::Threads`] puts every worker's actors on arbiter
//! threads of this process (this module); [`Placement::Processes`] gives each worker an OS
//! process of its own, supervised by this one (`process.rs`).
//!
//! With threads, the host runs its own actix System on a thread of its own, with `arbiters`
//! arbiters; each worker's three actors share one arbiter and workers are spread over the
//! arbiters round-robin. Each arbiter has its own [`ConductorClient`], because a pooled
//! connection is driven by the runtime that opened it.

pub(crate) mod process;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use actix::{Arbiter, System};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::actors::{self, HostShared, Pipeline, PipelineParts, TaskJournal};
use crate::client::{ClientSettings, ConductorClient, Recovery, TokenSource};
use crate::host::shutdown::{self, drain};
use crate::host::{
    HostError, HostHandle, HostStatus, ShutdownReport, Stop, WorkerHost, WorkerStatus,
};
use crate::ops::{HostMetrics, OpsEndpoint, OpsState, Vitals, figures_of};
use crate::pool::BlockingPool;

/// Where a host runs its workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Placement {
    /// All workers in this process, their actors on arbiter threads (the default).
    #[default]
    Threads,
    /// Each worker in an OS process of its own, supervised by this one: the program is run
    /// again once per worker (so it must build the same host on every run), the child runs
    /// only its worker, and a child that dies is restarted with backoff.
    Processes,
}

/// The program and arguments run for each worker process, when not this executable again.
#[derive(Debug, Clone)]
pub(crate) struct ProcessCommand {
    /// The program.
    pub(crate) program: std::path::PathBuf,
    /// Its arguments.
    pub(crate) args: Vec<std::ffi::OsString>,
}

/// How long the host waits for each arbiter thread to stop; one that a worker blocks is left
/// behind (logged).
const ARBITER_STOP_LIMIT: Duration = Duration::from_secs(5);

/// Runs every worker of `host` in this process, on arbiter threads, until `stop.requested`.
/// With `serve_ops` (not in a process-placed child) and a `metrics_addr`, also serves the
/// operations endpoint. With a `journal` (in a worker process), every worker tells it which
/// tasks it holds.
pub(crate) fn start_threads(
    host: WorkerHost,
    stop: Stop,
    serve_ops: bool,
    journal: Option<Arc<dyn TaskJournal>>,
) -> Result<HostHandle, HostError> {
    let stop_polling = CancellationToken::new();
    let grace = host.grace();
    let shared = HostShared {
        on_give_up: host.on_give_up.clone(),
        update_v2: host.update_v2,
        poll_error_backoff_max: host.server.poll_error_backoff_max,
        poll_deadline_margin: host.server.poll_deadline_margin,
        journal,
    };
    let ops_addr = host.server.metrics_addr.filter(|_| serve_ops);
    let mut metrics = ops_addr.map(|_| HostMetrics::new());
    let pipelines: Vec<Arc<Pipeline>> = host
        .workers
        .iter()
        .map(|(_, settings)| {
            let worker_metrics = metrics.as_ref().map(|m| m.worker(&settings.task_type));
            Arc::new(Pipeline::new(
                settings.clone(),
                stop_polling.child_token(),
                &shared,
                worker_metrics,
            ))
        })
        .collect();
    let plan = ArbiterPlan::plan(&host, &pipelines)?;
    let ops = match ops_addr {
        Some(addr) => {
            if let Some(metrics) = &mut metrics {
                let of = pipelines.clone();
                metrics.collect(Box::new(move || {
                    of.iter()
                        .map(|p| {
                            (
                                p.settings.task_type.clone(),
                                figures_of(&WorkerStatus::of(p)),
                            )
                        })
                        .collect()
                }));
            }
            let (status_of, vitals_of) = (pipelines.clone(), pipelines.clone());
            Some(OpsEndpoint::start(
                addr,
                OpsState {
                    metrics,
                    status: Box::new(move || HostStatus::of_pipelines(&status_of)),
                    vitals: Box::new(move || {
                        vitals_of
                            .iter()
                            .map(|p| (p.settings.task_type.clone(), Vitals::of(p)))
                            .collect()
                    }),
                },
            )?)
        }
        None => None,
    };

    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = oneshot::channel::<ShutdownReport>();
    let host_stop = stop.clone();
    let drained = pipelines.clone();
    let reported = pipelines.clone();
    let thread = thread::Builder::new()
        .name("baton-host".into())
        .spawn(move || {
            let system = System::new();
            let (arbiters, clean) = system.block_on(async move {
                let arbiters = plan.start();
                let _ = started_tx.send(());
                // Wait for a shutdown request (or the handle being dropped).
                host_stop.requested.cancelled().await;
                stop_polling.cancel();
                let clean = drain(&drained, grace, &host_stop.now).await;
                (arbiters, clean)
            });
            // Whatever is left on the arbiters (results queued, waiting for a retry or being
            // posted) gives itself up as they stop, before the report is made.
            stop_arbiters(arbiters);
            let _ = done_tx.send(shutdown::report(&reported, clean, grace));
        })
        .map_err(HostError::thread("baton-host"))?;
    // The plan starts within milliseconds; waiting keeps `status()` meaningful at once.
    let _ = started_rx.recv();
    Ok(HostHandle::threads(pipelines, stop, done_rx, thread, ops))
}

/// Stops the arbiters and waits up to [`ARBITER_STOP_LIMIT`] for their threads; one that a
/// worker blocks (sync code in an async worker) is left behind, logged.
fn stop_arbiters(arbiters: Vec<Arbiter>) {
    for arbiter in &arbiters {
        arbiter.stop();
    }
    let (joined_tx, joined) = std::sync::mpsc::channel();
    let spawned = thread::Builder::new()
        .name("baton-arbiter-join".into())
        .spawn(move || {
            for arbiter in arbiters {
                let _ = arbiter.join();
            }
            let _ = joined_tx.send(());
        });
    if spawned.is_ok() && joined.recv_timeout(ARBITER_STOP_LIMIT).is_err() {
        tracing::error!(
            limit = ?ARBITER_STOP_LIMIT,
            "an arbiter thread did not stop (a worker blocks it); leaving it behind"
        );
    }
}

/// Which arbiter runs which worker, and with which client.
struct ArbiterPlan {
    arbiters: usize,
    /// Every worker's actor parts; worker `i` runs on arbiter `i % arbiters`.
    workers: Vec<PipelineParts>,
}

impl ArbiterPlan {
    /// Spreads the workers round-robin over the arbiters, starts blocking workers' pools and
    /// makes one connection pool per arbiter, sized to keep every connection its workers use
    /// at once.
    fn plan(host: &WorkerHost, pipelines: &[Arc<Pipeline>]) -> Result<Self, HostError> {
        let arbiters = host.arbiters;
        // Each worker uses one connection to poll and one per post in flight.
        let posts: Vec<usize> = host
            .workers
            .iter()
            .map(|(_, settings)| host.update_concurrency.min(settings.concurrency))
            .collect();
        let mut connections = vec![0usize; arbiters];
        for (index, posts) in posts.iter().enumerate() {
            connections[index % arbiters] += 1 + posts;
        }
        let connect = Connector::new(host);
        let clients: Vec<ConductorClient> = connections
            .into_iter()
            .map(|max_idle_connections| connect.client(max_idle_connections))
            .collect::<Result<_, _>>()?;
        let mut workers = Vec::with_capacity(host.workers.len());
        for (index, (((spec, settings), pipeline), posts)) in
            host.workers.iter().zip(pipelines).zip(posts).enumerate()
        {
            let pool = if spec.blocking {
                let pool = BlockingPool::start(&settings.task_type, settings.concurrency).map_err(
                    HostError::thread(format!("blocking pool of worker {:?}", settings.task_type)),
                )?;
                let pool = Arc::new(pool);
                let _ = pipeline.pool.set(Arc::clone(&pool));
                Some(pool)
            } else {
                None
            };
            workers.push(PipelineParts {
                spec: Arc::clone(spec),
                pipeline: Arc::clone(pipeline),
                pool,
                client: clients[index % arbiters].clone(),
                posts,
            });
        }
        Ok(Self { arbiters, workers })
    }

    /// Starts the arbiters and every worker's actors on them. Must run inside the System.
    fn start(self) -> Vec<Arbiter> {
        let arbiters: Vec<Arbiter> = (0..self.arbiters).map(|_| Arbiter::new()).collect();
        for (index, parts) in self.workers.into_iter().enumerate() {
            let arbiter = &arbiters[index % self.arbiters];
            if !arbiter.spawn_fn(move || actors::start(parts)) {
                tracing::error!(index, "an arbiter stopped before its worker could start");
            }
        }
        arbiters
    }
}

/// Makes a host's clients: one token source and one view of the server's health for all of
/// them, so that an answer to any worker wakes every worker's waiting polls and retries.
pub(crate) struct Connector<'a> {
    host: &'a WorkerHost,
    auth: Option<Arc<TokenSource>>,
    recovery: Arc<Recovery>,
}

impl<'a> Connector<'a> {
    /// The connector of `host`.
    pub(crate) fn new(host: &'a WorkerHost) -> Self {
        let auth = host
            .server
            .auth
            .as_ref()
            .map(|(key, secret)| Arc::new(TokenSource::new(key.clone(), secret.clone())));
        Self {
            host,
            auth,
            recovery: Arc::new(Recovery::default()),
        }
    }

    /// A client keeping up to `max_idle_connections` pooled.
    pub(crate) fn client(&self, max_idle_connections: usize) -> Result<ConductorClient, HostError> {
        let server = &self.host.server;
        ConductorClient::new(&ClientSettings {
            base_url: server.base_url.clone(),
            http_timeout: server.http_timeout,
            poll_deadline_margin: server.poll_deadline_margin,
            recovery: Arc::clone(&self.recovery),
            max_idle_connections,
            auth: self.auth.clone(),
            tls: Arc::clone(&self.host.tls),
            proxy: server.proxy.clone(),
            max_response_bytes: server.max_response_bytes,
            max_output_bytes: server.max_output_bytes,
        })
        .map_err(HostError::ServerUrl)
    }
}
