//! The SQLite ledger's row queue: rows a crash left in it are recorded at the next
//! open exactly once, a torn last write is ignored, a damaged queue is an error that
//! names it, reads see every row acknowledged before them, and the queue is empty
//! after a clean shutdown.

use std::io::Write;
use std::path::Path;

use crate::queue::segment_paths;
use crate::tests::{eventually_counts, row, TempDir};
use crate::{LedgerError, LedgerStore, SqliteLedger, Synchronous, UsageQuery};

/// Writes a segment file as a crashed gateway would have left it.
fn write_segment(path: &Path, generation: u64, ids: &[&str], tail: &str) {
    let mut f = std::fs::File::create(path).unwrap();
    writeln!(
        f,
        r#"{{"tierlm_ledger_queue":1,"generation":{generation}}}"#
    )
    .unwrap();
    for id in ids {
        writeln!(f, "{}", serde_json::to_string(&row(id, 1)).unwrap()).unwrap();
    }
    f.write_all(tail.as_bytes()).unwrap();
}

fn applied_generation(db: &Path) -> u64 {
    let g: i64 = rusqlite::Connection::open(db)
        .unwrap()
        .query_row("SELECT applied_generation FROM ledger_queue", [], |r| {
            r.get(0)
        })
        .unwrap();
    u64::try_from(g).unwrap()
}

fn ids(ledger: &SqliteLedger) -> Vec<String> {
    let conn = ledger.conn();
    let mut stmt = conn
        .prepare("SELECT request_id FROM requests ORDER BY request_id")
        .unwrap();
    let ids = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<Vec<String>, _>>()
        .unwrap();
    ids
}

#[test]
fn rows_left_by_a_crash_are_recorded_once_at_the_next_open() {
    let dir = TempDir::new("replay");
    let db = dir.join("l.db");
    {
        let ledger = SqliteLedger::open(&db).unwrap();
        ledger.insert(&row("before", 1)).unwrap();
    }
    let applied = applied_generation(&db);
    let [a, b] = segment_paths(&db);
    // Segment b was committed (its generation is applied) but not emptied before
    // the crash; segment a holds newer rows and a write the crash cut short.
    write_segment(&b, applied, &["before"], "");
    write_segment(&a, applied + 1, &["x1", "x2"], r#"{"request_id":"torn"#);
    let ledger = SqliteLedger::open(&db).unwrap();
    assert_eq!(ids(&ledger), ["before", "x1", "x2"]);
    assert!(applied_generation(&db) > applied);
    drop(ledger);
    // Replayed once: opening again adds nothing.
    let ledger = SqliteLedger::open(&db).unwrap();
    assert_eq!(ledger.count().unwrap(), 3);
}

#[test]
fn a_damaged_queue_is_an_error_that_names_it() {
    let dir = TempDir::new("damaged");
    let db = dir.join("l.db");
    drop(SqliteLedger::open(&db).unwrap());
    let [a, _] = segment_paths(&db);
    write_segment(&a, 1_000, &["ok"], "not json\n");
    let err = SqliteLedger::open(&db).unwrap_err();
    assert!(matches!(err, LedgerError::Queue { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&a.display().to_string()), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
    // Nothing was lost or half-applied: the file is still there to inspect.
    assert!(std::fs::read_to_string(&a).unwrap().contains("not json"));
}

#[test]
fn reads_see_every_row_acknowledged_before_them() {
    let dir = TempDir::new("read-your-writes");
    let ledger = SqliteLedger::open_with(&dir.join("l.db"), Synchronous::Normal).unwrap();
    for i in 0..300 {
        ledger.insert(&row(&format!("r{i}"), i)).unwrap();
        if i % 50 == 0 {
            let n = u64::try_from(i).unwrap() + 1;
            assert_eq!(ledger.count().unwrap(), n);
            let usage = ledger.usage(&UsageQuery::default()).unwrap();
            assert_eq!(usage.totals.requests, n);
        }
    }
}

#[test]
fn concurrent_inserts_and_reads_lose_nothing_and_leave_an_empty_queue() {
    let dir = TempDir::new("concurrent");
    let db = dir.join("l.db");
    let ledger = SqliteLedger::open(&db).unwrap();
    std::thread::scope(|s| {
        for t in 0..6 {
            let ledger = &ledger;
            s.spawn(move || {
                for i in 0..150 {
                    ledger.insert(&row(&format!("t{t}-{i}"), i)).unwrap();
                    if i % 37 == 0 {
                        assert!(ledger.count().unwrap() >= u64::try_from(i).unwrap());
                    }
                }
            });
        }
    });
    assert_eq!(ledger.count().unwrap(), 900);
    drop(ledger);
    for segment in segment_paths(&db) {
        let text = std::fs::read_to_string(&segment).unwrap();
        assert_eq!(text.lines().count(), 1, "only a header is left: {text}");
    }
    assert_eq!(SqliteLedger::open(&db).unwrap().count().unwrap(), 900);
}

#[test]
fn the_writer_commits_without_a_read_asking() {
    let dir = TempDir::new("writer");
    let db = dir.join("l.db");
    let ledger = SqliteLedger::open(&db).unwrap();
    ledger.insert(&row("r", 1)).unwrap();
    // A second ledger on the file cannot drain this one's queue: it only sees the
    // row once the writer thread committed it.
    let reader = SqliteLedger::open(&db).unwrap();
    eventually_counts(&reader, 1);
}

#[test]
fn only_an_unsynced_queue_lets_async_code_insert_in_place() {
    let dir = TempDir::new("quick");
    let normal = SqliteLedger::open_with(&dir.join("n.db"), Synchronous::Normal).unwrap();
    assert!(normal.insert_is_quick());
    let full = SqliteLedger::open(&dir.join("f.db")).unwrap();
    assert!(!full.insert_is_quick(), "FULL syncs the queue in insert");
    let second = SqliteLedger::open_with(&dir.join("n.db"), Synchronous::Normal).unwrap();
    assert!(
        !second.insert_is_quick(),
        "no queue: one transaction per row"
    );
    assert!(!SqliteLedger::open_in_memory().unwrap().insert_is_quick());
}

#[test]
fn a_keys_spend_counts_every_row_once_while_the_writer_commits() {
    use crate::KeyStore;
    let dir = TempDir::new("spent");
    let ledger = SqliteLedger::open_with(&dir.join("l.db"), Synchronous::Normal).unwrap();
    let per_row = row("x", 0).cost;
    // Each check races the writer thread: a row is either committed or queued when
    // the check holds the connection, never both, never neither.
    for i in 1..=400u64 {
        let t = i64::try_from(i).unwrap();
        ledger.insert(&row(&format!("r{i}"), t)).unwrap();
        assert_eq!(ledger.spent("key-1", None).unwrap(), i * per_row);
        assert_eq!(
            ledger.spent("key-1", Some(t)).unwrap(),
            per_row,
            "only row {i}"
        );
        assert_eq!(ledger.spent("other", None).unwrap(), 0);
        if i % 97 == 0 {
            std::thread::sleep(crate::sqlite::DRAIN_EVERY * 2);
        }
    }
}
