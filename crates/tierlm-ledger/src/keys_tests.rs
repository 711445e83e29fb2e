//! Tests of virtual keys on SQLite: the shared key suite ([`crate::suite_keys`]);
//! secrets never reach the database file; the budget windows at day, week, month and
//! year boundaries; and migration 2 on a database from before keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::keys::{ct_eq, lookup_prefix, secret_hash, verify};
use crate::sqlite::migrate;
use crate::suite_keys::{full_key, key_row as row};
use crate::tests::{migrations_table, TempDir};
use crate::{
    database_file, open_store, BudgetPeriod, KeyRecord, KeyStore, LedgerError, LedgerStore, NewKey,
    SqliteLedger, PICO_PER_USD,
};

/// Unix ms of a UTC date and time (Hinnant's `days_from_civil`).
fn utc(y: i64, m: i64, d: i64, h: i64, min: i64, s: i64, ms: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    ((days * 24 + h) * 60 + min) * 60_000 + s * 1000 + ms
}

fn midnight(y: i64, m: i64, d: i64) -> i64 {
    utc(y, m, d, 0, 0, 0, 0)
}

#[test]
fn sqlite_passes_the_key_suite() {
    let store = open_store(":memory:").unwrap();
    crate::suite_keys::run_all(store.as_ref());
    let dir = TempDir::new("key-suite");
    let file = open_store(&format!("sqlite://{}", dir.join("k.db").display())).unwrap();
    crate::suite_keys::run_all(file.as_ref());
}

#[test]
fn lookup_prefix_hash_and_constant_time_eq() {
    let secret = format!("tk-{}", "a1".repeat(20));
    assert_eq!(lookup_prefix(&secret), Some("a1a1a1a1"));
    assert_eq!(lookup_prefix("tk-ABCDEFGH"), None);
    assert!(ct_eq(b"abc", b"abc") && ct_eq(b"", b""));
    assert!(!ct_eq(b"abc", b"abd") && !ct_eq(b"abc", b"ab") && !ct_eq(b"abc", b"Abc"));
    // sha256 of the salt bytes followed by the secret's bytes.
    let salt = [0u8; 16];
    let hash = secret_hash(&salt, "tk-x");
    assert_eq!(hash.len(), 64);
    assert_ne!(hash, secret_hash(&[1u8; 16], "tk-x"), "the salt counts");
    assert!(verify("tk-x", &"00".repeat(16), &hash));
    assert!(!verify("tk-y", &"00".repeat(16), &hash));
    assert!(!verify("tk-x", &"01".repeat(16), &hash));
    assert!(!verify("tk-x", "0", &hash), "odd-length salt");
    assert!(!verify("tk-x", &"zz".repeat(16), &hash), "not hex");
}

/// Every file in `dir`, concatenated.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        out.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn secrets_never_reach_the_database_files() {
    let dir = TempDir::new("secrets");
    let path = dir.join("ledger.db");
    let store = SqliteLedger::open(&path).unwrap();
    let created: Vec<(KeyRecord, String)> = (0..5)
        .map(|i| store.create_key(&full_key(&format!("t{i}"))).unwrap())
        .collect();
    let check = |bytes: &[u8]| {
        for (record, secret) in &created {
            assert!(contains(bytes, &record.key_id), "the key row was written");
            assert!(!contains(bytes, secret), "secret {secret} is stored");
            // Only the 8-character lookup prefix may appear, never the rest.
            assert!(!contains(bytes, &secret[11..]), "secret tail is stored");
        }
    };
    check(&all_bytes(&dir.0)); // database and WAL, open
    assert!(store.find_key(&created[0].1).unwrap().is_some());
    drop(store);
    check(&all_bytes(&dir.0)); // checkpointed and closed
    let store = SqliteLedger::open(&path).unwrap();
    for (record, secret) in &created {
        assert_eq!(store.find_key(secret).unwrap().as_ref(), Some(record));
    }
}

#[test]
fn secrets_and_ids_are_unique_and_cover_the_alphabet() {
    let store = SqliteLedger::open_in_memory().unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut chars = std::collections::HashSet::new();
    for _ in 0..200 {
        let (record, secret) = store.create_key(&NewKey::for_tenant("t")).unwrap();
        chars.extend(secret[3..].chars());
        assert!(seen.insert(secret) && seen.insert(record.key_id));
    }
    assert_eq!(chars.len(), 36, "8000 draws reach every character");
}

#[test]
fn the_date_helper_agrees_with_known_timestamps() {
    assert_eq!(midnight(1970, 1, 1), 0);
    assert_eq!(midnight(2024, 1, 1), 1_704_067_200_000);
    assert_eq!(midnight(2000, 3, 1), 951_868_800_000);
    assert_eq!(utc(2024, 2, 29, 13, 45, 0, 0), 1_709_214_300_000);
    assert_eq!(midnight(1969, 12, 31), -86_400_000);
}

#[test]
fn budget_period_windows() {
    use BudgetPeriod::{Day, Month, Total, Week};
    // (now, day start, week start (Monday), month start)
    let cases = [
        // Thursday 29 February 2024, a leap day.
        (
            utc(2024, 2, 29, 13, 45, 0, 0),
            midnight(2024, 2, 29),
            midnight(2024, 2, 26),
            midnight(2024, 2, 1),
        ),
        // The last millisecond of February, then the first of March.
        (
            utc(2024, 2, 29, 23, 59, 59, 999),
            midnight(2024, 2, 29),
            midnight(2024, 2, 26),
            midnight(2024, 2, 1),
        ),
        (
            midnight(2024, 3, 1),
            midnight(2024, 3, 1),
            midnight(2024, 2, 26),
            midnight(2024, 3, 1),
        ),
        // Sunday evening belongs to the week that began on Monday.
        (
            utc(2024, 3, 3, 23, 59, 0, 0),
            midnight(2024, 3, 3),
            midnight(2024, 2, 26),
            midnight(2024, 3, 1),
        ),
        // Monday midnight starts a week.
        (
            midnight(2024, 3, 4),
            midnight(2024, 3, 4),
            midnight(2024, 3, 4),
            midnight(2024, 3, 1),
        ),
        // New Year's Eve, then New Year's Day 2025 (a Wednesday): the week spans them.
        (
            utc(2024, 12, 31, 23, 59, 59, 999),
            midnight(2024, 12, 31),
            midnight(2024, 12, 30),
            midnight(2024, 12, 1),
        ),
        (
            utc(2025, 1, 1, 0, 0, 0, 1),
            midnight(2025, 1, 1),
            midnight(2024, 12, 30),
            midnight(2025, 1, 1),
        ),
        // 2100 is not a leap year, 2000 was.
        (
            utc(2100, 3, 1, 6, 0, 0, 0),
            midnight(2100, 3, 1),
            midnight(2100, 3, 1),
            midnight(2100, 3, 1),
        ),
        (
            utc(2000, 2, 29, 12, 0, 0, 0),
            midnight(2000, 2, 29),
            midnight(2000, 2, 28),
            midnight(2000, 2, 1),
        ),
        // 31 December 1969, before the epoch (a Wednesday).
        (
            utc(1969, 12, 31, 12, 0, 0, 0),
            midnight(1969, 12, 31),
            midnight(1969, 12, 29),
            midnight(1969, 12, 1),
        ),
        // The epoch itself, a Thursday.
        (0, 0, midnight(1969, 12, 29), 0),
    ];
    for (now, day, week, month) in cases {
        assert_eq!(Day.window_start_ms(now), Some(day), "day of {now}");
        assert_eq!(Week.window_start_ms(now), Some(week), "week of {now}");
        assert_eq!(Month.window_start_ms(now), Some(month), "month of {now}");
        assert_eq!(Total.window_start_ms(now), None);
    }
    // Every day of 2023–2025: windows start at or before now, on the right weekday
    // and day of month.
    for day in 0..3 * 366 {
        let now = midnight(2023, 1, 1) + day * 86_400_000 + 43_210_987;
        let week = Week.window_start_ms(now).unwrap();
        assert!(now - week < 7 * 86_400_000 && week <= now);
        assert_eq!((week / 86_400_000 + 3).rem_euclid(7), 0, "a Monday");
        let month = Month.window_start_ms(now).unwrap();
        assert!(month <= now && now - month < 31 * 86_400_000);
        assert_eq!(
            Month.window_start_ms(month - 1).map(|m| m < month),
            Some(true)
        );
    }
    assert!(Day.window_start_ms(i64::MIN).is_some() && Month.window_start_ms(i64::MAX).is_some());
}

#[test]
fn budget_period_names() {
    for p in BudgetPeriod::ALL {
        assert_eq!(BudgetPeriod::parse(p.as_str()), Some(p));
        assert_eq!(p.as_str().parse::<BudgetPeriod>(), Ok(p));
        assert_eq!(p.to_string(), p.as_str());
        assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
    }
    assert_eq!(BudgetPeriod::default(), BudgetPeriod::Month);
    assert_eq!(BudgetPeriod::parse("Month"), None);
    assert!("yearly"
        .parse::<BudgetPeriod>()
        .unwrap_err()
        .contains("yearly"));
}

#[test]
fn records_serialize_without_secrets_and_check_models() {
    let store = SqliteLedger::open_in_memory().unwrap();
    let (record, _) = store.create_key(&full_key("acme")).unwrap();
    let json = serde_json::to_value(&record).unwrap();
    let fields: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for gone in ["salt", "hash", "secret", "prefix"] {
        assert!(!fields.contains(&gone), "{gone} in {json}");
    }
    assert_eq!(json["period"], "week");
    assert_eq!(json["budget"], 100 * PICO_PER_USD + 1);
    assert!(record.allows_model("auto") && !record.allows_model("gpt-4o"));
    assert!(NewKey::for_tenant("x").models.is_none());
}

#[test]
fn migration_2_upgrades_a_database_from_before_keys() {
    let dir = TempDir::new("upgrade");
    let path = dir.join("ledger.db");
    {
        // What the first ledger release wrote: migration 1 and a row.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(crate::sql::CREATE_MIGRATIONS_TABLE)
            .unwrap();
        conn.execute_batch(crate::sql::MIGRATIONS[0]).unwrap();
        conn.execute(
            "INSERT INTO schema_migrations (version, applied_ms) VALUES (1, 7)",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO requests (request_id, time_ms, key_id, endpoint, route, model, \
             prompt_tokens, completion_tokens, latency_ms, status, cost, counterfactual_cost) \
             VALUES ('old', 5, 'key_legacy00000', 'completions', 'local', 'm', 1, 1, 1, 200, 42, 42)",
            [],
        )
        .unwrap();
    }
    let store = SqliteLedger::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), crate::sql::SCHEMA_VERSION);
    assert_eq!(store.count().unwrap(), 1, "the old row survives");
    assert_eq!(store.spent("key_legacy00000", None).unwrap(), 42);
    let (record, secret) = store.create_key(&full_key("acme")).unwrap();
    drop(store);
    let after = migrations_table(&path);
    assert_eq!(
        after.iter().map(|r| r.0).collect::<Vec<_>>(),
        (1..=crate::sql::SCHEMA_VERSION).collect::<Vec<_>>()
    );
    assert_eq!(after[0], (1, 7), "migration 1 is not re-run");
    for _ in 0..3 {
        let store = SqliteLedger::open(&path).unwrap();
        assert_eq!(migrate(&mut store.conn(), "test").unwrap(), 0);
        assert_eq!(store.find_key(&secret).unwrap().as_ref(), Some(&record));
        assert_eq!(store.list_keys(None).unwrap().len(), 1);
    }
    assert_eq!(migrations_table(&path), after, "reopening applies nothing");
}

#[test]
fn one_store_serves_rows_and_keys_across_threads() {
    let store: Arc<dyn crate::Store> = Arc::from(open_store(":memory:").unwrap());
    let (record, secret) = store.create_key(&full_key("acme")).unwrap();
    let ledger: Arc<dyn LedgerStore> = Arc::clone(&store) as Arc<dyn LedgerStore>;
    let keys: Arc<dyn KeyStore> = Arc::clone(&store) as Arc<dyn KeyStore>;
    let id = record.key_id.clone();
    std::thread::spawn(move || ledger.insert(&row("r", Some(&id), 1, 7)).unwrap())
        .join()
        .unwrap();
    assert_eq!(store.count().unwrap(), 1, "the same connection");
    assert_eq!(keys.spent(&record.key_id, None).unwrap(), 7);
    assert_eq!(keys.find_key(&secret).unwrap(), Some(record));
}

#[test]
fn database_file_names_the_file_without_opening_it() {
    let dir = TempDir::new("url");
    let p = dir.join("sub/x.db");
    let url = format!("sqlite://{}", p.display());
    assert_eq!(database_file(&url).unwrap(), Some(p.clone()));
    assert_eq!(
        database_file(&format!("sqlite:{}", p.display())).unwrap(),
        Some(p.clone())
    );
    assert_eq!(
        database_file("sqlite://data/tierlm.db").unwrap(),
        Some(PathBuf::from("data/tierlm.db"))
    );
    for mem in ["sqlite::memory:", ":memory:", "sqlite://:memory:"] {
        assert_eq!(database_file(mem).unwrap(), None, "{mem}");
    }
    assert_eq!(database_file("postgres://h/d").unwrap(), None, "not a file");
    assert!(matches!(
        database_file(""),
        Err(LedgerError::InvalidUrl { .. })
    ));
    assert!(!p.exists() && !dir.join("sub").exists(), "nothing created");
}
