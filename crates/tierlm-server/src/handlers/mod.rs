//! Thin HTTP handlers: extract, call the gateway, write the answer as JSON or SSE.

pub mod chat;
pub mod completions;
pub mod embeddings;
pub mod health;
pub mod messages;
pub mod models;
pub mod responses;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use tierlm_api::chat::ChatCompletionRequest;
use tierlm_api::chat::StreamOptions;
use tierlm_api::ApiError;
use tierlm_gateway::keys::Caller;
use tierlm_gateway::{ChatAnswer, ChatCall, Endpoint, Facts, Gateway, RequestMeta};
use tierlm_router::Hint;

const HINT_HEADER: &str = "x-tierlm-route";

/// What the edge knows of a request before the core sees it: its id (set by the
/// request-id layer) and the client's trace context.
pub fn request_meta(headers: &HeaderMap) -> RequestMeta {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    RequestMeta::now(
        text("x-request-id").unwrap_or_default(),
        text("traceparent"),
    )
}

/// Hands a chat request of any dialect, already translated, to the core. A request
/// that did not parse or translate gets its ledger row (a rejection) here; the caller
/// writes the answer or the error in its dialect's shape.
pub async fn answer_chat(
    gw: &Gateway,
    caller: Option<Caller>,
    meta: RequestMeta,
    endpoint: Endpoint,
    parsed: Result<(ChatCompletionRequest, Option<Hint>), ApiError>,
) -> Result<ChatAnswer, ApiError> {
    let (request, hint) = match parsed {
        Ok(p) => p,
        Err(e) => {
            let key = caller.as_ref().map(|c| c.key.as_ref());
            gw.record_rejection(meta, endpoint, key, &e).await;
            return Err(e);
        }
    };
    let call = ChatCall {
        request,
        caller,
        meta,
        hint,
        endpoint,
    };
    gw.chat(call).await
}

fn set(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(HeaderName::from_static(name), v);
    }
}

/// The headers that say where an answer came from and why.
pub fn facts_headers(f: &Facts) -> HeaderMap {
    let mut h = HeaderMap::new();
    set(&mut h, "x-tierlm-route", f.route.as_str());
    if let Some(m) = &f.model {
        set(&mut h, "x-tierlm-model", m);
    }
    if let Some(p) = &f.provider {
        set(&mut h, "x-tierlm-provider", p);
    }
    if let Some(r) = f.reason {
        set(&mut h, "x-tierlm-reason", r.as_str());
    }
    if let Some(p) = &f.profile {
        set(&mut h, "x-tierlm-profile", p);
    }
    if let Some(c) = f.class {
        set(&mut h, "x-tierlm-class", c);
    }
    if let Some(c) = f.confidence {
        set(&mut h, "x-tierlm-confidence", &format!("{c:.4}"));
    }
    if !f.tiers.is_empty() {
        let tiers: Vec<String> = f.tiers.iter().map(|t| t.label()).collect();
        set(&mut h, "x-tierlm-tiers", &tiers.join(", "));
    }
    if let Some(c) = f.cost {
        set(&mut h, "x-tierlm-cost-usd", &c.to_string());
    }
    h
}

/// Validate `stream` / `stream_options`; returns (stream, include_usage).
pub fn stream_options(
    stream: Option<bool>,
    options: Option<&StreamOptions>,
) -> Result<(bool, bool), ApiError> {
    let stream = stream.unwrap_or(false);
    if options.is_some() && !stream {
        return Err(ApiError::invalid(
            "stream_options",
            "`stream_options` is only allowed when `stream` is true",
        ));
    }
    Ok((
        stream,
        options.and_then(|o| o.include_usage).unwrap_or(false),
    ))
}

/// The client's route hint (`x-tierlm-route: local|local:MODEL|cloud`).
pub fn route_hint(headers: &HeaderMap) -> Result<Option<Hint>, ApiError> {
    match headers.get(HINT_HEADER) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(Hint::parse)
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid(
                    HINT_HEADER,
                    "the `x-tierlm-route` header must be `local`, `local:MODEL` or `cloud`",
                )
            }),
    }
}
