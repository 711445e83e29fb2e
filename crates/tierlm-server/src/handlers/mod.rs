//! Thin HTTP handlers: extract, call the domain, map the result to JSON or SSE.

pub mod chat;
pub mod cloud_chat;
pub mod completions;
pub mod embeddings;
pub mod health;
pub mod models;
pub mod routed;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use tierlm_api::chat::StreamOptions;
use tierlm_api::ApiError;

/// Headers that say where an answer came from.
pub fn local_headers(model: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        HeaderName::from_static("x-tierlm-route"),
        HeaderValue::from_static("local"),
    );
    if let Ok(v) = HeaderValue::from_str(model) {
        h.insert(HeaderName::from_static("x-tierlm-model"), v);
    }
    h
}

/// Record a non-streamed answer's outcome and turn it into a JSON response.
pub fn json_answer<T: serde::Serialize>(
    state: &crate::state::AppState,
    endpoint: &str,
    model: &str,
    started: std::time::Instant,
    headers: HeaderMap,
    answer: Result<T, ApiError>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let status = answer.as_ref().map_or_else(ApiError::status, |_| 200);
    state
        .metrics()
        .record_request(endpoint, model, status, started.elapsed());
    Ok((headers, axum::Json(answer?)).into_response())
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
