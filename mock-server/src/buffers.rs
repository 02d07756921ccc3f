//! Reusable response buffers: a batch-poll answer is tens of kilobytes, and allocating and
//! freeing one per request costs more than the copying that fills it. A buffer handed to
//! hyper as [`Bytes`] ([`into_bytes`]) comes back here when hyper has sent it; [`take`] hands
//! it out again. At most [`KEEP`] buffers of at most [`MAX_KEPT_BYTES`] each are kept, so the
//! pool is a small constant.

use std::sync::Mutex;

use bytes::Bytes;

/// How many idle buffers are kept.
const KEEP: usize = 32;
/// Larger buffers are freed, not kept.
const MAX_KEPT_BYTES: usize = 1 << 20;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// An empty buffer with room for at least `capacity` bytes, reused when one is idle.
pub(crate) fn take(capacity: usize) -> Vec<u8> {
    let reused = POOL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .pop();
    match reused {
        Some(mut buffer) => {
            buffer.reserve(capacity);
            buffer
        }
        None => Vec::with_capacity(capacity),
    }
}

/// `buffer` as [`Bytes`] that give the buffer back to the pool once dropped.
pub(crate) fn into_bytes(buffer: Vec<u8>) -> Bytes {
    Bytes::from_owner(Returned(buffer))
}

/// Returns `buffer` to the pool (cleared), unless it is large or the pool is full.
pub(crate) fn give_back(mut buffer: Vec<u8>) {
    if buffer.capacity() == 0 || buffer.capacity() > MAX_KEPT_BYTES {
        return;
    }
    buffer.clear();
    let mut pool = POOL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if pool.len() < KEEP {
        pool.push(buffer);
    }
}

/// A buffer on its way out; dropping it returns it to the pool.
struct Returned(Vec<u8>);

impl AsRef<[u8]> for Returned {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Returned {
    fn drop(&mut self) {
        let mut buffer = std::mem::take(&mut self.0);
        if buffer.capacity() > MAX_KEPT_BYTES {
            return;
        }
        buffer.clear();
        let mut pool = POOL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if pool.len() < KEEP {
            pool.push(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_buffer_is_reused_and_big_ones_are_not_kept() {
        let mut buffer = take(4096);
        buffer.extend_from_slice(b"hello");
        let pointer = buffer.as_ptr();
        let bytes = into_bytes(buffer);
        assert_eq!(&bytes[..], b"hello");
        drop(bytes);
        // Other tests may take buffers concurrently: look for ours among a few.
        let taken: Vec<Vec<u8>> = (0..KEEP).map(|_| take(16)).collect();
        assert!(taken.iter().any(|b| b.as_ptr() == pointer && b.is_empty()));
        let big = into_bytes(vec![0; MAX_KEPT_BYTES + 1]);
        let big_pointer = big.as_ptr();
        drop(big);
        let again: Vec<Vec<u8>> = (0..KEEP).map(|_| take(16)).collect();
        assert!(again.iter().all(|b| b.as_ptr() != big_pointer));
    }
}
