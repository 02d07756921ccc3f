//! Property tests of the request parsers: any path, query and body, fed through the router,
//! the query parser and the synchronous dispatcher ([`answer_now`], the handlers every front
//! end shares), must give an answer, never a panic. Bodies are arbitrary bytes or JSON built
//! from the field names the handlers read, with extreme numbers, so the parsers get past the
//! first byte; after each case the core is polled and swept, so accepted values flow on.

use std::sync::Arc;

use bytes::Bytes;
use hyper::Method;
use proptest::prelude::*;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::router::{self, query_pairs};
use super::{App, HttpOptions, answer_now};
use crate::core::{Core, CoreConfig};
use crate::external::ExternalStore;
use crate::faults::Faults;
use crate::server::{DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS};

/// Field names the handlers read (enqueue, task definitions, results, workflows, faults).
const KEYS: &[&str] = &[
    "taskType",
    "count",
    "domain",
    "input",
    "priority",
    "taskDef",
    "startDelayMs",
    "name",
    "retryCount",
    "timeoutSeconds",
    "timeoutPolicy",
    "retryLogic",
    "retryDelaySeconds",
    "responseTimeoutSeconds",
    "concurrentExecLimit",
    "rateLimitPerFrequency",
    "rateLimitFrequencyInSeconds",
    "pollTimeoutSeconds",
    "backoffScaleFactor",
    "maxRetryDelaySeconds",
    "backoffJitterMs",
    "totalTimeoutSeconds",
    "taskId",
    "workflowInstanceId",
    "status",
    "callbackAfterSeconds",
    "outputData",
    "logs",
    "extendLease",
    "workerId",
    "reasonForIncompletion",
    "tasks",
    "taskReferenceName",
    "version",
    "schemaVersion",
    "route",
    "action",
    "probability",
    "delayMs",
    "keyId",
    "keySecret",
    "payload",
];

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(Value::from(i64::MAX)),
        Just(Value::from(i64::MIN)),
        Just(Value::from(i32::MAX)),
        Just(Value::from(i32::MIN)),
        Just(Value::from(0)),
        Just(Value::from(-1)),
        Just(Value::from(1)),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        "[a-zA-Z_ ]{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "COMPLETED",
            "FAILED",
            "IN_PROGRESS",
            "FAILED_WITH_TERMINAL_ERROR",
            "RETRY",
            "ALERT_ONLY",
            "TIME_OUT_WF",
            "EXPONENTIAL_BACKOFF",
            "LINEAR_BACKOFF",
            "poll",
            "update",
            "status",
        ])
        .prop_map(Value::from),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..8).prop_map(|pairs| {
                let map: Map<String, Value> =
                    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                Value::Object(map)
            }),
        ]
    })
}

fn body() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256).prop_map(Bytes::from),
        json().prop_map(|v| Bytes::from(serde_json::to_vec(&v).unwrap_or_default())),
        // JSON with a cut or flipped byte: the parsers' error paths.
        (json(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(v, at, b)| {
            let mut bytes = serde_json::to_vec(&v).unwrap_or_default();
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] = b;
                bytes.truncate(i + 1);
            }
            Bytes::from(bytes)
        }),
    ]
}

/// Every route's path shape, with `{}` where an arbitrary segment goes.
const PATHS: &[(&str, &str)] = &[
    ("GET", "/api/tasks/poll/{}"),
    ("GET", "/api/tasks/poll/batch/{}"),
    ("POST", "/api/tasks"),
    ("POST", "/api/tasks/update-v2"),
    ("POST", "/api/tasks/{}/log"),
    ("GET", "/api/tasks/{}/log"),
    ("GET", "/api/tasks/{}"),
    ("GET", "/api/tasks/queue/size"),
    ("GET", "/api/tasks/queue/sizes"),
    ("GET", "/api/tasks/queue/polldata"),
    ("GET", "/api/tasks/externalstoragelocation"),
    ("POST", "/api/token"),
    ("POST", "/api/metadata/taskdefs"),
    ("PUT", "/api/metadata/taskdefs"),
    ("GET", "/api/metadata/taskdefs/{}"),
    ("DELETE", "/api/metadata/taskdefs/{}"),
    ("POST", "/api/metadata/workflow"),
    ("PUT", "/api/metadata/workflow"),
    ("GET", "/api/metadata/workflow/{}"),
    ("DELETE", "/api/metadata/workflow/{}/{}"),
    ("POST", "/api/workflow"),
    ("POST", "/api/workflow/{}"),
    ("GET", "/api/workflow/{}"),
    ("DELETE", "/api/workflow/{}"),
    ("GET", "/external/{}"),
    ("POST", "/admin/enqueue"),
    ("POST", "/admin/enqueue-external"),
    ("POST", "/admin/faults"),
    ("POST", "/admin/sweep"),
    ("GET", "/admin/ledger"),
];

fn app() -> App {
    App {
        core: Arc::new(Core::new(CoreConfig::default())),
        faults: Arc::new(Faults::new(1)),
        external: ExternalStore::default(),
        auth: None,
        options: HttpOptions {
            update_v2: true,
            max_body_bytes: 1 << 20,
            recheck: std::time::Duration::from_millis(100),
            empty_batch_204: false,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        },
        shutdown: CancellationToken::new(),
        waiting_polls: Default::default(),
        api_requests: Default::default(),
    }
}

/// A query string of known keys with arbitrary (often numeric) values.
fn query() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "count", "timeout", "domain", "workerid", "taskType", "path", "version", "%zz", "",
    ]);
    let value = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        "[%+a-z0-9&=]{0,10}",
        any::<String>(),
    ];
    prop::collection::vec((key, value), 0..5).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_request_panics(
        route in prop::sample::select(PATHS),
        segment in prop_oneof!["[a-zA-Z0-9%._-]{0,16}", any::<String>()],
        query in query(),
        body in body(),
    ) {
        let app = app();
        // A few tasks to act on, so updates and polls reach their deeper paths.
        app.core.enqueue(crate::core::EnqueueRequest::new("t", 3));
        let (method, shape) = route;
        let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
        let path = shape.replace("{}", &segment);
        let route = router::route(&method, &path);
        let pairs = query_pairs(Some(&query));
        let answer = answer_now(&app, route, &method, &path, &pairs, body);
        if let Ok(response) = &answer {
            prop_assert!(response.status().as_u16() < 600);
        }
        // Whatever was accepted must survive polls, updates and sweeps.
        for queue in app.core.queue_sizes().into_keys() {
            let (domain, task_type) = match queue.rsplit_once(':') {
                Some((domain, task_type)) => (Some(domain), task_type),
                None => (None, queue.as_str()),
            };
            for task in app.core.poll(task_type, domain, None, 10) {
                let _ = app.core.update(baton_model::TaskResult::failed(&task, "again"));
            }
        }
        app.core.sweep();
    }

    #[test]
    fn any_path_and_query_routes(path in any::<String>(), query in any::<String>()) {
        for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE] {
            let _ = router::route(&method, &path);
        }
        let _ = query_pairs(Some(&query));
    }
}
