//! Provider wire formats: pure translations between the gateway's canonical request
//! (OpenAI Chat Completions) and each provider's own API, and back, streaming included.
//!
//! Every provider module exposes the same four things:
//! - `build_request(req, upstream_model, stream) -> Result<WireRequest, ApiError>`:
//!   the path (relative to the provider's base URL), query and JSON body;
//! - `parse_response(body, model) -> Result<ChatCompletion, String>`: a whole answer;
//! - `StreamDecoder`: fed one SSE event at a time, yields OpenAI chunks;
//! - `error_message(body) -> Option<String>`: the provider's own error message.
//!
//! No I/O happens here, so every translation is unit-tested against the providers'
//! documented shapes.

pub mod anthropic;
pub mod gemini;
pub mod openai;

use serde_json::Value;

/// An HTTP request to a provider, before authentication headers are added.
#[derive(Debug, Clone, PartialEq)]
pub struct WireRequest {
    /// Path appended to the provider's base URL, e.g. `/chat/completions`.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Value,
}

/// `error.message` (or `error` as a plain string) of a provider error body, the shape
/// Anthropic and Gemini share.
pub(crate) fn error_in(v: &Value) -> Option<String> {
    let e = v.get("error")?;
    e.get("message")
        .and_then(Value::as_str)
        .or_else(|| e.as_str())
        .map(str::to_string)
}
