//! The ledger's data: a [`Row`] per request (metadata and exact prices, never message
//! content) and the usage report over a time range — totals, local against cloud, the
//! all-frontier counterfactual and the savings, optionally grouped.

use serde::{Deserialize, Serialize};

use crate::error::LedgerError;
use crate::money::PicoUsd;

/// One request: who, which route, which model, tokens, latency and exact prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub request_id: String,
    /// Unix milliseconds when the request arrived.
    pub time_ms: i64,
    pub tenant: Option<String>,
    pub key_id: Option<String>,
    /// `chat_completions` | `completions` | `embeddings`.
    pub endpoint: String,
    /// `local` | `cloud` | `escalated` | `refused` | `error`.
    pub route: String,
    /// The `x-tierlm-reason` of the answer.
    pub reason: Option<String>,
    /// The model the client asked for (e.g. `auto`).
    pub model: String,
    /// The model that answered (local name or upstream id).
    pub served_model: Option<String>,
    pub provider: Option<String>,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub latency_ms: u32,
    pub ttft_ms: Option<u32>,
    pub status: u16,
    pub cost: PicoUsd,
    /// What the same tokens would have cost on the frontier baseline model.
    pub counterfactual_cost: PicoUsd,
    /// The tiers a routed request tried (see migration 3 in `sql.rs`).
    #[serde(default)]
    pub tiers: Option<String>,
}

/// How a usage report is broken down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// By tenant (`""` for rows without one).
    Tenant,
    /// By API key id (`""` for rows without one).
    Key,
    /// By route (`local`, `cloud`, `escalated`, `refused`, `error`).
    Route,
    /// By the model that answered, or the requested model where none answered
    /// (refusals, errors).
    Model,
}

impl GroupBy {
    /// `"tenant"`, `"key"`, `"route"` or `"model"`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tenant" => Some(Self::Tenant),
            "key" => Some(Self::Key),
            "route" => Some(Self::Route),
            "model" => Some(Self::Model),
            _ => None,
        }
    }

    /// The name [`GroupBy::parse`] accepts.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::Key => "key",
            Self::Route => "route",
            Self::Model => "model",
        }
    }
}

/// A usage report's range and breakdown.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageQuery {
    /// Inclusive lower bound, unix ms.
    pub from_ms: Option<i64>,
    /// Exclusive upper bound, unix ms.
    pub to_ms: Option<i64>,
    pub group_by: Option<GroupBy>,
}

/// Sums over a set of rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsageTotals {
    pub requests: u64,
    /// Route `local`.
    pub local_requests: u64,
    /// Routes `cloud` and `escalated`.
    pub cloud_requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: PicoUsd,
    pub counterfactual_cost: PicoUsd,
}

impl UsageTotals {
    /// What the all-frontier counterfactual would have cost more than the actual
    /// spend, in pico-dollars (negative when tierlm cost more).
    pub fn savings(&self) -> i128 {
        i128::from(self.counterfactual_cost) - i128::from(self.cost)
    }

    /// Savings as a percentage of the counterfactual; `None` when that is zero.
    pub fn savings_percent(&self) -> Option<f64> {
        if self.counterfactual_cost == 0 {
            return None;
        }
        Some(self.savings() as f64 * 100.0 / self.counterfactual_cost as f64)
    }

    /// The savings as an exact decimal string (`-0.25` when tierlm cost more).
    pub fn savings_usd(&self) -> String {
        let s = self.savings();
        let abs = crate::format_usd(u64::try_from(s.unsigned_abs()).unwrap_or(u64::MAX));
        if s < 0 {
            format!("-{abs}")
        } else {
            abs
        }
    }

    /// The totals as the usage API and `tierlm report --format json` show them: money
    /// as exact decimal strings.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "requests": self.requests,
            "local_requests": self.local_requests,
            "cloud_requests": self.cloud_requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": crate::format_usd(self.cost),
            "counterfactual_cost_usd": crate::format_usd(self.counterfactual_cost),
            "savings_usd": self.savings_usd(),
            "savings_percent": self.savings_percent(),
        })
    }

    /// Adds `other` into `self`; `None` (and `self` unchanged) if a sum overflows.
    pub fn checked_add(&self, other: &Self) -> Option<Self> {
        Some(Self {
            requests: self.requests.checked_add(other.requests)?,
            local_requests: self.local_requests.checked_add(other.local_requests)?,
            cloud_requests: self.cloud_requests.checked_add(other.cloud_requests)?,
            prompt_tokens: self.prompt_tokens.checked_add(other.prompt_tokens)?,
            completion_tokens: self
                .completion_tokens
                .checked_add(other.completion_tokens)?,
            cost: self.cost.checked_add(other.cost)?,
            counterfactual_cost: self
                .counterfactual_cost
                .checked_add(other.counterfactual_cost)?,
        })
    }
}

/// Totals over the range, and per group when the query asked for a breakdown
/// (sorted by key; the key is `""` where the grouped column is empty).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsageReport {
    pub totals: UsageTotals,
    pub groups: Vec<(String, UsageTotals)>,
}

/// A row's money as the stores keep it (`BIGINT`): `(cost, counterfactual_cost)`, or
/// [`LedgerError::OutOfRange`] above `i64::MAX` pico-dollars.
pub(crate) fn stored_money(row: &Row) -> Result<(i64, i64), LedgerError> {
    let money = |field: &'static str, value: u64| {
        i64::try_from(value).map_err(|_| LedgerError::OutOfRange {
            request_id: row.request_id.clone(),
            field,
            value,
            max: i64::MAX.unsigned_abs(),
        })
    };
    Ok((
        money("cost", row.cost)?,
        money("counterfactual_cost", row.counterfactual_cost)?,
    ))
}

/// A sum read back from a store; negative only in a corrupt database.
pub(crate) fn unsigned(location: &str, column: &str, v: i64) -> Result<u64, LedgerError> {
    u64::try_from(v).map_err(|_| LedgerError::Corrupt {
        location: location.to_string(),
        detail: format!("negative {column} sum {v}"),
    })
}

/// The report from the rows of [`crate::sql::usage_sql`] as any backend reads them:
/// `(group key, [requests, local, cloud, prompt tokens, completion tokens, cost,
/// counterfactual cost])`. Totals are summed here, checked for overflow; groups are
/// sorted by key (collations differ between backends) and dropped without `group_by`.
pub(crate) fn assemble(
    location: &str,
    q: &UsageQuery,
    raw: Vec<(String, [i64; 7])>,
) -> Result<UsageReport, LedgerError> {
    let mut groups = Vec::with_capacity(raw.len());
    let mut totals = UsageTotals::default();
    for (key, s) in raw {
        let t = UsageTotals {
            requests: unsigned(location, "requests", s[0])?,
            local_requests: unsigned(location, "local_requests", s[1])?,
            cloud_requests: unsigned(location, "cloud_requests", s[2])?,
            prompt_tokens: unsigned(location, "prompt_tokens", s[3])?,
            completion_tokens: unsigned(location, "completion_tokens", s[4])?,
            cost: unsigned(location, "cost", s[5])?,
            counterfactual_cost: unsigned(location, "counterfactual_cost", s[6])?,
        };
        totals = totals
            .checked_add(&t)
            .ok_or_else(|| LedgerError::Overflow {
                location: location.to_string(),
            })?;
        groups.push((key, t));
    }
    if q.group_by.is_none() {
        groups.clear();
    } else {
        groups.sort_by(|a, b| a.0.cmp(&b.0));
    }
    Ok(UsageReport { totals, groups })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_by_parses_its_names() {
        for g in [
            GroupBy::Tenant,
            GroupBy::Key,
            GroupBy::Route,
            GroupBy::Model,
        ] {
            assert_eq!(GroupBy::parse(g.as_str()), Some(g));
        }
        assert_eq!(GroupBy::parse("Tenant"), None);
        assert_eq!(GroupBy::parse("key_id"), None);
        assert_eq!(GroupBy::parse(""), None);
    }

    #[test]
    fn savings_and_percent() {
        let t = UsageTotals {
            cost: 25,
            counterfactual_cost: 100,
            ..UsageTotals::default()
        };
        assert_eq!(t.savings(), 75);
        assert_eq!(t.savings_percent(), Some(75.0));
        let worse = UsageTotals {
            cost: 150,
            counterfactual_cost: 100,
            ..UsageTotals::default()
        };
        assert_eq!(worse.savings(), -50);
        assert_eq!(worse.savings_percent(), Some(-50.0));
        assert_eq!(UsageTotals::default().savings_percent(), None);
        let max = UsageTotals {
            cost: 0,
            counterfactual_cost: u64::MAX,
            ..UsageTotals::default()
        };
        assert_eq!(max.savings(), i128::from(u64::MAX));
    }
}
