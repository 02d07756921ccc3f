//! Hand-out: polls take due tasks off a queue and mark them IN_PROGRESS ([`Core::poll_handed`]),
//! poll data is recorded, and the long-poll waits of the front ends get their wake-up signal and
//! the next due time here. Queue reads (sizes, poll data) live here too.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use baton_model::{PollData, Task};
use tokio::sync::Notify;

use super::Core;
use super::clock::Clock;
use super::queue::{Queue, QueueKey};
use super::record::{JsonMemo, TaskRecord};
use super::timeouts;

/// Tasks just handed out by a poll: copies of their records at hand-out time, rendered on
/// demand outside the core's lock.
#[derive(Debug)]
pub struct HandedOut {
    items: Vec<(u64, TaskRecord)>,
    /// Task ids taken off the queue, handed out or not (postponed by a limit, or dropped).
    popped: usize,
    clock: Clock,
}

impl HandedOut {
    /// How many tasks.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no task was handed out.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many task ids the polls took off the queue: the tasks handed out plus those a
    /// concurrency or rate limit postponed. A poll of `count` pops at most `count` ids, as
    /// the server's queue pop does.
    pub fn popped(&self) -> usize {
        self.popped
    }

    /// Adds the tasks of a later poll.
    pub fn append(&mut self, mut other: HandedOut) {
        self.items.append(&mut other.items);
        self.popped += other.popped;
    }

    /// The tasks as wire values.
    pub fn to_tasks(&self) -> Vec<Task> {
        self.items
            .iter()
            .map(|(seq, record)| record.to_task(*seq, &self.clock))
            .collect()
    }

    /// The tasks as a JSON array, byte for byte what serializing [`HandedOut::to_tasks`] gives.
    pub fn to_json_array(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.items.len() * 768);
        out.push(b'[');
        let mut memo = JsonMemo::default();
        for (i, (seq, record)) in self.items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            record.write_json(*seq, &self.clock, &mut memo, &mut out);
        }
        out.push(b']');
        out
    }

    /// The first task as a JSON object, if there is one.
    pub fn first_json(&self) -> Option<Vec<u8>> {
        let (seq, record) = self.items.first()?;
        let mut out = Vec::with_capacity(768);
        record.write_json(*seq, &self.clock, &mut JsonMemo::default(), &mut out);
        Some(out)
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
        let mut items = Vec::new();
        let mut popped = 0;
        let mut postponed = Vec::new();
        if let Some(queue) = state.queues.get_mut(&key) {
            queue.last_active = now;
            items.reserve(count.min(queue.len()));
            while popped < count {
                let Some(seq) = queue.pop(now) else {
                    break;
                };
                popped += 1;
                let Some(record) = state.live.get_mut(&seq) else {
                    continue; // ended while queued: the server drops such ids too
                };
                if !state.limits.admit(&key.task_type, &record.spec.def, now) {
                    postponed.push(seq);
                    continue;
                }
                let watched = timeouts::timeout_deadline(record);
                record.hand_out(worker.as_ref(), now);
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
                state.deadlines.insert(record.response_deadline(), seq);
                items.push((seq, record.clone()));
            }
        }
        for seq in postponed {
            state.postpone(&key, seq, now);
        }
        let handed = items.len() as u64;
        state.in_flight += handed;
        state.ledger.counts.handed_out += handed;
        drop(guard);
        HandedOut {
            items,
            popped,
            clock: self.clock,
        }
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
        entry.worker_id = worker_id.map(str::to_owned);
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
