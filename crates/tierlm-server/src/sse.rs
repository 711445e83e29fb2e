//! Server-sent events framing for OpenAI streams.
//!
//! Each frame is one `data:` line with a JSON chunk; a normal end is `data: [DONE]`.
//! A failure after streaming began is sent as a `data:` frame in the same
//! `{"error":{…}}` shape as a JSON error, and the stream then ends without `[DONE]`,
//! so a client can never mistake a broken answer for a complete one.

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::Serialize;
use tierlm_api::ApiError;

/// One SSE frame's data.
#[derive(Debug, Clone, PartialEq)]
pub struct SseFrame(pub String);

impl SseFrame {
    pub fn json<T: Serialize>(value: &T) -> Self {
        match serde_json::to_string(value) {
            Ok(s) => Self(s),
            Err(e) => Self::error(&ApiError::internal(format!(
                "failed to encode a chunk: {e}"
            ))),
        }
    }

    pub fn error(err: &ApiError) -> Self {
        Self(err.to_json())
    }

    pub fn done() -> Self {
        Self("[DONE]".to_string())
    }
}

/// Wrap frames into an SSE response with keep-alive comments.
pub fn response<S>(frames: S) -> Response
where
    S: Stream<Item = SseFrame> + Send + 'static,
{
    let events = frames.map(|f| Ok::<_, Infallible>(Event::default().data(f.0)));
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}
