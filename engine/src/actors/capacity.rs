//! A worker's capacity, in one place: execution slots, the Updater's queue slots, tasks that
//! wait for a slot, slots lost to hung blocking executions, and live resizing.
//!
//! Both kinds of slot are permits of a semaphore that travel with what holds them and free
//! themselves on drop; nothing adds or removes permits by hand except [`Capacity::resize`].
//! Growing adds permits at once. Shrinking queues one request for the surplus permits on the
//! (fair) semaphore, so it collects them as running tasks finish, ahead of any new poll, and
//! then retires them: no task is ever cancelled, and no new work starts until the worker is
//! within its new concurrency. A grow while a shrink waits cancels it first.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// The updater queue's size per execution slot.
const QUEUE_SLOTS_PER_SLOT: usize = 2;

/// One worker's slots.
#[derive(Debug)]
pub(crate) struct Capacity {
    /// Execution slots. The poller takes them before it polls; a task's permit is released
    /// when the first post of its result settles.
    pub(crate) slots: Arc<Semaphore>,
    /// Room in the updater's queue: the executor takes one per result before handing it
    /// over; it travels with the result and frees itself when the result leaves the queue.
    pub(crate) queue_slots: Arc<Semaphore>,
    /// The concurrency asked for, and the permits in existence (in use or free).
    sizes: Arc<Mutex<Sizes>>,
    /// Queue permits in existence.
    queue_permits: AtomicUsize,
    /// Tasks in hand that wait for a free slot (the extra tasks of an oversize answer):
    /// held like executing ones.
    pub(crate) awaiting_slot: AtomicUsize,
    /// Slots held by blocking executions that ran past `execution_timeout` and have not
    /// returned: lost capacity, not reused until they do.
    pub(crate) lost: AtomicUsize,
}

#[derive(Debug)]
struct Sizes {
    /// The concurrency asked for.
    target: usize,
    /// Execution permits in existence: the target plus those a pending shrink still has to
    /// collect.
    permits: usize,
    /// Cancels the pending shrink, if there is one.
    shrinking: Option<CancellationToken>,
}

impl Capacity {
    /// `concurrency` execution slots and twice as many queue slots.
    pub(crate) fn new(concurrency: usize) -> Self {
        let queue = concurrency * QUEUE_SLOTS_PER_SLOT;
        Self {
            slots: Arc::new(Semaphore::new(concurrency)),
            queue_slots: Arc::new(Semaphore::new(queue)),
            sizes: Arc::new(Mutex::new(Sizes {
                target: concurrency,
                permits: concurrency,
                shrinking: None,
            })),
            queue_permits: AtomicUsize::new(queue),
            awaiting_slot: AtomicUsize::new(0),
            lost: AtomicUsize::new(0),
        }
    }

    fn sizes(&self) -> MutexGuard<'_, Sizes> {
        self.sizes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The concurrency asked for.
    pub(crate) fn concurrency(&self) -> usize {
        self.sizes().target
    }

    /// Execution slots taken: executing (lost capacity included), or the result's first post
    /// unsettled; while a shrink waits, the slots it has collected count too.
    pub(crate) fn slots_in_use(&self) -> usize {
        self.sizes()
            .permits
            .saturating_sub(self.slots.available_permits())
    }

    /// Tasks held: slots taken plus tasks waiting for one.
    pub(crate) fn held(&self) -> usize {
        self.slots_in_use() + self.awaiting_slot.load(Ordering::Relaxed)
    }

    /// Results waiting to be posted (queued, in flight or waiting for a retry).
    pub(crate) fn unposted(&self) -> usize {
        self.queue_permits
            .load(Ordering::Relaxed)
            .saturating_sub(self.queue_slots.available_permits())
    }

    /// The queue's capacity now.
    pub(crate) fn queue_capacity(&self) -> usize {
        self.queue_permits.load(Ordering::Relaxed)
    }

    /// Sets the concurrency to `concurrency` (at least 1): growing takes effect at once (and
    /// grows the queue with it); shrinking collects the surplus slots as running tasks
    /// finish, ahead of new polls, never cancelling one. Called from any thread.
    pub(crate) fn resize(&self, concurrency: usize) -> std::io::Result<()> {
        let concurrency = concurrency.max(1);
        let mut sizes = self.sizes();
        if let Some(pending) = sizes.shrinking.take() {
            // Its partly collected permits go back to the semaphore as it stops.
            pending.cancel();
        }
        sizes.target = concurrency;
        if concurrency > sizes.permits {
            let grow = concurrency - sizes.permits;
            sizes.permits = concurrency;
            self.slots.add_permits(grow);
            let queue = (concurrency * QUEUE_SLOTS_PER_SLOT)
                .saturating_sub(self.queue_permits.load(Ordering::Acquire));
            self.queue_permits.fetch_add(queue, Ordering::AcqRel);
            self.queue_slots.add_permits(queue);
        } else if concurrency < sizes.permits {
            let surplus = sizes.permits - concurrency;
            let cancel = CancellationToken::new();
            sizes.shrinking = Some(cancel.clone());
            let (slots, shared) = (Arc::clone(&self.slots), Arc::clone(&self.sizes));
            thread::Builder::new()
                .name("baton-shrink".into())
                .spawn(move || collect_surplus(&slots, &shared, surplus, &cancel))?;
        }
        Ok(())
    }
}

/// Waits (fairly, ahead of later acquirers) for `surplus` execution permits, then retires
/// them, unless `cancel` is cancelled first.
fn collect_surplus(
    slots: &Arc<Semaphore>,
    sizes: &Mutex<Sizes>,
    surplus: usize,
    cancel: &CancellationToken,
) {
    let Ok(count) = u32::try_from(surplus) else {
        return;
    };
    let collected = futures_executor::block_on(async {
        tokio::select! {
            permits = Arc::clone(slots).acquire_many_owned(count) => permits.ok(),
            () = cancel.cancelled() => None,
        }
    });
    let Some(permits) = collected else {
        return;
    };
    let mut sizes = sizes.lock().unwrap_or_else(PoisonError::into_inner);
    if cancel.is_cancelled() {
        return; // a grow came first: the permits go back as they drop
    }
    permits.forget();
    sizes.permits -= surplus;
    sizes.shrinking = None;
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// Waits up to 10 s for `condition`.
    fn eventually(condition: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if condition() {
                return true;
            }
            thread::sleep(Duration::from_millis(2));
        }
        false
    }

    #[test]
    fn growing_adds_slots_and_queue_room_at_once() {
        let capacity = Capacity::new(2);
        let held = Arc::clone(&capacity.slots)
            .try_acquire_many_owned(2)
            .unwrap();
        capacity.resize(5).unwrap();
        assert_eq!(capacity.concurrency(), 5);
        assert_eq!(capacity.slots.available_permits(), 3);
        assert_eq!(capacity.slots_in_use(), 2);
        assert_eq!(capacity.queue_capacity(), 10);
        drop(held);
        assert_eq!(capacity.slots_in_use(), 0);
    }

    #[test]
    fn shrinking_waits_for_running_tasks_ahead_of_new_work_and_cancels_none() {
        let capacity = Capacity::new(4);
        let mut running = Arc::clone(&capacity.slots)
            .try_acquire_many_owned(3)
            .unwrap();
        capacity.resize(1).unwrap();
        // The free slot is collected at once (by the shrink's thread); no new work can take a
        // slot. The running tasks keep theirs: in use are those 3 and the collected one.
        assert!(eventually(|| capacity.slots.available_permits() == 0));
        assert_eq!(capacity.slots_in_use(), 4, "3 running + 1 collected");
        assert_eq!(capacity.concurrency(), 1);
        let finished = running.split(2).unwrap();
        drop(finished);
        assert!(Arc::clone(&capacity.slots).try_acquire_owned().is_err());
        assert!(eventually(|| capacity.sizes().shrinking.is_none()));
        drop(running);
        assert_eq!(capacity.slots.available_permits(), 1);
        assert_eq!(capacity.slots_in_use(), 0);
    }

    #[test]
    fn growing_again_cancels_a_pending_shrink() {
        let capacity = Capacity::new(4);
        let running = Arc::clone(&capacity.slots)
            .try_acquire_many_owned(4)
            .unwrap();
        capacity.resize(2).unwrap();
        capacity.resize(3).unwrap();
        // 4 permits exist; the new shrink to 3 waits for one.
        drop(running);
        assert!(eventually(|| capacity.sizes().shrinking.is_none()));
        assert_eq!(capacity.slots.available_permits(), 3);
        assert_eq!(capacity.slots_in_use(), 0);
    }
}
