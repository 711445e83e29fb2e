//! One cloud provider endpoint: authentication, timeouts, HTTP, and the mapping of its
//! failures into [`ProviderError`]s that the retry logic can reason about.
//!
//! Credentials are held in a [`Secret`] whose `Debug` hides the value; they are only
//! ever written into the outgoing request header. A streamed call returns only after
//! the first chunk has arrived, so everything that fails before the client has seen a
//! byte can still be retried or sent to a fallback.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use tierlm_api::chat::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest};
use tierlm_api::{ApiError, Usage};
use tokio::time::Instant;

use crate::egress::{sha256_hex, Egress, EgressNotes};
use crate::reliability::{CircuitBreaker, RetryPolicy};
use crate::roots::ExtraRoots;
use crate::sse::SseParser;
use crate::transport::{collect, BodyStream, Outgoing, Reply, Transport, TransportError};
use crate::wire::{self, WireRequest};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    OpenAi,
    Anthropic,
    Gemini,
    OpenAiCompatible,
}

impl ProviderKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "openai" => Some(Self::OpenAi),
            "anthropic" => Some(Self::Anthropic),
            "gemini" => Some(Self::Gemini),
            "openai_compatible" => Some(Self::OpenAiCompatible),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::OpenAiCompatible => "openai_compatible",
        }
    }

    /// The public endpoint, where the kind has one.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Self::OpenAi => Some("https://api.openai.com/v1"),
            Self::Anthropic => Some("https://api.anthropic.com"),
            Self::Gemini => Some("https://generativelanguage.googleapis.com"),
            Self::OpenAiCompatible => None,
        }
    }
}

/// A credential; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSettings {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub connect_timeout: Duration,
    pub first_token_timeout: Duration,
    pub total_timeout: Duration,
    pub retry: RetryPolicy,
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
    /// Certificate authorities trusted beyond the public roots (`SSL_CERT_FILE`, `ca_file`).
    pub extra_roots: Option<ExtraRoots>,
}

/// Why a call to a provider failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderError {
    /// 4xx other than auth and rate limits: the request itself is wrong.
    Rejected {
        status: u16,
        message: String,
    },
    /// 401/403.
    Auth {
        status: u16,
    },
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    Server {
        status: u16,
        message: String,
    },
    Connect(String),
    Timeout(String),
    /// The answer could not be understood, or a stream broke.
    Broken(String),
    CircuitOpen,
    /// The gateway did not send the request: its egress gate (the audit) refused it.
    NotSent(String),
}

impl ProviderError {
    /// Worth another attempt at the same target.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Connect(_) | Self::Timeout(_)
        )
    }

    /// Counts against the target's health (opens the breaker).
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            Self::Server { .. } | Self::Connect(_) | Self::Timeout(_) | Self::Broken(_)
        )
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected { status, message } => {
                write!(f, "rejected the request ({status}): {message}")
            }
            Self::Auth { status } => write!(f, "refused the credentials ({status})"),
            Self::RateLimited { message, .. } => write!(f, "rate limited (429): {message}"),
            Self::Server { status, message } => write!(f, "failed ({status}): {message}"),
            Self::Connect(m) => write!(f, "unreachable: {m}"),
            Self::Timeout(m) => write!(f, "timed out: {m}"),
            Self::Broken(m) => write!(f, "sent a broken answer: {m}"),
            Self::CircuitOpen => write!(f, "circuit open after repeated failures"),
            Self::NotSent(m) => write!(f, "was not sent anything: {m}"),
        }
    }
}

/// A stream of OpenAI chunks from a provider; usage arrives with the last item.
pub type ChunkStream = BoxStream<'static, Result<StreamItem, ProviderError>>;

#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    Chunk(ChatCompletionChunk),
    /// The provider finished; its exact usage, if it reported one.
    End(Option<Usage>),
}

enum Decoder {
    OpenAi(wire::openai::StreamDecoder),
    Anthropic(wire::anthropic::StreamDecoder),
    Gemini(wire::gemini::StreamDecoder),
}

impl Decoder {
    fn new(kind: ProviderKind, model: &str, id: String, created: u64) -> Self {
        match kind {
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
                Self::OpenAi(wire::openai::StreamDecoder::new(model, id, created))
            }
            ProviderKind::Anthropic => {
                Self::Anthropic(wire::anthropic::StreamDecoder::new(model, id, created))
            }
            ProviderKind::Gemini => {
                Self::Gemini(wire::gemini::StreamDecoder::new(model, id, created))
            }
        }
    }
    fn on_event(
        &mut self,
        event: Option<&str>,
        data: &str,
    ) -> Result<Vec<ChatCompletionChunk>, String> {
        match self {
            Self::OpenAi(d) => d.on_event(event, data),
            Self::Anthropic(d) => d.on_event(event, data),
            Self::Gemini(d) => d.on_event(event, data),
        }
    }
    fn is_done(&self) -> bool {
        match self {
            Self::OpenAi(d) => d.is_done(),
            Self::Anthropic(d) => d.is_done(),
            Self::Gemini(d) => d.is_done(),
        }
    }
    fn usage(&self) -> Option<Usage> {
        match self {
            Self::OpenAi(d) => d.usage(),
            Self::Anthropic(d) => d.usage(),
            Self::Gemini(d) => d.usage(),
        }
    }
}

pub struct Provider {
    pub settings: ProviderSettings,
    pub breaker: CircuitBreaker,
    http: Transport,
}

impl Provider {
    pub fn new(settings: ProviderSettings) -> Result<Self, String> {
        let http = Transport::new(
            &settings.base_url,
            settings.connect_timeout,
            settings.extra_roots.as_ref(),
        )
        .map_err(|e| format!("provider `{}`: {e}", settings.name))?;
        let breaker = CircuitBreaker::new(settings.breaker_failures, settings.breaker_cooldown);
        Ok(Self {
            settings,
            breaker,
            http,
        })
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    fn build(
        &self,
        req: &ChatCompletionRequest,
        upstream: &str,
        stream: bool,
    ) -> Result<WireRequest, ApiError> {
        match self.settings.kind {
            ProviderKind::OpenAi => wire::openai::build_request(req, upstream, stream),
            ProviderKind::OpenAiCompatible => {
                wire::openai::build_compatible_request(req, upstream, stream)
            }
            ProviderKind::Anthropic => wire::anthropic::build_request(req, upstream, stream),
            ProviderKind::Gemini => wire::gemini::build_request(req, upstream, stream),
        }
    }

    fn error_message(&self, body: &str) -> String {
        let m = match self.settings.kind {
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
                wire::openai::error_message(body)
            }
            ProviderKind::Anthropic => wire::anthropic::error_message(body),
            ProviderKind::Gemini => wire::gemini::error_message(body),
        };
        m.unwrap_or_else(|| body.chars().take(300).collect())
    }

    async fn send(
        &self,
        wire: &WireRequest,
        deadline: Instant,
        notes: &EgressNotes,
        upstream: &str,
    ) -> Result<Reply, ProviderError> {
        let url = format!(
            "{}{}",
            self.settings.base_url.trim_end_matches('/'),
            wire.path
        );
        let body = serde_json::to_vec(&wire.body)
            .map_err(|e| ProviderError::Broken(format!("cannot encode the request: {e}")))?;
        notes
            .admit(Egress {
                provider: self.settings.name.clone(),
                model: upstream.to_string(),
                body_sha256: sha256_hex(&body),
                body_bytes: body.len() as u64,
            })
            .await
            .map_err(ProviderError::NotSent)?;
        let mut headers = vec![("content-type", "application/json".to_string())];
        let key = self.settings.api_key.as_ref().map(Secret::expose);
        match (self.settings.kind, key) {
            (ProviderKind::OpenAi | ProviderKind::OpenAiCompatible, Some(k)) => {
                headers.push(("authorization", format!("Bearer {k}")));
            }
            (ProviderKind::Anthropic, k) => {
                if let Some(k) = k {
                    headers.push(("x-api-key", k.to_string()));
                }
                headers.push(("anthropic-version", "2023-06-01".to_string()));
            }
            (ProviderKind::Gemini, Some(k)) => headers.push(("x-goog-api-key", k.to_string())),
            _ => {}
        }
        let out = Outgoing {
            url,
            query: wire.query.clone(),
            headers,
            body,
        };
        let mut resp = match tokio::time::timeout_at(deadline, self.http.send(out)).await {
            Err(_) => {
                return Err(ProviderError::Timeout(
                    "no response before the first-token timeout".into(),
                ))
            }
            Ok(Err(TransportError::Timeout(m))) => return Err(ProviderError::Timeout(m)),
            Ok(Err(TransportError::Connect(m))) => return Err(ProviderError::Connect(m)),
            Ok(Ok(r)) => r,
        };
        let status = resp.status;
        if (200..300).contains(&status) {
            return Ok(resp);
        }
        let retry_after = resp.retry_after;
        let body = tokio::time::timeout_at(deadline, collect(&mut resp.body))
            .await
            .ok()
            .and_then(Result::ok)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let message = self.error_message(&body);
        Err(match status {
            401 | 403 => ProviderError::Auth { status },
            429 => ProviderError::RateLimited {
                retry_after,
                message,
            },
            s if s >= 500 => ProviderError::Server { status: s, message },
            s => ProviderError::Rejected { status: s, message },
        })
    }

    /// One non-streaming call.
    pub async fn chat_once(
        &self,
        req: &ChatCompletionRequest,
        upstream: &str,
        model: &str,
        notes: &EgressNotes,
    ) -> Result<ChatCompletion, ProviderError> {
        let wire = self
            .build(req, upstream, false)
            .map_err(|e| ProviderError::Rejected {
                status: 400,
                message: e.message,
            })?;
        let deadline = Instant::now() + self.settings.total_timeout;
        let mut resp = self.send(&wire, deadline, notes, upstream).await?;
        let bytes = match tokio::time::timeout_at(deadline, collect(&mut resp.body)).await {
            Err(_) => {
                return Err(ProviderError::Timeout(
                    "the answer did not arrive in time".into(),
                ))
            }
            Ok(Err(e)) => return Err(ProviderError::Broken(e)),
            Ok(Ok(b)) => b,
        };
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ProviderError::Broken(format!("invalid JSON: {e}")))?;
        let parsed = match self.settings.kind {
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
                wire::openai::parse_response(&value, model)
            }
            ProviderKind::Anthropic => wire::anthropic::parse_response(&value, model),
            ProviderKind::Gemini => wire::gemini::parse_response(&value, model),
        };
        parsed.map_err(ProviderError::Broken)
    }

    /// One streaming call; returns once the first chunk has arrived.
    pub async fn stream_once(
        &self,
        req: &ChatCompletionRequest,
        upstream: &str,
        model: &str,
        id: String,
        created: u64,
        notes: &EgressNotes,
    ) -> Result<ChunkStream, ProviderError> {
        let wire = self
            .build(req, upstream, true)
            .map_err(|e| ProviderError::Rejected {
                status: 400,
                message: e.message,
            })?;
        let start = Instant::now();
        let first_deadline = start + self.settings.first_token_timeout;
        let total_deadline = start + self.settings.total_timeout;
        let resp = self
            .send(&wire, first_deadline.min(total_deadline), notes, upstream)
            .await?;
        let mut state = StreamState {
            body: resp.body,
            parser: SseParser::new(),
            decoder: Decoder::new(self.settings.kind, model, id, created),
            queue: VecDeque::new(),
            deadline: total_deadline,
            ended: false,
        };
        // Prefetch until the first chunk: failures up to here are still retryable.
        while state.queue.is_empty() && !state.ended {
            state.fill(first_deadline.min(total_deadline)).await?;
        }
        Ok(futures::stream::unfold(state, |mut st| async move {
            loop {
                if let Some(item) = st.queue.pop_front() {
                    return Some((Ok(item), st));
                }
                if st.ended {
                    return None;
                }
                let deadline = st.deadline;
                if let Err(e) = st.fill(deadline).await {
                    st.ended = true;
                    return Some((Err(e), st));
                }
            }
        })
        .boxed())
    }
}

/// After a stream's final event, at most this much more of its body is read (to return
/// the connection to the pool); a provider that keeps sending loses the connection.
const DRAIN_MAX_BYTES: usize = 64 << 10;
/// ... and for at most this long.
const DRAIN_MAX_TIME: Duration = Duration::from_secs(5);

struct StreamState {
    body: BodyStream,
    parser: SseParser,
    decoder: Decoder,
    queue: VecDeque<StreamItem>,
    deadline: Instant,
    ended: bool,
}

impl StreamState {
    /// Read more bytes and decode what they complete.
    async fn fill(&mut self, deadline: Instant) -> Result<(), ProviderError> {
        let next = match tokio::time::timeout_at(deadline, self.body.next()).await {
            Err(_) => {
                return Err(ProviderError::Timeout(
                    "the provider stopped sending".into(),
                ))
            }
            Ok(n) => n,
        };
        let events = match next {
            Some(Ok(bytes)) => self.parser.push(&bytes),
            Some(Err(e)) => return Err(ProviderError::Broken(format!("the stream broke: {e}"))),
            None => {
                let rest = self.parser.finish();
                self.decode(rest)?;
                if !self.decoder.is_done() {
                    return Err(ProviderError::Broken(
                        "the stream ended before the answer was complete".into(),
                    ));
                }
                self.ended = true;
                self.queue.push_back(StreamItem::End(self.decoder.usage()));
                return Ok(());
            }
        };
        self.decode(events)?;
        if self.decoder.is_done() && !self.ended {
            self.ended = true;
            self.queue.push_back(StreamItem::End(self.decoder.usage()));
            self.release_connection();
        }
        Ok(())
    }

    /// The answer is complete, but the HTTP body may not be: the chunked encoding's last
    /// chunk (or a trailing newline) usually follows the final event. A body dropped
    /// before its end closes the connection instead of returning it to the pool, so
    /// every streamed call would pay a new TCP (and TLS) handshake. The rest is read in
    /// the background, bounded in bytes and time, so the caller does not wait for it.
    fn release_connection(&mut self) {
        let mut body = std::mem::replace(&mut self.body, futures::stream::empty().boxed());
        // Reads and drops at most DRAIN_MAX_BYTES within DRAIN_MAX_TIME and writes
        // nothing: shutdown has nothing to wait for.
        #[allow(clippy::disallowed_methods)]
        tokio::spawn(async move {
            let drain = async {
                let mut left = DRAIN_MAX_BYTES;
                while let Some(Ok(bytes)) = body.next().await {
                    left = left.saturating_sub(bytes.len());
                    if left == 0 {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(DRAIN_MAX_TIME, drain).await;
        });
    }

    fn decode(&mut self, events: Vec<crate::sse::SseEvent>) -> Result<(), ProviderError> {
        for ev in events {
            let chunks = self
                .decoder
                .on_event(ev.event.as_deref(), &ev.data)
                .map_err(ProviderError::Broken)?;
            self.queue.extend(chunks.into_iter().map(StreamItem::Chunk));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("sk-live-123".into());
        assert_eq!(format!("{s:?}"), "Secret(***)");
    }

    #[test]
    fn only_transient_failures_are_retried() {
        assert!(ProviderError::Server {
            status: 503,
            message: String::new()
        }
        .retryable());
        assert!(ProviderError::RateLimited {
            retry_after: None,
            message: String::new()
        }
        .retryable());
        assert!(!ProviderError::Rejected {
            status: 400,
            message: String::new()
        }
        .retryable());
        assert!(!ProviderError::Auth { status: 401 }.retryable());
    }
}
