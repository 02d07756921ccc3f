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
    /// What a workflow task knows beyond a bulk task; `None` for bulk tasks.
    pub(crate) workflow_task: Option<WorkflowTaskInfo>,
    /// The unchanging parts of the task's JSON, rendered once.
    json: JsonTemplate,
}

/// The JSON of a task of one [`TaskSpec`], rendered once when the spec is made: every run of
/// fields that is the same for all its tasks, as bytes, between the per-task values the
/// writer splices in ([`TaskRecord::write_json`]).
#[derive(Debug)]
struct JsonTemplate {
    /// `{"taskType":…,"status":"`
    head: Box<[u8]>,
    /// `","inputData":…,"referenceTaskName":…,"retryCount":`
    after_status: Box<[u8]>,
    /// `,"seq":…[,"correlationId":…],"pollCount":`
    after_retry_count: Box<[u8]>,
    /// `,"taskDefName":…,"scheduledTime":`
    after_poll_count: Box<[u8]>,
    /// `,"callbackFromWorker":true,"responseTimeoutSeconds":…,"workflowInstanceId":"`
    after_executed: Box<[u8]>,
    /// `","workflowType":…,"taskId":"`
    after_workflow_id: Box<[u8]>,
    /// `[,"domain":…],"rateLimitPerFrequency":0,…,"iteration":…,…,"firstStartTime":`
    after_output: Box<[u8]>,
    /// `,"loopOverTask":…,"queueWaitTime":`
    after_first_start: Box<[u8]>,
}

impl JsonTemplate {
    /// The template of tasks of `key` with `input`, `def`, `priority` and `workflow_task`.
    fn new(
        key: &QueueKey,
        input: &JsonMap,
        def: &TaskDef,
        priority: i32,
        workflow_task: Option<&WorkflowTaskInfo>,
    ) -> Self {
        let task_type = to_json(&key.task_type);
        let reference =
            workflow_task.map_or_else(|| task_type.clone(), |info| to_json(&info.reference));
        let workflow_type =
            to_json(workflow_task.map_or(BULK_WORKFLOW_TYPE, |info| &info.workflow_type));
        // Serializing a JSON map into memory cannot fail.
        let input = serde_json::to_vec(input).unwrap_or_else(|_| b"{}".to_vec());
        let cat = |parts: &[&[u8]]| -> Box<[u8]> { parts.concat().into() };
        let seq = workflow_task.map_or(1, |info| info.seq).to_string();
        let correlation = workflow_task
            .and_then(|info| info.correlation_id.as_deref())
            .map(|id| [&b",\"correlationId\":"[..], &to_json(id)].concat())
            .unwrap_or_default();
        let domain = key
            .domain
            .as_deref()
            .map(|domain| [&b",\"domain\":"[..], &to_json(domain)].concat())
            .unwrap_or_default();
        let iteration = workflow_task.map_or(0, |info| info.iteration);
        Self {
            head: cat(&[b"{\"taskType\":", &task_type, b",\"status\":\""]),
            after_status: cat(&[
                b"\",\"inputData\":",
                &input,
                b",\"referenceTaskName\":",
                &reference,
                b",\"retryCount\":",
            ]),
            after_retry_count: cat(&[b",\"seq\":", seq.as_bytes(), &correlation, b",\"pollCount\":"]),
            after_poll_count: cat(&[b",\"taskDefName\":", &task_type, b",\"scheduledTime\":"]),
            after_executed: cat(&[
                b",\"callbackFromWorker\":true,\"responseTimeoutSeconds\":",
                def.response_timeout_seconds.to_string().as_bytes(),
                b",\"workflowInstanceId\":\"",
            ]),
            after_workflow_id: cat(&[b"\",\"workflowType\":", &workflow_type, b",\"taskId\":\""]),
            after_output: cat(&[
                &domain,
                b",\"rateLimitPerFrequency\":0,\"rateLimitFrequencyInSeconds\":0,\"workflowPriority\":",
                priority.to_string().as_bytes(),
                b",\"iteration\":",
                iteration.to_string().as_bytes(),
                b",\"subworkflowChanged\":false,\"firstStartTime\":",
            ]),
            after_first_start: cat(&[
                b",\"loopOverTask\":",
                if iteration > 0 { b"true" } else { b"false" },
                b",\"queueWaitTime\":",
            ]),
        }
    }
}

/// The workflow side of a task scheduled by a real workflow.
#[derive(Debug, Clone)]
pub(crate) struct WorkflowTaskInfo {
    /// Its `taskReferenceName`.
    pub(crate) reference: String,
    /// Its workflow task's node in the workflow's plan.
    pub(crate) node: usize,
    /// The DO_WHILE iteration it belongs to (0 outside loops); its reference name carries it
    /// as `__N`.
    pub(crate) iteration: i32,
    /// Whether it is a system task the mock runs itself (never queued, never handed out).
    pub(crate) system: bool,
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
        Self::build(key, input, def, priority, None)
    }

    fn build(
        key: QueueKey,
        input: JsonMap,
        def: TaskDef,
        priority: i32,
        workflow_task: Option<WorkflowTaskInfo>,
    ) -> Self {
        let json = JsonTemplate::new(&key, &input, &def, priority, workflow_task.as_ref());
        Self {
            key,
            input: Arc::new(input),
            def,
            priority,
            workflow_task,
            json,
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
        Self::build(key, input, def, priority, Some(info))
    }

    /// The same settings with another input (a rerun's `taskInput`).
    pub(crate) fn with_input(&self, input: JsonMap) -> Self {
        Self::build(
            self.key.clone(),
            input,
            self.def.clone(),
            self.priority,
            self.workflow_task.clone(),
        )
    }

    /// `referenceTaskName`.
    pub(crate) fn reference(&self) -> &str {
        self.workflow_task
            .as_ref()
            .map_or(&self.key.task_type, |info| &info.reference)
    }

    /// Whether its tasks are system tasks the mock runs itself (never queued).
    pub(crate) fn is_system(&self) -> bool {
        self.workflow_task.as_ref().is_some_and(|info| info.system)
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
fn to_json(value: &str) -> Vec<u8> {
    // Serializing a string into memory cannot fail.
    serde_json::to_vec(value).unwrap_or_else(|_| b"\"\"".to_vec())
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
    /// When its first attempt was scheduled (retries carry it on): the definition's
    /// `totalTimeoutSeconds` counts from it, as the server's `firstScheduledTime`.
    pub(crate) first_scheduled: u64,
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
            first_scheduled: now,
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
        retry.first_scheduled = self.first_scheduled;
        retry.reason.clone_from(&self.reason);
        retry.start_delay_seconds = i32::try_from(delay).unwrap_or(i32::MAX);
        retry.callback_after_seconds = delay;
        retry
    }

    /// Marks the task handed out to `worker_id` at `now`, as a poll does.
    pub(crate) fn hand_out(&mut self, worker_id: Option<Arc<str>>, now: u64) {
        self.status = TaskStatus::InProgress;
        if self.start_time == 0 {
            self.start_time = now;
        }
        if self.first_start_time == 0 {
            self.first_start_time = now;
        }
        self.callback_after_seconds = 0;
        self.worker_id = worker_id;
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
        if let Some(info) = &spec.workflow_task {
            task.iteration = info.iteration;
            task.loop_over_task = info.iteration > 0;
        }
        task.sub_workflow_id = (spec.key.task_type == "SUB_WORKFLOW")
            .then_some(self.output.as_ref())
            .flatten()
            .and_then(|output| output.get("subWorkflowId"))
            .and_then(|id| id.as_str())
            .map(str::to_owned);
        task.first_start_time = ms(self.first_start_time);
        if self.start_time != 0 {
            task.queue_wait_time = ms(self.start_time) - ms(self.scheduled);
        }
        task
    }

    /// Writes the wire form of this record as JSON, byte for byte what serializing
    /// [`TaskRecord::to_task`] gives, without building the [`Task`]: the spec's template with
    /// this record's values spliced in. Returns where in `out` the task id starts.
    pub(crate) fn write_json(
        &self,
        seq: u64,
        clock: &Clock,
        memo: &mut JsonMemo,
        out: &mut Vec<u8>,
    ) -> usize {
        let ms = |micros: u64| clock.epoch_ms_or_zero(micros);
        let json = &self.spec.json;
        let mut digits = itoa::Buffer::new();
        let mut int = |out: &mut Vec<u8>, value: i64| {
            out.extend_from_slice(digits.format(value).as_bytes());
        };
        let string = |out: &mut Vec<u8>, key: &[u8], value: &str| {
            out.extend_from_slice(key);
            // Writing a string into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, value);
        };
        let flag = |value: bool| -> &'static [u8] { if value { b"true" } else { b"false" } };
        out.extend_from_slice(&json.head);
        out.extend_from_slice(self.status.as_str().as_bytes());
        out.extend_from_slice(&json.after_status);
        int(out, i64::from(self.retry_count));
        out.extend_from_slice(&json.after_retry_count);
        int(out, i64::from(self.poll_count));
        out.extend_from_slice(&json.after_poll_count);
        memo.int(0, ms(self.scheduled), out);
        out.extend_from_slice(b",\"startTime\":");
        memo.int(1, ms(self.start_time), out);
        out.extend_from_slice(b",\"endTime\":");
        memo.int(2, ms(self.end_time), out);
        out.extend_from_slice(b",\"updateTime\":");
        memo.int(3, ms(self.update_time), out);
        out.extend_from_slice(b",\"startDelayInSeconds\":");
        int(out, i64::from(self.start_delay_seconds));
        if let Some(retried_from) = self.retried_from {
            out.extend_from_slice(b",\"retriedTaskId\":\"");
            ids::write_task_id(retried_from, out);
            out.push(b'"');
        }
        out.extend_from_slice(b",\"retried\":");
        out.extend_from_slice(flag(self.retried));
        out.extend_from_slice(b",\"executed\":");
        out.extend_from_slice(flag(self.status == TaskStatus::Completed));
        out.extend_from_slice(&json.after_executed);
        ids::write_workflow_id(self.workflow, out);
        out.extend_from_slice(&json.after_workflow_id);
        let task_id_at = out.len();
        ids::write_task_id(seq, out);
        out.push(b'"');
        if let Some(reason) = &self.reason {
            string(out, b",\"reasonForIncompletion\":", reason);
        }
        out.extend_from_slice(b",\"callbackAfterSeconds\":");
        int(out, self.callback_after_seconds);
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
        out.extend_from_slice(&json.after_output);
        memo.int(4, ms(self.first_start_time), out);
        let wait = if self.start_time != 0 {
            ms(self.start_time) - ms(self.scheduled)
        } else {
            0
        };
        out.extend_from_slice(&json.after_first_start);
        memo.int(5, wait, out);
        out.push(b'}');
        task_id_at
    }

    /// Whether this record's JSON equals `other`'s but for the task id: same spec, workflow
    /// and values, no retried-from id, output or reason. The tasks one poll hands out usually
    /// are, so the writer copies the first one's JSON and rewrites the id.
    pub(crate) fn renders_like(&self, other: &TaskRecord) -> bool {
        Arc::ptr_eq(&self.spec, &other.spec)
            && self.workflow == other.workflow
            && self.status == other.status
            && self.retry_count == other.retry_count
            && self.poll_count == other.poll_count
            && self.start_delay_seconds == other.start_delay_seconds
            && self.retried == other.retried
            && self.callback_after_seconds == other.callback_after_seconds
            && (self.scheduled, self.start_time, self.end_time)
                == (other.scheduled, other.start_time, other.end_time)
            && (self.update_time, self.first_start_time)
                == (other.update_time, other.first_start_time)
            && match (&self.worker_id, &other.worker_id) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
            && self.retried_from.is_none()
            && other.retried_from.is_none()
            && self.reason.is_none()
            && other.reason.is_none()
            && self.output.is_none()
            && other.output.is_none()
    }
}

/// The JSON array of one poll answer, written task by task as they are handed out.
///
/// A task that renders like the last one written in full but for its id (the usual case
/// within one poll: same enqueue, same hand-out time) is a copy of that one's bytes with the
/// id rewritten, so a batch of 100 costs about one rendering and 99 copies.
#[derive(Debug)]
pub(crate) struct JsonBatch {
    /// `[` and the tasks so far, comma-separated (no closing bracket).
    out: Vec<u8>,
    /// How many tasks.
    len: usize,
    memo: JsonMemo,
    /// The last task written in full: its record, where its JSON lies, where its id starts.
    model: Option<(TaskRecord, std::ops::Range<usize>, usize)>,
}

impl JsonBatch {
    /// An empty batch with room for `capacity` tasks.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let mut out = crate::buffers::take(64 + capacity.min(1024) * 768);
        out.push(b'[');
        Self {
            out,
            len: 0,
            memo: JsonMemo::default(),
            model: None,
        }
    }

    /// Appends the task `record` (sequence `seq`).
    pub(crate) fn push(&mut self, seq: u64, record: &TaskRecord, clock: &Clock) {
        if self.len > 0 {
            self.out.push(b',');
        }
        self.len += 1;
        let start = self.out.len();
        if let Some((like, range, id_at)) = &self.model
            && record.renders_like(like)
        {
            self.out.extend_from_within(range.clone());
            let id = start + (id_at - range.start);
            if let Some(bytes) = self.out.get_mut(id..id + ids::ID_LEN) {
                ids::rewrite_task_id(seq, bytes);
            }
            return;
        }
        let id_at = record.write_json(seq, clock, &mut self.memo, &mut self.out);
        self.model = Some((record.clone(), start..self.out.len(), id_at));
    }

    /// Appends the tasks of `other`.
    pub(crate) fn append(&mut self, other: JsonBatch) {
        if other.len == 0 {
            return;
        }
        if self.len > 0 {
            self.out.push(b',');
        }
        self.out
            .extend_from_slice(other.out.get(1..).unwrap_or_default());
        self.len += other.len;
        self.model = None;
    }

    /// How many tasks.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// A copy of the whole JSON array.
    pub(crate) fn clone_array(&self) -> Vec<u8> {
        let mut array = Vec::with_capacity(self.out.len() + 1);
        array.extend_from_slice(&self.out);
        array.push(b']');
        array
    }

    /// The whole JSON array.
    pub(crate) fn into_array(mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.out);
        out.push(b']');
        out
    }

    /// The first task's JSON object (the only one for a single poll), if any.
    pub(crate) fn first(&self) -> Option<Vec<u8>> {
        if self.len == 0 {
            return None;
        }
        let objects = self.out.get(1..).unwrap_or_default();
        if self.len == 1 {
            return Some(objects.to_vec());
        }
        // Several: the first object ends where a JSON reader stops after one value.
        let mut values =
            serde_json::Deserializer::from_slice(objects).into_iter::<serde::de::IgnoredAny>();
        values.next()?.ok()?;
        Some(objects.get(..values.byte_offset())?.to_vec())
    }
}

impl Drop for JsonBatch {
    fn drop(&mut self) {
        crate::buffers::give_back(std::mem::take(&mut self.out));
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
            out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
            return;
        };
        if *last != Some(value) {
            digits.clear();
            digits.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
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
        fresh.hand_out(Some(Arc::from("worker \"1\"")), 5_000);
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
