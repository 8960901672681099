//! Batch bodies for the Kafka connector, recycled: a body the pipeline has finished with comes
//! back to the pool with its pages still resident, and the next batch is copied into it.
//!
//! Without it every batch was copied out of librdkafka into fresh memory (a body of tens of MB
//! is allocated on its own, and the allocator did not hand the same pages back): on 1.9 GB of
//! diagnostic messages the copy faulted in about 1.2 GB of new pages, which cost more CPU than
//! the copy itself. The pool also bounds how far the consumer reads ahead of the pipeline:
//! [`BodyPool::wait_for_room`] holds a batch back while `max_shared` bodies are in the sink's
//! hands (queued or being read), so the same few bodies go round.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;

/// Bodies waiting for reuse, and how many are in the sink's hands.
#[derive(Default)]
struct Shelf {
    free: Vec<Vec<u8>>,
    shared: usize,
}

struct Inner {
    shelf: Mutex<Shelf>,
    returned: Condvar,
    /// Bodies in the sink's hands at most (before [`BodyPool::wait_for_room`] waits).
    max_shared: usize,
    /// Bodies kept for reuse at most.
    max_free: usize,
}

impl Inner {
    fn shelf(&self) -> MutexGuard<'_, Shelf> {
        self.shelf.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A pool of batch bodies (see the module's comment).
pub(super) struct BodyPool {
    inner: Arc<Inner>,
}

impl BodyPool {
    /// A pool that lets the sink hold at most `max_shared` bodies (at least one) before
    /// [`BodyPool::wait_for_room`] waits, and keeps at most `max_free` for reuse.
    pub(super) fn new(max_shared: usize, max_free: usize) -> BodyPool {
        BodyPool {
            inner: Arc::new(Inner {
                shelf: Mutex::new(Shelf::default()),
                returned: Condvar::new(),
                max_shared: max_shared.max(1),
                max_free,
            }),
        }
    }

    /// An empty body with room for at least `capacity` bytes: one that came back if there is
    /// one, else a new one.
    pub(super) fn take(&self, capacity: usize) -> Vec<u8> {
        let mut body = self.inner.shelf().free.pop().unwrap_or_default();
        body.clear();
        body.reserve(capacity);
        body
    }

    /// Waits while the sink holds `max_shared` bodies, for at most `timeout` (the bound on
    /// reading ahead is a soft one: a sink that holds bodies longer than expected slows the
    /// consumer down rather than stopping it). Whether there is room.
    pub(super) fn wait_for_room(&self, timeout: Duration) -> bool {
        let shelf = self.inner.shelf();
        let (shelf, _) = self
            .inner
            .returned
            .wait_timeout_while(shelf, timeout, |s| s.shared >= self.inner.max_shared)
            .unwrap_or_else(|e| e.into_inner());
        shelf.shared < self.inner.max_shared
    }

    /// Hands a body taken from this pool to the sink: once every copy of the returned bytes is
    /// dropped, the body comes back to the pool.
    pub(super) fn share(&self, body: Vec<u8>) -> Bytes {
        self.inner.shelf().shared += 1;
        Bytes::from_owner(Returning {
            body,
            pool: Arc::clone(&self.inner),
        })
    }

    /// Frees the bodies waiting for reuse (an idle consumer holds no memory for batches).
    pub(super) fn trim(&self) {
        // Freed once the lock is released, not while bodies coming back wait for it.
        let free = std::mem::take(&mut self.inner.shelf().free);
        drop(free);
    }

    /// Bodies in the sink's hands, and bodies waiting for reuse.
    #[cfg(test)]
    fn counts(&self) -> (usize, usize) {
        let shelf = self.inner.shelf();
        (shelf.shared, shelf.free.len())
    }
}

/// The owner of a shared body: gives it back when dropped.
struct Returning {
    body: Vec<u8>,
    pool: Arc<Inner>,
}

impl AsRef<[u8]> for Returning {
    fn as_ref(&self) -> &[u8] {
        &self.body
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        let body = std::mem::take(&mut self.body);
        let mut shelf = self.pool.shelf();
        shelf.shared = shelf.shared.saturating_sub(1);
        if shelf.free.len() < self.pool.max_free {
            shelf.free.push(body);
        }
        drop(shelf);
        self.pool.returned.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_shared_body_comes_back_with_its_memory_when_its_last_copy_is_dropped() {
        let pool = BodyPool::new(2, 2);
        let mut body = pool.take(1000);
        body.extend_from_slice(b"{\"records\":[]}\n");
        let address = body.as_ptr();
        let bytes = pool.share(body);
        let slice = bytes.slice(1..5);
        drop(bytes);
        assert_eq!(pool.counts(), (1, 0), "a slice still holds the body");
        assert_eq!(&slice[..], b"\"rec");
        drop(slice);
        assert_eq!(pool.counts(), (0, 1));
        let again = pool.take(10);
        assert!(again.is_empty());
        assert!(again.capacity() >= 1000);
        assert_eq!(again.as_ptr(), address, "the same memory is reused");
    }

    #[test]
    fn wait_for_room_waits_while_the_sink_holds_max_shared_and_goes_on_when_one_comes_back() {
        let pool = BodyPool::new(1, 1);
        assert!(pool.wait_for_room(Duration::ZERO));
        let first = pool.share(pool.take(10));
        assert!(!pool.wait_for_room(Duration::from_millis(50)), "no room");
        let returner = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(first);
        });
        let started = Instant::now();
        assert!(pool.wait_for_room(Duration::from_secs(10)));
        let waited = started.elapsed();
        returner.join().unwrap();
        assert!(
            waited >= Duration::from_millis(150),
            "went on at once: {waited:?}"
        );
        assert!(
            waited < Duration::from_secs(5),
            "waited for the timeout: {waited:?}"
        );
    }

    #[test]
    fn no_more_than_max_free_are_kept_and_trim_frees_them() {
        let pool = BodyPool::new(4, 1);
        let a = pool.share(pool.take(10));
        let b = pool.share(pool.take(10));
        assert_eq!(pool.counts(), (2, 0));
        drop(a);
        drop(b);
        assert_eq!(pool.counts(), (0, 1));
        pool.trim();
        assert_eq!(pool.counts(), (0, 0));
    }
}
