//! Writing a request's [`Outcome`]: its ledger row (no message content, ever), the cost
//! and request metrics, its trace span, and giving back the key's budget reservation.
//!
//! A request in flight is a [`Pending`]: the core fills in its outcome as it serves, and
//! finishes it when the answer is complete — at once for a JSON answer, after the last
//! event for a stream, so a client that has read the whole answer finds its row. If
//! the request is dropped before that (the client hung up), `Pending`'s `Drop` still
//! writes the row, as status 499 with the tokens known so far, on the gateway's tracked
//! task set, so shutdown waits for it.

use std::sync::Arc;
use std::time::Instant;

use tierlm_ledger::Row;

use crate::gateway::Gateway;
use crate::metrics::LedgerSample;
use crate::otlp::SpanData;
use crate::outcome::{price, Outcome, Route, CLIENT_CLOSED};

/// `gen_ai.provider.name` of answers served by the local engine.
pub const LOCAL_PROVIDER: &str = "tierlm.local";

/// A request in flight, whose outcome is written when it finishes or is dropped.
pub struct Pending {
    gateway: Gateway,
    /// The outcome so far; the request path fills it in.
    pub outcome: Outcome,
    armed: bool,
}

impl Pending {
    pub fn new(gateway: &Gateway, mut outcome: Outcome) -> Self {
        if gateway.otlp().is_some() {
            outcome.trace = Some(crate::otlp::TraceIds::from_traceparent(
                outcome.meta.traceparent.as_deref(),
            ));
        }
        Self {
            gateway: gateway.clone(),
            outcome,
            armed: true,
        }
    }

    /// The request is over with `status`: write its outcome, and wait for the write.
    pub async fn finish(mut self, status: u16) {
        self.armed = false;
        let mut outcome = std::mem::replace(&mut self.outcome, Outcome::spent());
        outcome.status = status;
        let gateway = self.gateway.clone();
        if gateway.ledger().is_none() && gateway.otlp().is_none() {
            // Metrics only: nothing here waits, so nothing can be cut half-way.
            write(&gateway, outcome).await;
            return;
        }
        // On a task of its own, so a client that hangs up now cannot cancel it half-way.
        let write = self.gateway.tasks().spawn(async move {
            write(&gateway, outcome).await;
        });
        if let Err(e) = write.await {
            tracing::error!(error = %e, "ledger: the writer failed");
        }
    }
}

impl Pending {
    /// The request failed with `e`: write its outcome, then hand `e` back.
    pub async fn fail<T>(mut self, e: tierlm_api::ApiError) -> Result<T, tierlm_api::ApiError> {
        self.outcome.failed(e.code, e.status());
        self.finish(e.status()).await;
        Err(e)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut outcome = std::mem::replace(&mut self.outcome, Outcome::spent());
        outcome.status = CLIENT_CLOSED;
        let gateway = self.gateway.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(_) => {
                self.gateway.tasks().spawn(async move {
                    write(&gateway, outcome).await;
                });
            }
            Err(_) => tracing::warn!(
                request_id = %outcome.meta.request_id,
                "ledger: an abandoned request's row could not be written (no runtime)"
            ),
        }
    }
}

/// The outcome's ledger row.
pub fn row(gateway: &Gateway, o: &Outcome) -> Row {
    let settings = gateway.ledger_settings();
    let priced = price(o, &settings, &gateway.config().cloud.pricing);
    let pico = |u: tierlm_providers::pricing::Usd| u64::try_from(u.0).unwrap_or(u64::MAX);
    Row {
        request_id: o.meta.request_id.clone(),
        time_ms: o.meta.time_ms,
        tenant: o.tenant.clone(),
        key_id: o.key_id.clone(),
        endpoint: o.endpoint.as_str().to_string(),
        route: o.ledger_route().as_str().to_string(),
        reason: o.ledger_reason().map(|r| r.as_str().to_string()),
        model: o.requested_model.clone(),
        served_model: o.ledger_served_model(),
        provider: o.provider.clone(),
        prompt_tokens: o.prompt_tokens,
        completion_tokens: o.completion_tokens,
        latency_ms: ms(o.meta.started.elapsed()),
        ttft_ms: o.ttft().map(ms),
        status: o.status,
        cost: pico(priced.cost),
        counterfactual_cost: pico(priced.counterfactual),
        tiers: o.ledger_tiers(),
    }
}

/// Write everything an outcome feeds (see the module docs).
async fn write(gateway: &Gateway, o: Outcome) {
    let latency = o.meta.started.elapsed();
    record_metrics(gateway, &o, latency);
    let row = row(gateway, &o);
    if let (Some(exporter), Some(ids)) = (gateway.otlp(), o.trace) {
        exporter.submit(span(&o, &row, ids, latency));
    }
    let tokens = u64::from(row.prompt_tokens) + u64::from(row.completion_tokens);
    let key_id = row.key_id.clone();
    let result = match gateway.ledger() {
        None => None,
        Some(store) => {
            // A queue append to the page cache runs in place; anything that may wait on
            // a disk sync or the network runs on a blocking thread.
            let began = Instant::now();
            let result = if store.insert_is_quick() {
                Ok(store.insert(&row).map(|()| row))
            } else {
                let store = Arc::clone(&store);
                gateway
                    .tasks()
                    .spawn_blocking(move || store.insert(&row).map(|()| row))
                    .await
            };
            gateway.metrics().ledger.record_write(began.elapsed());
            Some(result)
        }
    };
    // The actual cost is in the ledger (or the write failed): either way the
    // reservation is given back, and the tokens count against the minute's limit.
    let keys = gateway.keys();
    if let Some(k) = &key_id {
        keys.add_tokens(k, tokens);
    }
    if let Some((k, amount)) = &o.reservation {
        keys.release(k, *amount);
    }
    match result {
        None => {}
        // The cost metrics count committed rows only, so they agree with the ledger.
        Some(Ok(Ok(row))) => gateway.metrics().ledger.record(&LedgerSample {
            route: &row.route,
            model: &row.model,
            tenant: row.tenant.as_deref(),
            prompt_tokens: row.prompt_tokens,
            completion_tokens: row.completion_tokens,
            cost_pico: row.cost,
            counterfactual_pico: row.counterfactual_cost,
            latency,
        }),
        Some(Ok(Err(e))) => tracing::error!(error = %e, "ledger: cannot record the request"),
        Some(Err(e)) => tracing::error!(error = %e, "ledger: the writer failed"),
    }
}

/// Request, token and route metrics, once per request.
fn record_metrics(gateway: &Gateway, o: &Outcome, latency: std::time::Duration) {
    let m = gateway.metrics();
    // An unknown model's name is the client's text: keep it out of the label set.
    let label = if o.error == Some(tierlm_api::ErrorCode::ModelNotFound) {
        ""
    } else {
        o.requested_model.as_str()
    };
    m.record_request(o.endpoint.as_str(), label, o.status, latency);
    if o.prompt_tokens > 0 || o.completion_tokens > 0 {
        if let Some(served) = &o.served_model {
            m.record_tokens(served, o.prompt_tokens, o.completion_tokens);
        }
    }
    if let Some(took) = o.decision_time {
        let route = if o.status == 403 {
            Route::Refused
        } else {
            o.route
        };
        let reason = o.reason.map(|r| r.as_str()).unwrap_or("");
        m.record_route(
            route.as_str(),
            reason,
            o.profile.as_deref().unwrap_or(""),
            took,
        );
    }
}

/// The request's trace span, from its row (numbers and names only).
fn span(
    o: &Outcome,
    row: &Row,
    ids: crate::otlp::TraceIds,
    latency: std::time::Duration,
) -> SpanData {
    let usd = |pico: u64| pico as f64 / 1e12;
    let provider = match (&row.provider, o.ledger_route().left_premises()) {
        (Some(p), true) => p.clone(),
        _ => LOCAL_PROVIDER.to_string(),
    };
    SpanData {
        ids,
        operation: crate::otlp::operation(&row.endpoint),
        request_model: row.model.clone(),
        response_model: row.served_model.clone(),
        provider,
        input_tokens: row.prompt_tokens,
        output_tokens: row.completion_tokens,
        max_tokens: o.max_tokens,
        temperature: o.temperature,
        route: row.route.clone(),
        reason: row.reason.clone(),
        tenant: row.tenant.clone(),
        request_id: row.request_id.clone(),
        cost_usd: usd(row.cost),
        counterfactual_cost_usd: usd(row.counterfactual_cost),
        ttft_ms: row.ttft_ms,
        status: row.status,
        path: o.endpoint.path().to_string(),
        start_unix_nano: o.meta.start_unix_nano,
        end_unix_nano: o.meta.start_unix_nano + latency.as_nanos(),
    }
}

fn ms(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}
