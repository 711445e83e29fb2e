//! One ledger row per inference request, committed before the response completes.
//!
//! A middleware wraps the three inference routes. It opens a *ticket* for the request
//! (a tokio task-local), runs the handler, and writes the row when the answer is done:
//! at once for a JSON answer, after the last event for a stream (the stream is polled
//! with the ticket in scope, and the row is written before the body ends). The
//! handlers only note what they learn where they already count it — tokens where they
//! record token metrics, the upstream model where a provider answered — and the route
//! and reason come from the `x-tierlm-*` headers every answer carries. No message
//! content is ever stored. A request whose client hangs up before the answer is
//! complete still gets its row, with status 499, reason `client_closed` (unless the
//! route had already given one) and the tokens noted so far, and its budget
//! reservation is given back.
//!
//! Cost: a local answer is priced at `local_cost_per_mtok` (default 0) per million
//! tokens, a cloud answer from the pricing catalog by its upstream model id, and the
//! counterfactual at the `baseline_model`'s price for the same tokens.
//!
//! Time to first token (`ttft_ms`) is set for streamed answers only: from the request's
//! arrival to the first content chunk handed to the connection. A JSON answer's first
//! byte is the whole answer, so its `ttft_ms` is empty (its latency is what the caller
//! waited). When a row is committed, the same numbers feed the cost metrics (once per
//! row) and, with `[telemetry]`, the request's OTLP span; with the ledger off but
//! telemetry on, only the span is produced.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use futures::{Stream, StreamExt};
use tierlm_ledger::{Row, Store};
use tierlm_providers::pricing::Price;

use crate::metrics::LedgerSample;
use crate::otlp::{Exporter, SpanData, TraceIds};
use crate::state::AppState;

/// What the handler learned about one request.
#[derive(Debug, Default, Clone)]
struct Tally {
    model: Option<String>,
    served_model: Option<String>,
    provider: Option<String>,
    upstream_model: Option<String>,
    prompt_tokens: u32,
    completion_tokens: u32,
    first_token_at: Option<Instant>,
    max_tokens: Option<u32>,
    temperature: Option<f32>,
    tenant: Option<String>,
    key_id: Option<String>,
    /// A budget reservation to give back once the row is committed.
    reservation: Option<(String, u64)>,
}

#[derive(Debug, Clone, Default)]
struct Ticket(Arc<Mutex<Tally>>);

tokio::task_local! {
    static TICKET: Ticket;
}

fn with_tally(f: impl FnOnce(&mut Tally)) {
    let _ = TICKET.try_with(|t| {
        if let Ok(mut tally) = t.0.lock() {
            f(&mut tally);
        }
    });
}

/// The model the client asked for.
pub fn note_requested(model: &str) {
    with_tally(|t| t.model = Some(model.to_string()));
}

/// Sampling parameters the request set (for its trace span).
pub fn note_params(max_tokens: Option<u32>, temperature: Option<f32>) {
    with_tally(|t| {
        t.max_tokens = max_tokens;
        t.temperature = temperature;
    });
}

/// The first content of a streamed answer is about to be sent (the first call wins).
pub fn note_first_token() {
    with_tally(|t| {
        t.first_token_at.get_or_insert_with(Instant::now);
    });
}

/// Exact token counts of the answer that was served (a later call wins, so an
/// escalated request is counted with the cloud's tokens).
pub fn note_tokens(served_model: &str, prompt: u32, completion: u32) {
    with_tally(|t| {
        t.served_model = Some(served_model.to_string());
        t.prompt_tokens = prompt;
        t.completion_tokens = completion;
    });
}

/// A provider answered with this upstream model.
pub fn note_upstream(provider: &str, upstream_model: &str) {
    with_tally(|t| {
        t.provider = Some(provider.to_string());
        t.upstream_model = Some(upstream_model.to_string());
    });
}

/// The authenticated caller.
pub fn note_caller(tenant: &str, key_id: &str) {
    with_tally(|t| {
        t.tenant = Some(tenant.to_string());
        t.key_id = Some(key_id.to_string());
    });
}

/// A budget reservation made for this request.
pub fn note_reservation(key_id: &str, amount: u64) {
    with_tally(|t| {
        let prev = t.reservation.take().map_or(0, |(_, a)| a);
        t.reservation = Some((key_id.to_string(), prev + amount));
    });
}

/// Pricing of rows: the local rate and the frontier baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerSettings {
    pub database_url: String,
    pub baseline_model: String,
    pub local_price: Price,
}

const INFERENCE_PATHS: [&str; 3] = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"];

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The middleware (see the module docs).
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let store = state.ledger();
    let otlp = state.otlp().cloned();
    let path = req.uri().path();
    if (store.is_none() && otlp.is_none())
        || req.method() != Method::POST
        || !INFERENCE_PATHS.contains(&path)
    {
        return next.run(req).await;
    }
    let path = path.to_string();
    let started = Instant::now();
    let start_unix_nano = crate::otlp::unix_nanos();
    let time_ms = tierlm_api::ids::unix_ms();
    let request_id = header(req.headers(), "x-request-id").unwrap_or_default();
    let trace = otlp.as_ref().map(|_| {
        crate::otlp::TraceIds::from_traceparent(header(req.headers(), "traceparent").as_deref())
    });
    let ticket = Ticket::default();
    // Until the answer is known, the request counts as abandoned: if the client hangs
    // up and this future is dropped, the guard still writes the row (status 499) and
    // gives back the key's budget reservation.
    let mut guard = RowGuard(Some(Pending {
        state: state.clone(),
        store,
        otlp: otlp.zip(trace),
        ticket: ticket.clone(),
        endpoint: path.trim_start_matches("/v1/").replace('/', "_"),
        path,
        request_id,
        time_ms,
        start_unix_nano,
        started,
        streaming: false,
        status: CLIENT_CLOSED,
        headers: HeaderMap::new(),
    }));
    let resp = TICKET.scope(ticket.clone(), next.run(req)).await;
    let Some(mut pending) = guard.0.take() else {
        return resp;
    };
    pending.streaming = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/event-stream"));
    pending.status = resp.status().as_u16();
    pending.headers = resp.headers().clone();
    if !pending.streaming {
        pending.commit().await;
        return resp;
    }
    // A stream's row is written after its last event; if the client hangs up first,
    // the body (and the guard in its tail) is dropped, and the row says 499.
    let guard = RowGuard(Some(pending));
    let (parts, body) = resp.into_parts();
    let inner = TicketStream {
        ticket,
        inner: body.into_data_stream(),
    };
    let tail = futures::stream::once(async move {
        let mut guard = guard;
        if let Some(pending) = guard.0.take() {
            pending.commit().await;
        }
        None
    })
    .filter_map(|none: Option<Result<bytes::Bytes, axum::Error>>| futures::future::ready(none));
    Response::from_parts(parts, Body::from_stream(inner.chain(tail)))
}

/// nginx's status for a request whose client closed the connection before the answer
/// was complete; the ledger records abandoned requests with it.
const CLIENT_CLOSED: u16 = 499;

/// A row not yet written; dropping it unwritten (the client hung up) writes it as
/// abandoned, on a task of its own, with whatever tokens were noted so far.
struct RowGuard(Option<Pending>);

impl Drop for RowGuard {
    fn drop(&mut self) {
        let Some(mut pending) = self.0.take() else {
            return;
        };
        pending.status = CLIENT_CLOSED;
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(pending.write());
            }
            Err(_) => tracing::warn!(
                request_id = %pending.request_id,
                "ledger: an abandoned request's row could not be written (no runtime)"
            ),
        }
    }
}

/// Polls a body with the request's ticket in scope, so stream code can note tokens.
struct TicketStream<S> {
    ticket: Ticket,
    inner: S,
}

impl<S: Stream + Unpin> Stream for TicketStream<S> {
    type Item = S::Item;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let ticket = self.ticket.clone();
        TICKET.sync_scope(ticket, || self.inner.poll_next_unpin(cx))
    }
}

struct Pending {
    state: AppState,
    store: Option<Arc<dyn Store>>,
    otlp: Option<(Arc<Exporter>, TraceIds)>,
    ticket: Ticket,
    endpoint: String,
    path: String,
    request_id: String,
    time_ms: i64,
    start_unix_nano: u128,
    started: Instant,
    streaming: bool,
    status: u16,
    headers: HeaderMap,
}

impl Pending {
    fn tally(&self) -> Tally {
        self.ticket.0.lock().map(|t| t.clone()).unwrap_or_default()
    }

    fn row(&self, t: Tally) -> Row {
        let route = match (self.status, header(&self.headers, "x-tierlm-route")) {
            (200 | CLIENT_CLOSED, Some(r)) => r,
            (200, None) => "local".to_string(),
            (403, _) => "refused".to_string(),
            _ => "error".to_string(),
        };
        let settings = self.state.ledger_settings();
        let catalog = &self.state.config().cloud.pricing;
        let (p, c) = (u64::from(t.prompt_tokens), u64::from(t.completion_tokens));
        let cost = match route.as_str() {
            "local" => settings.local_price.cost(p, c),
            _ => t
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
        let pico = |u: tierlm_providers::pricing::Usd| u64::try_from(u.0).unwrap_or(u64::MAX);
        Row {
            request_id: self.request_id.clone(),
            time_ms: self.time_ms,
            tenant: t.tenant,
            key_id: t.key_id,
            endpoint: self.endpoint.clone(),
            route,
            reason: header(&self.headers, "x-tierlm-reason")
                .or_else(|| (self.status == CLIENT_CLOSED).then(|| "client_closed".to_string())),
            model: t.model.unwrap_or_default(),
            served_model: t.upstream_model.or(t.served_model),
            provider: t.provider,
            prompt_tokens: t.prompt_tokens,
            completion_tokens: t.completion_tokens,
            latency_ms: ms(self.started.elapsed()),
            ttft_ms: t
                .first_token_at
                .filter(|_| self.streaming)
                .map(|at| ms(at.saturating_duration_since(self.started))),
            status: self.status,
            cost: pico(cost),
            counterfactual_cost: pico(counterfactual),
        }
    }

    /// Write the row on its own task, so a client that hangs up early (after a
    /// stream's last event, say) cannot cancel it half-way: the row, the key's
    /// reservation, the metrics and the span are all settled regardless.
    async fn commit(self) {
        if let Err(e) = tokio::spawn(self.write()).await {
            tracing::error!(error = %e, "ledger: the writer failed");
        }
    }

    async fn write(self) {
        let tally = self.tally();
        let (max_tokens, temperature) = (tally.max_tokens, tally.temperature);
        let row = self.row(tally);
        let latency = self.started.elapsed();
        if let Some((exporter, ids)) = &self.otlp {
            exporter.submit(self.span(&row, *ids, max_tokens, temperature, latency));
        }
        let Some(store) = self.store.clone() else {
            return;
        };
        let tokens = u64::from(row.prompt_tokens) + u64::from(row.completion_tokens);
        let key_id = row.key_id.clone();
        // A queue append to the page cache runs in place; anything that may wait on a
        // disk sync or the network runs on a blocking thread.
        let began = Instant::now();
        let result = if store.insert_is_quick() {
            Ok(store.insert(&row).map(|()| row))
        } else {
            tokio::task::spawn_blocking(move || store.insert(&row).map(|()| row)).await
        };
        self.state.metrics().ledger.record_write(began.elapsed());
        // The actual cost is in the ledger (or the write failed): either way the
        // reservation is given back, and the tokens count against the minute's limit.
        let keys = self.state.keys();
        if let Some(k) = &key_id {
            keys.add_tokens(k, tokens);
        }
        let reservation = self
            .ticket
            .0
            .lock()
            .ok()
            .and_then(|t| t.reservation.clone());
        if let Some((k, amount)) = reservation {
            keys.release(&k, amount);
        }
        match result {
            // The cost metrics count committed rows only, so they agree with the ledger.
            Ok(Ok(row)) => self.state.metrics().ledger.record(&LedgerSample {
                route: &row.route,
                model: &row.model,
                tenant: row.tenant.as_deref(),
                prompt_tokens: row.prompt_tokens,
                completion_tokens: row.completion_tokens,
                cost_pico: row.cost,
                counterfactual_pico: row.counterfactual_cost,
                latency,
            }),
            Ok(Err(e)) => tracing::error!(error = %e, "ledger: cannot record the request"),
            Err(e) => tracing::error!(error = %e, "ledger: the writer failed"),
        }
    }

    /// The request's trace span, from its row (numbers and names only).
    fn span(
        &self,
        row: &Row,
        ids: TraceIds,
        max_tokens: Option<u32>,
        temperature: Option<f32>,
        latency: std::time::Duration,
    ) -> SpanData {
        let usd = |pico: u64| pico as f64 / 1e12;
        let provider = match (&row.provider, row.route.as_str()) {
            (Some(p), "cloud" | "escalated") => p.clone(),
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
            max_tokens,
            temperature,
            route: row.route.clone(),
            reason: row.reason.clone(),
            tenant: row.tenant.clone(),
            request_id: row.request_id.clone(),
            cost_usd: usd(row.cost),
            counterfactual_cost_usd: usd(row.counterfactual_cost),
            ttft_ms: row.ttft_ms,
            status: row.status,
            path: self.path.clone(),
            start_unix_nano: self.start_unix_nano,
            end_unix_nano: self.start_unix_nano + latency.as_nanos(),
        }
    }
}

/// `gen_ai.provider.name` of answers served by the local engine.
pub const LOCAL_PROVIDER: &str = "tierlm.local";

fn ms(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}
