//! One request and its outcome: POST the prepared body (Chat Completions, Responses or
//! Anthropic Messages: [`Dialect`]), read the whole answer (every SSE chunk for a
//! stream), and classify it. Latency is measured from the
//! request's *scheduled* time, so time a request spent waiting behind a slow generator
//! or a full connection pool counts against the server, as an open-loop benchmark must.
//!
//! Classes: `ok`; `http_NNN` (a non-2xx status); `timeout` (no complete answer within
//! the request timeout); `connect` (refused, unreachable); `io` (reset or other transport
//! failure before the status); `stream_cut` (the body failed midway); `bad_body` (a 2xx
//! that is not the dialect's answer, or a stream without the dialect's last event);
//! `client_overload` (not sent: too many requests already in flight).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::stats::{truncate, ErrorSample};

/// How many bytes of an error body are kept.
const ERROR_BODY_MAX: usize = 400;

/// How many bytes of a stream's end are kept to judge it.
const TAIL_MAX: usize = 8192;

/// The API a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dialect {
    /// OpenAI Chat Completions (`/v1/chat/completions`).
    Chat,
    /// OpenAI Responses (`/v1/responses`).
    Responses,
    /// Anthropic Messages (`/v1/messages`).
    Messages,
}

impl Dialect {
    /// The field a whole answer must have as an array.
    fn answer_field(self) -> &'static str {
        match self {
            Dialect::Chat => "choices",
            Dialect::Responses => "output",
            Dialect::Messages => "content",
        }
    }

    /// What the last event of a complete stream holds.
    fn stream_end(self) -> &'static str {
        match self {
            Dialect::Chat => "data: [DONE]",
            Dialect::Responses => "\"type\":\"response.completed\"",
            Dialect::Messages => "\"type\":\"message_stop\"",
        }
    }
}

/// Everything a request needs, shared by all of them.
#[derive(Debug)]
pub struct Target {
    pub dialect: Dialect,
    pub client: reqwest::Client,
    pub url: String,
    pub auth: Option<String>,
    pub body: Vec<u8>,
    pub stream: bool,
    pub timeout: Duration,
    pub max_in_flight: u64,
    pub in_flight: AtomicU64,
}

/// What happened to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub warmup: bool,
    pub class: String,
    /// From the scheduled time to the last byte (successes and failures alike).
    pub latency_us: u64,
    /// From the scheduled time to the first body bytes (streams only).
    pub ttft_us: Option<u64>,
    /// From the scheduled time to the moment the request task started.
    pub lag_us: u64,
    pub sample: Option<ErrorSample>,
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// What the body said, before timing is attached.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub class: String,
    pub status: Option<u16>,
    pub body: Option<String>,
}

impl Verdict {
    fn ok() -> Self {
        Self {
            class: "ok".into(),
            status: None,
            body: None,
        }
    }

    fn err(class: impl Into<String>, status: Option<u16>, body: impl Into<String>) -> Self {
        Self {
            class: class.into(),
            status,
            body: Some(body.into()),
        }
    }
}

/// Judge a complete 2xx non-streamed body.
pub fn judge_json(dialect: Dialect, body: &[u8]) -> Verdict {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v)
            if v.get(dialect.answer_field())
                .and_then(|c| c.as_array())
                .is_some() =>
        {
            Verdict::ok()
        }
        _ => Verdict::err(
            "bad_body",
            None,
            truncate(&String::from_utf8_lossy(body), ERROR_BODY_MAX),
        ),
    }
}

/// Judge the last bytes of a complete 2xx stream: its last event must be the
/// dialect's end (`data: [DONE]`, `response.completed`, `message_stop`).
pub fn judge_stream_tail(dialect: Dialect, tail: &[u8]) -> Verdict {
    let text = String::from_utf8_lossy(tail);
    let last = text.trim_end().rsplit("\n\n").next().unwrap_or_default();
    if last.contains(dialect.stream_end()) {
        Verdict::ok()
    } else {
        Verdict::err(
            "bad_body",
            None,
            format!(
                "stream did not end with `{}`; last bytes: {text}",
                dialect.stream_end()
            ),
        )
    }
}

/// Class of a transport error.
fn transport_class(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "io"
    }
}

async fn exchange(t: &Target, due: Instant, ttft: &mut Option<Duration>) -> Verdict {
    let mut req = t
        .client
        .post(&t.url)
        .header("content-type", "application/json")
        .body(t.body.clone());
    if let Some(a) = &t.auth {
        req = req.header("authorization", a);
    }
    let mut resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return Verdict::err(transport_class(&e), None, e.to_string()),
    };
    let status = resp.status();
    if !status.is_success() {
        let code = status.as_u16();
        let body = resp.text().await.unwrap_or_default();
        return Verdict::err(
            format!("http_{code}"),
            Some(code),
            truncate(&body, ERROR_BODY_MAX),
        );
    }
    if !t.stream {
        return match resp.bytes().await {
            Ok(b) => judge_json(t.dialect, &b),
            Err(e) => Verdict::err("stream_cut", None, e.to_string()),
        };
    }
    // Keep only the last bytes: enough to see the final event (a Responses
    // `response.completed` repeats the whole response, so keep a few kB).
    let mut tail: Vec<u8> = Vec::with_capacity(TAIL_MAX);
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if ttft.is_none() {
                    *ttft = Some(due.elapsed());
                }
                tail.extend_from_slice(&c);
                if tail.len() > TAIL_MAX {
                    let cut = tail.len() - TAIL_MAX / 2;
                    tail.drain(..cut);
                }
            }
            Ok(None) => return judge_stream_tail(t.dialect, &tail),
            Err(e) => return Verdict::err("stream_cut", None, e.to_string()),
        }
    }
}

/// Send one request due at `due` and classify the answer.
pub async fn run_one(t: Arc<Target>, due: Instant, warmup: bool) -> Outcome {
    let lag = due.elapsed();
    let busy = t.in_flight.fetch_add(1, Ordering::Relaxed);
    let mut ttft = None;
    let verdict = if busy >= t.max_in_flight {
        Verdict::err(
            "client_overload",
            None,
            format!("not sent: {busy} requests already in flight"),
        )
    } else {
        match tokio::time::timeout(t.timeout, exchange(&t, due, &mut ttft)).await {
            Ok(v) => v,
            Err(_) => Verdict::err(
                "timeout",
                None,
                format!("no complete answer within {} ms", t.timeout.as_millis()),
            ),
        }
    };
    t.in_flight.fetch_sub(1, Ordering::Relaxed);
    let latency = due.elapsed();
    let sample = verdict.body.map(|body| ErrorSample {
        class: verdict.class.clone(),
        status: verdict.status,
        body,
    });
    Outcome {
        warmup,
        class: verdict.class,
        latency_us: us(latency),
        ttft_us: ttft.map(us),
        lag_us: us(lag),
        sample,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies() {
        let chat = Dialect::Chat;
        assert_eq!(
            judge_json(
                chat,
                br#"{"id":"x","choices":[{"message":{"content":"hi"}}]}"#
            )
            .class,
            "ok"
        );
        let bad = judge_json(chat, br#"{"error":{"message":"nope"}}"#);
        assert_eq!(bad.class, "bad_body");
        assert!(bad.body.unwrap_or_default().contains("nope"));
        assert_eq!(judge_json(chat, b"not json").class, "bad_body");
        assert_eq!(judge_json(chat, br#"{"choices":null}"#).class, "bad_body");
        assert_eq!(
            judge_json(Dialect::Responses, br#"{"output":[]}"#).class,
            "ok"
        );
        assert_eq!(
            judge_json(Dialect::Messages, br#"{"content":[]}"#).class,
            "ok"
        );
        assert_eq!(
            judge_json(Dialect::Messages, br#"{"choices":[]}"#).class,
            "bad_body"
        );
    }

    #[test]
    fn stream_tails() {
        let chat = Dialect::Chat;
        assert_eq!(
            judge_stream_tail(chat, b"data: {\"choices\":[]}\n\ndata: [DONE]\n\n").class,
            "ok"
        );
        assert_eq!(judge_stream_tail(chat, b"data: [DONE]").class, "ok");
        assert_eq!(
            judge_stream_tail(chat, b"data: {\"choices\":[]}\n\n").class,
            "bad_body"
        );
        assert_eq!(judge_stream_tail(chat, b"").class, "bad_body");
        let end = b"event: message_delta\ndata: {}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        assert_eq!(judge_stream_tail(Dialect::Messages, end).class, "ok");
        let cut = b"event: message_delta\ndata: {\"type\":\"message_delta\"}\n\n";
        assert_eq!(judge_stream_tail(Dialect::Messages, cut).class, "bad_body");
        let done = b"event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":9}\n\n";
        assert_eq!(judge_stream_tail(Dialect::Responses, done).class, "ok");
    }
}
