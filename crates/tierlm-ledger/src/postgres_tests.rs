//! The PostgreSQL backend against a real server: the shared row and key suites, and
//! migrations (idempotent, safe when replicas start together, refusing a newer
//! schema). The server's URL comes from `TIERLM_TEST_POSTGRES_URL`
//! (`scripts/test-postgres start` prints one; `scripts/test` sets it). Without it the
//! tests say so and pass — except under `CI=true`, where a missing server fails them,
//! so CI never reports a PostgreSQL backend it did not test.

use crate::suite::unique;
use crate::{migrate, open_store, LedgerError, PostgresLedger};

/// The test server's URL, or `None` (outside CI) to skip.
fn server_url() -> Option<String> {
    match std::env::var("TIERLM_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "CI=true but TIERLM_TEST_POSTGRES_URL is not set; run scripts/test-postgres start"
            )
        }
        _ => {
            eprintln!("TIERLM_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped");
            None
        }
    }
}

/// A new empty database on the test server, dropped when the guard goes.
struct FreshDatabase {
    admin: String,
    name: String,
    url: String,
}

impl FreshDatabase {
    fn new(server: &str) -> Self {
        let name = format!("tierlm_t{:016x}", unique());
        let mut admin = postgres::Client::connect(server, postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let (base, _) = server.rsplit_once('/').unwrap();
        Self {
            admin: server.to_string(),
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

#[test]
fn postgres_passes_the_row_and_key_suites() {
    let Some(server) = server_url() else { return };
    // A database of its own: the suites need no empty store, but one of their cases
    // sums over all time, and rows near the money limit kept from earlier runs in a
    // shared database would overflow it.
    let db = FreshDatabase::new(&server);
    let store = open_store(&db.url).unwrap();
    crate::suite::run_all(store.as_ref());
    crate::suite_keys::run_all(store.as_ref());
}

#[test]
fn migrations_apply_once_even_when_replicas_start_together() {
    let Some(server) = server_url() else { return };
    let db = FreshDatabase::new(&server);
    let results: Vec<Result<usize, LedgerError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| migrate(&db.url).map(|m| m.applied)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let applied: Vec<usize> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        applied.iter().sum::<usize>(),
        crate::sql::MIGRATIONS.len(),
        "each migration applied exactly once: {applied:?}"
    );
    let again = migrate(&db.url).unwrap();
    assert_eq!(again.applied, 0);
    assert_eq!(again.version, crate::sql::SCHEMA_VERSION);
    assert!(!again.location.contains("password"));

    // A database from a newer tierlm is refused, not written.
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    c.execute(
        "INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, 0)",
        &[&i32::try_from(crate::sql::SCHEMA_VERSION + 1).unwrap()],
    )
    .unwrap();
    let err = migrate(&db.url).unwrap_err();
    assert!(matches!(err, LedgerError::NewerSchema { .. }), "{err:?}");
}

#[test]
fn a_dropped_connection_is_replaced_on_next_use() {
    let Some(server) = server_url() else { return };
    let db = FreshDatabase::new(&server);
    let store = PostgresLedger::open(&db.url, "test".into()).unwrap();
    let row = crate::suite_keys::key_row("r1", None, 1, 5);
    crate::LedgerStore::insert(&store, &row).unwrap();
    // Kill every other backend of this database, as a server restart or a proxy
    // timeout would.
    let mut admin = postgres::Client::connect(&server, postgres::NoTls).unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db.name],
        )
        .unwrap();
    // The first use of the dead connection fails (the insert is not retried, as it
    // might have committed); the one after reconnects.
    let mut ok = 0;
    for i in 0..(2 * crate::POSTGRES_POOL_SIZE + 2) {
        let row = crate::suite_keys::key_row(&format!("after-{i}"), None, 2, 5);
        if crate::LedgerStore::insert(&store, &row).is_ok() {
            ok += 1;
        }
    }
    assert!(
        ok >= crate::POSTGRES_POOL_SIZE + 2,
        "{ok} inserts succeeded"
    );
    assert_eq!(crate::LedgerStore::count(&store).unwrap(), 1 + ok as u64);
}
