//! The backend-independent test suite: every [`LedgerStore`] must pass it. It runs
//! against `&dyn LedgerStore` and does not need an empty store — each case writes into
//! its own time window (far in the future, picked from a per-run nonce) with its own
//! tenant names, and only ever looks at its window — so a PostgreSQL backend can run it
//! against a shared test database. Cases panic on failure; [`run_all`] runs them all,
//! and [`CASES`] lists them for backends that want one test per case.
//!
//! Available in this crate's tests and, to other crates, with feature `test-suite`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{format_usd, GroupBy, LedgerError, LedgerStore, Row, UsageQuery, UsageTotals};

/// A named case.
pub type Case = (&'static str, fn(&dyn LedgerStore));

/// Every case, in the order [`run_all`] runs them.
pub const CASES: &[Case] = &[
    ("insert_and_count", insert_and_count),
    ("totals_and_savings", totals_and_savings),
    ("group_by_tenant", group_by_tenant),
    ("group_by_key", group_by_key),
    ("group_by_route", group_by_route),
    ("group_by_model", group_by_model),
    ("time_range_bounds", time_range_bounds),
    ("local_vs_cloud", local_vs_cloud),
    ("exact_money_sums", exact_money_sums),
    ("empty_range", empty_range),
    (
        "out_of_range_money_is_rejected",
        out_of_range_money_is_rejected,
    ),
    ("strings_are_stored_verbatim", strings_are_stored_verbatim),
    ("concurrent_inserts", concurrent_inserts),
];

/// Runs every case against `store`, panicking (with the case's name) at the first
/// failure.
pub fn run_all(store: &dyn LedgerStore) {
    for (name, case) in CASES {
        eprintln!("ledger suite: {name}");
        case(store);
    }
}

/// Width of a case's time window, in ms.
const WINDOW_MS: i64 = 10_000_000;

/// A case's private time window and tenant prefix.
struct Scope {
    base: i64,
    tag: String,
}

/// A number unique to this call within the process, starting from a random point per
/// process, so names and windows built from it rarely meet an earlier run's in a
/// kept database.
pub(crate) fn unique() -> u64 {
    static NONCE: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nonce = *NONCE.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut z = nanos ^ u64::from(std::process::id()).rotate_left(40);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    });
    nonce.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
}

impl Scope {
    fn new(case: &str) -> Self {
        // Consecutive slots within a run: windows never overlap.
        let n = unique();
        // Windows from year ~2603 on: nothing real is there.
        let slot = (n % 1_000_000) as i64;
        Self {
            base: 20_000_000_000_000 + slot * WINDOW_MS,
            tag: format!("{case}-{n:016x}"),
        }
    }

    fn query(&self, group_by: Option<GroupBy>) -> UsageQuery {
        UsageQuery {
            from_ms: Some(self.base),
            to_ms: Some(self.base + WINDOW_MS),
            group_by,
        }
    }

    /// A local row at `base + offset_ms`, tenant `<tag>`, costing nothing.
    fn row(&self, offset_ms: i64) -> Row {
        Row {
            request_id: format!("{}-{offset_ms}", self.tag),
            time_ms: self.base + offset_ms,
            tenant: Some(self.tag.clone()),
            key_id: None,
            endpoint: "chat_completions".to_string(),
            route: "local".to_string(),
            reason: None,
            model: "auto".to_string(),
            served_model: Some("local-small".to_string()),
            provider: None,
            prompt_tokens: 0,
            completion_tokens: 0,
            latency_ms: 12,
            ttft_ms: None,
            status: 200,
            cost: 0,
            counterfactual_cost: 0,
            tiers: Some("small=0.4100,big=0.9000*".into()),
        }
    }
}

fn priced(mut row: Row, route: &str, prompt: u32, completion: u32, cost: u64, cf: u64) -> Row {
    row.route = route.to_string();
    row.prompt_tokens = prompt;
    row.completion_tokens = completion;
    row.cost = cost;
    row.counterfactual_cost = cf;
    row
}

fn insert(store: &dyn LedgerStore, row: &Row) {
    if let Err(e) = store.insert(row) {
        panic!("insert {}: {e}", row.request_id);
    }
}

fn usage(store: &dyn LedgerStore, q: &UsageQuery) -> crate::UsageReport {
    match store.usage(q) {
        Ok(r) => r,
        Err(e) => panic!("usage {q:?}: {e}"),
    }
}

fn count(store: &dyn LedgerStore) -> u64 {
    match store.count() {
        Ok(n) => n,
        Err(e) => panic!("count: {e}"),
    }
}

fn totals(requests: u64, local: u64, cloud: u64) -> UsageTotals {
    UsageTotals {
        requests,
        local_requests: local,
        cloud_requests: cloud,
        ..UsageTotals::default()
    }
}

fn keys(groups: &[(String, UsageTotals)]) -> Vec<&str> {
    groups.iter().map(|(k, _)| k.as_str()).collect()
}

fn group<'a>(groups: &'a [(String, UsageTotals)], key: &str) -> &'a UsageTotals {
    match groups.iter().find(|(k, _)| k == key) {
        Some((_, t)) => t,
        None => panic!("no group `{key}` in {:?}", keys(groups)),
    }
}

/// Inserted rows are counted, and usage sees them.
pub fn insert_and_count(store: &dyn LedgerStore) {
    let s = Scope::new("count");
    let before = count(store);
    for i in 0..3 {
        insert(store, &s.row(i));
    }
    assert_eq!(count(store), before + 3);
    assert_eq!(usage(store, &s.query(None)).totals.requests, 3);
}

/// Totals add up every field; savings are counterfactual minus cost.
pub fn totals_and_savings(store: &dyn LedgerStore) {
    let s = Scope::new("totals");
    insert(store, &priced(s.row(1), "local", 10, 5, 0, 1_000_000));
    insert(store, &priced(s.row(2), "cloud", 20, 7, 300_000, 900_000));
    insert(
        store,
        &priced(s.row(3), "escalated", 30, 9, 500_000, 500_000),
    );
    let r = usage(store, &s.query(None));
    assert!(
        r.groups.is_empty(),
        "no group_by, no groups: {:?}",
        r.groups
    );
    let want = UsageTotals {
        requests: 3,
        local_requests: 1,
        cloud_requests: 2,
        prompt_tokens: 60,
        completion_tokens: 21,
        cost: 800_000,
        counterfactual_cost: 2_400_000,
    };
    assert_eq!(r.totals, want);
    assert_eq!(r.totals.savings(), 1_600_000);
    let pct = r.totals.savings_percent().unwrap_or(f64::NAN);
    assert!((pct - 200.0 / 3.0).abs() < 1e-9, "savings_percent {pct}");

    // Spending more than the baseline is a negative saving.
    let s = Scope::new("totals-neg");
    insert(store, &priced(s.row(1), "cloud", 1, 1, 700, 200));
    let t = usage(store, &s.query(None)).totals;
    assert_eq!(t.savings(), -500);
    assert_eq!(t.savings_percent(), Some(-250.0));
}

/// Groups sum to the totals and are sorted by key.
fn check_groups(r: &crate::UsageReport) {
    let mut sum = UsageTotals::default();
    for (_, t) in &r.groups {
        sum = sum.checked_add(t).unwrap_or_default();
    }
    assert_eq!(sum, r.totals, "groups must add up to the totals");
    let mut sorted = keys(&r.groups);
    sorted.sort_unstable();
    assert_eq!(keys(&r.groups), sorted, "groups must be sorted by key");
}

/// Grouping by tenant, a missing tenant being `""`.
pub fn group_by_tenant(store: &dyn LedgerStore) {
    let s = Scope::new("tenant");
    let (a, b) = (format!("{}-a", s.tag), format!("{}-b", s.tag));
    for (i, tenant) in [Some(&a), Some(&a), Some(&b), None].into_iter().enumerate() {
        let mut row = priced(s.row(i as i64), "cloud", 1, 2, 100, 1_000);
        row.tenant = tenant.cloned();
        insert(store, &row);
    }
    let r = usage(store, &s.query(Some(GroupBy::Tenant)));
    check_groups(&r);
    assert_eq!(keys(&r.groups), vec!["", a.as_str(), b.as_str()]);
    assert_eq!(group(&r.groups, &a).requests, 2);
    assert_eq!(group(&r.groups, &a).cost, 200);
    assert_eq!(group(&r.groups, &a).prompt_tokens, 2);
    assert_eq!(group(&r.groups, &b).requests, 1);
    assert_eq!(group(&r.groups, "").requests, 1);
    assert_eq!(r.totals.requests, 4);
}

/// Grouping by API key id, a missing key being `""`.
pub fn group_by_key(store: &dyn LedgerStore) {
    let s = Scope::new("key");
    for (i, key) in [Some("k1"), None, Some("k2"), Some("k1"), Some("k1")]
        .into_iter()
        .enumerate()
    {
        let mut row = priced(s.row(i as i64), "local", 3, 4, 0, 50);
        row.key_id = key.map(str::to_string);
        insert(store, &row);
    }
    let r = usage(store, &s.query(Some(GroupBy::Key)));
    check_groups(&r);
    assert_eq!(keys(&r.groups), vec!["", "k1", "k2"]);
    let k1 = group(&r.groups, "k1");
    assert_eq!(
        (k1.requests, k1.local_requests, k1.counterfactual_cost),
        (3, 3, 150)
    );
    assert_eq!(k1.completion_tokens, 12);
    assert_eq!(group(&r.groups, "k2").requests, 1);
    assert_eq!(group(&r.groups, "").requests, 1);
}

/// Grouping by route, with local and cloud counts per group.
pub fn group_by_route(store: &dyn LedgerStore) {
    let s = Scope::new("route");
    let routes = ["local", "cloud", "cloud", "escalated", "refused", "error"];
    for (i, route) in routes.into_iter().enumerate() {
        insert(store, &priced(s.row(i as i64), route, 1, 1, 10, 20));
    }
    let r = usage(store, &s.query(Some(GroupBy::Route)));
    check_groups(&r);
    assert_eq!(
        keys(&r.groups),
        vec!["cloud", "error", "escalated", "local", "refused"]
    );
    assert_eq!(group(&r.groups, "cloud"), &{
        let mut t = totals(2, 0, 2);
        (
            t.prompt_tokens,
            t.completion_tokens,
            t.cost,
            t.counterfactual_cost,
        ) = (2, 2, 20, 40);
        t
    });
    assert_eq!(group(&r.groups, "escalated").cloud_requests, 1);
    assert_eq!(group(&r.groups, "local").local_requests, 1);
    let refused = group(&r.groups, "refused");
    assert_eq!(
        (
            refused.requests,
            refused.local_requests,
            refused.cloud_requests
        ),
        (1, 0, 0)
    );
}

/// Grouping by the model that answered, or the requested one where none did.
pub fn group_by_model(store: &dyn LedgerStore) {
    let s = Scope::new("model");
    let served = [Some("local-small"), Some("gpt-x"), Some("gpt-x"), None];
    for (i, m) in served.into_iter().enumerate() {
        let mut row = priced(s.row(i as i64), "cloud", 5, 5, 7, 9);
        row.served_model = m.map(str::to_string);
        row.model = "auto".to_string();
        insert(store, &row);
    }
    let r = usage(store, &s.query(Some(GroupBy::Model)));
    check_groups(&r);
    assert_eq!(keys(&r.groups), vec!["auto", "gpt-x", "local-small"]);
    assert_eq!(group(&r.groups, "gpt-x").requests, 2);
    assert_eq!(group(&r.groups, "gpt-x").cost, 14);
    assert_eq!(group(&r.groups, "auto").requests, 1);
}

/// `from_ms` is inclusive, `to_ms` exclusive; either may be open.
pub fn time_range_bounds(store: &dyn LedgerStore) {
    let s = Scope::new("range");
    for off in [0, 1, 999, 1000] {
        insert(store, &s.row(off));
    }
    let n = |from: Option<i64>, to: Option<i64>| {
        let q = UsageQuery {
            from_ms: from.map(|f| s.base + f),
            to_ms: to.map(|t| s.base + t),
            group_by: None,
        };
        usage(store, &q).totals.requests
    };
    assert_eq!(n(Some(1), Some(1000)), 2, "[1, 1000) holds 1 and 999");
    assert_eq!(n(Some(0), Some(1)), 1, "[0, 1) holds 0");
    assert_eq!(n(Some(0), Some(0)), 0, "[0, 0) is empty");
    assert_eq!(n(Some(1000), Some(1001)), 1, "[1000, 1001) holds 1000");
    assert_eq!(n(Some(1001), Some(WINDOW_MS)), 0);
    assert_eq!(n(Some(5), Some(2)), 0, "a reversed range is empty");

    // Open bounds see other cases' rows too, so look at this case's tenant only.
    let mine = |from: Option<i64>, to: Option<i64>| {
        let q = UsageQuery {
            from_ms: from.map(|f| s.base + f),
            to_ms: to.map(|t| s.base + t),
            group_by: Some(GroupBy::Tenant),
        };
        let r = usage(store, &q);
        r.groups
            .iter()
            .find(|(k, _)| *k == s.tag)
            .map_or(0, |(_, t)| t.requests)
    };
    assert_eq!(mine(Some(1), None), 3, "from only");
    assert_eq!(mine(None, Some(1000)), 3, "to only");
    assert_eq!(mine(None, None), 4, "no bounds");
}

/// `local` is local; `cloud` and `escalated` are cloud; other routes are neither.
pub fn local_vs_cloud(store: &dyn LedgerStore) {
    let s = Scope::new("split");
    let routes = [
        "local",
        "local",
        "cloud",
        "escalated",
        "escalated",
        "escalated",
        "refused",
        "error",
        "something-new",
    ];
    for (i, route) in routes.into_iter().enumerate() {
        insert(store, &priced(s.row(i as i64), route, 0, 0, 0, 0));
    }
    let t = usage(store, &s.query(None)).totals;
    assert_eq!(t, totals(9, 2, 4));
}

/// Money sums are exact to the pico-dollar, including sums a `f64` would round.
pub fn exact_money_sums(store: &dyn LedgerStore) {
    let s = Scope::new("money");
    let mut want_cost: u64 = 0;
    let mut want_cf: u64 = 0;
    let mut want_local_cost: u64 = 0;
    for i in 0..600u64 {
        let cost = 1_000_003 * i + 7 + (i % 13) * 999_999_937;
        let cf = cost * 3 + 1;
        let route = if i % 3 == 0 { "local" } else { "cloud" };
        if route == "local" {
            want_local_cost += cost;
        }
        want_cost += cost;
        want_cf += cf;
        insert(store, &priced(s.row(i as i64), route, 1, 1, cost, cf));
    }
    // Values past 2^53, where f64 stops holding every integer.
    let big = (1u64 << 53) + 1;
    for i in 0..3 {
        insert(store, &priced(s.row(1000 + i), "cloud", 1, 1, big, big + 2));
        want_cost += big;
        want_cf += big + 2;
    }
    let r = usage(store, &s.query(Some(GroupBy::Route)));
    check_groups(&r);
    assert_eq!(r.totals.requests, 603);
    assert_eq!(r.totals.cost, want_cost);
    assert_eq!(r.totals.counterfactual_cost, want_cf);
    assert_eq!(group(&r.groups, "local").cost, want_local_cost);
    assert_eq!(
        r.totals.savings(),
        i128::from(want_cf) - i128::from(want_cost)
    );
    assert_eq!(format_usd(big), "9007.199254740993");
}

/// A range without rows: zero totals, no groups, no savings percentage.
pub fn empty_range(store: &dyn LedgerStore) {
    let s = Scope::new("empty");
    for g in [None, Some(GroupBy::Tenant), Some(GroupBy::Model)] {
        let r = usage(store, &s.query(g));
        assert_eq!(r.totals, UsageTotals::default());
        assert!(r.groups.is_empty(), "{g:?}: {:?}", r.groups);
        assert_eq!(r.totals.savings_percent(), None);
    }
}

/// Money above `i64::MAX` pico-dollars is refused, not clamped; `i64::MAX` is kept.
pub fn out_of_range_money_is_rejected(store: &dyn LedgerStore) {
    let s = Scope::new("range-money");
    let before = count(store);
    let max = i64::MAX.unsigned_abs();
    for (cost, cf) in [(max + 1, 0), (0, u64::MAX)] {
        let row = priced(s.row(1), "cloud", 1, 1, cost, cf);
        match store.insert(&row) {
            Err(LedgerError::OutOfRange { request_id, .. }) => {
                assert_eq!(request_id, row.request_id);
            }
            other => panic!("cost {cost} / {cf}: expected OutOfRange, got {other:?}"),
        }
    }
    assert_eq!(count(store), before);
    insert(store, &priced(s.row(2), "cloud", 1, 1, max, max));
    let t = usage(store, &s.query(None)).totals;
    assert_eq!((t.cost, t.counterfactual_cost), (max, max));
}

/// Strings (quotes, SQL, Unicode) and empty optionals are stored as given.
pub fn strings_are_stored_verbatim(store: &dyn LedgerStore) {
    let s = Scope::new("strings");
    let tenant = format!("{}-O'Brien\"; DROP TABLE requests; -- ü 日本 🚀", s.tag);
    let mut row = s.row(1);
    row.tenant = Some(tenant.clone());
    row.key_id = Some("key'\\%_".to_string());
    row.reason = Some("reason, with \"quotes\"".to_string());
    row.ttft_ms = Some(u32::MAX);
    row.latency_ms = u32::MAX;
    row.prompt_tokens = u32::MAX;
    row.status = u16::MAX;
    insert(store, &row);
    let mut bare = s.row(2);
    bare.tenant = None;
    bare.served_model = None;
    bare.model = String::new();
    bare.request_id = String::new();
    insert(store, &bare);
    // The same request id twice is two rows (clients may reuse x-request-id).
    insert(store, &s.row(3));
    insert(store, &s.row(3));

    let r = usage(store, &s.query(Some(GroupBy::Tenant)));
    assert_eq!(group(&r.groups, &tenant).requests, 1);
    assert_eq!(group(&r.groups, &tenant).prompt_tokens, u64::from(u32::MAX));
    assert_eq!(group(&r.groups, &s.tag).requests, 2);
    let r = usage(store, &s.query(Some(GroupBy::Key)));
    assert_eq!(keys(&r.groups), vec!["", "key'\\%_"]);
    let r = usage(store, &s.query(Some(GroupBy::Model)));
    assert_eq!(keys(&r.groups), vec!["", "local-small"]);
    assert_eq!(r.totals.requests, 4);
}

/// Inserts from 8 threads at once all land.
pub fn concurrent_inserts(store: &dyn LedgerStore) {
    const THREADS: i64 = 8;
    const PER_THREAD: i64 = 25;
    let s = Scope::new("threads");
    let before = count(store);
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let s = &s;
            scope.spawn(move || {
                for i in 0..PER_THREAD {
                    let mut row = priced(s.row(t * 1000 + i), "cloud", 1, 2, 3, 4);
                    row.key_id = Some(format!("thread-{t}"));
                    insert(store, &row);
                }
            });
        }
    });
    let n = (THREADS * PER_THREAD) as u64;
    assert_eq!(count(store), before + n);
    let r = usage(store, &s.query(Some(GroupBy::Key)));
    assert_eq!(r.groups.len(), THREADS as usize);
    assert!(r
        .groups
        .iter()
        .all(|(_, t)| t.requests == PER_THREAD as u64));
    assert_eq!(r.totals.requests, n);
    assert_eq!(r.totals.cost, 3 * n);
    assert_eq!(r.totals.completion_tokens, 2 * n);
}
