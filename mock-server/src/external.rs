//! External payload storage: task inputs kept outside the task, as the server keeps payloads
//! over its threshold (conductor-api.md §4.7).
//!
//! `POST /admin/enqueue-external` (or [`MockServer::enqueue_external`](crate::MockServer))
//! enqueues tasks whose input is stored here under a path instead of in the task: they are
//! handed out with an empty `inputData` and `externalInputPayloadStoragePath` set. A worker asks
//! `GET /api/tasks/externalstoragelocation?path=…&operation=READ&payloadType=TASK_INPUT` where
//! the payload is, and gets `{uri, path}`; the payload is served at that URI
//! (`GET /external/{path}`, outside `/api`: no token, like a pre-signed URL). With
//! [`ExternalPayload::Missing`] the path is handed out but nothing is stored there (404), for
//! testing a worker's failed fetch.
//!
//! The core stores such a task with its input as usual (so `GET /api/tasks/{id}` shows it);
//! only the tasks handed out are rewritten, and only while some externalized task exists.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use crate::core::{Core, EnqueueRequest, Enqueued};
use crate::error::ApiError;

/// Whether an externalized input is really stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ExternalPayload {
    /// The input is stored at the path handed out (the normal case).
    #[default]
    Stored,
    /// The path is handed out but nothing is stored there: fetching it gets 404.
    Missing,
}

/// The body of `POST /admin/enqueue-external`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnqueueExternal {
    /// The tasks, their input being the externalized payload.
    enqueue: EnqueueRequest,
    #[serde(default)]
    payload: ExternalPayload,
}

/// What an externalized enqueue created: the tasks and the path of their input.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ExternalEnqueued {
    /// The tasks created.
    #[serde(flatten)]
    pub enqueued: Enqueued,
    /// Their `externalInputPayloadStoragePath`.
    pub path: String,
}

/// The stored payloads and the tasks whose input is one of them.
#[derive(Debug, Default)]
pub(crate) struct ExternalStore {
    /// Set once any task is externalized: until then hand-outs are not looked at.
    armed: AtomicBool,
    next: AtomicU64,
    /// `http://host:port` of the server, for absolute URIs; relative ones without it.
    origin: OnceLock<String>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Path → the payload's JSON.
    payloads: HashMap<String, Bytes>,
    /// Task id → the path of its input.
    tasks: HashMap<String, String>,
}

impl ExternalStore {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the origin the locations point to (`http://127.0.0.1:port`).
    pub(crate) fn set_origin(&self, origin: String) {
        let _ = self.origin.set(origin);
    }

    /// Enqueues `request` with its input stored here (or only promised, with
    /// [`ExternalPayload::Missing`]).
    pub(crate) fn enqueue(
        &self,
        core: &Core,
        mut request: EnqueueRequest,
        payload: ExternalPayload,
    ) -> Result<ExternalEnqueued, ApiError> {
        let input = std::mem::take(&mut request.input);
        let bytes = serde_json::to_vec(&input)
            .map_err(|e| ApiError::Internal(format!("serialization failed: {e}")))?;
        let path = format!(
            "task/input/{}.json",
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        let enqueued = core.enqueue(request);
        let mut state = self.lock();
        if payload == ExternalPayload::Stored {
            state.payloads.insert(path.clone(), Bytes::from(bytes));
        }
        for task_id in enqueued.task_ids() {
            state.tasks.insert(task_id, path.clone());
        }
        self.armed.store(true, Ordering::Release);
        Ok(ExternalEnqueued { enqueued, path })
    }

    /// `POST /admin/enqueue-external`.
    pub(crate) fn enqueue_json(
        &self,
        core: &Core,
        body: &[u8],
    ) -> Result<ExternalEnqueued, ApiError> {
        let request: EnqueueExternal = serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("Invalid admin request: {e}")))?;
        request.enqueue.validate()?;
        self.enqueue(core, request.enqueue, request.payload)
    }

    /// `GET /api/tasks/externalstoragelocation?path=…`: `{uri, path}`.
    pub(crate) fn location(&self, path: Option<&str>) -> Result<Value, ApiError> {
        let path = path.filter(|p| !p.is_empty()).ok_or_else(|| {
            ApiError::BadRequest("path must be given for this mock's storage".to_owned())
        })?;
        let origin = self.origin.get().map_or("", String::as_str);
        Ok(serde_json::json!({
            "uri": format!("{origin}/external/{path}"),
            "path": path,
        }))
    }

    /// `GET /external/{path}`: the stored payload.
    pub(crate) fn payload(&self, path: &str) -> Result<Bytes, ApiError> {
        self.lock()
            .payloads
            .get(path)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("No payload stored at {path}")))
    }

    /// Rewrites handed-out tasks (a JSON list, or one task) whose input is externalized: empty
    /// `inputData`, `externalInputPayloadStoragePath` set. Returns `json` untouched while no
    /// task is externalized.
    pub(crate) fn externalize(&self, json: Vec<u8>) -> Vec<u8> {
        if !self.armed.load(Ordering::Acquire) {
            return json;
        }
        let Ok(mut value) = serde_json::from_slice::<Value>(&json) else {
            return json;
        };
        let state = self.lock();
        let mut changed = false;
        let mut rewrite = |task: &mut Value| {
            let path = task
                .get("taskId")
                .and_then(Value::as_str)
                .and_then(|id| state.tasks.get(id));
            if let (Some(path), Some(fields)) = (path.cloned(), task.as_object_mut()) {
                fields.insert("inputData".to_owned(), Value::Object(Default::default()));
                fields.insert(
                    "externalInputPayloadStoragePath".to_owned(),
                    Value::String(path),
                );
                changed = true;
            }
        };
        match &mut value {
            Value::Array(tasks) => tasks.iter_mut().for_each(&mut rewrite),
            task => rewrite(task),
        }
        drop(state);
        if !changed {
            return json;
        }
        serde_json::to_vec(&value).unwrap_or(json)
    }

    /// Forgets every payload and externalized task.
    pub(crate) fn clear(&self) {
        let mut state = self.lock();
        state.payloads.clear();
        state.tasks.clear();
        self.armed.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::CoreConfig;

    #[test]
    fn handed_out_tasks_carry_the_path_instead_of_the_input() {
        let core = Core::new(CoreConfig::default());
        let store = ExternalStore::default();
        store.set_origin("http://127.0.0.1:9".to_owned());
        let untouched = br#"[{"taskId":"x","inputData":{"a":1}}]"#.to_vec();
        assert_eq!(store.externalize(untouched.clone()), untouched);

        let mut input = baton_model::JsonMap::new();
        input.insert(
            "big".into(),
            serde_json::from_str("123456789012345678901234567890").unwrap(),
        );
        let made = store
            .enqueue(
                &core,
                EnqueueRequest::new("ext", 1).input(input),
                ExternalPayload::Stored,
            )
            .unwrap();
        let id = made.enqueued.first_task_id.clone();
        let json = format!(r#"[{{"taskId":"{id}","inputData":{{"a":1}}}},{{"taskId":"y"}}]"#);
        let rewritten: Value = serde_json::from_slice(&store.externalize(json.into())).unwrap();
        assert_eq!(rewritten[0]["inputData"], serde_json::json!({}));
        assert_eq!(rewritten[0]["externalInputPayloadStoragePath"], made.path);
        assert!(
            rewritten[1]
                .get("externalInputPayloadStoragePath")
                .is_none()
        );

        let location = store.location(Some(&made.path)).unwrap();
        assert_eq!(
            location["uri"],
            format!("http://127.0.0.1:9/external/{}", made.path)
        );
        let payload = store.payload(&made.path).unwrap();
        assert_eq!(&payload[..], br#"{"big":123456789012345678901234567890}"#);
        assert!(store.payload("task/input/none.json").is_err());
    }
}
