//! Virtual keys on the request path: with `[auth] require_keys = true`, every `/v1/`
//! request needs a key (`Authorization: Bearer tk-…` or a dialect's own key header),
//! created with `tierlm keys create` or `POST /admin/keys` (only a salted hash is
//! stored). Without it, anonymous requests pass, but a `tk-` key that is sent is still
//! checked and enforced (an unknown one is a 401), so keys can be rolled out before
//! they are required. The key gives the request its
//! tenant and key id (for ledger rows, routing rules and data policies), a model
//! allow-list, per-minute request and token limits, and a budget per period.
//!
//! Budgets are enforced before a paid call: the cloud path reserves the request's
//! maximum cost (the first target's price for the prompt's upper-bound token count plus
//! `max_tokens`), refuses when spent + reserved + maximum would pass the budget, and
//! releases the reservation once the request's ledger row (its actual cost) is
//! committed. Concurrent requests can therefore overspend by at most one request's
//! maximum. Limits use fixed one-minute windows and live in memory (per replica).

use std::sync::Arc;

use tierlm_api::chat::ChatCompletionRequest;
use tierlm_api::ids::unix_ms as now_ms;
use tierlm_api::{ApiError, ErrorCode};
use tierlm_ledger::keys::SECRET_PREFIX;
use tierlm_ledger::{format_usd, KeyRecord, PicoUsd};

use crate::gateway::Gateway;
pub use crate::key_state::{Caller, KeyState};

async fn lookup(state: &Gateway, secret: &str) -> Result<Option<Arc<KeyRecord>>, ApiError> {
    let keys = state.keys();
    if let Some(found) = keys.cached(secret) {
        return Ok(found);
    }
    let store = state
        .ledger()
        .ok_or_else(|| ApiError::internal("keys need the ledger database"))?;
    let s = secret.to_string();
    let found = state
        .tasks()
        .spawn_blocking(move || store.find_key(&s))
        .await
        .map_err(|e| ApiError::internal(format!("key lookup failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("key lookup failed: {e}")))?
        .map(Arc::new);
    keys.remember(secret, found.clone());
    Ok(found)
}

/// Spent in the key's current budget period plus what is reserved: over the budget?
async fn over_budget(state: &Gateway, key: &KeyRecord) -> Result<bool, ApiError> {
    let Some(budget) = key.budget else {
        return Ok(false);
    };
    let spent = spent(state, key).await?;
    Ok(spent.saturating_add(state.keys().reserved(&key.key_id)) >= budget)
}

async fn spent(state: &Gateway, key: &KeyRecord) -> Result<PicoUsd, ApiError> {
    let store = state
        .ledger()
        .ok_or_else(|| ApiError::internal("budgets need the ledger database"))?;
    let (id, since) = (key.key_id.clone(), key.period.window_start_ms(now_ms()));
    state
        .tasks()
        .spawn_blocking(move || store.spent(&id, since))
        .await
        .map_err(|e| ApiError::internal(format!("budget query failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("budget query failed: {e}")))
}

/// Why a request's key was not accepted.
#[derive(Debug)]
pub struct Denied {
    pub error: ApiError,
    /// Seconds until the key's rate window reopens (a 429).
    pub retry_after: Option<u64>,
    /// The key, when it was found (its tenant goes on the ledger row).
    pub key: Option<Arc<KeyRecord>>,
}

impl Denied {
    fn new(error: ApiError) -> Self {
        Self {
            error,
            retry_after: None,
            key: None,
        }
    }
}

/// Whether a presented secret is one of ours (`tk-…`) rather than a provider's key.
pub fn is_virtual_key(secret: &str) -> bool {
    secret.starts_with(SECRET_PREFIX)
}

impl Gateway {
    /// Who is calling, from the secret the client presented: `Ok(None)` for an
    /// anonymous caller where keys are optional; the key (tenant, limits, budget) when
    /// it is valid and within its limits; otherwise why not.
    pub async fn authenticate(&self, secret: Option<&str>) -> Result<Option<Caller>, Denied> {
        let virtual_key = secret.is_some_and(is_virtual_key);
        if !self.config().auth.require_keys && (!virtual_key || self.ledger().is_none()) {
            // Keys are optional here: an anonymous caller (or a provider-style key meant
            // for nobody) passes; a virtual key, when the ledger can check it, is enforced.
            return Ok(None);
        }
        let Some(secret) = secret else {
            return Err(Denied::new(ApiError::new(
                ErrorCode::InvalidApiKey,
                "this server requires a virtual key: send `Authorization: Bearer tk-…` (or `x-api-key: tk-…`)",
            )));
        };
        let key = match lookup(self, secret).await {
            Ok(Some(k)) => k,
            Ok(None) => {
                return Err(Denied::new(ApiError::new(
                    ErrorCode::InvalidApiKey,
                    "the API key is unknown or revoked",
                )))
            }
            Err(e) => return Err(Denied::new(e)),
        };
        if let Err(retry) = self.keys().admit(&key) {
            return Err(Denied {
                error: ApiError::new(
                    ErrorCode::RateLimited,
                    format!("key `{}` reached its per-minute limit", key.key_id),
                ),
                retry_after: Some(retry),
                key: Some(key),
            });
        }
        let over = match over_budget(self, &key).await {
            Ok(o) => o,
            Err(e) => {
                return Err(Denied {
                    error: e,
                    retry_after: None,
                    key: Some(key),
                })
            }
        };
        Ok(Some(Caller {
            key,
            over_budget: over,
        }))
    }
}

/// Refuse a model outside the key's allow-list.
pub fn check_model(caller: Option<&Caller>, model: &str) -> Result<(), ApiError> {
    let Some(c) = caller else { return Ok(()) };
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
pub fn over_budget_error(caller: Option<&Caller>) -> ApiError {
    match caller {
        Some(c) => budget_error(&c.key),
        None => ApiError::new(ErrorCode::BudgetExceeded, "the budget is spent"),
    }
}

/// Before a paid call: reserve the request's maximum cost, or refuse. Returns the
/// reservation (key id, pico-USD) to give back once the request's row is written.
pub async fn reserve(
    state: &Gateway,
    caller: Option<&Caller>,
    req: &ChatCompletionRequest,
    upstream_model: Option<&str>,
) -> Result<Option<(String, u64)>, ApiError> {
    let Some(c) = caller else { return Ok(None) };
    let Some(budget) = c.key.budget else {
        return Ok(None);
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
    if !state
        .keys()
        .try_reserve(&c.key.key_id, spent, max_cost, budget)
    {
        return Err(budget_error(&c.key));
    }
    Ok(Some((c.key.key_id.clone(), max_cost)))
}
