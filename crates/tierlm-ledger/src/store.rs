//! The storage trait every backend implements, synchronous by design: the server
//! calls it from blocking threads (`spawn_blocking`), and the CLI calls it directly.
//! [`crate::suite`] checks any implementation against the same expectations.

use crate::error::LedgerError;
use crate::usage::{Row, UsageQuery, UsageReport};

/// Where ledger rows are kept.
pub trait LedgerStore: Send + Sync {
    /// Records one request. Durable when it returns: committed, or in a queue that
    /// survives a crash and that every later read of this store sees.
    fn insert(&self, row: &Row) -> Result<(), LedgerError>;

    /// Whether [`LedgerStore::insert`] returns without waiting on a disk sync, the
    /// network or another writer's transaction (a `write` to the page cache at
    /// most), so async code may call it in place instead of on a blocking thread.
    fn insert_is_quick(&self) -> bool {
        false
    }

    /// Totals over `q`'s range (`from_ms` inclusive, `to_ms` exclusive), and per group
    /// when `q.group_by` is set, sorted by group key.
    fn usage(&self, q: &UsageQuery) -> Result<UsageReport, LedgerError>;

    /// Every row recorded.
    fn count(&self) -> Result<u64, LedgerError>;
}
