//! The SQLite ledger: one embedded file in WAL mode with `synchronous=FULL`, so every
//! insert is on disk when it returns, and readers (`GET /v1/usage`, `tierlm report`
//! in another process) never block the writer. One connection behind a mutex serves
//! the process; a busy timeout covers other processes holding the file's lock.
//!
//! Inserts are *group-committed*: each queues its row and waits for the connection;
//! whoever gets it writes every queued row in one transaction (one `fsync`) and tells
//! each waiter its result. Under load one disk sync serves many requests, and a row is
//! still durable before its `insert` returns.
//!
//! WAL checkpoints (copying the log into the database file, with a disk sync) run on a
//! background thread with its own connection every [`CHECKPOINT_EVERY`], never inside
//! a request's commit, where SQLite's automatic checkpoint would stall every request
//! queued behind it.

use std::path::Path;
use std::sync::{mpsc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{params, Connection, TransactionBehavior};

use crate::error::LedgerError;
use crate::now_ms;
use crate::sql::{self, Placeholders};
use crate::store::LedgerStore;
use crate::usage::{self, Row, UsageQuery, UsageReport};

/// How a committed transaction reaches the disk (SQLite's `synchronous`, in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Synced before the commit returns (one sync per group commit): a committed row
    /// survives a power loss.
    #[default]
    Full,
    /// Synced at WAL checkpoints: a committed row survives a crash of the gateway
    /// (kill -9) but the last commits may be lost on a power loss or kernel crash; no
    /// disk sync on the request path.
    Normal,
}

/// How often the background thread checkpoints the WAL.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// The background checkpoint thread; stops (after a last checkpoint) when dropped.
struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Checkpointer {
    /// A thread checkpointing `path`'s WAL; `None` if it cannot start (SQLite's own
    /// automatic checkpoints then stay on).
    fn start(path: &Path) -> Option<Self> {
        let conn = Connection::open(path).ok()?;
        conn.busy_timeout(BUSY_TIMEOUT).ok()?;
        let checkpoint = move || {
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "ledger: WAL checkpoint failed");
            }
        };
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ledger-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    checkpoint();
                }
                checkpoint();
            })
            .ok()?;
        Some(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// How long a statement waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const PH: Placeholders = Placeholders::QuestionNumbered;

/// The row insert, formatted once (every request runs it).
static INSERT_SQL: LazyLock<String> = LazyLock::new(|| sql::insert_sql(PH));

/// A ledger in one SQLite database.
pub struct SqliteLedger {
    conn: Mutex<Connection>,
    location: String,
    applied: usize,
    /// Rows waiting for the next group commit.
    queue: Mutex<Vec<Queued>>,
    /// Declared last: dropped after the connection, so its final checkpoint sees
    /// every commit.
    checkpointer: Option<Checkpointer>,
}

/// A row waiting to be committed, and where its result goes.
struct Queued {
    row: Row,
    cost: i64,
    counterfactual: i64,
    done: mpsc::SyncSender<Result<(), LedgerError>>,
}

impl std::fmt::Debug for SqliteLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLedger")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

fn db_err<'a>(
    location: &'a str,
    op: &'static str,
) -> impl FnOnce(rusqlite::Error) -> LedgerError + 'a {
    move |e| LedgerError::Database {
        location: location.to_string(),
        op,
        source: Box::new(e),
    }
}

impl SqliteLedger {
    /// Opens (creating it and its parent directories if need be) the database at
    /// `path`, in WAL mode with `synchronous=FULL`, and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        Self::open_with(path, Synchronous::Full)
    }

    /// [`SqliteLedger::open`] with another [`Synchronous`] mode.
    pub fn open_with(path: &Path, sync: Synchronous) -> Result<Self, LedgerError> {
        let location = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| LedgerError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(db_err(&location, "open the database"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(db_err(&location, "set the busy timeout"))?;
        switch_to_wal(&conn, &location)?;
        let mode = match sync {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", mode)
            .map_err(db_err(&location, "set synchronous"))?;
        let mut ledger = Self::init(conn, location)?;
        ledger.checkpointer = Checkpointer::start(path);
        if ledger.checkpointer.is_some() {
            ledger
                .conn()
                .pragma_update(None, "wal_autocheckpoint", 0)
                .map_err(db_err(&ledger.location, "turn off automatic checkpoints"))?;
        }
        Ok(ledger)
    }

    /// A private database in memory, gone when the ledger is dropped (tests, or a
    /// server that should not keep rows).
    pub fn open_in_memory() -> Result<Self, LedgerError> {
        let location = ":memory:".to_string();
        let conn = Connection::open_in_memory().map_err(db_err(&location, "open the database"))?;
        Self::init(conn, location)
    }

    fn init(mut conn: Connection, location: String) -> Result<Self, LedgerError> {
        let applied = migrate(&mut conn, &location)?;
        Ok(Self {
            conn: Mutex::new(conn),
            location,
            applied,
            queue: Mutex::new(Vec::new()),
            checkpointer: None,
        })
    }

    /// The database's file path, or `:memory:`.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// How many schema migrations opening this ledger applied.
    pub fn migrations_applied(&self) -> usize {
        self.applied
    }

    /// The schema version recorded in the database.
    pub fn schema_version(&self) -> Result<i64, LedgerError> {
        self.conn()
            .query_row(sql::CURRENT_VERSION, [], |r| r.get(0))
            .map_err(db_err(&self.location, "read the schema version"))
    }

    /// The connection; a panic in another thread mid-statement leaves SQLite
    /// consistent (an unfinished transaction rolls back), so poisoning is ignored.
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `batch` in one transaction and tells each row its result. If the group
    /// fails as a whole, each row is retried on its own, so one bad row cannot fail
    /// the others.
    fn commit_group(&self, conn: &Connection, batch: Vec<Queued>) {
        let all = (|| {
            let tx = conn.unchecked_transaction()?;
            for q in &batch {
                insert_row(&tx, q)?;
            }
            tx.commit()
        })();
        match all {
            Ok(()) => {
                for q in batch {
                    let _ = q.done.send(Ok(()));
                }
            }
            Err(_) => {
                for q in batch {
                    let r = insert_row(conn, &q).map_err(db_err(&self.location, "insert a row"));
                    let _ = q.done.send(r);
                }
            }
        }
    }
}

/// Inserts one queued row (in the caller's transaction, if any).
fn insert_row(conn: &Connection, q: &Queued) -> rusqlite::Result<()> {
    let row = &q.row;
    conn.prepare_cached(&INSERT_SQL)?.execute(params![
        row.request_id,
        row.time_ms,
        row.tenant,
        row.key_id,
        row.endpoint,
        row.route,
        row.reason,
        row.model,
        row.served_model,
        row.provider,
        row.prompt_tokens,
        row.completion_tokens,
        row.latency_ms,
        row.ttft_ms,
        row.status,
        q.cost,
        q.counterfactual,
    ])?;
    Ok(())
}

/// Puts the database in WAL mode. Setting the journal mode reads the file, so this is
/// where a file that is not a database fails. Switching a new file to WAL needs an
/// exclusive lock, and SQLite answers "busy" at once, without its busy handler, while
/// another connection (another process or thread opening the same new file) holds
/// one; so "busy" is retried here for up to [`BUSY_TIMEOUT`].
fn switch_to_wal(conn: &Connection, location: &str) -> Result<(), LedgerError> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            r => return r.map(drop).map_err(db_err(location, "switch to WAL mode")),
        }
    }
}

/// Applies the migrations `conn` has not seen, each in its own `IMMEDIATE`
/// transaction that re-reads the version, so two processes opening a new database
/// at once apply each migration once. Returns how many were applied.
pub(crate) fn migrate(conn: &mut Connection, location: &str) -> Result<usize, LedgerError> {
    conn.execute_batch(sql::CREATE_MIGRATIONS_TABLE)
        .map_err(db_err(location, "create schema_migrations"))?;
    let newer = |found: i64| LedgerError::NewerSchema {
        location: location.to_string(),
        found,
        supported: sql::SCHEMA_VERSION,
    };
    let mut applied = 0;
    for (i, migration) in sql::MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(i).unwrap_or(i64::MAX).saturating_add(1);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err(location, "begin a migration"))?;
        let current: i64 = tx
            .query_row(sql::CURRENT_VERSION, [], |r| r.get(0))
            .map_err(db_err(location, "read the schema version"))?;
        if current > sql::SCHEMA_VERSION {
            return Err(newer(current));
        }
        if current >= version {
            continue; // dropping `tx` rolls the empty transaction back
        }
        let failed = |e: rusqlite::Error| LedgerError::Migration {
            location: location.to_string(),
            version,
            source: Box::new(e),
        };
        tx.execute_batch(migration).map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_ms) VALUES (?1, ?2)",
            params![version, now_ms()],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
        applied += 1;
    }
    // With every migration applied the loop has not looked again; a newer tierlm may
    // have upgraded the file in between or before.
    let current: i64 = conn
        .query_row(sql::CURRENT_VERSION, [], |r| r.get(0))
        .map_err(db_err(location, "read the schema version"))?;
    if current > sql::SCHEMA_VERSION {
        return Err(newer(current));
    }
    Ok(applied)
}

impl LedgerStore for SqliteLedger {
    fn insert(&self, row: &Row) -> Result<(), LedgerError> {
        let (cost, counterfactual) = usage::stored_money(row)?;
        let (done, result) = mpsc::sync_channel(1);
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Queued {
                row: row.clone(),
                cost,
                counterfactual,
                done,
            });
        let conn = self.conn();
        // The previous holder may have committed this row with its group.
        if let Ok(r) = result.try_recv() {
            return r;
        }
        let batch = std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner));
        self.commit_group(&conn, batch);
        drop(conn);
        result.recv().unwrap_or_else(|_| {
            Err(LedgerError::Database {
                location: self.location.clone(),
                op: "insert a row",
                source: "the group commit lost this row's result".into(),
            })
        })
    }

    fn usage(&self, q: &UsageQuery) -> Result<UsageReport, LedgerError> {
        let (text, bounds) = sql::usage_sql(q, PH);
        let raw: Vec<(String, [i64; 7])> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare_cached(&text)
                .map_err(db_err(&self.location, "prepare the usage query"))?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(bounds.iter()), |r| {
                    let mut sums = [0i64; 7];
                    for (i, s) in sums.iter_mut().enumerate() {
                        *s = r.get(i + 1)?;
                    }
                    Ok((r.get::<_, String>(0)?, sums))
                })
                .map_err(db_err(&self.location, "query usage"))?;
            rows.collect::<Result<_, _>>()
                .map_err(db_err(&self.location, "read usage"))?
        };
        usage::assemble(&self.location, q, raw)
    }

    fn count(&self) -> Result<u64, LedgerError> {
        let n: i64 = self
            .conn()
            .query_row(sql::COUNT_SQL, [], |r| r.get(0))
            .map_err(db_err(&self.location, "count rows"))?;
        usage::unsigned(&self.location, "row count", n)
    }
}
