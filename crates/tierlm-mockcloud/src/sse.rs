//! Streamed answers: a prepared list of frames (SSE events, or any byte chunks) sent with
//! the fault delays (first-token delay, inter-chunk interval) and, when asked, cut after N
//! chunks by failing the body stream, which makes hyper drop the connection without the
//! final chunk, as a real mid-stream network failure would.

use std::io;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::faults::Faults;

/// `data: {json}\n\n`
pub(crate) fn data(json: &Value) -> Bytes {
    Bytes::from(format!("data: {json}\n\n"))
}

/// `event: NAME\ndata: {json}\n\n`
pub(crate) fn event(name: &str, json: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {json}\n\n"))
}

struct Plan {
    frames: std::vec::IntoIter<Bytes>,
    sent: u64,
    first: Duration,
    interval: Duration,
    reset_after: Option<u64>,
    done: bool,
}

/// A `text/event-stream` response sending `frames` under the stream faults.
pub(crate) fn sse_response(frames: Vec<Bytes>, faults: &Faults) -> Response {
    streamed(frames, faults, "text/event-stream")
}

/// A streamed response of `content_type` sending `frames` under the stream faults.
pub(crate) fn streamed(
    frames: Vec<Bytes>,
    faults: &Faults,
    content_type: &'static str,
) -> Response {
    let plan = Plan {
        frames: frames.into_iter(),
        sent: 0,
        first: faults.first_token,
        interval: faults.token_interval,
        reset_after: faults.reset_after_chunks,
        done: false,
    };
    let stream = futures::stream::unfold(plan, |mut plan| async move {
        if plan.done || plan.frames.len() == 0 {
            return None;
        }
        if plan.reset_after.is_some_and(|n| plan.sent >= n) {
            plan.done = true;
            // Let hyper flush the chunks already sent before the connection is cut.
            tokio::time::sleep(Duration::from_millis(10)).await;
            let err = io::Error::new(
                io::ErrorKind::ConnectionReset,
                format!("mock: connection reset after {} chunks", plan.sent),
            );
            return Some((Err(err), plan));
        }
        let delay = if plan.sent == 0 {
            plan.first
        } else {
            plan.interval
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let frame = plan.frames.next()?;
        plan.sent += 1;
        Some((Ok::<Bytes, io::Error>(frame), plan))
    });
    let mut response = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
