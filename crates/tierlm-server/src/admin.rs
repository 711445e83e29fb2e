//! `/admin/keys`: create (`POST`), list (`GET`) and revoke (`DELETE /admin/keys/{id}`)
//! virtual keys, behind the admin key (`[auth] admin_key = "env::NAME"`, sent as
//! `Authorization: Bearer …`). Without an admin key configured the routes answer 404.
//! A created key's secret is in the creation answer only; the database keeps a salted
//! hash.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tierlm_api::{ApiError, ErrorCode};
use tierlm_ledger::{BudgetPeriod, NewKey};
use tierlm_providers::pricing::Usd;

use crate::error::HttpError;
use crate::extract::OpenAiJson;
use tierlm_gateway::Gateway;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    tenant: String,
    name: Option<String>,
    /// A decimal string (`"100"`, `"12.50"`).
    budget_usd: Option<String>,
    period: Option<String>,
    rpm: Option<u32>,
    tpm: Option<u32>,
    models: Option<Vec<String>>,
}

fn admit(state: &Gateway, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(admin) = &state.config().auth.admin_key else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "the admin API is off: set `[auth] admin_key = \"env::NAME\"`",
        ));
    };
    let sent = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if tierlm_ledger::ct_eq(sent.trim().as_bytes(), admin.expose().as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidApiKey,
            "the admin API needs the admin key: `Authorization: Bearer …`",
        ))
    }
}

fn store(state: &Gateway) -> Result<std::sync::Arc<dyn tierlm_ledger::Store>, ApiError> {
    state
        .ledger()
        .ok_or_else(|| ApiError::internal("keys need the ledger database"))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, tierlm_ledger::LedgerError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))
}

fn new_key(body: CreateKey) -> Result<NewKey, ApiError> {
    if body.tenant.trim().is_empty() {
        return Err(ApiError::invalid("tenant", "`tenant` must not be empty"));
    }
    let budget = body
        .budget_usd
        .map(|b| {
            Usd::parse(&b)
                .map(|u| u64::try_from(u.0).unwrap_or(u64::MAX))
                .map_err(|e| ApiError::invalid("budget_usd", e))
        })
        .transpose()?;
    let period = match body.period.as_deref() {
        None => BudgetPeriod::Month,
        Some(p) => BudgetPeriod::parse(p).ok_or_else(|| {
            ApiError::invalid("period", "`period` must be day, week, month or total")
        })?,
    };
    Ok(NewKey {
        tenant: body.tenant,
        name: body.name,
        budget,
        period,
        rpm: body.rpm,
        tpm: body.tpm,
        models: body.models,
    })
}

async fn create_key(
    state: &Gateway,
    headers: &HeaderMap,
    body: CreateKey,
) -> Result<Response, ApiError> {
    admit(state, headers)?;
    let k = new_key(body)?;
    let s = store(state)?;
    let (record, secret) = blocking(move || s.create_key(&k)).await?;
    let mut v = serde_json::to_value(&record).map_err(|e| ApiError::internal(e.to_string()))?;
    v["key"] = json!(secret);
    Ok((axum::http::StatusCode::CREATED, axum::Json(v)).into_response())
}

pub async fn create(
    State(state): State<Gateway>,
    headers: HeaderMap,
    OpenAiJson(body): OpenAiJson<CreateKey>,
) -> Response {
    create_key(&state, &headers, body)
        .await
        .unwrap_or_else(|e| HttpError(e).into_response())
}

pub async fn list(State(state): State<Gateway>, headers: HeaderMap) -> Response {
    let run = async {
        admit(&state, &headers)?;
        let s = store(&state)?;
        let keys = blocking(move || s.list_keys(None)).await?;
        Ok::<_, ApiError>(axum::Json(json!({"object": "list", "data": keys})).into_response())
    };
    run.await.unwrap_or_else(|e| HttpError(e).into_response())
}

pub async fn revoke(
    State(state): State<Gateway>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let run = async {
        admit(&state, &headers)?;
        let s = store(&state)?;
        let key_id = id.clone();
        if blocking(move || s.revoke_key(&key_id)).await? {
            Ok(axum::Json(json!({"id": id, "revoked": true})).into_response())
        } else {
            Err(ApiError::new(
                ErrorCode::NotFound,
                format!("no key `{id}` to revoke"),
            ))
        }
    };
    run.await.unwrap_or_else(|e| HttpError(e).into_response())
}
