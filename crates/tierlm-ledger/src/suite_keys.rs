//! The backend-independent test suite for virtual keys: every [`Store`] (rows and keys
//! in one database) must pass it. Like [`crate::suite`] it does not need an empty
//! store: each case makes its own tenants from a per-run nonce and only looks at
//! those, so a PostgreSQL backend can run it against a shared test database. Cases
//! panic on failure; [`run_all`] runs them all.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::keys::lookup_prefix;
use crate::suite::unique;
use crate::{BudgetPeriod, KeyRecord, LedgerError, NewKey, Row, Store, PICO_PER_USD};

/// A named case.
pub type Case = (&'static str, fn(&dyn Store));

/// Every case, in the order [`run_all`] runs them.
pub const CASES: &[Case] = &[
    ("create_find_and_revoke", create_find_and_revoke),
    (
        "a_wrong_secret_with_the_right_prefix_is_not_found",
        a_wrong_secret_with_the_right_prefix_is_not_found,
    ),
    ("list_by_tenant", list_by_tenant),
    (
        "spent_sums_only_that_keys_rows_in_the_window",
        spent_sums_only_that_keys_rows_in_the_window,
    ),
    ("invalid_keys_are_refused", invalid_keys_are_refused),
    ("concurrent_creates_and_finds", concurrent_creates_and_finds),
];

/// Runs every case against `store`, panicking (with the case's name) at the first
/// failure.
pub fn run_all(store: &dyn Store) {
    for (name, case) in CASES {
        eprintln!("key suite: {name}");
        case(store);
    }
}

/// A tenant name no other case or run uses.
fn tenant(case: &str) -> String {
    format!("{case}-{:016x}", unique())
}

/// A key with every limit set.
pub fn full_key(tenant: &str) -> NewKey {
    NewKey {
        tenant: tenant.to_string(),
        name: Some("ci runner".to_string()),
        budget: Some(100 * PICO_PER_USD + 1),
        period: BudgetPeriod::Week,
        rpm: Some(60),
        tpm: Some(u32::MAX),
        models: Some(vec!["auto".to_string(), "gpt-4o-mini".to_string()]),
    }
}

/// A cloud row of `key_id` at `time_ms` costing `cost`.
pub fn key_row(id: &str, key_id: Option<&str>, time_ms: i64, cost: u64) -> Row {
    Row {
        request_id: id.to_string(),
        time_ms,
        tenant: Some("acme".to_string()),
        key_id: key_id.map(str::to_string),
        endpoint: "chat_completions".to_string(),
        route: "cloud".to_string(),
        reason: None,
        model: "auto".to_string(),
        served_model: Some("gpt-x".to_string()),
        provider: Some("openai".to_string()),
        prompt_tokens: 10,
        completion_tokens: 2,
        latency_ms: 30,
        ttft_ms: None,
        status: 200,
        cost,
        counterfactual_cost: cost * 2,
        tiers: None,
    }
}

fn ok<T>(r: Result<T, LedgerError>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn create(store: &dyn Store, k: &NewKey) -> (KeyRecord, String) {
    ok(store.create_key(k), "create a key")
}

fn find(store: &dyn Store, secret: &str) -> Option<KeyRecord> {
    ok(store.find_key(secret), "find a key")
}

fn list(store: &dyn Store, tenant: Option<&str>) -> Vec<KeyRecord> {
    ok(store.list_keys(tenant), "list keys")
}

/// A key reads back exactly as created, with NULLs and defaults; revoking hides it
/// from lookups but not from the list, and happens once.
pub fn create_find_and_revoke(store: &dyn Store) {
    let t = tenant("create");
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let (record, secret) = create(store, &full_key(&t));
    assert!(secret.starts_with("tk-") && secret.len() == 43, "{secret}");
    assert!(secret[3..]
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    assert!(record.key_id.starts_with("key_") && record.key_id.len() == 16);
    assert!(record.created_ms >= before);
    let want = KeyRecord {
        key_id: record.key_id.clone(),
        tenant: t.clone(),
        name: Some("ci runner".to_string()),
        created_ms: record.created_ms,
        revoked_ms: None,
        budget: Some(100 * PICO_PER_USD + 1),
        period: BudgetPeriod::Week,
        rpm: Some(60),
        tpm: Some(u32::MAX),
        models: Some(vec!["auto".to_string(), "gpt-4o-mini".to_string()]),
    };
    assert_eq!(record, want);
    assert_eq!(find(store, &secret), Some(want.clone()));
    assert_eq!(list(store, Some(&t)), vec![want.clone()]);
    assert!(list(store, None).contains(&want));

    // A bare key reads back with its NULLs and the default period.
    let (bare, bare_secret) = create(store, &NewKey::for_tenant(&t));
    let found = find(store, &bare_secret).unwrap_or_else(|| panic!("bare key not found"));
    assert_eq!(found, bare);
    assert_eq!(
        (found.name, found.budget, found.rpm, found.tpm, found.models),
        (None, None, None, None, None)
    );
    assert_eq!(found.period, BudgetPeriod::Month);

    assert!(ok(store.revoke_key(&record.key_id), "revoke"));
    assert_eq!(find(store, &secret), None, "revoked");
    assert!(
        !ok(store.revoke_key(&record.key_id), "revoke again"),
        "already revoked"
    );
    assert!(!ok(store.revoke_key("key_nosuchkey000"), "revoke unknown"));
    let listed = list(store, Some(&t));
    assert_eq!(listed.len(), 2, "revoked keys are still listed");
    let revoked = listed
        .iter()
        .find(|k| k.key_id == record.key_id)
        .unwrap_or_else(|| panic!("revoked key not listed"));
    assert!(revoked.revoked_ms.is_some_and(|r| r >= record.created_ms));
    assert_eq!(find(store, &bare_secret), Some(bare), "others live on");

    // The largest storable budget round-trips.
    let mut k = full_key(&t);
    k.budget = Some(i64::MAX.unsigned_abs());
    let (max, max_secret) = create(store, &k);
    assert_eq!(find(store, &max_secret).and_then(|r| r.budget), max.budget);
}

/// Only the exact secret finds its key: not one differing in the last character
/// (same lookup prefix), nor any malformed variant.
pub fn a_wrong_secret_with_the_right_prefix_is_not_found(store: &dyn Store) {
    let (_, secret) = create(store, &NewKey::for_tenant(tenant("wrong")));
    let mut wrong = secret.clone().into_bytes();
    let last = wrong.len() - 1;
    wrong[last] = if wrong[last] == b'a' { b'b' } else { b'a' };
    let wrong = String::from_utf8_lossy(&wrong).into_owned();
    assert_eq!(lookup_prefix(&wrong), lookup_prefix(&secret));
    assert_eq!(find(store, &wrong), None);
    for bad in [
        String::new(),
        "tk-".to_string(),
        secret[..42].to_string(),
        format!("{secret}a"),
        secret.to_uppercase(),
        format!("tk_{}", &secret[3..]),
        format!(" {secret}"),
        secret[3..].to_string(),
    ] {
        assert_eq!(find(store, &bad), None, "{bad:?}");
    }
    assert!(find(store, &secret).is_some());
}

/// Listing by tenant returns that tenant's keys only, oldest first.
pub fn list_by_tenant(store: &dyn Store) {
    let (a, b) = (tenant("list-a"), tenant("list-b"));
    let (a1, _) = create(store, &NewKey::for_tenant(&a));
    let (b1, _) = create(store, &NewKey::for_tenant(&b));
    let (a2, _) = create(store, &full_key(&a));
    let ids = |keys: Vec<KeyRecord>| keys.into_iter().map(|k| k.key_id).collect::<Vec<_>>();
    let listed_a = ids(list(store, Some(&a)));
    assert_eq!(listed_a.len(), 2);
    assert!(listed_a.contains(&a1.key_id) && listed_a.contains(&a2.key_id));
    assert_eq!(ids(list(store, Some(&b))), vec![b1.key_id]);
    assert!(list(store, Some(&tenant("nobody"))).is_empty());
    let all = list(store, None);
    assert!(all.len() >= 3);
    assert!(
        all.windows(2).all(|w| w[0].created_ms <= w[1].created_ms),
        "oldest first"
    );
}

/// A key's spend sums its own rows only, from the window's start (inclusive).
pub fn spent_sums_only_that_keys_rows_in_the_window(store: &dyn Store) {
    let t = tenant("spent");
    let (k, _) = create(store, &full_key(&t));
    let (other, _) = create(store, &full_key(&t));
    let k = k.key_id.as_str();
    let spent = |since: Option<i64>| ok(store.spent(k, since), "spent");
    assert_eq!(spent(None), 0, "no rows yet");
    // 2026-03-01T00:00:00Z.
    let start = 1_772_323_200_000;
    let insert = |row: Row| ok(store.insert(&row), "insert");
    insert(key_row(&format!("{t}-old"), Some(k), start - 1, 1_000));
    insert(key_row(&format!("{t}-edge"), Some(k), start, 20_000));
    insert(key_row(&format!("{t}-new"), Some(k), start + 5, 300_000));
    insert(key_row(
        &format!("{t}-other"),
        Some(&other.key_id),
        start + 5,
        4_000_000,
    ));
    insert(key_row(
        &format!("{t}-keyless"),
        None,
        start + 5,
        50_000_000,
    ));
    assert_eq!(spent(None), 321_000);
    assert_eq!(spent(Some(start)), 320_000, "since is inclusive");
    assert_eq!(spent(Some(start + 1)), 300_000);
    assert_eq!(spent(Some(start + 6)), 0);
    assert_eq!(
        ok(store.spent(&other.key_id, Some(start)), "other"),
        4_000_000
    );
    assert_eq!(ok(store.spent("key_unknown", None), "unknown"), 0);
    // With a period's window, as the gateway asks.
    let since = BudgetPeriod::Month.window_start_ms(start + 10);
    assert_eq!(since, Some(start));
    assert_eq!(spent(since), 320_000);
    assert_eq!(spent(BudgetPeriod::Total.window_start_ms(start)), 321_000);
}

/// Keys the store cannot keep faithfully are refused, and nothing is stored.
pub fn invalid_keys_are_refused(store: &dyn Store) {
    let t = tenant("invalid");
    let mut cases = vec![NewKey::for_tenant(" ")];
    let mut k = full_key(&t);
    k.budget = Some(u64::MAX);
    cases.push(k);
    for models in [
        vec![],
        vec!["a,b".to_string()],
        vec![String::new()],
        vec![" a".into()],
    ] {
        let mut k = full_key(&t);
        k.models = Some(models);
        cases.push(k);
    }
    for k in cases {
        match store.create_key(&k) {
            Err(LedgerError::InvalidKey(_)) => {}
            other => panic!("{k:?}: {other:?}"),
        }
    }
    assert!(list(store, Some(&t)).is_empty(), "nothing stored");
}

/// Keys created from 8 threads at once are all found by their secrets.
pub fn concurrent_creates_and_finds(store: &dyn Store) {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 5;
    let t = tenant("threads");
    let made: Vec<(KeyRecord, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let t = &t;
                scope.spawn(move || {
                    (0..PER_THREAD)
                        .map(|_| create(store, &NewKey::for_tenant(t)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|_| panic!("a thread panicked")))
            .collect()
    });
    assert_eq!(list(store, Some(&t)).len(), THREADS * PER_THREAD);
    for (record, secret) in &made {
        assert_eq!(find(store, secret).as_ref(), Some(record));
    }
}
