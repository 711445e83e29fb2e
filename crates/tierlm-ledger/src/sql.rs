//! The ledger's SQL, written once for every backend: standard types (`TEXT`,
//! `INTEGER`, `BIGINT`), standard expressions (`COALESCE`, `CASE`, `CAST`) and no
//! backend-only syntax, so a PostgreSQL store can run the same migrations and queries.
//! Only placeholders differ (`?1` for SQLite, `$1` for PostgreSQL), and those come
//! from [`Placeholders`]. Money and token sums are cast back to `BIGINT`, so both
//! backends return 64-bit integers (PostgreSQL's `SUM(bigint)` is `NUMERIC`) and both
//! fail, rather than round, on overflow.

use crate::usage::{GroupBy, UsageQuery};

/// Creates the migration bookkeeping table; safe to run on every open.
pub const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
     version INTEGER PRIMARY KEY, \
     applied_ms BIGINT NOT NULL)";

/// The newest schema version recorded so far (0 for a new database).
pub const CURRENT_VERSION: &str = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";

/// Schema migrations in order: entry `i` is version `i + 1`. Each runs in its own
/// transaction together with its `schema_migrations` row. Append only; never edit one
/// that has shipped.
///
/// There is no surrogate key: `request_id` may repeat (clients may send their own
/// `x-request-id`), and auto-increment syntax is not portable.
pub const MIGRATIONS: &[&str] = &[
    "\
CREATE TABLE requests (
    request_id          TEXT    NOT NULL,
    time_ms             BIGINT  NOT NULL,
    tenant              TEXT,
    key_id              TEXT,
    endpoint            TEXT    NOT NULL,
    route               TEXT    NOT NULL,
    reason              TEXT,
    model               TEXT    NOT NULL,
    served_model        TEXT,
    provider            TEXT,
    prompt_tokens       BIGINT  NOT NULL,
    completion_tokens   BIGINT  NOT NULL,
    latency_ms          BIGINT  NOT NULL,
    ttft_ms             BIGINT,
    status              INTEGER NOT NULL,
    cost                BIGINT  NOT NULL CHECK (cost >= 0),
    counterfactual_cost BIGINT  NOT NULL CHECK (counterfactual_cost >= 0)
);
CREATE INDEX requests_time ON requests (time_ms);
CREATE INDEX requests_tenant_time ON requests (tenant, time_ms);
CREATE INDEX requests_key_time ON requests (key_id, time_ms);
",
    "\
CREATE TABLE api_keys (
    key_id        TEXT    NOT NULL PRIMARY KEY,
    prefix        TEXT    NOT NULL,
    salt          TEXT    NOT NULL,
    hash          TEXT    NOT NULL,
    tenant        TEXT    NOT NULL,
    name          TEXT,
    created_ms    BIGINT  NOT NULL,
    revoked_ms    BIGINT,
    budget        BIGINT  CHECK (budget >= 0),
    budget_period TEXT    NOT NULL DEFAULT 'month'
                          CHECK (budget_period IN ('day', 'week', 'month', 'total')),
    rpm           BIGINT  CHECK (rpm >= 0),
    tpm           BIGINT  CHECK (tpm >= 0),
    models        TEXT
);
CREATE INDEX api_keys_prefix ON api_keys (prefix);
CREATE INDEX api_keys_tenant ON api_keys (tenant);
",
    "\
ALTER TABLE requests ADD COLUMN tiers TEXT;
",
];

// Migration 3, `requests.tiers`: the local tiers a routed request tried, in order,
// `MODEL=CONFIDENCE` (4 decimals; no confidence for a skipped tier), `*` after the
// one that answered, comma-separated; NULL for a request that was not routed.
//
// Migration 2, `api_keys`: one row per virtual key. `prefix` is the first 8 characters
// of the secret after `tk-`, kept in clear to find candidates; `salt` (16 random bytes)
// and `hash` (`sha256(salt || secret)`) are lowercase hex. `budget` is pico-dollars
// per `budget_period`; `models` a comma-separated allow-list. NULL means no limit.

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How a backend spells bind parameter `n` (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholders {
    /// `?1`, `?2`, … (SQLite).
    QuestionNumbered,
    /// `$1`, `$2`, … (PostgreSQL).
    Dollar,
}

impl Placeholders {
    /// Parameter `n`, 1-based.
    pub fn nth(self, n: usize) -> String {
        match self {
            Self::QuestionNumbered => format!("?{n}"),
            Self::Dollar => format!("${n}"),
        }
    }

    fn list(self, count: usize) -> String {
        (1..=count)
            .map(|n| self.nth(n))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The columns of `requests` in [`crate::Row`] order, as bound by [`insert_sql`].
pub const ROW_COLUMNS: [&str; 18] = [
    "request_id",
    "time_ms",
    "tenant",
    "key_id",
    "endpoint",
    "route",
    "reason",
    "model",
    "served_model",
    "provider",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "ttft_ms",
    "status",
    "cost",
    "counterfactual_cost",
    "tiers",
];

/// `INSERT INTO requests (…) VALUES (…)` binding [`ROW_COLUMNS`] in order.
pub fn insert_sql(p: Placeholders) -> String {
    format!(
        "INSERT INTO requests ({}) VALUES ({})",
        ROW_COLUMNS.join(", "),
        p.list(ROW_COLUMNS.len())
    )
}

/// The grouping expression; never NULL, `''` for a missing tenant or key, the
/// requested model where no model answered.
pub fn group_expr(g: GroupBy) -> &'static str {
    match g {
        GroupBy::Tenant => "COALESCE(tenant, '')",
        GroupBy::Key => "COALESCE(key_id, '')",
        GroupBy::Route => "route",
        GroupBy::Model => "COALESCE(served_model, model)",
    }
}

/// A usage query and its parameters (the time bounds that are set, in order).
///
/// Selects `group_key, requests, local_requests, cloud_requests, prompt_tokens,
/// completion_tokens, cost, counterfactual_cost`, all but the first `BIGINT`. Without
/// `group_by` it returns exactly one row (key `''`); with it, one row per group,
/// unordered (sort in the caller: collations differ between backends).
pub fn usage_sql(q: &UsageQuery, p: Placeholders) -> (String, Vec<i64>) {
    let mut conds = Vec::new();
    let mut params = Vec::new();
    if let Some(from) = q.from_ms {
        params.push(from);
        conds.push(format!("time_ms >= {}", p.nth(params.len())));
    }
    if let Some(to) = q.to_ms {
        params.push(to);
        conds.push(format!("time_ms < {}", p.nth(params.len())));
    }
    let key = q.group_by.map_or("''", group_expr);
    let mut sql = format!(
        "SELECT {key} AS group_key, \
         COUNT(*), \
         CAST(COALESCE(SUM(CASE WHEN route = 'local' THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN route IN ('cloud', 'escalated') THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT), \
         CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT), \
         CAST(COALESCE(SUM(cost), 0) AS BIGINT), \
         CAST(COALESCE(SUM(counterfactual_cost), 0) AS BIGINT) \
         FROM requests"
    );
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    if let Some(g) = q.group_by {
        sql.push_str(" GROUP BY ");
        sql.push_str(group_expr(g));
    }
    (sql, params)
}

/// Counts every row.
pub const COUNT_SQL: &str = "SELECT COUNT(*) FROM requests";

/// The columns of `api_keys` as bound by [`key_insert_sql`].
pub const KEY_INSERT_COLUMNS: [&str; 13] = [
    "key_id",
    "prefix",
    "salt",
    "hash",
    "tenant",
    "name",
    "created_ms",
    "revoked_ms",
    "budget",
    "budget_period",
    "rpm",
    "tpm",
    "models",
];

/// The public columns of `api_keys`, in the order [`key_select_sql`] and
/// [`key_candidates_sql`] return them (the latter then adds `salt, hash`).
pub const KEY_RECORD_COLUMNS: &str = "key_id, tenant, name, created_ms, revoked_ms, budget, \
     budget_period, rpm, tpm, models";

/// `INSERT INTO api_keys (…) VALUES (…)` binding [`KEY_INSERT_COLUMNS`] in order.
pub fn key_insert_sql(p: Placeholders) -> String {
    format!(
        "INSERT INTO api_keys ({}) VALUES ({})",
        KEY_INSERT_COLUMNS.join(", "),
        p.list(KEY_INSERT_COLUMNS.len())
    )
}

/// The unrevoked keys whose `prefix` is parameter 1: [`KEY_RECORD_COLUMNS`], `salt`,
/// `hash`.
pub fn key_candidates_sql(p: Placeholders) -> String {
    format!(
        "SELECT {KEY_RECORD_COLUMNS}, salt, hash FROM api_keys \
         WHERE prefix = {} AND revoked_ms IS NULL",
        p.nth(1)
    )
}

/// Every key ([`KEY_RECORD_COLUMNS`]), or with `by_tenant` those whose tenant is
/// parameter 1; oldest first.
pub fn key_select_sql(p: Placeholders, by_tenant: bool) -> String {
    let filter = if by_tenant {
        format!(" WHERE tenant = {}", p.nth(1))
    } else {
        String::new()
    };
    format!("SELECT {KEY_RECORD_COLUMNS} FROM api_keys{filter} ORDER BY created_ms, key_id")
}

/// Sets `revoked_ms` (parameter 2) on key parameter 1 unless it is already revoked.
pub fn key_revoke_sql(p: Placeholders) -> String {
    format!(
        "UPDATE api_keys SET revoked_ms = {} WHERE key_id = {} AND revoked_ms IS NULL",
        p.nth(2),
        p.nth(1)
    )
}

/// The `BIGINT` sum of `cost` over the requests of key parameter 1, with `since` only
/// those at or after parameter 2 (unix ms).
pub fn key_spent_sql(p: Placeholders, since: bool) -> String {
    let mut sql = format!(
        "SELECT CAST(COALESCE(SUM(cost), 0) AS BIGINT) FROM requests WHERE key_id = {}",
        p.nth(1)
    );
    if since {
        sql.push_str(&format!(" AND time_ms >= {}", p.nth(2)));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_insert() {
        assert_eq!(Placeholders::Dollar.nth(3), "$3");
        let s = insert_sql(Placeholders::QuestionNumbered);
        assert!(s.ends_with("?17, ?18)"), "{s}");
        assert!(insert_sql(Placeholders::Dollar).ends_with("$17, $18)"));
    }

    #[test]
    fn key_sql_placeholders() {
        let s = key_insert_sql(Placeholders::Dollar);
        assert!(
            s.starts_with("INSERT INTO api_keys (key_id, prefix,"),
            "{s}"
        );
        assert!(s.ends_with("$12, $13)"), "{s}");
        assert!(key_candidates_sql(Placeholders::Dollar).contains("prefix = $1"));
        assert!(!key_select_sql(Placeholders::Dollar, false).contains("WHERE"));
        assert!(key_select_sql(Placeholders::Dollar, true).contains("tenant = $1"));
        assert!(key_revoke_sql(Placeholders::QuestionNumbered)
            .contains("revoked_ms = ?2 WHERE key_id = ?1"));
        assert!(!key_spent_sql(Placeholders::Dollar, false).contains("time_ms"));
        assert!(key_spent_sql(Placeholders::Dollar, true).ends_with("time_ms >= $2"));
    }

    #[test]
    fn usage_sql_binds_only_the_bounds_given() {
        let q = UsageQuery {
            from_ms: None,
            to_ms: Some(5),
            group_by: Some(GroupBy::Tenant),
        };
        let (sql, params) = usage_sql(&q, Placeholders::Dollar);
        assert!(sql.contains("WHERE time_ms < $1 GROUP BY COALESCE(tenant, '')"));
        assert_eq!(params, vec![5]);
        let (sql, params) = usage_sql(&UsageQuery::default(), Placeholders::QuestionNumbered);
        assert!(!sql.contains("WHERE") && !sql.contains("GROUP BY"));
        assert!(params.is_empty());
    }
}
