//! Hand-out: polls take due tasks off a queue and mark them IN_PROGRESS ([`Core::poll_handed`]),
//! poll data is recorded, and the long-poll waits of the front ends get their wake-up signal and
//! the next due time here. Queue reads (sizes, poll data) live here too.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use baton_model::{PollData, Task};
use tokio::sync::Notify;

use super::Core;
use super::queue::{Queue, QueueKey};
use super::record::JsonBatch;
use super::timeouts;

/// Tasks just handed out by a poll, rendered as JSON while they were handed out (under the
/// core's lock, so no record is copied out of the core).
#[derive(Debug)]
pub struct HandedOut {
    json: JsonBatch,
    /// Task ids taken off the queue, handed out or not (postponed by a limit, or dropped).
    popped: usize,
}

impl HandedOut {
    /// How many tasks.
    pub fn len(&self) -> usize {
        self.json.len()
    }

    /// Whether no task was handed out.
    pub fn is_empty(&self) -> bool {
        self.json.len() == 0
    }

    /// How many task ids the polls took off the queue: the tasks handed out plus those a
    /// concurrency or rate limit postponed. A poll of `count` pops at most `count` ids, as
    /// the server's queue pop does.
    pub fn popped(&self) -> usize {
        self.popped
    }

    /// Adds the tasks of a later poll.
    pub fn append(&mut self, other: HandedOut) {
        self.json.append(other.json);
        self.popped += other.popped;
    }

    /// The tasks as wire values (read back from their JSON).
    pub fn to_tasks(&self) -> Vec<Task> {
        serde_json::from_slice(&self.to_json_array()).unwrap_or_else(|e| {
            // The JSON is the mock's own rendering of Task: this is a bug, not bad input.
            tracing::error!(error = %e, "a hand-out's JSON does not read back as tasks");
            Vec::new()
        })
    }

    /// The tasks as a JSON array, byte for byte what serializing their [`Task`]s gives.
    pub fn to_json_array(&self) -> Vec<u8> {
        self.json.clone_array()
    }

    /// [`HandedOut::to_json_array`] without a copy.
    pub fn into_json_array(self) -> Vec<u8> {
        self.json.into_array()
    }

    /// The first task as a JSON object, if there is one.
    pub fn first_json(&self) -> Option<Vec<u8>> {
        self.json.first()
    }
}

/// Lists a poll fills and empties again, kept in the core's state between polls so a poll
/// allocates none of them.
#[derive(Debug, Default)]
pub(super) struct HandOutScratch {
    /// The ids popped off the queue.
    seqs: Vec<u64>,
    /// One reference to the polling worker's id per popped task.
    workers: Vec<Option<Arc<str>>>,
}

impl HandOutScratch {
    /// Larger lists (a poll of a huge count) are freed, not kept.
    const MAX_KEPT: usize = 4096;

    /// Empties both lists (dropping leftover worker references), freeing large ones.
    fn clear(&mut self) {
        self.seqs.clear();
        self.workers.clear();
        if self.seqs.capacity() > Self::MAX_KEPT {
            self.seqs = Vec::new();
        }
        if self.workers.capacity() > Self::MAX_KEPT {
            self.workers = Vec::new();
        }
    }
}

impl Core {
    /// Hands out up to `count` due tasks of queue `domain:task_type` without waiting: each is
    /// taken off its queue, set IN_PROGRESS and returned.
    pub fn poll(
        &self,
        task_type: &str,
        domain: Option<&str>,
        worker_id: Option<&str>,
        count: usize,
    ) -> Vec<Task> {
        self.poll_handed(task_type, domain, worker_id, count)
            .to_tasks()
    }

    /// Like [`Core::poll`], but returns the hand-outs unrendered, to be written as JSON
    /// without building [`Task`] values (what the HTTP layer does). It pops at most `count`
    /// ids: one held back by its definition's concurrency or rate limit is postponed (queued
    /// again, due after [`super::CoreConfig::postpone`]) and not handed out.
    pub fn poll_handed(
        &self,
        task_type: &str,
        domain: Option<&str>,
        worker_id: Option<&str>,
        count: usize,
    ) -> HandedOut {
        let now = self.clock.now();
        let key = QueueKey::new(task_type, domain);
        let worker: Option<Arc<str>> = worker_id.map(Arc::from);
        let mut guard = self.lock();
        let state = &mut *guard;
        let mut json = None;
        let mut popped = 0;
        let mut postponed = Vec::new();
        // Response deadlines, inserted once per run of equal deadlines (all of them, unless
        // the queue mixes definitions with different response timeouts).
        let mut watch_run: (u64, Vec<u64>) = (0, Vec::new());
        // The scratch lists of the last poll, reused: no allocation per poll for them.
        let mut scratch = std::mem::take(&mut state.hand_out);
        if let Some(queue) = state.queues.get_mut(&key) {
            queue.last_active = now;
            let json = json.insert(JsonBatch::with_capacity(count.min(queue.len())));
            let seqs = &mut scratch.seqs;
            queue.pop_many(now, count, seqs);
            popped = seqs.len();
            // Every task gets its own reference to the worker id. Taking them all here, in one
            // tight loop, keeps the atomic increments away from the record writes below: an
            // atomic waits for pending stores, and stores to records of a large queue miss
            // the cache.
            let workers = &mut scratch.workers;
            workers.resize(popped, worker.clone());
            for (index, &seq) in seqs.iter().enumerate() {
                let Some(record) = state.live.get_mut(&seq) else {
                    continue; // ended while queued: the server drops such ids too
                };
                if !state.limits.admit(&key.task_type, &record.spec.def, now) {
                    postponed.push(seq);
                    continue;
                }
                let watched = timeouts::timeout_deadline(record);
                record.hand_out(workers.pop().flatten(), now);
                state.limits.started(record);
                let watch = timeouts::timeout_deadline(record);
                if watched != watch {
                    if let Some(deadline) = watched {
                        state.task_timeouts.remove(deadline, seq);
                    }
                    if let Some(deadline) = watch {
                        state.task_timeouts.insert(deadline, seq);
                    }
                }
                let deadline = record.response_deadline();
                if deadline != watch_run.0 {
                    // A new run: room for every task left (the usual single run never grows).
                    let room = popped - index;
                    let mut run = std::mem::replace(&mut watch_run.1, Vec::with_capacity(room));
                    run.shrink_to_fit();
                    state.deadlines.insert_all(watch_run.0, run);
                    watch_run.0 = deadline;
                }
                watch_run.1.push(seq);
                json.push(seq, record, &self.clock);
            }
        }
        // Tasks postponed or gone leave room unused: the entry keeps only what it holds.
        watch_run.1.shrink_to_fit();
        state.deadlines.insert_all(watch_run.0, watch_run.1);
        scratch.clear();
        state.hand_out = scratch;
        for seq in postponed {
            state.postpone(&key, seq, now);
        }
        let json = json.unwrap_or_else(|| JsonBatch::with_capacity(0));
        let handed = json.len() as u64;
        state.in_flight += handed;
        state.ledger.counts.handed_out += handed;
        drop(guard);
        HandedOut { json, popped }
    }

    /// Records that a poll of `domain:task_type` by `worker_id` has just returned.
    pub fn record_poll(&self, task_type: &str, domain: Option<&str>, worker_id: Option<&str>) {
        let last_poll_time = self.clock.now_ms();
        let mut state = self.lock();
        let entry = state
            .poll_data
            .entry((task_type.to_owned(), domain.map(str::to_owned)))
            .or_default();
        if entry.queue_name.is_empty() {
            entry.queue_name = task_type.to_owned();
            entry.domain = domain.map(str::to_owned);
        }
        if entry.worker_id.as_deref() != worker_id {
            entry.worker_id = worker_id.map(str::to_owned);
        }
        entry.last_poll_time = last_poll_time;
    }

    /// Tasks queued (due or delayed) in `domain:task_type`.
    pub fn queue_size(&self, task_type: &str, domain: Option<&str>) -> usize {
        let key = QueueKey::new(task_type, domain);
        self.lock().queues.get(&key).map_or(0, Queue::len)
    }

    /// Every queue's size by queue name (`domain:taskType`), sorted by name.
    pub fn queue_sizes(&self) -> BTreeMap<String, usize> {
        let state = self.lock();
        state
            .queues
            .iter()
            .map(|(key, queue)| (key.to_string(), queue.len()))
            .collect()
    }

    /// Poll data of `task_type`, or of every task type with `None`.
    pub fn poll_data(&self, task_type: Option<&str>) -> Vec<PollData> {
        let state = self.lock();
        state
            .poll_data
            .values()
            .filter(|data| task_type.is_none_or(|t| data.queue_name == t))
            .cloned()
            .collect()
    }

    /// The signal notified whenever a task is pushed onto `key`'s queue.
    pub fn signal(&self, key: &QueueKey) -> Arc<Notify> {
        let mut state = self.lock();
        Arc::clone(&state.queues.entry(key.clone()).or_default().signal)
    }

    /// How long until the earliest delayed task of `key` becomes due, if there is one.
    pub fn next_due_in(&self, key: &QueueKey) -> Option<Duration> {
        let now = self.clock.now();
        let due = self.lock().queues.get(key)?.next_due()?;
        Some(Duration::from_micros(due.saturating_sub(now)))
    }
}

#[cfg(test)]
mod tests {
    use baton_model::{JsonMap, TaskDef, TaskResult};

    use crate::core::{Core, CoreConfig, EnqueueRequest};

    #[test]
    fn a_batch_renders_byte_for_byte_as_serde_whatever_its_mix() {
        let core = Core::new(CoreConfig::default());
        let input = JsonMap::from_iter([("n".to_owned(), serde_json::json!([1, "two"]))]);
        core.enqueue(EnqueueRequest::new("t", 3).input(input));
        core.enqueue(EnqueueRequest::new("t", 2).priority(-1));
        let mut def = TaskDef::new("t");
        def.retry_delay_seconds = 0;
        core.enqueue(EnqueueRequest::new("t", 2).priority(-2).task_def(def));
        // Two tasks come back: one retried (a retried-from id), one re-queued with output.
        let first = core.poll("t", None, Some("w"), 7);
        assert_eq!(first.len(), 7);
        assert!(core.update(TaskResult::failed(&first[5], "no")).is_ok());
        let requeued = TaskResult::in_progress(&first[6], 0).with_output("half", true);
        assert!(core.update(requeued).is_ok());
        for task in &first[..5] {
            assert!(core.update(TaskResult::in_progress(task, 0)).is_ok());
        }
        let handed = core.poll_handed("t", None, Some("w2"), 10);
        assert_eq!(handed.len(), 7);
        let ids: Vec<String> = handed.to_tasks().into_iter().map(|t| t.task_id).collect();
        // What each task reads as right after the poll, serialized by serde.
        let tasks: Vec<_> = ids.iter().map(|id| core.task(id).unwrap()).collect();
        let expected = serde_json::to_vec(&tasks).unwrap();
        assert_eq!(
            String::from_utf8(handed.to_json_array()).unwrap(),
            String::from_utf8(expected).unwrap()
        );
        let first = serde_json::to_vec(&tasks[0]).unwrap();
        assert_eq!(handed.first_json(), Some(first));
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 7, "{ids:?}");
    }
}
