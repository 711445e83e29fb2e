//! Virtual keys on the request path: with `[auth] require_keys = true`, every `/v1/`
//! request needs `Authorization: Bearer tk-…`, a key created with `tierlm keys create`
//! or `POST /admin/keys` (only a salted hash is stored). Without it, anonymous requests
//! pass, but a `tk-` key that is sent is still checked and enforced (an unknown one is
//! a 401), so keys can be rolled out before they are required. The key gives the request its
//! tenant and key id (for ledger rows, routing rules and data policies), a model
//! allow-list, per-minute request and token limits, and a budget per period.
//!
//! Budgets are enforced before a paid call: the cloud path reserves the request's
//! maximum cost (the first target's price for the prompt's upper-bound token count plus
//! `max_tokens`), refuses when spent + reserved + maximum would pass the budget, and
//! releases the reservation once the request's ledger row (its actual cost) is
//! committed. Concurrent requests can therefore overspend by at most one request's
//! maximum. Limits use fixed one-minute windows and live in memory (per replica).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tierlm_api::chat::ChatCompletionRequest;
use tierlm_api::ids::unix_ms as now_ms;
use tierlm_api::{ApiError, ErrorCode};
use tierlm_ledger::keys::SECRET_PREFIX;
use tierlm_ledger::{format_usd, KeyRecord, PicoUsd};

use crate::error::HttpError;
use crate::state::AppState;

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: Arc<KeyRecord>,
    /// The key's budget for the period is already spent (or reserved).
    pub over_budget: bool,
}

tokio::task_local! {
    static CALLER: Caller;
}

/// The caller of the request being handled, when keys are required.
pub fn caller() -> Option<Caller> {
    CALLER.try_with(Clone::clone).ok()
}

/// How long a looked-up key is trusted before the database is asked again (so a
/// revoked key stops working within this time).
const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// A looked-up key (or its absence) and when it was looked up.
type CachedKey = (Instant, Option<Arc<KeyRecord>>);

/// Per-key counters and reservations, in memory.
#[derive(Default)]
pub struct KeyState {
    cache: Mutex<HashMap<String, CachedKey>>,
    windows: Mutex<HashMap<String, (i64, u32, u64)>>,
    reserved: Mutex<HashMap<String, PicoUsd>>,
}

impl KeyState {
    /// Count one request against the key's per-minute limits; `Err(seconds)` to wait.
    fn admit(&self, key: &KeyRecord) -> Result<(), u64> {
        let minute = now_ms() / 60_000;
        let retry = 60 - (now_ms() / 1000).rem_euclid(60) as u64;
        let Ok(mut w) = self.windows.lock() else {
            return Ok(());
        };
        let entry = w.entry(key.key_id.clone()).or_insert((minute, 0, 0));
        if entry.0 != minute {
            *entry = (minute, 0, 0);
        }
        if key.rpm.is_some_and(|rpm| entry.1 >= rpm) {
            return Err(retry);
        }
        if key.tpm.is_some_and(|tpm| entry.2 >= u64::from(tpm)) {
            return Err(retry);
        }
        entry.1 += 1;
        Ok(())
    }

    /// Count a finished request's tokens against the key's per-minute token limit.
    pub fn add_tokens(&self, key_id: &str, tokens: u64) {
        let minute = now_ms() / 60_000;
        if let Ok(mut w) = self.windows.lock() {
            let entry = w.entry(key_id.to_string()).or_insert((minute, 0, 0));
            if entry.0 == minute {
                entry.2 += tokens;
            }
        }
    }

    fn reserved(&self, key_id: &str) -> PicoUsd {
        self.reserved
            .lock()
            .map(|r| r.get(key_id).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Give back a reservation once the actual cost is in the ledger.
    pub fn release(&self, key_id: &str, amount: PicoUsd) {
        if let Ok(mut r) = self.reserved.lock() {
            if let Some(v) = r.get_mut(key_id) {
                *v = v.saturating_sub(amount);
            }
        }
    }
}

fn unauthorised(message: &str) -> Response {
    HttpError(ApiError::new(ErrorCode::InvalidApiKey, message)).into_response()
}

fn bearer(h: &HeaderMap) -> Option<&str> {
    h.get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

async fn lookup(state: &AppState, secret: &str) -> Result<Option<Arc<KeyRecord>>, ApiError> {
    let keys = state.keys();
    if let Ok(cache) = keys.cache.lock() {
        if let Some((at, rec)) = cache.get(secret) {
            if at.elapsed() < KEY_CACHE_TTL {
                return Ok(rec.clone());
            }
        }
    }
    let store = state
        .ledger()
        .ok_or_else(|| ApiError::internal("keys need the ledger database"))?;
    let s = secret.to_string();
    let found = tokio::task::spawn_blocking(move || store.find_key(&s))
        .await
        .map_err(|e| ApiError::internal(format!("key lookup failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("key lookup failed: {e}")))?
        .map(Arc::new);
    if let Ok(mut cache) = keys.cache.lock() {
        cache.insert(secret.to_string(), (Instant::now(), found.clone()));
    }
    Ok(found)
}

/// Spent in the key's current budget period plus what is reserved: over the budget?
async fn over_budget(state: &AppState, key: &KeyRecord) -> Result<bool, ApiError> {
    let Some(budget) = key.budget else {
        return Ok(false);
    };
    let spent = spent(state, key).await?;
    Ok(spent.saturating_add(state.keys().reserved(&key.key_id)) >= budget)
}

async fn spent(state: &AppState, key: &KeyRecord) -> Result<PicoUsd, ApiError> {
    let store = state
        .ledger()
        .ok_or_else(|| ApiError::internal("budgets need the ledger database"))?;
    let (id, since) = (key.key_id.clone(), key.period.window_start_ms(now_ms()));
    tokio::task::spawn_blocking(move || store.spent(&id, since))
        .await
        .map_err(|e| ApiError::internal(format!("budget query failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("budget query failed: {e}")))
}

/// The middleware (see the module docs).
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/v1/") {
        return next.run(req).await;
    }
    let secret = bearer(req.headers()).map(str::to_string);
    let virtual_key = secret
        .as_deref()
        .is_some_and(|s| s.starts_with(SECRET_PREFIX));
    if !state.config().auth.require_keys && (!virtual_key || state.ledger().is_none()) {
        // Keys are optional here: an anonymous caller (or a provider-style key meant
        // for nobody) passes; a virtual key, when the ledger can check it, is enforced.
        return next.run(req).await;
    }
    let Some(secret) = secret else {
        return unauthorised(
            "this server requires a virtual key: send `Authorization: Bearer tk-…`",
        );
    };
    let key = match lookup(&state, &secret).await {
        Ok(Some(k)) => k,
        Ok(None) => return unauthorised("the API key is unknown or revoked"),
        Err(e) => return HttpError(e).into_response(),
    };
    crate::ledger::note_caller(&key.tenant, &key.key_id);
    if let Err(retry) = state.keys().admit(&key) {
        let mut resp = HttpError(ApiError::new(
            ErrorCode::RateLimited,
            format!("key `{}` reached its per-minute limit", key.key_id),
        ))
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&retry.to_string()) {
            resp.headers_mut().insert("retry-after", v);
        }
        return resp;
    }
    let over = match over_budget(&state, &key).await {
        Ok(o) => o,
        Err(e) => return HttpError(e).into_response(),
    };
    let caller = Caller {
        key,
        over_budget: over,
    };
    CALLER.scope(caller, next.run(req)).await
}

/// Refuse a model outside the key's allow-list.
pub fn check_model(model: &str) -> Result<(), ApiError> {
    let Some(c) = caller() else { return Ok(()) };
    match &c.key.models {
        Some(list) if !list.iter().any(|m| m == model) => Err(ApiError::new(
            ErrorCode::ModelNotAllowed,
            format!("key `{}` may not use model `{model}`", c.key.key_id),
        )
        .with_param("model")),
        _ => Ok(()),
    }
}

fn budget_error(key: &KeyRecord) -> ApiError {
    ApiError::new(
        ErrorCode::BudgetExceeded,
        format!(
            "key `{}` (tenant `{}`) has spent its {} budget of ${}",
            key.key_id,
            key.tenant,
            key.period.as_str(),
            key.budget.map(format_usd).unwrap_or_default()
        ),
    )
}

/// The error for a routed request the router refused because of the budget.
pub fn over_budget_error() -> ApiError {
    match caller() {
        Some(c) => budget_error(&c.key),
        None => ApiError::new(ErrorCode::BudgetExceeded, "the budget is spent"),
    }
}

/// Before a paid call: reserve the request's maximum cost, or refuse.
pub async fn reserve(
    state: &AppState,
    req: &ChatCompletionRequest,
    upstream_model: Option<&str>,
) -> Result<(), ApiError> {
    let Some(c) = caller() else { return Ok(()) };
    let Some(budget) = c.key.budget else {
        return Ok(());
    };
    let price = upstream_model.and_then(|m| state.config().cloud.pricing.price(m));
    let chars: usize = req
        .messages
        .iter()
        .filter_map(|m| m.content.as_ref().and_then(|t| t.text().ok()))
        .map(|t| t.len())
        .sum();
    // A token is at least one byte: bytes bound the prompt's tokens from above.
    let max_out = req.max_completion_tokens.or(req.max_tokens).unwrap_or(4096);
    let max_cost = price
        .map(|p| {
            p.cost(
                chars as u64 + 64,
                u64::from(max_out) * u64::from(req.n.unwrap_or(1)),
            )
        })
        .map_or(0, |u| u64::try_from(u.0).unwrap_or(u64::MAX));
    let spent = spent(state, &c.key).await?;
    let keys = state.keys();
    let Ok(mut reserved) = keys.reserved.lock() else {
        return Ok(());
    };
    let r = reserved.entry(c.key.key_id.clone()).or_insert(0);
    if spent.saturating_add(*r).saturating_add(max_cost) > budget {
        return Err(budget_error(&c.key));
    }
    *r += max_cost;
    crate::ledger::note_reservation(&c.key.key_id, max_cost);
    Ok(())
}
