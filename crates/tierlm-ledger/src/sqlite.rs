//! The SQLite ledger: one embedded file in WAL mode, so readers (`GET /v1/usage`,
//! `tierlm report` in another process) never block the writer. One connection behind
//! a mutex serves the process; a busy timeout covers other processes holding the
//! file's lock.
//!
//! A request's row does not wait for a SQLite transaction: it goes to the database's
//! row queue on disk ([`crate::queue`]: one `write`, plus one shared `fdatasync` under
//! `synchronous=FULL`), which survives a crash, and a writer thread commits queued rows
//! in batches every [`DRAIN_EVERY`]. Every read of this ledger sees every acknowledged
//! row: usage and counts drain the queue first, a key's spend (checked for its budget
//! on the request path) adds the queued rows' cost to the committed sum instead of
//! paying for a commit. Another process reading the file sees a row once the writer
//! has committed it.
//! Opening the database replays whatever a crash left in the queue, exactly once.
//!
//! WAL checkpoints (copying the log into the database file, with a disk sync) run on a
//! background thread with its own connection every [`CHECKPOINT_EVERY`], never inside
//! a commit.

use std::path::Path;
use std::sync::{mpsc, Arc, Condvar, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{params, Connection, TransactionBehavior};

use crate::error::LedgerError;
use crate::now_ms;
use crate::queue::{cost_of, Claim, RowQueue, Taken};
use crate::sql::{self, Placeholders};
use crate::store::LedgerStore;
use crate::usage::{self, Row, UsageQuery, UsageReport};

/// How a committed transaction reaches the disk (SQLite's `synchronous`, in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// A row's queue entry is synced before `insert` returns (one `fdatasync` serves
    /// the requests appending together), and commits are synced: an acknowledged row
    /// survives a power loss.
    #[default]
    Full,
    /// Nothing synced on the request path (queue entries and commits reach the disk
    /// with the OS's writeback and the WAL checkpoints): an acknowledged row survives
    /// a crash of the gateway (kill -9), but the last rows may be lost on a power
    /// loss or kernel crash.
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

/// Where a drain records the queue segment it committed (SQLite only, outside the
/// portable schema): replay after a crash skips segments at or below it.
const CREATE_QUEUE_TABLE: &str = "CREATE TABLE IF NOT EXISTS ledger_queue (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    applied_generation  INTEGER NOT NULL
)";
const APPLIED_GENERATION: &str = "SELECT COALESCE(MAX(applied_generation), 0) FROM ledger_queue";
const MARK_APPLIED: &str = "INSERT INTO ledger_queue (id, applied_generation) VALUES (1, ?1) \
     ON CONFLICT (id) DO UPDATE SET applied_generation = excluded.applied_generation";

/// How long the writer lets queued rows gather before it commits them.
pub const DRAIN_EVERY: Duration = Duration::from_millis(5);

/// The longest the writer waits before retrying a commit the database refused.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(1);

/// A ledger in one SQLite database.
pub struct SqliteLedger {
    /// Declared first: dropped first, so its last drain runs while the connection
    /// and the queue still live.
    _writer: Option<Writer>,
    shared: Arc<Shared>,
    applied: usize,
    /// Declared last: dropped after the connection, so its final checkpoint sees
    /// every commit.
    checkpointer: Option<Checkpointer>,
}

/// What requests, readers and the writer thread share.
struct Shared {
    conn: Mutex<Connection>,
    location: String,
    /// The row queue, when this process owns the database's (file databases).
    queue: Option<RowQueue>,
    /// Rows a drain took but the database refused, committed before anything newer;
    /// only touched with `conn` held.
    stuck: Mutex<Option<(usize, Taken)>>,
    wake: Wake,
}

/// Tells the writer thread that rows wait, or that it should stop.
#[derive(Default)]
struct Wake {
    flags: Mutex<(bool, bool)>,
    cv: Condvar,
}

impl Wake {
    fn work(&self) {
        lock(&self.flags).0 = true;
        self.cv.notify_one();
    }

    fn stop(&self) {
        lock(&self.flags).1 = true;
        self.cv.notify_one();
    }

    /// Waits at most `timeout` for work or a stop; clears the work flag and returns
    /// whether to stop.
    fn wait(&self, timeout: Duration) -> bool {
        let flags = lock(&self.flags);
        let (mut flags, _) = self
            .cv
            .wait_timeout_while(flags, timeout, |(work, stop)| !*work && !*stop)
            .unwrap_or_else(PoisonError::into_inner);
        flags.0 = false;
        flags.1
    }
}

/// The thread that moves queued rows into the database.
struct Writer {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.wake.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Writer {
    fn start(shared: &Arc<Shared>) -> Result<Self, LedgerError> {
        let runs = Arc::clone(shared);
        let thread = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || runs.write_until_stopped())
            .map_err(|e| LedgerError::Database {
                location: shared.location.clone(),
                op: "start the writer thread",
                source: Box::new(e),
            })?;
        Ok(Self {
            shared: Arc::clone(shared),
            thread: Some(thread),
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl std::fmt::Debug for SqliteLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLedger")
            .field("location", &self.shared.location)
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

    /// [`SqliteLedger::open`] with another [`Synchronous`] mode. Claims the
    /// database's row queue unless another process holds it, and first replays
    /// the rows a crash left there.
    pub fn open_with(path: &Path, sync: Synchronous) -> Result<Self, LedgerError> {
        let location = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| LedgerError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let mut conn = Connection::open(path).map_err(db_err(&location, "open the database"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(db_err(&location, "set the busy timeout"))?;
        switch_to_wal(&conn, &location)?;
        let mode = match sync {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", mode)
            .map_err(db_err(&location, "set synchronous"))?;
        let applied = migrate(&mut conn, &location)?;
        let queue = match Claim::take(path)? {
            Some(claim) => Some(replay(&conn, &location, claim, sync)?),
            None => {
                tracing::info!(
                    database = %location,
                    "ledger: another process owns this database's row queue; rows are \
                     written directly"
                );
                None
            }
        };
        let mut ledger = Self::assemble(conn, location, applied, queue)?;
        ledger.checkpointer = Checkpointer::start(path);
        if ledger.checkpointer.is_some() {
            ledger
                .conn()
                .pragma_update(None, "wal_autocheckpoint", 0)
                .map_err(db_err(
                    &ledger.shared.location,
                    "turn off automatic checkpoints",
                ))?;
        }
        Ok(ledger)
    }

    /// A private database in memory, gone when the ledger is dropped (tests, or a
    /// server that should not keep rows).
    pub fn open_in_memory() -> Result<Self, LedgerError> {
        let location = ":memory:".to_string();
        let mut conn =
            Connection::open_in_memory().map_err(db_err(&location, "open the database"))?;
        let applied = migrate(&mut conn, &location)?;
        Self::assemble(conn, location, applied, None)
    }

    fn assemble(
        conn: Connection,
        location: String,
        applied: usize,
        queue: Option<RowQueue>,
    ) -> Result<Self, LedgerError> {
        let has_queue = queue.is_some();
        let shared = Arc::new(Shared {
            conn: Mutex::new(conn),
            location,
            queue,
            stuck: Mutex::new(None),
            wake: Wake::default(),
        });
        let writer = if has_queue {
            Some(Writer::start(&shared)?)
        } else {
            None
        };
        Ok(Self {
            _writer: writer,
            shared,
            applied,
            checkpointer: None,
        })
    }

    /// The database's file path, or `:memory:`.
    pub fn location(&self) -> &str {
        &self.shared.location
    }

    /// How many schema migrations opening this ledger applied.
    pub fn migrations_applied(&self) -> usize {
        self.applied
    }

    /// The schema version recorded in the database.
    pub fn schema_version(&self) -> Result<i64, LedgerError> {
        self.conn()
            .query_row(sql::CURRENT_VERSION, [], |r| r.get(0))
            .map_err(db_err(&self.shared.location, "read the schema version"))
    }

    /// The connection; a panic in another thread mid-statement leaves SQLite
    /// consistent (an unfinished transaction rolls back), so poisoning is ignored.
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        lock(&self.shared.conn)
    }

    /// Commits every row queued so far, so a read that follows sees them.
    pub(crate) fn drain(&self) -> Result<(), LedgerError> {
        self.shared.drain()
    }

    /// The cost of the rows `pick` accepts that are queued, not yet committed (in the
    /// queue, or in a batch the database refused). Call with the connection held
    /// (`conn`): no drain is then half-way, so together with a query on that
    /// connection every acknowledged row is counted exactly once.
    pub(crate) fn queued_cost(&self, _conn: &Connection, pick: impl Fn(&Row) -> bool) -> u64 {
        let Some(queue) = &self.shared.queue else {
            return 0;
        };
        let stuck = lock(&self.shared.stuck)
            .as_ref()
            .map_or(0, |(_, taken)| cost_of(&taken.rows, &pick));
        stuck.saturating_add(queue.queued_cost(&pick))
    }
}

/// Commits the rows `claim` found (segments newer than the database's applied
/// generation), then starts the queue with fresh segments.
fn replay(
    conn: &Connection,
    location: &str,
    claim: Claim,
    sync: Synchronous,
) -> Result<RowQueue, LedgerError> {
    conn.execute_batch(CREATE_QUEUE_TABLE)
        .map_err(db_err(location, "create ledger_queue"))?;
    let applied: i64 = conn
        .query_row(APPLIED_GENERATION, [], |r| r.get(0))
        .map_err(db_err(location, "read the applied queue generation"))?;
    let applied = u64::try_from(applied).unwrap_or(0);
    for segment in &claim.recovered {
        if segment.generation <= applied {
            continue; // committed before the crash, not yet emptied
        }
        commit_rows(conn, location, segment.generation, &segment.rows)?;
        tracing::info!(
            database = %location,
            rows = segment.rows.len(),
            "ledger: recorded rows the row queue held at the last exit"
        );
    }
    let first = applied.max(claim.newest_generation).saturating_add(1);
    claim.start(first, sync)
}

/// Inserts `rows` and marks queue segment `generation` applied, in one transaction.
fn commit_rows(
    conn: &Connection,
    location: &str,
    generation: u64,
    rows: &[Row],
) -> Result<(), LedgerError> {
    let tx = conn
        .unchecked_transaction()
        .map_err(db_err(location, "begin a transaction"))?;
    for row in rows {
        let (cost, counterfactual) = usage::stored_money(row)?;
        insert_row(&tx, row, cost, counterfactual).map_err(db_err(location, "insert a row"))?;
    }
    let generation = i64::try_from(generation).unwrap_or(i64::MAX);
    tx.execute(MARK_APPLIED, [generation])
        .map_err(db_err(location, "mark queued rows applied"))?;
    tx.commit().map_err(db_err(location, "commit queued rows"))
}

impl Shared {
    fn conn(&self) -> MutexGuard<'_, Connection> {
        lock(&self.conn)
    }

    /// Commits every row queued before the call (and any batch left by a failed
    /// commit first, so rows are recorded in order).
    fn drain(&self) -> Result<(), LedgerError> {
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        let conn = self.conn();
        let mut stuck = lock(&self.stuck);
        if let Some(batch) = stuck.take() {
            self.commit_batch(&conn, queue, &mut stuck, batch)?;
        }
        match queue.take()? {
            Some(batch) => self.commit_batch(&conn, queue, &mut stuck, batch),
            None => Ok(()),
        }
    }

    /// Commits a batch taken from segment `batch.0` and empties that segment; a batch
    /// the database refuses is kept in `stuck`, to be committed before anything newer.
    fn commit_batch(
        &self,
        conn: &Connection,
        queue: &RowQueue,
        stuck: &mut Option<(usize, Taken)>,
        (index, taken): (usize, Taken),
    ) -> Result<(), LedgerError> {
        if let Err(e) = commit_rows(conn, &self.location, taken.generation, &taken.rows) {
            *stuck = Some((index, taken));
            return Err(e);
        }
        queue.release(index)
    }

    /// The writer thread: drains when rows wait (after letting a batch gather),
    /// retries with a growing pause when the database refuses, and drains a last
    /// time when stopped.
    fn write_until_stopped(&self) {
        let mut retry_wait = DRAIN_EVERY;
        loop {
            if self.wake.wait(MAX_RETRY_WAIT) {
                break;
            }
            std::thread::sleep(DRAIN_EVERY);
            match self.drain() {
                Ok(()) => retry_wait = DRAIN_EVERY,
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        "ledger: cannot commit queued rows yet; they stay in the queue"
                    );
                    self.wake.work();
                    std::thread::sleep(retry_wait);
                    retry_wait = (retry_wait * 2).min(MAX_RETRY_WAIT);
                }
            }
        }
        if let Err(e) = self.drain() {
            tracing::error!(
                error = %e,
                "ledger: queued rows not committed at exit; the next open records them"
            );
        }
    }
}

/// Inserts one row (in the caller's transaction, if any).
fn insert_row(
    conn: &Connection,
    row: &Row,
    cost: i64,
    counterfactual: i64,
) -> rusqlite::Result<()> {
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
        cost,
        counterfactual,
        row.tiers,
    ])?;
    Ok(())
}

/// Puts the database in WAL mode. Setting the journal mode reads the file, so this is
/// where a file that is not a database fails.
fn switch_to_wal(conn: &Connection, location: &str) -> Result<(), LedgerError> {
    enable_wal(conn, BUSY_TIMEOUT).map_err(db_err(location, "switch to WAL mode"))
}

/// Switches `conn`'s database to WAL mode. Switching a new file needs an exclusive
/// lock, and SQLite answers "busy" at once, without its busy handler, while another
/// connection (another process or thread opening the same new file) holds one; so
/// "busy" is retried here for up to `patience`. Shared with the other SQLite stores.
pub fn enable_wal(conn: &Connection, patience: Duration) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + patience;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            r => return r.map(drop),
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
    /// With the row queue: appends the row (and syncs it in the `FULL` mode) and
    /// returns; the writer thread commits it within [`DRAIN_EVERY`] or so, and every
    /// read of this ledger sees it meanwhile. Without (in memory, or another process owns the queue): one
    /// transaction per row.
    fn insert(&self, row: &Row) -> Result<(), LedgerError> {
        let (cost, counterfactual) = usage::stored_money(row)?;
        match &self.shared.queue {
            Some(queue) => {
                let ticket = queue.append(row)?;
                if ticket.first {
                    self.shared.wake.work();
                }
                queue.sync(&ticket)
            }
            None => insert_row(&self.conn(), row, cost, counterfactual)
                .map_err(db_err(&self.shared.location, "insert a row")),
        }
    }

    fn insert_is_quick(&self) -> bool {
        self.shared.queue.as_ref().is_some_and(|q| !q.syncs())
    }

    fn usage(&self, q: &UsageQuery) -> Result<UsageReport, LedgerError> {
        self.drain()?;
        let (text, bounds) = sql::usage_sql(q, PH);
        let raw: Vec<(String, [i64; 7])> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare_cached(&text)
                .map_err(db_err(&self.shared.location, "prepare the usage query"))?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(bounds.iter()), |r| {
                    let mut sums = [0i64; 7];
                    for (i, s) in sums.iter_mut().enumerate() {
                        *s = r.get(i + 1)?;
                    }
                    Ok((r.get::<_, String>(0)?, sums))
                })
                .map_err(db_err(&self.shared.location, "query usage"))?;
            rows.collect::<Result<_, _>>()
                .map_err(db_err(&self.shared.location, "read usage"))?
        };
        usage::assemble(&self.shared.location, q, raw)
    }

    fn count(&self) -> Result<u64, LedgerError> {
        self.drain()?;
        let n: i64 = self
            .conn()
            .query_row(sql::COUNT_SQL, [], |r| r.get(0))
            .map_err(db_err(&self.shared.location, "count rows"))?;
        usage::unsigned(&self.shared.location, "row count", n)
    }
}
