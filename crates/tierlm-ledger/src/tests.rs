//! The SQLite backend's tests: the shared [`crate::suite`] on in-memory and file
//! databases, plus what only SQLite has — files, WAL, migrations on reopen, a schema
//! from a newer tierlm — and database URL parsing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::sqlite::migrate;
use crate::{open, suite, LedgerError, LedgerStore, Row, SqliteLedger, UsageQuery};

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "tierlm-ledger-{name}-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub(crate) fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn row(id: &str, time_ms: i64) -> Row {
    Row {
        request_id: id.to_string(),
        time_ms,
        tenant: Some("acme".to_string()),
        key_id: Some("key-1".to_string()),
        endpoint: "chat_completions".to_string(),
        route: "cloud".to_string(),
        reason: Some("complex".to_string()),
        model: "auto".to_string(),
        served_model: Some("gpt-x".to_string()),
        provider: Some("openai".to_string()),
        prompt_tokens: 100,
        completion_tokens: 20,
        latency_ms: 300,
        ttft_ms: Some(80),
        status: 200,
        cost: 1_250_000,
        counterfactual_cost: 5_000_000,
        tiers: None,
    }
}

pub(crate) fn migrations_table(path: &Path) -> Vec<(i64, i64)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT version, applied_ms FROM schema_migrations ORDER BY version")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    rows
}

macro_rules! suite_cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let store = SqliteLedger::open_in_memory().unwrap();
                suite::$name(&store);
            }
        )*

        #[test]
        fn every_suite_case_has_a_test() {
            let named = [$(stringify!($name)),*];
            for (case, _) in suite::CASES {
                assert!(named.contains(case), "suite case {case} has no #[test]");
            }
            assert_eq!(named.len(), suite::CASES.len());
        }
    };
}

mod suite_in_memory {
    use super::*;

    suite_cases!(
        insert_and_count,
        totals_and_savings,
        group_by_tenant,
        group_by_key,
        group_by_route,
        group_by_model,
        time_range_bounds,
        local_vs_cloud,
        exact_money_sums,
        empty_range,
        out_of_range_money_is_rejected,
        strings_are_stored_verbatim,
        concurrent_inserts,
    );
}

#[test]
fn suite_on_one_shared_in_memory_store() {
    let store = SqliteLedger::open_in_memory().unwrap();
    suite::run_all(&store);
    suite::run_all(&store); // a second run beside the first's rows
}

#[test]
fn suite_on_a_file_database() {
    let dir = TempDir::new("suite");
    let store = open(&format!("sqlite://{}", dir.join("ledger.db").display())).unwrap();
    suite::run_all(store.as_ref());
}

#[test]
fn file_database_is_wal_and_creates_parent_dirs() {
    let dir = TempDir::new("wal");
    let path = dir.join("a/b/c/ledger.db");
    let ledger = SqliteLedger::open(&path).unwrap();
    assert_eq!(ledger.location(), path.display().to_string());
    assert!(path.exists());
    {
        let conn = ledger.conn();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
        let busy: i64 = conn
            .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
            .unwrap();
        assert!(busy >= 1000, "busy_timeout {busy}");
    }
    ledger.insert(&row("r1", 1)).unwrap();
    // Another connection (as another process would) sees it once the writer thread
    // has committed the queue, within a few milliseconds.
    let other = SqliteLedger::open(&path).unwrap();
    eventually_counts(&other, 1);
    // The queue has one owner; the second ledger writes directly.
    other.insert(&row("r2", 2)).unwrap();
    assert_eq!(ledger.count().unwrap(), 2);
}

/// Waits (up to 5 s) for `ledger` to count `n` rows.
pub(crate) fn eventually_counts(ledger: &SqliteLedger, n: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while ledger.count().unwrap() != n {
        assert!(std::time::Instant::now() < deadline, "never saw {n} rows");
        std::thread::sleep(crate::sqlite::DRAIN_EVERY);
    }
}

#[test]
fn checkpoints_run_in_the_background_not_in_commits() {
    let dir = TempDir::new("checkpoint");
    let path = dir.join("c.db");
    let ledger = SqliteLedger::open(&path).unwrap();
    let auto: i64 = ledger
        .conn()
        .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
        .unwrap();
    assert_eq!(auto, 0, "commits never checkpoint");
    for i in 0..50 {
        ledger.insert(&row(&format!("r{i}"), i)).unwrap();
    }
    std::thread::sleep(crate::sqlite::CHECKPOINT_EVERY * 2);
    // The database file alone (without its WAL) already holds every row.
    let copy = dir.join("copy.db");
    std::fs::copy(&path, &copy).unwrap();
    let n: i64 = rusqlite::Connection::open(&copy)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM requests", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 50);
}

#[test]
fn the_url_chooses_how_commits_reach_the_disk() {
    let dir = TempDir::new("sync");
    let file = dir.join("s.db");
    let by_url = open(&format!("sqlite://{}?synchronous=normal", file.display())).unwrap();
    by_url.insert(&row("r", 1)).unwrap();
    assert_eq!(by_url.count().unwrap(), 1);
    let normal = SqliteLedger::open_with(&file, crate::Synchronous::Normal).unwrap();
    let level: i64 = normal
        .conn()
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(level, 1, "synchronous=NORMAL");
    let full = format!("sqlite://{}?synchronous=full", file.display());
    assert_eq!(crate::database_file(&full).unwrap(), Some(file.clone()));
    let err = open(&format!("sqlite://{}?synchronous=off", file.display()))
        .err()
        .unwrap();
    assert!(err.to_string().contains("synchronous=normal"), "{err}");
}

#[test]
fn migrations_are_idempotent_on_reopen() {
    let dir = TempDir::new("reopen");
    let path = dir.join("ledger.db");
    {
        let ledger = SqliteLedger::open(&path).unwrap();
        assert_eq!(ledger.schema_version().unwrap(), crate::sql::SCHEMA_VERSION);
        ledger.insert(&row("r1", 10)).unwrap();
    }
    let first = migrations_table(&path);
    assert_eq!(first.len(), crate::sql::MIGRATIONS.len());
    assert_eq!(
        first.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        (1..=crate::sql::SCHEMA_VERSION).collect::<Vec<_>>()
    );
    for _ in 0..3 {
        let ledger = SqliteLedger::open(&path).unwrap();
        assert_eq!(ledger.count().unwrap(), 1, "rows survive a reopen");
        assert_eq!(
            migrate(&mut ledger.conn(), "test").unwrap(),
            0,
            "nothing to apply"
        );
    }
    assert_eq!(migrations_table(&path), first, "reopening applies nothing");
    let t = SqliteLedger::open(&path)
        .unwrap()
        .usage(&UsageQuery::default())
        .unwrap()
        .totals;
    assert_eq!((t.requests, t.cost), (1, 1_250_000));
}

#[test]
fn a_new_database_gets_every_migration_once() {
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    assert_eq!(
        migrate(&mut conn, "test").unwrap(),
        crate::sql::MIGRATIONS.len()
    );
    assert_eq!(migrate(&mut conn, "test").unwrap(), 0);
}

#[test]
fn opening_a_new_file_from_many_threads_migrates_once() {
    let dir = TempDir::new("race");
    let path = dir.join("ledger.db");
    std::thread::scope(|s| {
        for i in 0..4 {
            let path = &path;
            s.spawn(move || {
                let ledger = SqliteLedger::open(path).unwrap();
                ledger.insert(&row(&format!("r{i}"), i)).unwrap();
            });
        }
    });
    assert_eq!(migrations_table(&path).len(), crate::sql::MIGRATIONS.len());
    assert_eq!(SqliteLedger::open(&path).unwrap().count().unwrap(), 4);
}

#[test]
fn a_database_from_a_newer_version_errors() {
    let dir = TempDir::new("future");
    let path = dir.join("ledger.db");
    drop(SqliteLedger::open(&path).unwrap());
    let future = crate::sql::SCHEMA_VERSION + 1;
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO schema_migrations (version, applied_ms) VALUES (?1, 0)",
            [future],
        )
        .unwrap();
    let err = SqliteLedger::open(&path).unwrap_err();
    match &err {
        LedgerError::NewerSchema {
            found, supported, ..
        } => {
            assert_eq!((*found, *supported), (future, crate::sql::SCHEMA_VERSION));
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("newer"), "{msg}");
    let via_url = open(&path.display().to_string()).err().unwrap();
    assert!(matches!(via_url, LedgerError::NewerSchema { .. }));
    // Nothing was changed: the future version is still the newest.
    assert_eq!(migrations_table(&path).last().map(|r| r.0), Some(future));
}

#[test]
fn a_file_that_is_not_a_database_errors_naming_it() {
    let dir = TempDir::new("garbage");
    let path = dir.join("ledger.db");
    std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
    let msg = SqliteLedger::open(&path).unwrap_err().to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

#[test]
fn an_uncreatable_directory_errors_naming_it() {
    let dir = TempDir::new("nodir");
    let file = dir.join("file");
    std::fs::write(&file, b"x").unwrap();
    let err = SqliteLedger::open(&file.join("sub/ledger.db")).unwrap_err();
    assert!(matches!(err, LedgerError::CreateDir { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&file.display().to_string()),
        "{err}"
    );
}

#[test]
fn database_urls() {
    let dir = TempDir::new("urls");
    let abs = dir.join("x/abs.db");
    let store = open(&format!("sqlite://{}", abs.display())).unwrap();
    store.insert(&row("r", 1)).unwrap();
    assert!(abs.exists(), "sqlite:///abs/path is absolute");
    let plain = dir.join("plain.db");
    open(&plain.display().to_string()).unwrap();
    assert!(plain.exists());
    let short = dir.join("short.db");
    open(&format!("sqlite:{}", short.display())).unwrap();
    assert!(short.exists());
    for mem in [
        "sqlite::memory:",
        "sqlite://:memory:",
        ":memory:",
        " :memory: ",
    ] {
        let store = open(mem).unwrap();
        store.insert(&row("r", 1)).unwrap();
        assert_eq!(store.count().unwrap(), 1, "{mem}");
    }

    // Nothing listens on port 1: each fails to connect, fast, naming the server but
    // never the password.
    for pg in [
        "postgres://tierlm:s3cret@127.0.0.1:1/tierlm",
        "postgresql://tierlm@127.0.0.1:1/tierlm?password=s3cret",
        "POSTGRES://u:s3cret@127.0.0.1:1/d",
    ] {
        let err = open(pg).err().unwrap();
        let msg = err.to_string();
        assert!(
            matches!(err, LedgerError::Database { op: "connect", .. }),
            "{pg}: {err:?}"
        );
        assert!(msg.contains("127.0.0.1:1"), "{msg}");
        assert!(!msg.contains("s3cret"), "the password leaks: {msg}");
    }
    for bad in ["postgres://u:s3cret@h:notaport/d", "postgres:u@h/d"] {
        let err = open(bad).err().unwrap();
        let msg = err.to_string();
        assert!(
            matches!(err, LedgerError::InvalidUrl { .. }),
            "{bad}: {err:?}"
        );
        assert!(!msg.contains("s3cret"), "the password leaks: {msg}");
    }

    for bad in [
        "",
        "  ",
        "sqlite://",
        "sqlite:",
        "mysql://h/db",
        "sqlite://x.db?mode=rwc",
    ] {
        let err = open(bad).err().unwrap();
        assert!(
            matches!(err, LedgerError::InvalidUrl { .. }),
            "{bad:?}: {err:?}"
        );
    }
    let msg = open("mysql://u:pw@h/db").err().unwrap().to_string();
    assert!(
        msg.contains("mysql://u:***@h/db") && msg.contains("unknown scheme"),
        "{msg}"
    );
}

#[test]
fn redact_hides_passwords_only() {
    use crate::redact;
    assert_eq!(redact("postgres://u:p@h:5/d"), "postgres://u:***@h:5/d");
    assert_eq!(redact("postgres://u@h/d"), "postgres://u@h/d");
    assert_eq!(redact("postgres://h/d?password=p"), "postgres://h/d?…");
    assert_eq!(redact("postgres://u:p:q@x@h/d"), "postgres://u:***@h/d");
    assert_eq!(redact("data/tierlm.db"), "data/tierlm.db");
    assert_eq!(redact("sqlite://data/t.db"), "sqlite://data/t.db");
}

#[test]
fn errors_name_the_database() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    let mut big = row("too-big", 1);
    big.cost = u64::MAX;
    let msg = ledger.insert(&big).unwrap_err().to_string();
    assert!(msg.contains("too-big") && msg.contains("cost"), "{msg}");
    assert_eq!(
        format!("{ledger:?}"),
        "SqliteLedger { location: \":memory:\", .. }"
    );
}

#[test]
fn the_store_is_usable_as_a_shared_trait_object() {
    let store: std::sync::Arc<dyn LedgerStore> = std::sync::Arc::from(open(":memory:").unwrap());
    let s2 = std::sync::Arc::clone(&store);
    std::thread::spawn(move || s2.insert(&row("t", 5)).unwrap())
        .join()
        .unwrap();
    assert_eq!(store.count().unwrap(), 1);
    let json = serde_json::to_value(store.usage(&UsageQuery::default()).unwrap()).unwrap();
    assert_eq!(json["totals"]["cost"], 1_250_000);
    let back: Row = serde_json::from_value(serde_json::to_value(row("j", 1)).unwrap()).unwrap();
    assert_eq!(back, row("j", 1));
}

#[test]
fn sums_past_i64_fail_rather_than_wrap() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    let mut r = row("huge", 1);
    r.cost = i64::MAX.unsigned_abs();
    ledger.insert(&r).unwrap();
    ledger.insert(&r).unwrap();
    let err = ledger.usage(&UsageQuery::default()).unwrap_err();
    assert!(err.to_string().contains(":memory:"), "{err}");
    // Split over groups, each sum fits in i64 but the total (u64) still does too.
    let mut a = row("a", 1);
    a.tenant = Some("a".to_string());
    a.cost = i64::MAX.unsigned_abs();
    let mut b = a.clone();
    b.tenant = Some("b".to_string());
    let split = SqliteLedger::open_in_memory().unwrap();
    split.insert(&a).unwrap();
    split.insert(&b).unwrap();
    let q = UsageQuery {
        group_by: Some(crate::GroupBy::Tenant),
        ..UsageQuery::default()
    };
    let report = split.usage(&q).unwrap();
    assert_eq!(report.totals.cost, 2 * i64::MAX.unsigned_abs());
}
