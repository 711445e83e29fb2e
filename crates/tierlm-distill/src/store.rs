//! The distillation store: one SQLite file (default `data/distill.db`), separate from
//! the ledger, in WAL mode so the CLI (`tierlm distill export`) reads while the server
//! writes. It holds the training records and the per-task route state with its event
//! log (see [`crate::promotion`]). Migrations are append-only and each runs in its own
//! `IMMEDIATE` transaction that re-reads the version, as in the ledger.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{params, Connection, TransactionBehavior};

use crate::error::DistillError;
use crate::record::{Message, RecordSource, TrainingRecord};

/// Where the store lives unless configured otherwise.
pub const DEFAULT_PATH: &str = "data/distill.db";

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
     version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)";
const CURRENT_VERSION: &str = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";

/// Entry `i` is schema version `i + 1`. Append only.
const MIGRATIONS: &[&str] = &[
    "\
CREATE TABLE records (
    id            TEXT    NOT NULL PRIMARY KEY,
    time_ms       BIGINT  NOT NULL,
    tenant        TEXT,
    task          TEXT    NOT NULL,
    route         TEXT    NOT NULL,
    messages      TEXT    NOT NULL,
    answer        TEXT    NOT NULL,
    teacher_model TEXT    NOT NULL,
    label         TEXT,
    source        TEXT    NOT NULL,
    input_hash    TEXT    NOT NULL
);
CREATE INDEX records_task_time ON records (task, time_ms);
CREATE INDEX records_task_hash ON records (task, input_hash);
CREATE TABLE route_state (
    task       TEXT   NOT NULL PRIMARY KEY,
    state      TEXT   NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE route_events (
    task     TEXT   NOT NULL,
    time_ms  BIGINT NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    actor    TEXT   NOT NULL,
    reason   TEXT   NOT NULL,
    agree    BIGINT,
    total    BIGINT
);
CREATE INDEX route_events_task_time ON route_events (task, time_ms);
",
    "\
CREATE TABLE shadow_samples (
    task       TEXT    NOT NULL,
    time_ms    BIGINT  NOT NULL,
    confidence REAL,
    agreed     BOOLEAN NOT NULL
);
CREATE INDEX shadow_samples_task ON shadow_samples (task);
",
];

const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The training records and route states of one deployment.
pub struct DistillStore {
    conn: Mutex<Connection>,
    location: String,
}

impl std::fmt::Debug for DistillStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DistillStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

pub(crate) fn db_err<'a>(
    location: &'a str,
    op: &'static str,
) -> impl FnOnce(rusqlite::Error) -> DistillError + 'a {
    move |source| DistillError::Database {
        location: location.to_string(),
        op,
        source,
    }
}

const SELECT_RECORD: &str = "SELECT id, time_ms, tenant, task, route, messages, answer, \
     teacher_model, label, source FROM records";

impl DistillStore {
    /// Opens (creating it and its directory) the store at `path`, in WAL mode, and
    /// brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, DistillError> {
        let location = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| DistillError::Io {
                op: "create the directory",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(db_err(&location, "open the database"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(db_err(&location, "set the busy timeout"))?;
        // Another connection opening the same new file (the gateway and a `tierlm
        // distill` command) may hold the lock the switch needs: wait for it.
        tierlm_ledger::sqlite_enable_wal(&conn, BUSY_TIMEOUT)
            .map_err(db_err(&location, "switch to WAL mode"))?;
        // Records are re-creatable (a lost one is one fewer example), so NORMAL is
        // enough: durable at each checkpoint, no fsync per batch.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_err(&location, "set synchronous=NORMAL"))?;
        Self::init(conn, location)
    }

    /// A private store in memory (tests).
    pub fn open_in_memory() -> Result<Self, DistillError> {
        let location = ":memory:".to_string();
        let conn = Connection::open_in_memory().map_err(db_err(&location, "open the database"))?;
        Self::init(conn, location)
    }

    fn init(mut conn: Connection, location: String) -> Result<Self, DistillError> {
        migrate(&mut conn, &location)?;
        Ok(Self {
            conn: Mutex::new(conn),
            location,
        })
    }

    /// The file path, or `:memory:`.
    pub fn location(&self) -> &str {
        &self.location
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores records in one transaction; a record whose id is already stored is
    /// skipped. Returns how many were new.
    pub fn insert_records(&self, records: &[TrainingRecord]) -> Result<usize, DistillError> {
        let loc = &self.location;
        let mut conn = self.conn();
        let tx = conn
            .transaction()
            .map_err(db_err(loc, "begin a transaction"))?;
        let mut added = 0;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO records (id, time_ms, tenant, task, route, messages, \
                     answer, teacher_model, label, source, input_hash) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(db_err(loc, "prepare the insert"))?;
            for r in records {
                let messages = serde_json::to_string(&r.messages).map_err(|e| {
                    DistillError::Invalid(format!("record {}: messages: {e}", r.id))
                })?;
                added += stmt
                    .execute(params![
                        r.id,
                        r.time_ms,
                        r.tenant,
                        r.task,
                        r.route,
                        messages,
                        r.answer,
                        r.teacher_model,
                        r.label,
                        r.source.as_str(),
                        r.input_hash(),
                    ])
                    .map_err(db_err(loc, "insert a record"))?;
            }
        }
        tx.commit().map_err(db_err(loc, "commit records"))?;
        Ok(added)
    }

    /// Every record of `task`, oldest first (ties by id).
    pub fn records(&self, task: &str) -> Result<Vec<TrainingRecord>, DistillError> {
        let loc = &self.location;
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "{SELECT_RECORD} WHERE task = ?1 ORDER BY time_ms, id"
            ))
            .map_err(db_err(loc, "prepare the record query"))?;
        let rows = stmt
            .query_map(params![task], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, String>(9)?,
                ))
            })
            .map_err(db_err(loc, "query records"))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, time_ms, tenant, task, route, messages, answer, teacher_model, label, source) =
                row.map_err(db_err(loc, "read a record"))?;
            let corrupt = |detail: String| DistillError::Corrupt {
                location: loc.clone(),
                detail,
            };
            let messages: Vec<Message> = serde_json::from_str(&messages)
                .map_err(|e| corrupt(format!("record {id}: messages: {e}")))?;
            let source = RecordSource::parse(&source)
                .ok_or_else(|| corrupt(format!("record {id}: source {source:?}")))?;
            out.push(TrainingRecord {
                id,
                time_ms,
                tenant,
                task,
                route,
                messages,
                answer,
                teacher_model,
                label,
                source,
            });
        }
        Ok(out)
    }

    /// How many records `task` has.
    pub fn count(&self, task: &str) -> Result<u64, DistillError> {
        let n: i64 = self
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM records WHERE task = ?1",
                params![task],
                |r| r.get(0),
            )
            .map_err(db_err(&self.location, "count records"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Tasks with records and how many each has, by name.
    pub fn tasks(&self) -> Result<Vec<(String, u64)>, DistillError> {
        let loc = &self.location;
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT task, COUNT(*) FROM records GROUP BY task ORDER BY task")
            .map_err(db_err(loc, "prepare the task query"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(db_err(loc, "query tasks"))?;
        rows.map(|r| {
            r.map(|(t, n)| (t, u64::try_from(n).unwrap_or(0)))
                .map_err(db_err(loc, "read a task"))
        })
        .collect()
    }

    /// The normalised input hashes of `task`'s records, for deduplicating new ones.
    pub fn input_hashes(&self, task: &str) -> Result<HashSet<String>, DistillError> {
        let loc = &self.location;
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT input_hash FROM records WHERE task = ?1")
            .map_err(db_err(loc, "prepare the hash query"))?;
        let rows = stmt
            .query_map(params![task], |r| r.get::<_, String>(0))
            .map_err(db_err(loc, "query hashes"))?;
        rows.map(|r| r.map_err(db_err(loc, "read a hash")))
            .collect()
    }
}

fn migrate(conn: &mut Connection, location: &str) -> Result<usize, DistillError> {
    conn.execute_batch(CREATE_MIGRATIONS_TABLE)
        .map_err(db_err(location, "create schema_migrations"))?;
    let newer = |found: i64| DistillError::NewerSchema {
        location: location.to_string(),
        found,
        supported: SCHEMA_VERSION,
    };
    let mut applied = 0;
    for (i, migration) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(i).unwrap_or(i64::MAX).saturating_add(1);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err(location, "begin a migration"))?;
        let current: i64 = tx
            .query_row(CURRENT_VERSION, [], |r| r.get(0))
            .map_err(db_err(location, "read the schema version"))?;
        if current > SCHEMA_VERSION {
            return Err(newer(current));
        }
        if current >= version {
            continue;
        }
        tx.execute_batch(migration)
            .map_err(db_err(location, "apply a migration"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_ms) VALUES (?1, ?2)",
            params![version, crate::now_ms()],
        )
        .map_err(db_err(location, "record a migration"))?;
        tx.commit()
            .map_err(db_err(location, "commit a migration"))?;
        applied += 1;
    }
    let current: i64 = conn
        .query_row(CURRENT_VERSION, [], |r| r.get(0))
        .map_err(db_err(location, "read the schema version"))?;
    if current > SCHEMA_VERSION {
        return Err(newer(current));
    }
    Ok(applied)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn record(id: &str, task: &str, text: &str, label: Option<&str>) -> TrainingRecord {
        TrainingRecord {
            id: id.into(),
            time_ms: 1_000,
            tenant: Some("acme".into()),
            task: task.into(),
            route: "escalated".into(),
            messages: vec![
                Message::new("system", "Answer with one label."),
                Message::new("user", text),
            ],
            answer: label.unwrap_or("free text").into(),
            teacher_model: "openai/gpt-4o-mini".into(),
            label: label.map(str::to_string),
            source: RecordSource::Captured,
        }
    }

    #[test]
    fn records_round_trip_and_deduplicate_by_id() {
        let store = DistillStore::open_in_memory().unwrap();
        let a = record(
            "a",
            "priority",
            "Checkout is down for <PERSON_1>",
            Some("urgent"),
        );
        let b = record("b", "priority", "Change my avatar", Some("routine"));
        let c = record("c", "summary", "Summarise this", None);
        assert_eq!(store.insert_records(&[a.clone(), b.clone(), c]).unwrap(), 3);
        assert_eq!(store.insert_records(std::slice::from_ref(&a)).unwrap(), 0);
        assert_eq!(store.records("priority").unwrap(), vec![a.clone(), b]);
        assert_eq!(store.count("summary").unwrap(), 1);
        assert_eq!(
            store.tasks().unwrap(),
            vec![("priority".to_string(), 2), ("summary".to_string(), 1)]
        );
        assert!(store
            .input_hashes("priority")
            .unwrap()
            .contains(&a.input_hash()));
    }

    #[test]
    fn a_file_store_reopens_without_migrating_again() {
        let dir = std::env::temp_dir().join(format!("tierlm-distill-{}", std::process::id()));
        let path = dir.join("nested").join("distill.db");
        {
            let store = DistillStore::open(&path).unwrap();
            store
                .insert_records(&[record("a", "t", "x", None)])
                .unwrap();
        }
        let store = DistillStore::open(&path).unwrap();
        assert_eq!(store.count("t").unwrap(), 1);
        let mut conn = store.conn();
        assert_eq!(migrate(&mut conn, "x").unwrap(), 0);
        drop(conn);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn opening_a_new_file_from_many_threads_at_once_works() {
        let dir = std::env::temp_dir().join(format!(
            "tierlm-distill-race-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        let path = dir.join("distill.db");
        std::thread::scope(|s| {
            for i in 0..4 {
                let path = &path;
                s.spawn(move || {
                    let store = DistillStore::open(path).unwrap();
                    let id = format!("r{i}");
                    store
                        .insert_records(&[record(&id, "t", &id, None)])
                        .unwrap();
                });
            }
        });
        assert_eq!(DistillStore::open(&path).unwrap().count("t").unwrap(), 4);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, "m").unwrap();
        conn.execute(
            "INSERT INTO schema_migrations (version, applied_ms) VALUES (99, 0)",
            [],
        )
        .unwrap();
        assert!(matches!(
            migrate(&mut conn, "m"),
            Err(DistillError::NewerSchema { found: 99, .. })
        ));
    }
}
