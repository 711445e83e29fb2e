//! One ledger row per inference request, committed before the response completes.
//!
//! A middleware wraps the three inference routes. It opens a *ticket* for the request
//! (a tokio task-local), runs the handler, and writes the row when the answer is done:
//! at once for a JSON answer, after the last event for a stream (the stream is polled
//! with the ticket in scope, and the row is written before the body ends). The
//! handlers only note what they learn where they already count it — tokens where they
//! record token metrics, the upstream model where a provider answered — and the route
//! and reason come from the `x-tierlm-*` headers every answer carries. No message
//! content is ever stored.
//!
//! Cost: a local answer is priced at `local_cost_per_mtok` (default 0) per million
//! tokens, a cloud answer from the pricing catalog by its upstream model id, and the
//! counterfactual at the `baseline_model`'s price for the same tokens.

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
    first_token_ms: Option<u32>,
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
    let path = req.uri().path().to_string();
    let Some(store) = state.ledger() else {
        return next.run(req).await;
    };
    if req.method() != Method::POST || !INFERENCE_PATHS.contains(&path.as_str()) {
        return next.run(req).await;
    }
    let started = Instant::now();
    let time_ms = tierlm_api::ids::unix_ms();
    let request_id = header(req.headers(), "x-request-id").unwrap_or_default();
    let ticket = Ticket::default();
    let resp = TICKET.scope(ticket.clone(), next.run(req)).await;
    let pending = Pending {
        state: state.clone(),
        store,
        ticket: ticket.clone(),
        endpoint: path.trim_start_matches("/v1/").replace('/', "_"),
        request_id,
        time_ms,
        started,
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
    };
    let streaming = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/event-stream"));
    if !streaming {
        pending.write().await;
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let inner = TicketStream {
        ticket,
        inner: body.into_data_stream(),
    };
    let tail = futures::stream::once(async move {
        pending.write().await;
        None
    })
    .filter_map(|none: Option<Result<bytes::Bytes, axum::Error>>| futures::future::ready(none));
    Response::from_parts(parts, Body::from_stream(inner.chain(tail)))
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
    store: Arc<dyn Store>,
    ticket: Ticket,
    endpoint: String,
    request_id: String,
    time_ms: i64,
    started: Instant,
    status: u16,
    headers: HeaderMap,
}

impl Pending {
    fn row(&self) -> Row {
        let t = self.ticket.0.lock().map(|t| t.clone()).unwrap_or_default();
        let route = match (self.status, header(&self.headers, "x-tierlm-route")) {
            (200, Some(r)) => r,
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
            reason: header(&self.headers, "x-tierlm-reason"),
            model: t.model.unwrap_or_default(),
            served_model: t.upstream_model.or(t.served_model),
            provider: t.provider,
            prompt_tokens: t.prompt_tokens,
            completion_tokens: t.completion_tokens,
            latency_ms: u32::try_from(self.started.elapsed().as_millis()).unwrap_or(u32::MAX),
            ttft_ms: t.first_token_ms,
            status: self.status,
            cost: pico(cost),
            counterfactual_cost: pico(counterfactual),
        }
    }

    async fn write(self) {
        let row = self.row();
        let tokens = u64::from(row.prompt_tokens) + u64::from(row.completion_tokens);
        let key_id = row.key_id.clone();
        let store = Arc::clone(&self.store);
        let result = tokio::task::spawn_blocking(move || store.insert(&row)).await;
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
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "ledger: cannot record the request"),
            Err(e) => tracing::error!(error = %e, "ledger: the writer failed"),
        }
    }
}
