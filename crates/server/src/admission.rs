//! Admission of queries: at most a set number run at once, the others wait in arrival order.
//!
//! A query already spreads over every core, so running more of them at once only stretches each:
//! 32 pages started together each took the time of all 32, and the last finished after a minute.
//! Admitted in order, a page waits for the ones before it and then runs at full speed, so
//! latency grows with the queue ahead of it, not with everyone's work.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The gate queries pass (cloning it shares the gate).
#[derive(Debug, Clone)]
pub struct Admission {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    permits: Arc<Semaphore>,
    limit: usize,
    waiting: AtomicUsize,
    peak: AtomicUsize,
}

impl Inner {
    /// Queries holding a permit now.
    fn running(&self) -> usize {
        self.limit - self.permits.available_permits()
    }
}

/// A query's place among the running ones, given back when dropped.
pub type Admitted = OwnedSemaphorePermit;

/// What [`Admission::load`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    /// Queries that may run at once.
    pub limit: usize,
    /// Queries running now.
    pub running: usize,
    /// Queries waiting to run.
    pub waiting: usize,
    /// The most queries that ever ran at once.
    pub peak: usize,
}

impl Admission {
    /// A gate letting `limit` queries run at once (at least one).
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Admission {
            inner: Arc::new(Inner {
                permits: Arc::new(Semaphore::new(limit)),
                limit,
                waiting: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
            }),
        }
    }

    /// Waits for a turn (first come, first served: the semaphore queues waiters in order).
    pub async fn admit(&self) -> Admitted {
        use std::future::Future;
        use std::task::Poll;
        let mut acquire = std::pin::pin!(Arc::clone(&self.inner.permits).acquire_owned());
        // The first poll takes a free permit or enters the queue; only a query in the queue
        // counts as waiting (counted until it leaves it, even when its request is dropped).
        let first = std::future::poll_fn(|cx| Poll::Ready(acquire.as_mut().poll(cx))).await;
        let permit = match first {
            Poll::Ready(permit) => permit,
            Poll::Pending => {
                struct Waiting<'a>(&'a AtomicUsize);
                impl Drop for Waiting<'_> {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                self.inner.waiting.fetch_add(1, Ordering::Relaxed);
                let _waiting = Waiting(&self.inner.waiting);
                acquire.await
            }
        };
        let permit = permit.expect("the admission semaphore is never closed");
        self.inner
            .peak
            .fetch_max(self.inner.running(), Ordering::Relaxed);
        permit
    }

    /// How many queries run and wait now.
    pub fn load(&self) -> Load {
        Load {
            limit: self.inner.limit,
            running: self.inner.running(),
            waiting: self.inner.waiting.load(Ordering::Relaxed),
            peak: self.inner.peak.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_the_limit_run_and_all_finish_in_arrival_order() {
        let gate = Admission::new(1);
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let first = gate.admit().await;
        let mut tasks = Vec::new();
        for i in 0..6 {
            let queued = gate.clone();
            let order = Arc::clone(&order);
            tasks.push(tokio::spawn(async move {
                let _turn = queued.admit().await;
                order.lock().unwrap().push(i);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }));
            // Queued one after another: `waiting` counts a query once it is in the queue.
            while gate.load().waiting < i + 1 {
                tokio::task::yield_now().await;
            }
        }
        assert_eq!(gate.load().running, 1);
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        let load = gate.load();
        assert_eq!((load.running, load.waiting, load.peak), (0, 0, 1));
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4, 5]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_dropped_while_it_waits_leaves_the_queue() {
        let gate = Admission::new(1);
        let first = gate.admit().await;
        let queued = gate.clone();
        let waiter = tokio::spawn(async move {
            let _turn = queued.admit().await;
        });
        while gate.load().waiting < 1 {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(gate.load().waiting, 0);
        drop(first);
        let _again = gate.admit().await;
        assert_eq!(gate.load().running, 1);
    }
}
