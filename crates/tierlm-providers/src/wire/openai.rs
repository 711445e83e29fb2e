//! OpenAI Chat Completions (`POST /chat/completions`), for OpenAI itself and for any
//! OpenAI-compatible server (vLLM, llama.cpp's server, Ollama, Together, Groq…).
//!
//! The request is the gateway's own request re-serialised with the upstream model
//! name and `stream` set; when streaming, `stream_options.include_usage` is forced on so
//! the usage is exact, and when not streaming `stream_options` is removed (OpenAI
//! rejects it without `stream`). The tierlm extensions `top_k`, `min_p` and
//! `repetition_penalty` are dropped by [`build_request`], because OpenAI rejects unknown
//! fields; [`build_compatible_request`] keeps them for servers that understand them.
//!
//! Answers are parsed leniently, field by field, because providers add fields and
//! compatible servers omit some: `finish_reason` `content_filter` becomes `stop` and the
//! legacy `function_call` becomes `tool_calls`; a `refusal` stands in for missing
//! content; tool-call `arguments` sent as a JSON object (Ollama) are re-serialised as
//! text; missing usage reads as zero. The client-facing model name replaces the
//! upstream's.
//!
//! The end of the file holds small helpers the Anthropic and Gemini modules share.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{json, Map, Value};
use tierlm_api::chat::{
    AssistantMessage, ChatChoice, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest,
    ChunkChoice, Delta, FinishReason, FunctionCall, MessageContent, Role, ToolCall, ToolCallDelta,
};
use tierlm_api::logprobs::{ChoiceLogprobs, TokenLogprob, TopLogprob};
use tierlm_api::{ApiError, Usage};

use super::WireRequest;

/// The tierlm-only sampling extensions OpenAI itself rejects.
const EXTENSIONS: [&str; 3] = ["top_k", "min_p", "repetition_penalty"];

/// tierlm-only settings about tierlm's own engine, sent to no provider.
const LOCAL_ONLY: [&str; 1] = ["deterministic"];

/// The request for OpenAI: extensions dropped.
pub fn build_request(
    req: &ChatCompletionRequest,
    upstream_model: &str,
    stream: bool,
) -> Result<WireRequest, ApiError> {
    build(req, upstream_model, stream, false)
}

/// The request for a compatible server that understands `top_k`, `min_p` and
/// `repetition_penalty` (vLLM, llama.cpp): extensions kept.
pub fn build_compatible_request(
    req: &ChatCompletionRequest,
    upstream_model: &str,
    stream: bool,
) -> Result<WireRequest, ApiError> {
    build(req, upstream_model, stream, true)
}

fn build(
    req: &ChatCompletionRequest,
    upstream_model: &str,
    stream: bool,
    keep_extensions: bool,
) -> Result<WireRequest, ApiError> {
    let mut body = serde_json::to_value(req)
        .map_err(|e| ApiError::internal(format!("cannot serialise the request: {e}")))?;
    let obj = body
        .as_object_mut()
        .ok_or_else(|| ApiError::internal("the request did not serialise to an object"))?;
    obj.insert("model".into(), json!(upstream_model));
    obj.insert("stream".into(), json!(stream));
    if stream {
        obj.insert("stream_options".into(), json!({"include_usage": true}));
    } else {
        obj.remove("stream_options");
    }
    if !keep_extensions {
        for key in EXTENSIONS {
            obj.remove(key);
        }
    }
    for key in LOCAL_ONLY {
        obj.remove(key);
    }
    // f32 fields serialise as their f64 widening (0.7 → 0.699999988079071): send the
    // shortest decimal form instead, as the client wrote it.
    let floats = [
        ("temperature", req.temperature),
        ("top_p", req.top_p),
        ("min_p", req.min_p),
        ("presence_penalty", req.presence_penalty),
        ("frequency_penalty", req.frequency_penalty),
        ("repetition_penalty", req.repetition_penalty),
    ];
    for (key, value) in floats {
        if let (Some(slot), Some(x)) = (obj.get_mut(key), value) {
            *slot = num(x);
        }
    }
    Ok(WireRequest {
        path: "/chat/completions".into(),
        query: Vec::new(),
        body,
    })
}

/// A whole (non-streamed) answer, reported under the client-facing `model` name.
pub fn parse_response(body: &Value, model: &str) -> Result<ChatCompletion, String> {
    if let Some(message) = error_in(body) {
        return Err(message);
    }
    let choices = body
        .get("choices")
        .and_then(Value::as_array)
        .ok_or("the response has no `choices` array")?;
    let mut out = Vec::with_capacity(choices.len());
    for (pos, c) in choices.iter().enumerate() {
        let msg = c.get("message").unwrap_or(&Value::Null);
        let mut tool_calls = Vec::new();
        for tc in msg
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let f = tc.get("function").unwrap_or(&Value::Null);
            tool_calls.push(ToolCall {
                id: str_at(tc, "id").to_string(),
                kind: "function".into(),
                function: FunctionCall {
                    name: str_at(f, "name").to_string(),
                    arguments: arguments_text(f.get("arguments")),
                },
            });
        }
        let content = msg
            .get("content")
            .and_then(Value::as_str)
            .or_else(|| msg.get("refusal").and_then(Value::as_str))
            .map(str::to_string);
        let finish = finish_reason(c.get("finish_reason"), !tool_calls.is_empty());
        out.push(ChatChoice {
            index: index_at(c, pos),
            message: AssistantMessage::new(
                if content.is_none() && tool_calls.is_empty() {
                    Some(String::new())
                } else {
                    content
                },
                (!tool_calls.is_empty()).then_some(tool_calls),
            ),
            logprobs: parse_logprobs(c.get("logprobs")),
            finish_reason: finish,
        });
    }
    Ok(ChatCompletion {
        id: body
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| tierlm_api::ids::new_id("chatcmpl")),
        object: "chat.completion".into(),
        created: body
            .get("created")
            .and_then(Value::as_u64)
            .unwrap_or_else(tierlm_api::ids::unix_now),
        model: model.to_string(),
        choices: out,
        usage: body.get("usage").and_then(parse_usage).unwrap_or_default(),
        system_fingerprint: body
            .get("system_fingerprint")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

fn parse_usage(u: &Value) -> Option<Usage> {
    if !u.is_object() {
        return None;
    }
    Some(Usage::new(
        u32_at(u, "prompt_tokens"),
        u32_at(u, "completion_tokens"),
    ))
}

fn finish_reason(v: Option<&Value>, has_tool_calls: bool) -> FinishReason {
    match v.and_then(Value::as_str) {
        Some("length") => FinishReason::Length,
        Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
        Some(_) => FinishReason::Stop,
        None if has_tool_calls => FinishReason::ToolCalls,
        None => FinishReason::Stop,
    }
}

fn parse_logprobs(v: Option<&Value>) -> Option<ChoiceLogprobs> {
    let content = v?.get("content")?.as_array()?;
    let bytes_of = |t: &Value, token: &str| -> Vec<u8> {
        t.get("bytes")
            .and_then(Value::as_array)
            .map(|b| {
                b.iter()
                    .filter_map(Value::as_u64)
                    .map(|x| x as u8)
                    .collect()
            })
            .unwrap_or_else(|| token.as_bytes().to_vec())
    };
    let content = content
        .iter()
        .map(|t| {
            let token = str_at(t, "token").to_string();
            TokenLogprob {
                bytes: bytes_of(t, &token),
                logprob: f32_at(t, "logprob"),
                top_logprobs: t
                    .get("top_logprobs")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|top| {
                        let token = str_at(top, "token").to_string();
                        TopLogprob {
                            bytes: bytes_of(top, &token),
                            logprob: f32_at(top, "logprob"),
                            token,
                        }
                    })
                    .collect(),
                token,
            }
        })
        .collect();
    Some(ChoiceLogprobs { content })
}

/// One streamed chunk, only the fields the decoder reads. Everything else (`id`,
/// `model`, `system_fingerprint`, …) is skipped without being built: reading each chunk
/// into a generic `Value` tree was the largest single cost of relaying a stream.
#[derive(Deserialize)]
struct WireChunk<'a> {
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default, borrow)]
    choices: Option<Vec<WireChoice<'a>>>,
}

#[derive(Deserialize)]
struct WireChoice<'a> {
    #[serde(default)]
    index: Option<Value>,
    #[serde(default, borrow)]
    delta: Option<WireDelta<'a>>,
    #[serde(default)]
    finish_reason: Option<Value>,
    #[serde(default)]
    logprobs: Option<Value>,
}

#[derive(Default, Deserialize)]
struct WireDelta<'a> {
    #[serde(default, borrow)]
    content: LenientStr<'a>,
    #[serde(default, borrow)]
    refusal: LenientStr<'a>,
    #[serde(default)]
    tool_calls: Option<Value>,
}

/// A string field, borrowed from the input when it has no escapes; any other JSON value
/// (null, a number, an array…) reads as absent rather than failing the chunk.
#[derive(Default)]
struct LenientStr<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for LenientStr<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientStrVisitor)
    }
}

struct LenientStrVisitor;

impl<'de> serde::de::Visitor<'de> for LenientStrVisitor {
    type Value = LenientStr<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(LenientStr(Some(Cow::Borrowed(s))))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(LenientStr(Some(Cow::Owned(s.to_string()))))
    }
    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(LenientStr(Some(Cow::Owned(s))))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(LenientStr(None))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(LenientStr(None))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(LenientStr(None))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(LenientStr(None))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(LenientStr(None))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(LenientStr(None))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(LenientStr(None))
    }
}

/// Decodes OpenAI's own SSE chunks, re-stamped with the gateway's id, model and time.
#[derive(Debug)]
pub struct StreamDecoder {
    model: String,
    id: String,
    created: u64,
    roles: RoleTracker,
    usage: Option<Usage>,
    done: bool,
}

impl StreamDecoder {
    pub fn new(model: &str, id: String, created: u64) -> Self {
        Self {
            model: model.to_string(),
            id,
            created,
            roles: RoleTracker::default(),
            usage: None,
            done: false,
        }
    }

    /// One SSE event: a chunk, the usage-only chunk, or `[DONE]`.
    pub fn on_event(
        &mut self,
        _event: Option<&str>,
        data: &str,
    ) -> Result<Vec<ChatCompletionChunk>, String> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(Vec::new());
        }
        if data.is_empty() || self.done {
            return Ok(Vec::new());
        }
        let chunk: WireChunk = match serde_json::from_str(data) {
            Ok(chunk) => chunk,
            Err(_) => {
                // Valid JSON of a shape the typed reading does not accept (`choices` not
                // an array, a delta that is not an object, a duplicate key): an error is
                // still reported; anything else carries nothing this decoder can use.
                let v: Value = serde_json::from_str(data)
                    .map_err(|e| format!("invalid JSON in the stream: {e}"))?;
                return match error_in(&v) {
                    Some(message) => Err(message),
                    None => Ok(Vec::new()),
                };
            }
        };
        if let Some(message) = chunk.error.as_ref().and_then(error_text) {
            return Err(message);
        }
        let usage = chunk.usage.as_ref().and_then(parse_usage);
        if usage.is_some() {
            self.usage = usage;
        }
        if usage.is_some() && chunk.choices.as_ref().is_none_or(Vec::is_empty) {
            // The usage-only chunk `include_usage` adds is the last one before `[DONE]`.
            self.done = true;
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for (pos, c) in chunk.choices.into_iter().flatten().enumerate() {
            let index = index_or(c.index.as_ref(), pos);
            let d = c.delta.unwrap_or_default();
            let content = d.content.0.or(d.refusal.0).map(Cow::into_owned);
            let tool_calls: Vec<ToolCallDelta> = d
                .tool_calls
                .as_ref()
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, tc)| {
                    let f = tc.get("function").unwrap_or(&Value::Null);
                    ToolCallDelta {
                        index: index_at(tc, i),
                        id: str_at(tc, "id").to_string(),
                        kind: "function".into(),
                        function: FunctionCall {
                            name: str_at(f, "name").to_string(),
                            arguments: arguments_text(f.get("arguments")),
                        },
                    }
                })
                .collect();
            let finish = c
                .finish_reason
                .as_ref()
                .map(|f| finish_reason(Some(f), false));
            let logprobs = parse_logprobs(c.logprobs.as_ref());
            let empty = content.is_none() && tool_calls.is_empty() && finish.is_none();
            if empty && logprobs.is_none() && self.roles.started(index) {
                continue;
            }
            let delta = Delta {
                role: self.roles.take(index),
                content,
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
            };
            out.push(ChunkChoice {
                index,
                delta,
                logprobs,
                finish_reason: finish,
            });
        }
        if out.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices: out,
            usage: None,
        }])
    }

    /// `[DONE]` arrived, or the usage-only chunk that precedes it.
    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }
}

/// `error.message` (OpenAI); also `error` as a string, `message` or `detail`, which
/// compatible servers send.
pub fn error_message(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body.trim()).ok()?;
    error_in(&v).or_else(|| {
        ["message", "detail"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .map(str::to_string)
    })
}

fn error_in(v: &Value) -> Option<String> {
    v.get("error").and_then(error_text)
}

/// The message of an `error` value: the string itself, its `message`, or the object.
fn error_text(e: &Value) -> Option<String> {
    match e {
        Value::String(s) => Some(s.clone()),
        e => e
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| Some(e.to_string()).filter(|_| e.is_object())),
    }
}

// ---- helpers shared by the wire modules ----

/// A string field, or `""`.
pub(crate) fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A non-negative integer field, saturated to `u32`, or 0.
pub(crate) fn u32_at(v: &Value, key: &str) -> u32 {
    v.get(key)
        .and_then(Value::as_u64)
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

fn f32_at(v: &Value, key: &str) -> f32 {
    v.get(key).and_then(Value::as_f64).unwrap_or(0.0) as f32
}

/// The `index` field, or the position in the enclosing array.
pub(crate) fn index_at(v: &Value, pos: usize) -> u32 {
    index_or(v.get("index"), pos)
}

/// An index value, or the position when it is missing or not a `u32`.
fn index_or(index: Option<&Value>, pos: usize) -> u32 {
    index
        .and_then(Value::as_u64)
        .and_then(|i| u32::try_from(i).ok())
        .unwrap_or_else(|| u32::try_from(pos).unwrap_or(u32::MAX))
}

/// Tool-call arguments as JSON text, whether sent as text or as an object.
pub(crate) fn arguments_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => json_text(other),
    }
}

/// Compact JSON text of a value.
pub(crate) fn json_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The text of a message's content; non-text parts are unsupported.
pub(crate) fn content_text(
    index: usize,
    content: Option<&MessageContent>,
) -> Result<String, ApiError> {
    match content {
        None => Ok(String::new()),
        Some(c) => c.text().map_err(|kind| {
            ApiError::unsupported(
                &format!("messages[{index}].content"),
                format!("content parts of type `{kind}` are not supported by this provider"),
            )
        }),
    }
}

/// The request's output-token limit, `max_completion_tokens` first.
pub(crate) fn max_output_tokens(req: &ChatCompletionRequest) -> Option<u32> {
    req.max_completion_tokens.or(req.max_tokens)
}

/// Remembers which choices have had their first chunk, which carries the role.
#[derive(Debug, Default)]
pub(crate) struct RoleTracker(Vec<u32>);

impl RoleTracker {
    pub(crate) fn started(&self, index: u32) -> bool {
        self.0.contains(&index)
    }

    /// `Some(Assistant)` the first time a choice is seen.
    pub(crate) fn take(&mut self, index: u32) -> Option<Role> {
        if self.started(index) {
            None
        } else {
            self.0.push(index);
            Some(Role::Assistant)
        }
    }
}

/// An `f32` as the JSON number of its shortest decimal form (`0.7`, not
/// `0.699999988079071`).
pub(crate) fn num(x: f32) -> Value {
    x.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// A chunk with one choice.
pub(crate) fn one_chunk(
    id: &str,
    created: u64,
    model: &str,
    index: u32,
    delta: Delta,
    finish_reason: Option<FinishReason>,
) -> ChatCompletionChunk {
    ChatCompletionChunk {
        id: id.to_string(),
        object: "chat.completion.chunk".into(),
        created,
        model: model.to_string(),
        choices: vec![ChunkChoice {
            index,
            delta,
            logprobs: None,
            finish_reason,
        }],
        usage: None,
    }
}

/// An object built key by key, skipping `None`s.
pub(crate) fn put(obj: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        obj.insert(key.to_string(), v);
    }
}

#[cfg(test)]
#[path = "openai_tests.rs"]
pub(crate) mod tests;
