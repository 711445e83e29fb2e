//! Virtual keys at the edge: read the key the client presented, ask the gateway who
//! that is, and hand the answer to the handler as a value ([`Authenticated`]). A key
//! that is not accepted gets the error in the dialect's shape (with `Retry-After` on a
//! rate limit), and, on the inference paths, a ledger row that says so. The rules
//! (optional or required keys, limits, budgets) live in `tierlm_gateway::keys`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tierlm_gateway::keys::Caller;
use tierlm_gateway::{Endpoint, Gateway};

use crate::error::Dialect;
use crate::handlers::request_meta;

/// The caller of a `/v1/` request: `None` for an anonymous one where keys are optional.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Option<Caller>);

/// The secret in `Authorization: Bearer …`, else in `x-api-key` (Anthropic's SDKs).
fn presented_key(h: &HeaderMap) -> Option<&str> {
    let bearer = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    bearer
        .or_else(|| h.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
}

/// The inference endpoint a path names, if it is one (its refusals get ledger rows).
fn endpoint(req: &Request) -> Option<Endpoint> {
    if req.method() != axum::http::Method::POST {
        return None;
    }
    match req.uri().path() {
        "/v1/chat/completions" => Some(Endpoint::ChatCompletions),
        "/v1/messages" => Some(Endpoint::Messages),
        "/v1/responses" => Some(Endpoint::Responses),
        "/v1/completions" => Some(Endpoint::Completions),
        "/v1/embeddings" => Some(Endpoint::Embeddings),
        _ => None,
    }
}

/// The middleware (see the module docs).
pub async fn layer(State(gw): State<Gateway>, mut req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/v1/") {
        return next.run(req).await;
    }
    let secret = presented_key(req.headers()).map(str::to_string);
    match gw.authenticate(secret.as_deref()).await {
        Ok(caller) => {
            req.extensions_mut().insert(Authenticated(caller));
            next.run(req).await
        }
        Err(denied) => {
            if let Some(endpoint) = endpoint(&req) {
                let meta = request_meta(req.headers());
                gw.record_rejection(meta, endpoint, denied.key.as_deref(), &denied.error)
                    .await;
            }
            let dialect = Dialect::of_path(req.uri().path());
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok());
            let mut resp = dialect.error(denied.error, id);
            if let Some(retry) = denied.retry_after {
                if let Ok(v) = HeaderValue::from_str(&retry.to_string()) {
                    resp.headers_mut().insert("retry-after", v);
                }
            }
            resp
        }
    }
}
