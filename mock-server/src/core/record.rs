//! Compact per-task and per-workflow records, and how a record renders as a wire [`Task`].
//!
//! A record holds only what differs between tasks; everything an enqueue call sets for all of
//! its tasks (type, domain, input, task definition, priority) lives once in a shared
//! [`TaskSpec`].

use std::sync::Arc;

use baton_model::{JsonMap, Task, TaskDef, TaskStatus};

use super::clock::Clock;
use super::queue::QueueKey;
use crate::ids;

/// The `workflowType` of the synthetic workflows made by bulk enqueue.
pub const BULK_WORKFLOW_TYPE: &str = "baton_mock_bulk";

/// What every task of one enqueue call shares.
#[derive(Debug)]
pub(crate) struct TaskSpec {
    /// The queue the tasks go to.
    pub(crate) key: QueueKey,
    /// The input of every task.
    pub(crate) input: Arc<JsonMap>,
    /// Retry and timeout settings.
    pub(crate) def: TaskDef,
    /// Queue priority (and `workflowPriority`).
    pub(crate) priority: i32,
    /// `input` serialized once, for the JSON writer.
    input_json: Box<[u8]>,
    /// The task type as a JSON string (quoted and escaped).
    task_type_json: Box<[u8]>,
    /// What a workflow task knows beyond a bulk task; `None` for bulk tasks.
    pub(crate) workflow_task: Option<WorkflowTaskInfo>,
    /// `referenceTaskName` as a JSON string.
    ref_json: Box<[u8]>,
    /// `workflowType` as a JSON string.
    workflow_type_json: Box<[u8]>,
}

/// The workflow side of a task scheduled by a real workflow.
#[derive(Debug)]
pub(crate) struct WorkflowTaskInfo {
    /// Its `taskReferenceName`.
    pub(crate) reference: String,
    /// The index of its workflow task in the definition.
    pub(crate) index: usize,
    /// `seq` within the workflow.
    pub(crate) seq: i32,
    /// The workflow's name.
    pub(crate) workflow_type: String,
    /// The workflow's correlation id.
    pub(crate) correlation_id: Option<String>,
    /// Whether the workflow task is optional.
    pub(crate) optional: bool,
}

impl TaskSpec {
    /// Settings for tasks of `key` with `input`, `def` and `priority`.
    pub(crate) fn new(key: QueueKey, input: JsonMap, def: TaskDef, priority: i32) -> Self {
        // Serializing a JSON map or a string into memory cannot fail.
        let input_json = serde_json::to_vec(&input).unwrap_or_else(|_| b"{}".to_vec());
        let task_type_json =
            serde_json::to_vec(&key.task_type).unwrap_or_else(|_| b"\"\"".to_vec());
        Self {
            key,
            input: Arc::new(input),
            def,
            priority,
            input_json: input_json.into(),
            ref_json: task_type_json.clone().into(),
            task_type_json: task_type_json.into(),
            workflow_task: None,
            workflow_type_json: to_json(BULK_WORKFLOW_TYPE),
        }
    }

    /// Settings for one task of a real workflow.
    pub(crate) fn for_workflow(
        key: QueueKey,
        input: JsonMap,
        def: TaskDef,
        priority: i32,
        info: WorkflowTaskInfo,
    ) -> Self {
        let mut spec = Self::new(key, input, def, priority);
        spec.ref_json = to_json(&info.reference);
        spec.workflow_type_json = to_json(&info.workflow_type);
        spec.workflow_task = Some(info);
        spec
    }

    /// `referenceTaskName`.
    pub(crate) fn reference(&self) -> &str {
        self.workflow_task
            .as_ref()
            .map_or(&self.key.task_type, |info| &info.reference)
    }

    fn seq(&self) -> i32 {
        self.workflow_task.as_ref().map_or(1, |info| info.seq)
    }

    fn workflow_type(&self) -> &str {
        self.workflow_task
            .as_ref()
            .map_or(BULK_WORKFLOW_TYPE, |info| &info.workflow_type)
    }

    fn correlation_id(&self) -> Option<&str> {
        self.workflow_task
            .as_ref()
            .and_then(|info| info.correlation_id.as_deref())
    }
}

/// `value` as a JSON string.
fn to_json(value: &str) -> Box<[u8]> {
    // Serializing a string into memory cannot fail.
    serde_json::to_vec(value)
        .unwrap_or_else(|_| b"\"\"".to_vec())
        .into()
}

/// One task attempt. Times are microseconds on the core's clock; 0 means "not yet".
#[derive(Debug, Clone)]
pub(crate) struct TaskRecord {
    pub(crate) spec: Arc<TaskSpec>,
    pub(crate) workflow: u64,
    pub(crate) status: TaskStatus,
    pub(crate) retry_count: i32,
    pub(crate) poll_count: i32,
    pub(crate) start_delay_seconds: i32,
    pub(crate) retried: bool,
    pub(crate) callback_after_seconds: i64,
    /// When it was scheduled.
    pub(crate) scheduled: u64,
    /// When it becomes (or became) pollable.
    pub(crate) due: u64,
    pub(crate) start_time: u64,
    pub(crate) first_start_time: u64,
    pub(crate) update_time: u64,
    pub(crate) end_time: u64,
    pub(crate) retried_from: Option<u64>,
    /// Shared by every task of one poll.
    pub(crate) worker_id: Option<Arc<str>>,
    pub(crate) reason: Option<Box<str>>,
    pub(crate) output: Option<Box<JsonMap>>,
}

impl TaskRecord {
    /// A SCHEDULED first attempt in `workflow`, created at `now`, pollable from `due`.
    pub(crate) fn new(workflow: u64, spec: Arc<TaskSpec>, now: u64, due: u64) -> Self {
        Self {
            spec,
            workflow,
            status: TaskStatus::Scheduled,
            retry_count: 0,
            poll_count: 0,
            start_delay_seconds: 0,
            retried: false,
            callback_after_seconds: 0,
            scheduled: now,
            due,
            start_time: 0,
            first_start_time: 0,
            update_time: now,
            end_time: 0,
            retried_from: None,
            worker_id: None,
            reason: None,
            output: None,
        }
    }

    /// The next attempt after this one (sequence `seq`) failed or timed out.
    pub(crate) fn retry_of(&self, seq: u64, now: u64, due: u64, delay_s: u64) -> Self {
        let delay = i64::try_from(delay_s).unwrap_or(i64::MAX);
        let mut retry = Self::new(self.workflow, Arc::clone(&self.spec), now, due);
        retry.retry_count = self.retry_count + 1;
        retry.retried_from = Some(seq);
        retry.reason.clone_from(&self.reason);
        retry.start_delay_seconds = i32::try_from(delay).unwrap_or(i32::MAX);
        retry.callback_after_seconds = delay;
        retry
    }

    /// Marks the task handed out to `worker_id` at `now`, as a poll does.
    pub(crate) fn hand_out(&mut self, worker_id: Option<&Arc<str>>, now: u64) {
        self.status = TaskStatus::InProgress;
        if self.start_time == 0 {
            self.start_time = now;
        }
        if self.first_start_time == 0 {
            self.first_start_time = now;
        }
        self.callback_after_seconds = 0;
        self.worker_id = worker_id.cloned();
        self.poll_count += 1;
        self.update_time = now;
    }

    /// When an in-progress task times out unless updated: `updateTime + (responseTimeout +
    /// callbackAfter)` seconds.
    pub(crate) fn response_deadline(&self) -> u64 {
        let seconds = self
            .spec
            .def
            .response_timeout_seconds
            .saturating_add(self.callback_after_seconds)
            .max(0);
        let seconds = u64::try_from(seconds).unwrap_or(0);
        self.update_time
            .saturating_add(seconds.saturating_mul(1_000_000))
    }

    /// The wire form of this record, whose sequence number is `seq`.
    pub(crate) fn to_task(&self, seq: u64, clock: &Clock) -> Task {
        let ms = |micros: u64| clock.epoch_ms_or_zero(micros);
        let spec = &self.spec;
        let task_type = &spec.key.task_type;
        let mut task = Task::new(
            task_type.clone(),
            ids::task_id(seq),
            ids::workflow_id(self.workflow),
        );
        task.status = Some(self.status);
        task.input_data = JsonMap::clone(&spec.input);
        task.reference_task_name = Some(spec.reference().to_owned());
        task.retry_count = self.retry_count;
        task.seq = spec.seq();
        task.correlation_id = spec.correlation_id().map(str::to_owned);
        task.poll_count = self.poll_count;
        task.task_def_name = Some(task_type.clone());
        task.scheduled_time = ms(self.scheduled);
        task.start_time = ms(self.start_time);
        task.end_time = ms(self.end_time);
        task.update_time = ms(self.update_time);
        task.start_delay_in_seconds = self.start_delay_seconds;
        task.retried_task_id = self.retried_from.map(ids::task_id);
        task.retried = self.retried;
        task.executed = self.status == TaskStatus::Completed;
        task.response_timeout_seconds = spec.def.response_timeout_seconds;
        task.workflow_type = Some(spec.workflow_type().to_owned());
        task.reason_for_incompletion = self.reason.as_deref().map(str::to_owned);
        task.callback_after_seconds = self.callback_after_seconds;
        task.worker_id = self.worker_id.as_deref().map(str::to_owned);
        if let Some(output) = &self.output {
            task.output_data = JsonMap::clone(output);
        }
        task.domain.clone_from(&spec.key.domain);
        task.workflow_priority = spec.priority;
        task.first_start_time = ms(self.first_start_time);
        if self.start_time != 0 {
            task.queue_wait_time = ms(self.start_time) - ms(self.scheduled);
        }
        task
    }

    /// Writes the wire form of this record as JSON, byte for byte what serializing
    /// [`TaskRecord::to_task`] gives, without building the [`Task`] (no copies of the input).
    pub(crate) fn write_json(
        &self,
        seq: u64,
        clock: &Clock,
        memo: &mut JsonMemo,
        out: &mut Vec<u8>,
    ) {
        let ms = |micros: u64| clock.epoch_ms_or_zero(micros);
        let spec = &self.spec;
        let int = |out: &mut Vec<u8>, key: &str, value: i64| {
            out.extend_from_slice(key.as_bytes());
            // Writing a number into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, &value);
        };
        let string = |out: &mut Vec<u8>, key: &str, value: &str| {
            out.extend_from_slice(key.as_bytes());
            // Writing a string into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, value);
        };
        let flag = |out: &mut Vec<u8>, key: &str, value: bool| {
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(if value { b"true" } else { b"false" });
        };
        out.extend_from_slice(b"{\"taskType\":");
        out.extend_from_slice(&spec.task_type_json);
        out.extend_from_slice(b",\"status\":\"");
        out.extend_from_slice(self.status.as_str().as_bytes());
        out.extend_from_slice(b"\",\"inputData\":");
        out.extend_from_slice(&spec.input_json);
        out.extend_from_slice(b",\"referenceTaskName\":");
        out.extend_from_slice(&spec.ref_json);
        int(out, ",\"retryCount\":", i64::from(self.retry_count));
        int(out, ",\"seq\":", i64::from(spec.seq()));
        if let Some(correlation_id) = spec.correlation_id() {
            string(out, ",\"correlationId\":", correlation_id);
        }
        int(out, ",\"pollCount\":", i64::from(self.poll_count));
        out.extend_from_slice(b",\"taskDefName\":");
        out.extend_from_slice(&spec.task_type_json);
        out.extend_from_slice(b",\"scheduledTime\":");
        memo.int(0, ms(self.scheduled), out);
        out.extend_from_slice(b",\"startTime\":");
        memo.int(1, ms(self.start_time), out);
        out.extend_from_slice(b",\"endTime\":");
        memo.int(2, ms(self.end_time), out);
        out.extend_from_slice(b",\"updateTime\":");
        memo.int(3, ms(self.update_time), out);
        int(
            out,
            ",\"startDelayInSeconds\":",
            i64::from(self.start_delay_seconds),
        );
        if let Some(retried_from) = self.retried_from {
            out.extend_from_slice(b",\"retriedTaskId\":\"");
            ids::write_task_id(retried_from, out);
            out.push(b'"');
        }
        flag(out, ",\"retried\":", self.retried);
        flag(out, ",\"executed\":", self.status == TaskStatus::Completed);
        out.extend_from_slice(b",\"callbackFromWorker\":true");
        int(
            out,
            ",\"responseTimeoutSeconds\":",
            spec.def.response_timeout_seconds,
        );
        out.extend_from_slice(b",\"workflowInstanceId\":\"");
        ids::write_workflow_id(self.workflow, out);
        out.extend_from_slice(b"\",\"workflowType\":");
        out.extend_from_slice(&spec.workflow_type_json);
        out.extend_from_slice(b",\"taskId\":\"");
        ids::write_task_id(seq, out);
        out.push(b'"');
        if let Some(reason) = &self.reason {
            string(out, ",\"reasonForIncompletion\":", reason);
        }
        int(
            out,
            ",\"callbackAfterSeconds\":",
            self.callback_after_seconds,
        );
        if let Some(worker) = &self.worker_id {
            out.extend_from_slice(b",\"workerId\":");
            memo.worker(worker, out);
        }
        out.extend_from_slice(b",\"outputData\":");
        match &self.output {
            // Writing a JSON map into a Vec cannot fail.
            Some(output) => {
                let _ = serde_json::to_writer(&mut *out, output.as_ref());
            }
            None => out.extend_from_slice(b"{}"),
        }
        if let Some(domain) = &spec.key.domain {
            string(out, ",\"domain\":", domain);
        }
        out.extend_from_slice(b",\"rateLimitPerFrequency\":0,\"rateLimitFrequencyInSeconds\":0");
        int(out, ",\"workflowPriority\":", i64::from(spec.priority));
        out.extend_from_slice(b",\"iteration\":0,\"subworkflowChanged\":false");
        out.extend_from_slice(b",\"firstStartTime\":");
        memo.int(4, ms(self.first_start_time), out);
        out.extend_from_slice(b",\"loopOverTask\":false");
        let wait = if self.start_time != 0 {
            ms(self.start_time) - ms(self.scheduled)
        } else {
            0
        };
        out.extend_from_slice(b",\"queueWaitTime\":");
        memo.int(5, wait, out);
        out.push(b'}');
    }
}

/// Rendering memo for one poll answer: tasks handed out together share their times and worker
/// id, so their digits and escapes are produced once, not once per task.
#[derive(Debug, Default)]
pub(crate) struct JsonMemo {
    ints: [(Option<i64>, Vec<u8>); 6],
    worker: Option<(Arc<str>, Vec<u8>)>,
}

impl JsonMemo {
    /// Writes `value` (remembered in `slot`).
    fn int(&mut self, slot: usize, value: i64, out: &mut Vec<u8>) {
        let Some((last, digits)) = self.ints.get_mut(slot) else {
            // Writing a number into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, &value);
            return;
        };
        if *last != Some(value) {
            digits.clear();
            // Writing a number into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *digits, &value);
            *last = Some(value);
        }
        out.extend_from_slice(digits);
    }

    /// Writes `worker` as a JSON string.
    fn worker(&mut self, worker: &Arc<str>, out: &mut Vec<u8>) {
        match &self.worker {
            Some((last, escaped)) if Arc::ptr_eq(last, worker) => out.extend_from_slice(escaped),
            _ => {
                // Writing a string into a Vec cannot fail.
                let escaped = serde_json::to_vec(worker.as_ref()).unwrap_or_default();
                out.extend_from_slice(&escaped);
                self.worker = Some((Arc::clone(worker), escaped));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(domain: Option<&str>) -> Arc<TaskSpec> {
        let input = match json!({"file": "a \"b\"\n", "n": [1, 2.5, null], "deep": {"x": true}}) {
            serde_json::Value::Object(map) => map,
            _ => JsonMap::new(),
        };
        let key = QueueKey::new("enc\"ode", domain);
        Arc::new(TaskSpec::new(key, input, TaskDef::new("x"), 7))
    }

    #[test]
    fn the_json_writer_matches_serde_for_every_shape() {
        let clock = Clock::new();
        let mut fresh = TaskRecord::new(3, spec(None), 1_000, 1_000);
        let mut cases = vec![fresh.clone()];
        fresh.hand_out(Some(&Arc::from("worker \"1\"")), 5_000);
        cases.push(fresh.clone());
        let mut retry = fresh.retry_of(41, 9_000, 9_000, 2);
        retry.reason = Some("it broke: \u{1F525}".into());
        cases.push(retry.clone());
        retry.status = TaskStatus::Completed;
        retry.output = Some(Box::new(JsonMap::from_iter([(
            "ok".to_owned(),
            json!(true),
        )])));
        retry.end_time = 12_000;
        retry.retried = true;
        cases.push(retry);
        let mut in_domain = TaskRecord::new(4, spec(Some("")), 2_000, 2_000);
        in_domain.hand_out(None, 3_000);
        cases.push(in_domain);
        // One memo across all cases, as for one poll answer, plus the cases again in reverse.
        let mut memo = JsonMemo::default();
        let order = (0..cases.len()).chain((0..cases.len()).rev());
        for i in order {
            let record = &cases[i];
            let mut written = Vec::new();
            record.write_json(42 + i as u64, &clock, &mut memo, &mut written);
            let expected = serde_json::to_vec(&record.to_task(42 + i as u64, &clock)).unwrap();
            assert_eq!(
                String::from_utf8(written).unwrap(),
                String::from_utf8(expected).unwrap(),
                "case {i}"
            );
        }
    }

    #[test]
    fn memory_per_task_is_compact() {
        // The record is what every queued task costs, besides queue and map entries.
        assert!(
            std::mem::size_of::<TaskRecord>() <= 160,
            "{}",
            std::mem::size_of::<TaskRecord>()
        );
    }
}
