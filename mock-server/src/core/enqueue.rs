//! Bulk enqueue (`POST /admin/enqueue`, [`Core::enqueue`]): many SCHEDULED tasks of one type in
//! one synthetic workflow, sharing one [`TaskSpec`] (input, task definition, priority).

use std::sync::Arc;
use std::time::Duration;

use baton_model::{JsonMap, TaskDef};
use serde::Deserialize;

use super::Core;
use super::metadata::validate_task_def;
use super::queue::QueueKey;
use super::record::{TaskRecord, TaskSpec};
use super::workflow::WorkflowRecord;
use crate::error::ApiError;
use crate::ids;

/// The most tasks one `POST /admin/enqueue` (or `/admin/enqueue-external`) may create; a
/// larger `count` is answered 400. (A task costs a few hundred bytes while queued.)
pub const MAX_ENQUEUE_COUNT: u64 = 1_000_000;

/// A bulk enqueue (`POST /admin/enqueue`): `count` tasks of `task_type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EnqueueRequest {
    /// How many tasks (default 1).
    #[serde(default = "one")]
    pub count: u64,
    /// The task type.
    pub task_type: String,
    /// The task domain; absent = no domain, `""` = the empty domain.
    #[serde(default)]
    pub domain: Option<String>,
    /// The input of every task (shared, not copied per task).
    #[serde(default)]
    pub input: JsonMap,
    /// The priority of every task (higher is handed out first).
    #[serde(default)]
    pub priority: i32,
    /// Task-definition settings (retryCount, retryDelaySeconds, retryLogic,
    /// responseTimeoutSeconds, ...); omitted fields take the server's defaults.
    #[serde(default)]
    pub task_def: Option<TaskDef>,
    /// Delay before the tasks become pollable, in milliseconds.
    #[serde(default)]
    pub start_delay_ms: u64,
}

fn one() -> u64 {
    1
}

impl EnqueueRequest {
    /// `count` tasks of `task_type`, no domain, empty input, default task definition.
    pub fn new(task_type: impl Into<String>, count: u64) -> Self {
        Self {
            count,
            task_type: task_type.into(),
            domain: None,
            input: JsonMap::new(),
            priority: 0,
            task_def: None,
            start_delay_ms: 0,
        }
    }

    /// Sets the domain (builder style).
    #[must_use]
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Sets the input (builder style).
    #[must_use]
    pub fn input(mut self, input: JsonMap) -> Self {
        self.input = input;
        self
    }

    /// Sets the priority (builder style).
    #[must_use]
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the task definition (builder style); its name is replaced by the task type.
    #[must_use]
    pub fn task_def(mut self, def: TaskDef) -> Self {
        self.task_def = Some(def);
        self
    }

    /// Checks the request as the admin API does: a task type, at most [`MAX_ENQUEUE_COUNT`]
    /// tasks, and a task definition that passes the server's validation (`400` otherwise).
    pub fn validate(&self) -> Result<(), ApiError> {
        if self.task_type.is_empty() {
            return Err(ApiError::BadRequest(
                "taskType must not be empty".to_owned(),
            ));
        }
        if self.count > MAX_ENQUEUE_COUNT {
            return Err(ApiError::BadRequest(format!(
                "count {} is above the maximum of {MAX_ENQUEUE_COUNT} tasks per enqueue",
                self.count
            )));
        }
        if let Some(def) = &self.task_def {
            let mut def = def.clone();
            def.name.clone_from(&self.task_type);
            let errors = validate_task_def(&def, "enqueue.taskDef");
            if !errors.is_empty() {
                return Err(ApiError::Validation(errors));
            }
        }
        Ok(())
    }

    /// Sets the start delay (builder style).
    #[must_use]
    pub fn start_delay(mut self, delay: Duration) -> Self {
        self.start_delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self
    }
}

/// What a bulk enqueue created: one synthetic workflow and consecutive task ids.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Enqueued {
    /// The synthetic workflow all the tasks belong to.
    pub workflow_instance_id: String,
    /// How many tasks were created.
    pub count: u64,
    /// The first task's id (empty when `count` is 0).
    pub first_task_id: String,
    /// The last task's id (empty when `count` is 0).
    pub last_task_id: String,
    #[serde(skip)]
    pub(super) first_seq: u64,
}

impl Enqueued {
    /// Every task id created, in order.
    pub fn task_ids(&self) -> impl Iterator<Item = String> + '_ {
        (self.first_seq..self.first_seq + self.count).map(ids::task_id)
    }
}

impl Core {
    /// Creates `request.count` SCHEDULED tasks in one new synthetic workflow.
    pub fn enqueue(&self, request: EnqueueRequest) -> Enqueued {
        let now = self.clock.now();
        let mut def = request.task_def.unwrap_or_default();
        def.name.clone_from(&request.task_type);
        let key = QueueKey::new(request.task_type, request.domain);
        let spec = Arc::new(TaskSpec::new(
            key.clone(),
            request.input,
            def,
            request.priority,
        ));
        let due = now.saturating_add(request.start_delay_ms.saturating_mul(1000));
        let start_delay = i32::try_from(request.start_delay_ms / 1000).unwrap_or(i32::MAX);
        let mut state = self.lock();
        let workflow = state.next_workflow;
        state.next_workflow += 1;
        state.workflows.insert(
            workflow,
            WorkflowRecord::Bulk {
                spec: Arc::clone(&spec),
            },
        );
        let first_seq = state.next_seq;
        state
            .live
            .reserve(usize::try_from(request.count).unwrap_or(0));
        for _ in 0..request.count {
            let mut record = TaskRecord::new(workflow, Arc::clone(&spec), now, due);
            record.start_delay_seconds = start_delay;
            state.schedule(record, now);
        }
        state.ledger.counts.enqueued += request.count;
        state.wake(&key);
        drop(state);
        let last = first_seq + request.count.saturating_sub(1);
        Enqueued {
            workflow_instance_id: ids::workflow_id(workflow),
            count: request.count,
            first_task_id: if request.count > 0 {
                ids::task_id(first_seq)
            } else {
                String::new()
            },
            last_task_id: if request.count > 0 {
                ids::task_id(last)
            } else {
                String::new()
            },
            first_seq,
        }
    }
}
