//! Capture off the request path: the handler hands a record to
//! [`CaptureQueue::try_capture`], which never blocks — it puts the record on a
//! bounded channel, or, when the channel is full (the writer is behind, the disk is
//! slow), drops it and counts the drop. One background thread drains the channel and
//! writes records in batches of up to [`BATCH`] per transaction.
//!
//! A dropped record costs one training example; a stalled request would cost a user.
//! `dropped()` is for a metric (`tierlm_distill_dropped_total`) so a queue that is
//! too small shows up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::error::DistillError;
use crate::record::TrainingRecord;
use crate::store::DistillStore;

/// Most records the writer puts in one transaction.
pub const BATCH: usize = 64;

/// Where the writer thread puts records; the store in production, a stand-in in
/// tests.
pub trait RecordSink: Send + 'static {
    fn write(&mut self, batch: &[TrainingRecord]) -> Result<(), DistillError>;
}

impl RecordSink for Arc<DistillStore> {
    fn write(&mut self, batch: &[TrainingRecord]) -> Result<(), DistillError> {
        self.insert_records(batch).map(|_| ())
    }
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CaptureStats {
    /// Records accepted onto the queue.
    pub queued: u64,
    /// Records written by the sink.
    pub captured: u64,
    /// Records dropped because the queue was full (or the writer had stopped).
    pub dropped: u64,
    /// Records lost because the sink failed to write them.
    pub failed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    queued: AtomicU64,
    captured: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

/// A bounded queue in front of a background writer.
#[derive(Debug)]
pub struct CaptureQueue {
    tx: Option<SyncSender<TrainingRecord>>,
    counters: Arc<Counters>,
    writer: Option<JoinHandle<()>>,
}

impl CaptureQueue {
    /// Starts the writer thread; `capacity` records may wait (at least 1).
    pub fn start(sink: impl RecordSink, capacity: usize) -> Result<Self, DistillError> {
        let (tx, rx) = mpsc::sync_channel(capacity.max(1));
        let counters = Arc::new(Counters::default());
        let c = Arc::clone(&counters);
        let writer = std::thread::Builder::new()
            .name("tierlm-distill-capture".into())
            .spawn(move || drain(rx, sink, &c))
            .map_err(|e| DistillError::Invalid(format!("cannot start the capture writer: {e}")))?;
        Ok(Self {
            tx: Some(tx),
            counters,
            writer: Some(writer),
        })
    }

    /// Queues `record` for writing; never blocks. Returns false when it was dropped.
    pub fn try_capture(&self, record: TrainingRecord) -> bool {
        let Some(tx) = &self.tx else {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        match tx.try_send(record) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Records written so far.
    pub fn captured(&self) -> u64 {
        self.counters.captured.load(Ordering::Relaxed)
    }

    /// Records dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> CaptureStats {
        CaptureStats {
            queued: self.counters.queued.load(Ordering::Relaxed),
            captured: self.captured(),
            dropped: self.dropped(),
            failed: self.counters.failed.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting records, writes what is queued and waits for the writer
    /// (shutdown). Dropping the queue does the same.
    pub fn close(mut self) -> CaptureStats {
        self.shutdown();
        self.stats()
    }

    fn shutdown(&mut self) {
        self.tx = None;
        if let Some(w) = self.writer.take() {
            if w.join().is_err() {
                tracing::error!("the distillation capture writer panicked");
            }
        }
    }
}

impl Drop for CaptureQueue {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn drain(rx: Receiver<TrainingRecord>, mut sink: impl RecordSink, c: &Counters) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let n = batch.len() as u64;
        match sink.write(&batch) {
            Ok(()) => {
                c.captured.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                c.failed.fetch_add(n, Ordering::Relaxed);
                tracing::warn!(error = %e, records = n, "distillation capture lost a batch");
            }
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::record;
    use std::sync::mpsc::Sender;
    use std::time::{Duration, Instant};

    /// A sink that blocks until the test lets it go.
    struct Gated {
        gate: Receiver<()>,
        started: Sender<()>,
        written: Arc<AtomicU64>,
    }

    impl RecordSink for Gated {
        fn write(&mut self, batch: &[TrainingRecord]) -> Result<(), DistillError> {
            let _ = self.started.send(());
            let _ = self.gate.recv();
            self.written
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            Ok(())
        }
    }

    struct Failing;

    impl RecordSink for Failing {
        fn write(&mut self, _: &[TrainingRecord]) -> Result<(), DistillError> {
            Err(DistillError::Invalid("disk full".into()))
        }
    }

    #[test]
    fn a_full_queue_drops_instead_of_stalling() {
        let (open, gate) = mpsc::channel();
        let (started_tx, started) = mpsc::channel();
        let written = Arc::new(AtomicU64::new(0));
        let sink = Gated {
            gate,
            started: started_tx,
            written: Arc::clone(&written),
        };
        let q = CaptureQueue::start(sink, 4).unwrap();
        // The writer takes the first record and blocks in the sink.
        assert!(q.try_capture(record("0", "t", "x", None)));
        started.recv_timeout(Duration::from_secs(5)).unwrap();
        // Four more fill the queue; the rest are dropped, each at once.
        let t0 = Instant::now();
        let accepted = (1..=100)
            .filter(|i| q.try_capture(record(&i.to_string(), "t", "x", None)))
            .count();
        assert!(
            t0.elapsed() < Duration::from_millis(200),
            "{:?}",
            t0.elapsed()
        );
        assert_eq!(accepted, 4);
        assert_eq!(q.dropped(), 96);
        assert_eq!(q.captured(), 0);
        // Let the writer go: everything queued is written, nothing else.
        for _ in 0..10 {
            open.send(()).unwrap();
        }
        let stats = q.close();
        assert_eq!(stats.captured, 5);
        assert_eq!(stats.queued, 5);
        assert_eq!(stats.dropped, 96);
        assert_eq!(written.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn records_reach_the_store() {
        let store = Arc::new(DistillStore::open_in_memory().unwrap());
        let q = CaptureQueue::start(Arc::clone(&store), 1024).unwrap();
        for i in 0..300 {
            assert!(q.try_capture(record(&format!("r{i}"), "t", &format!("text {i}"), None)));
        }
        let stats = q.close();
        assert_eq!(stats.captured, 300);
        assert_eq!(stats.dropped, 0);
        assert_eq!(store.count("t").unwrap(), 300);
    }

    #[test]
    fn sink_failures_are_counted_not_fatal() {
        let q = CaptureQueue::start(Failing, 8).unwrap();
        assert!(q.try_capture(record("a", "t", "x", None)));
        let stats = q.close();
        assert_eq!(stats.failed, 1);
        assert_eq!(stats.captured, 0);
    }
}
