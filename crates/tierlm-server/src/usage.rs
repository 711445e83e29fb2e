//! `GET /v1/usage?from=&to=&group_by=tenant|key|route|model`: what was spent, what
//! stayed local, what the same tokens would have cost on the frontier baseline, and
//! the savings — from the ledger, over a time range (`from` inclusive, `to` exclusive;
//! RFC 3339 or `YYYY-MM-DD`, UTC).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use tierlm_api::{ApiError, ErrorCode};
use tierlm_ledger::{GroupBy, UsageQuery};

use crate::error::HttpError;
use tierlm_gateway::Gateway;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageParams {
    from: Option<String>,
    to: Option<String>,
    group_by: Option<String>,
}

fn bound(name: &str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    v.map(|s| {
        tierlm_guard::audit::parse_bound(s).map_err(|_| {
            ApiError::invalid(
                name,
                format!("`{name}` must be RFC 3339 or YYYY-MM-DD, not `{s}`"),
            )
        })
    })
    .transpose()
}

async fn run(state: &Gateway, params: UsageParams) -> Result<Value, ApiError> {
    let store = state.ledger().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            "the ledger is off (`[ledger] enabled = false`) or still opening",
        )
    })?;
    let group_by = params
        .group_by
        .as_deref()
        .map(|g| {
            GroupBy::parse(g).ok_or_else(|| {
                ApiError::invalid(
                    "group_by",
                    format!("`group_by` must be tenant, key, route or model, not `{g}`"),
                )
            })
        })
        .transpose()?;
    let q = UsageQuery {
        from_ms: bound("from", params.from.as_deref())?,
        to_ms: bound("to", params.to.as_deref())?,
        group_by,
    };
    let report = tokio::task::spawn_blocking(move || store.usage(&q))
        .await
        .map_err(|e| ApiError::internal(format!("the ledger query failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("the ledger query failed: {e}")))?;
    let groups: Vec<Value> = report
        .groups
        .iter()
        .map(|(key, t)| {
            let mut v = t.to_json();
            v["key"] = json!(key);
            v
        })
        .collect();
    Ok(json!({
        "object": "usage",
        "from": params.from,
        "to": params.to,
        "group_by": params.group_by,
        "baseline_model": state.ledger_settings().baseline_model,
        "totals": report.totals.to_json(),
        "groups": groups,
    }))
}

pub async fn usage(
    State(state): State<Gateway>,
    params: Result<Query<UsageParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let params = match params {
        Ok(Query(p)) => p,
        Err(e) => {
            return HttpError(ApiError::invalid("query", e.body_text())).into_response();
        }
    };
    match run(&state, params).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => HttpError(e).into_response(),
    }
}
