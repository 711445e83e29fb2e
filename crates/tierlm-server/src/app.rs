//! The route table: paths to handlers, the body limit, request ids. Nothing else.

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tierlm_gateway::Gateway;
use tracing::Instrument;

use crate::error::{method_not_allowed, not_found};
use crate::handlers::{chat, completions, embeddings, health, messages, models, responses};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application, ready to serve or to drive with `oneshot` in tests.
pub fn app(state: Gateway) -> Router {
    let limit = state.max_body_bytes();
    Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/messages", post(messages::messages))
        .route("/v1/messages/count_tokens", post(messages::count_tokens))
        .route("/v1/responses", post(responses::create))
        .route(
            "/v1/responses/{id}",
            get(responses::nothing_stored).delete(responses::nothing_stored),
        )
        .route("/v1/responses/{id}/cancel", post(responses::nothing_stored))
        .route(
            "/v1/responses/{id}/input_items",
            get(responses::nothing_stored),
        )
        .route("/v1/completions", post(completions::completions))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/v1/models", get(models::list))
        .route("/v1/models/{id}", get(models::retrieve))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .route("/v1/usage", get(crate::usage::usage))
        .route(
            "/admin/keys",
            get(crate::admin::list).post(crate::admin::create),
        )
        .route(
            "/admin/keys/{id}",
            axum::routing::delete(crate::admin::revoke),
        )
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::layer,
        ))
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// `GET /metrics`: the gateway's metrics in the Prometheus text format.
async fn metrics(State(state): State<Gateway>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, tierlm_gateway::metrics::CONTENT_TYPE)],
        tierlm_gateway::metrics::render(
            state.metrics(),
            state.distill().as_deref(),
            state.engine_metrics(),
        ),
    )
}

/// Echo a well-formed client `x-request-id`, or mint one; it goes on every response.
async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .filter(|v| {
            v.len() <= 128
                && v.as_bytes()
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
        })
        .cloned()
        .or_else(|| HeaderValue::from_str(&tierlm_api::ids::new_id("req")).ok());
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or_default()
    );
    if let Some(id) = &id {
        // Handlers read it too (the outcome and the egress audit name the request).
        req.headers_mut().insert(REQUEST_ID, id.clone());
    }
    let started = std::time::Instant::now();
    let mut resp = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = resp.status().as_u16(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "answered"
        );
    });
    if let Some(id) = id {
        resp.headers_mut().insert(REQUEST_ID, id);
    }
    resp
}
