//! Server-sent events framing.
//!
//! OpenAI streams: each frame is one `data:` line with a JSON chunk; a normal end is
//! `data: [DONE]`. A failure after streaming began is sent as a `data:` frame in the
//! same `{"error":{…}}` shape as a JSON error, and the stream then ends without
//! `[DONE]`, so a client can never mistake a broken answer for a complete one.
//! Anthropic streams name each frame (`event: message_start`) after its `type`, and
//! end with `message_stop` (or an `error` event).

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::Serialize;
use tierlm_api::ApiError;

/// One SSE frame: its event name, if any, and its data.
#[derive(Debug, Clone, PartialEq)]
pub struct SseFrame {
    pub event: Option<&'static str>,
    pub data: String,
}

impl SseFrame {
    pub fn json<T: Serialize>(value: &T) -> Self {
        match serde_json::to_string(value) {
            Ok(data) => Self { event: None, data },
            Err(e) => Self::error(&ApiError::internal(format!(
                "failed to encode a chunk: {e}"
            ))),
        }
    }

    /// A named event (Anthropic's streams).
    pub fn named<T: Serialize>(event: &'static str, value: &T) -> Self {
        let data = serde_json::to_string(value).unwrap_or_else(|e| {
            tierlm_api::anthropic::error_body(
                &ApiError::internal(format!("failed to encode an event: {e}")),
                None,
            )
        });
        Self {
            event: Some(event),
            data,
        }
    }

    pub fn error(err: &ApiError) -> Self {
        Self {
            event: None,
            data: err.to_json(),
        }
    }

    pub fn done() -> Self {
        Self {
            event: None,
            data: "[DONE]".to_string(),
        }
    }
}

/// Wrap frames into an SSE response with keep-alive comments.
pub fn response<S>(frames: S) -> Response
where
    S: Stream<Item = SseFrame> + Send + 'static,
{
    let events = frames.map(|f| {
        // `event:` before `data:`, as Anthropic writes it.
        let event = match f.event {
            Some(name) => Event::default().event(name),
            None => Event::default(),
        };
        Ok::<_, Infallible>(event.data(f.data))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}
