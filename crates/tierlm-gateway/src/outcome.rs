//! The one value a request leaves behind: where it went and why, the tiers tried, the
//! tokens, what it cost and what the frontier baseline would have cost, the guard's
//! findings. The request path fills it in as it learns each fact; the ledger row, the
//! metrics, the trace span and the response headers are all read from it, and cost is
//! priced by one function, [`price`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tierlm_api::ErrorCode;
use tierlm_providers::pricing::{Price, PricingCatalog, Usd};
pub use tierlm_router::Reason;

use crate::otlp::TraceIds;

/// Where a request was answered, as the ledger, metrics and `x-tierlm-route` say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// The local engine (or a promoted student) answered.
    Local,
    /// A cloud model answered (asked directly, or routed there).
    Cloud,
    /// A local tier tried first and was unsure; the cloud answered.
    Escalated,
    /// Policy refused the request (data policy, budget, routing rule).
    Refused,
    /// The request failed.
    Error,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Local => "local",
            Route::Cloud => "cloud",
            Route::Escalated => "escalated",
            Route::Refused => "refused",
            Route::Error => "error",
        }
    }

    /// Whether the answer came from a provider outside the premises.
    pub fn left_premises(self) -> bool {
        matches!(self, Route::Cloud | Route::Escalated)
    }
}

/// The API operation a request called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
    /// Anthropic Messages (`/v1/messages`), answered by the chat core.
    Messages,
    /// OpenAI Responses (`/v1/responses`), answered by the chat core.
    Responses,
    Completions,
    Embeddings,
}

impl Endpoint {
    /// The name in ledger rows and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat_completions",
            Endpoint::Messages => "messages",
            Endpoint::Responses => "responses",
            Endpoint::Completions => "completions",
            Endpoint::Embeddings => "embeddings",
        }
    }

    /// The API path (trace spans name it).
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/v1/chat/completions",
            Endpoint::Messages => "/v1/messages",
            Endpoint::Responses => "/v1/responses",
            Endpoint::Completions => "/v1/completions",
            Endpoint::Embeddings => "/v1/embeddings",
        }
    }
}

/// One tier a routed request tried, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct TierAttempt {
    /// The model (`smollm2-135m`), student (`student:ticket_priority`) or cloud model.
    pub tier: String,
    /// The tier's confidence in its answer, when it was checked.
    pub confidence: Option<f64>,
    /// Whether this tier's answer was returned.
    pub answered: bool,
}

/// What the edge knows about a request before the core sees it.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub started: Instant,
    pub time_ms: i64,
    pub start_unix_nano: u128,
    /// The W3C trace context the client sent (`traceparent`), if any.
    pub traceparent: Option<String>,
}

impl RequestMeta {
    /// A request arriving now.
    pub fn now(request_id: String, traceparent: Option<String>) -> Self {
        Self {
            request_id,
            started: Instant::now(),
            time_ms: tierlm_api::ids::unix_ms(),
            start_unix_nano: crate::otlp::unix_nanos(),
            traceparent,
        }
    }
}

/// Everything known about one request when it is over (see the module docs).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub meta: RequestMeta,
    pub endpoint: Endpoint,
    pub trace: Option<TraceIds>,
    /// The model the client asked for.
    pub requested_model: String,
    pub tenant: Option<String>,
    pub key_id: Option<String>,
    pub route: Route,
    pub reason: Option<Reason>,
    /// Set for routed requests: the router's profile, class and its own time.
    pub profile: Option<String>,
    pub class: Option<&'static str>,
    pub decision_time: Option<Duration>,
    /// The confidence of the answer that was returned (or of the last tier tried).
    pub confidence: Option<f64>,
    pub tiers: Vec<TierAttempt>,
    /// The local model, or the cloud model name, that answered.
    pub served_model: Option<String>,
    /// The provider and its model id, when a provider answered.
    pub provider: Option<String>,
    pub upstream_model: Option<String>,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// A streamed answer's first content, handed to the connection.
    pub first_token_at: Option<Instant>,
    pub streaming: bool,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    /// A budget reservation to give back once the row is committed (key id, pico-USD).
    pub reservation: Option<(String, u64)>,
    pub status: u16,
    pub error: Option<ErrorCode>,
    /// The data guard's findings (type → count) and its action.
    pub findings: BTreeMap<String, u32>,
    pub guard_action: Option<&'static str>,
}

/// nginx's status for a request whose client closed the connection before the answer
/// was complete; the ledger records abandoned requests with it.
pub const CLIENT_CLOSED: u16 = 499;

impl Outcome {
    pub fn new(meta: RequestMeta, endpoint: Endpoint, requested_model: &str) -> Self {
        Self {
            meta,
            endpoint,
            trace: None,
            requested_model: requested_model.to_string(),
            tenant: None,
            key_id: None,
            route: Route::Local,
            reason: None,
            profile: None,
            class: None,
            decision_time: None,
            confidence: None,
            tiers: Vec::new(),
            served_model: None,
            provider: None,
            upstream_model: None,
            prompt_tokens: 0,
            completion_tokens: 0,
            first_token_at: None,
            streaming: false,
            max_tokens: None,
            temperature: None,
            reservation: None,
            status: CLIENT_CLOSED,
            error: None,
            findings: BTreeMap::new(),
            guard_action: None,
        }
    }

    /// A request from `caller` (its tenant and key go on the row).
    pub fn for_caller(
        meta: RequestMeta,
        endpoint: Endpoint,
        requested_model: &str,
        caller: Option<&crate::key_state::Caller>,
    ) -> Self {
        let mut o = Self::new(meta, endpoint, requested_model);
        o.tenant = caller.map(|c| c.key.tenant.clone());
        o.key_id = caller.map(|c| c.key.key_id.clone());
        o
    }

    /// What is left in a pending request once its outcome was taken to be written.
    pub(crate) fn spent() -> Self {
        Self::new(
            RequestMeta::now(String::new(), None),
            Endpoint::ChatCompletions,
            "",
        )
    }

    /// The answer was served by this model with these exact token counts (a later
    /// call wins: an escalated request is counted with the cloud's tokens).
    pub fn tokens(&mut self, served_model: &str, prompt: u32, completion: u32) {
        self.served_model = Some(served_model.to_string());
        self.prompt_tokens = prompt;
        self.completion_tokens = completion;
    }

    /// The request failed with this error.
    pub fn failed(&mut self, code: ErrorCode, status: u16) {
        self.status = status;
        self.error = Some(code);
        self.route = if status == 403 {
            Route::Refused
        } else {
            Route::Error
        };
    }

    /// The route as the ledger records it: an abandoned request keeps the route it had
    /// taken, an error is `error` (a policy refusal `refused`).
    pub fn ledger_route(&self) -> Route {
        match self.status {
            200 | CLIENT_CLOSED => self.route,
            403 => Route::Refused,
            _ => Route::Error,
        }
    }

    /// The reason as the ledger records it.
    pub fn ledger_reason(&self) -> Option<Reason> {
        self.reason
            .or_else(|| (self.status == CLIENT_CLOSED).then_some(Reason::ClientClosed))
    }

    /// The ledger's `served_model`: the provider's model id, else the model that answered.
    pub fn ledger_served_model(&self) -> Option<String> {
        self.upstream_model
            .clone()
            .or_else(|| self.served_model.clone())
    }

    /// The tiers tried as the ledger keeps them (see [`tiers_text`]).
    pub fn ledger_tiers(&self) -> Option<String> {
        tiers_text(&self.tiers)
    }

    /// Time to first token, for streamed answers only.
    pub fn ttft(&self) -> Option<Duration> {
        self.first_token_at
            .filter(|_| self.streaming)
            .map(|at| at.saturating_duration_since(self.meta.started))
    }
}

/// The pricing a gateway applies: its catalog, the local rate and the baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerSettings {
    pub database_url: String,
    pub baseline_model: String,
    pub local_price: Price,
}

/// What a request cost and what the same tokens would have cost on the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Priced {
    pub cost: Usd,
    pub counterfactual: Usd,
}

/// The one pricing function: a local answer at the local rate, a provider's answer at
/// its model's catalog price, and the counterfactual at the baseline's price for the
/// same tokens.
pub fn price(o: &Outcome, settings: &LedgerSettings, catalog: &PricingCatalog) -> Priced {
    let (p, c) = (u64::from(o.prompt_tokens), u64::from(o.completion_tokens));
    let cost = match o.ledger_route() {
        Route::Local => settings.local_price.cost(p, c),
        _ => o
            .upstream_model
            .as_deref()
            .and_then(|m| catalog.price(m))
            .map(|price| price.cost(p, c))
            .unwrap_or_default(),
    };
    let counterfactual = catalog
        .price(&settings.baseline_model)
        .map(|price| price.cost(p, c))
        .unwrap_or_default();
    Priced {
        cost,
        counterfactual,
    }
}

/// The facts an answer's headers carry (`x-tierlm-route`, `-reason`, `-model`, ...),
/// taken from the outcome when the answer starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub route: Route,
    pub reason: Option<Reason>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub profile: Option<String>,
    pub class: Option<&'static str>,
    pub confidence: Option<f64>,
    /// The answer's cost, when it is known as the answer starts (a whole cloud answer).
    pub cost: Option<Usd>,
    pub tiers: Vec<TierAttempt>,
}

/// The tiers tried as the ledger keeps them: `MODEL=CONFIDENCE` in order, `*` after
/// the one that answered; `None` when no tier was tried.
pub fn tiers_text(tiers: &[TierAttempt]) -> Option<String> {
    if tiers.is_empty() {
        return None;
    }
    let parts: Vec<String> = tiers
        .iter()
        .map(|t| {
            let mut s = t.label();
            if t.answered {
                s.push('*');
            }
            s
        })
        .collect();
    Some(parts.join(","))
}

impl TierAttempt {
    /// `MODEL=CONFIDENCE` (four decimals), or `MODEL` when it gave none: how the
    /// ledger and the `x-tierlm-tiers` header name a tier tried.
    pub fn label(&self) -> String {
        match self.confidence {
            Some(c) => format!("{}={c:.4}", self.tier),
            None => self.tier.clone(),
        }
    }
}

impl Facts {
    pub fn of(o: &Outcome) -> Self {
        Self {
            route: o.route,
            reason: o.reason,
            model: o.served_model.clone(),
            provider: o.provider.clone(),
            profile: o.profile.clone(),
            class: o.class,
            confidence: o.confidence,
            cost: None,
            tiers: o.tiers.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome() -> Outcome {
        Outcome::new(
            RequestMeta::now("r".into(), None),
            Endpoint::ChatCompletions,
            "auto",
        )
    }

    #[test]
    fn an_abandoned_request_keeps_its_route_and_says_why() {
        let mut o = outcome();
        o.route = Route::Cloud;
        assert_eq!(o.ledger_route(), Route::Cloud);
        assert_eq!(o.ledger_reason(), Some(Reason::ClientClosed));
        o.failed(ErrorCode::PolicyRefused, 403);
        assert_eq!(o.ledger_route(), Route::Refused);
        o.failed(ErrorCode::ModelNotFound, 404);
        assert_eq!(o.ledger_route(), Route::Error);
    }

    #[test]
    fn local_answers_are_priced_at_the_local_rate_and_cloud_ones_by_the_catalog() {
        let catalog = PricingCatalog::builtin();
        let local_price = Price {
            input_per_mtok: Usd::parse("0.05").unwrap(),
            output_per_mtok: Usd::parse("0.05").unwrap(),
        };
        let settings = LedgerSettings {
            database_url: String::new(),
            baseline_model: "gpt-4o".into(),
            local_price,
        };
        let mut o = outcome();
        o.status = 200;
        o.tokens("small", 1_000_000, 1_000_000);
        let local = price(&o, &settings, &catalog);
        assert_eq!(local.cost, Usd::parse("0.10").unwrap());
        assert!(local.counterfactual > local.cost, "{local:?}");
        o.route = Route::Cloud;
        o.upstream_model = Some("gpt-4o".into());
        let cloud = price(&o, &settings, &catalog);
        assert_eq!(cloud.cost, cloud.counterfactual);
    }
}
