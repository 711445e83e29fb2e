//! HTTP-level metrics and the `/metrics` endpoint (Prometheus text format).
//!
//! Labels are bounded: `endpoint` is one of the routes, `model` one of the configured
//! model names (or empty when the request never reached a model), `status` the HTTP
//! status code.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::time::{Duration, Instant};
use tierlm_api::metrics::{label_value, Counter, Exposition, Family, Histogram, LATENCY_BUCKETS};

use crate::state::AppState;

pub struct ServerMetrics {
    pub requests: Family<Counter>,
    pub prompt_tokens: Family<Counter>,
    pub completion_tokens: Family<Counter>,
    pub ttft: Family<Histogram>,
    pub itl: Family<Histogram>,
    pub duration: Family<Histogram>,
    pub routes: Family<Counter>,
    pub route_decision: Family<Histogram>,
    pub guard_entities: Family<Counter>,
    pub guard_actions: Family<Counter>,
}

/// Inter-token latency buckets: finer than request latency.
const ITL_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0,
];

/// Router decision time buckets: the target is a few milliseconds.
const DECISION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1,
];

impl Default for ServerMetrics {
    fn default() -> Self {
        Self {
            requests: Family::new(Counter::default),
            prompt_tokens: Family::new(Counter::default),
            completion_tokens: Family::new(Counter::default),
            ttft: Family::new(|| Histogram::new(LATENCY_BUCKETS)),
            itl: Family::new(|| Histogram::new(ITL_BUCKETS)),
            duration: Family::new(|| Histogram::new(LATENCY_BUCKETS)),
            routes: Family::new(Counter::default),
            route_decision: Family::new(|| Histogram::new(DECISION_BUCKETS)),
            guard_entities: Family::new(Counter::default),
            guard_actions: Family::new(Counter::default),
        }
    }
}

fn model_label(model: &str) -> String {
    format!("model=\"{}\"", label_value(model))
}

impl ServerMetrics {
    pub fn record_request(&self, endpoint: &str, model: &str, status: u16, took: Duration) {
        self.requests
            .get(&format!(
                "endpoint=\"{endpoint}\",model=\"{}\",status=\"{status}\"",
                label_value(model)
            ))
            .inc();
        self.duration
            .get(&format!("endpoint=\"{endpoint}\""))
            .observe(took.as_secs_f64());
    }

    /// One routed request's final route (`local|cloud|escalated|refused`), reason and
    /// profile (all bounded by the configuration), and the router's own time.
    pub fn record_route(&self, route: &str, reason: &str, profile: &str, took: Duration) {
        self.routes
            .get(&format!(
                "route=\"{route}\",reason=\"{reason}\",profile=\"{}\"",
                label_value(profile)
            ))
            .inc();
        self.route_decision.get("").observe(took.as_secs_f64());
    }

    /// Sensitive values found, by entity type (a bounded set), and the action taken.
    pub fn record_guard(&self, found: &std::collections::BTreeMap<String, u32>, action: &str) {
        for (kind, n) in found {
            self.guard_entities
                .get(&format!("type=\"{}\"", label_value(kind)))
                .add(u64::from(*n));
        }
        self.guard_actions
            .get(&format!("action=\"{action}\""))
            .inc();
    }

    /// Token counts of a served answer; the request's ledger row counts the same.
    pub fn record_tokens(&self, model: &str, prompt: u32, completion: u32) {
        crate::ledger::note_tokens(model, prompt, completion);
        let l = model_label(model);
        self.prompt_tokens.get(&l).add(u64::from(prompt));
        self.completion_tokens.get(&l).add(u64::from(completion));
    }
}

/// Timing of one generation's token stream: first token and the gaps between tokens.
pub struct TokenTimer {
    start: Instant,
    last: Option<Instant>,
    model: String,
}

impl TokenTimer {
    pub fn new(model: &str) -> Self {
        Self {
            start: Instant::now(),
            last: None,
            model: model_label(model),
        }
    }

    /// A token (or text delta) arrived.
    pub fn tick(&mut self, m: &ServerMetrics) {
        let now = Instant::now();
        match self.last {
            None => m
                .ttft
                .get(&self.model)
                .observe((now - self.start).as_secs_f64()),
            Some(prev) => m.itl.get(&self.model).observe((now - prev).as_secs_f64()),
        }
        self.last = Some(now);
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let m = state.metrics();
    let mut e = Exposition::default();
    e.counter(
        "tierlm_requests_total",
        "HTTP requests by endpoint, model and status.",
        &m.requests,
    );
    e.counter(
        "tierlm_prompt_tokens_total",
        "Prompt tokens processed.",
        &m.prompt_tokens,
    );
    e.counter(
        "tierlm_completion_tokens_total",
        "Completion tokens generated.",
        &m.completion_tokens,
    );
    e.histogram(
        "tierlm_time_to_first_token_seconds",
        "Time from request arrival to the first generated token.",
        &m.ttft,
    );
    e.histogram(
        "tierlm_inter_token_latency_seconds",
        "Time between consecutive generated tokens of a request.",
        &m.itl,
    );
    e.histogram(
        "tierlm_request_duration_seconds",
        "Request duration by endpoint.",
        &m.duration,
    );
    e.counter(
        "tierlm_routed_requests_total",
        "Requests to routed models by final route, reason and task profile.",
        &m.routes,
    );
    e.histogram(
        "tierlm_router_decision_seconds",
        "The router's own time per request, before any model runs.",
        &m.route_decision,
    );
    e.counter(
        "tierlm_guard_entities_total",
        "Sensitive values found in requests, by entity type.",
        &m.guard_entities,
    );
    e.counter(
        "tierlm_guard_requests_total",
        "Requests scanned by the data guard, by the action taken.",
        &m.guard_actions,
    );
    state.engine_metrics().render(&mut e);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        e.finish(),
    )
}
