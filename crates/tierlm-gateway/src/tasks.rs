//! Every background task of the gateway goes through one tracked set, so shutdown can
//! wait for it: ledger rows of abandoned requests, shadow students, capture, metric and
//! trace export. Raw `tokio::spawn` is banned by clippy (`clippy.toml`); this is the
//! way to start a task.

use std::future::Future;
use std::time::Duration;

use tokio_util::task::TaskTracker;

/// The gateway's tracked tasks (cheap to clone; clones share the set).
#[derive(Clone, Default)]
pub struct Tasks {
    tracker: TaskTracker,
}

impl Tasks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Start `future` on the runtime, tracked.
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(future)
    }

    /// Run blocking `f` on the blocking pool, tracked.
    pub fn spawn_blocking<F, T>(&self, f: F) -> tokio::task::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.tracker.spawn_blocking(f)
    }

    /// Tasks still running.
    pub fn len(&self) -> usize {
        self.tracker.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracker.is_empty()
    }

    /// Stop taking new work into account for [`Tasks::drain`] and wait (at most
    /// `limit`) for every task to finish; `true` when all did. Tasks may still be
    /// spawned afterwards (a late abandoned row): they run, but nobody waits for them.
    pub async fn drain(&self, limit: Duration) -> bool {
        self.tracker.close();
        let done = tokio::time::timeout(limit, self.tracker.wait())
            .await
            .is_ok();
        if !done {
            tracing::warn!(
                running = self.tracker.len(),
                "shutdown: background tasks still running after the drain deadline"
            );
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn drain_waits_for_every_tracked_task() {
        let tasks = Tasks::new();
        let done = Arc::new(AtomicU32::new(0));
        for i in 0..5u64 {
            let done = Arc::clone(&done);
            tasks.spawn(async move {
                tokio::time::sleep(Duration::from_millis(10 * i)).await;
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        let d = Arc::clone(&done);
        tasks.spawn_blocking(move || {
            std::thread::sleep(Duration::from_millis(30));
            d.fetch_add(1, Ordering::SeqCst);
        });
        assert!(tasks.drain(Duration::from_secs(5)).await);
        assert_eq!(done.load(Ordering::SeqCst), 6);
        assert!(tasks.is_empty());
    }

    #[tokio::test]
    async fn drain_gives_up_at_its_deadline() {
        let tasks = Tasks::new();
        tasks.spawn(tokio::time::sleep(Duration::from_secs(30)));
        assert!(!tasks.drain(Duration::from_millis(20)).await);
        assert_eq!(tasks.len(), 1);
    }
}
