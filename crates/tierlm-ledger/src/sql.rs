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
pub const MIGRATIONS: &[&str] = &["\
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
"];

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
pub const ROW_COLUMNS: [&str; 17] = [
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_insert() {
        assert_eq!(Placeholders::Dollar.nth(3), "$3");
        let s = insert_sql(Placeholders::QuestionNumbered);
        assert!(s.ends_with("?16, ?17)"), "{s}");
        assert!(insert_sql(Placeholders::Dollar).ends_with("$16, $17)"));
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
