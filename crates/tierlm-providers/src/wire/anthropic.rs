//! Anthropic Messages API (`POST /v1/messages`, base URL `https://api.anthropic.com`).
//!
//! Request translation:
//! - `system` and `developer` messages, wherever they appear, are joined (blank line
//!   between) into the top-level `system`;
//! - user and assistant turns become `messages` with content blocks; consecutive turns
//!   of the same role are merged (Anthropic wants them alternating); empty text is
//!   dropped (Anthropic rejects empty text blocks);
//! - assistant `tool_calls` become `tool_use` blocks whose `input` is the parsed
//!   `arguments` (empty arguments read as `{}`; anything but a JSON object is an
//!   error); `tool` messages become `tool_result` blocks in a user turn, placed before
//!   any text of that turn, as Anthropic requires;
//! - `tools` → `tools[{name, description, input_schema}]`; `tool_choice` `auto` →
//!   `{type: auto}`, `required` → `{type: any}`, `none` → `{type: none}` (the tools stay
//!   declared, because a history with `tool_use` blocks needs them), a named function →
//!   `{type: tool, name}`; `parallel_tool_calls: false` → `disable_parallel_tool_use`;
//! - `max_tokens` is required: `max_completion_tokens`, else `max_tokens`, else 4096;
//! - `temperature`: OpenAI's range is 0–2, Anthropic's 0–1, so values above 1 are
//!   clamped to 1.0 (not rescaled: 0.7 means the same on both); `top_p`, `top_k` (when
//!   positive), `stop` → `stop_sequences` (whitespace-only sequences such as `"\n"`
//!   are dropped: Anthropic rejects them with a 400, so they cannot be honoured),
//!   `user` → `metadata.user_id`;
//! - tool-call ids are reduced to Anthropic's `^[a-zA-Z0-9_-]+$` (other characters
//!   become `_`), the same way in `tool_use` and `tool_result`, so ids minted by other
//!   providers still pair up;
//! - `response_format` is emulated with a forced tool (works on every Claude model): a
//!   JSON schema whose root is an object becomes the `input_schema` of a tool named
//!   `tierlm_json_<schema name>`; any other root is wrapped as the `value` property of
//!   a tool named `tierlm_jsonv_<schema name>`; `json_object` uses a tool
//!   `tierlm_json_object` with `{"type":"object"}`. `tool_choice` forces that tool (or
//!   `{type: any}` when the client's own tools may be called too). The answer tool's
//!   input is then returned as the message's text content, never as a tool call, with
//!   `finish_reason: stop`. Client tools with these reserved prefixes are rejected;
//! - `n > 1`, `logprobs`/`top_logprobs` and `logit_bias` are `UnsupportedParameter`;
//!   `seed`, the penalties and the tierlm sampling extensions have no Anthropic
//!   counterpart and are ignored.
//!
//! Responses: `text` blocks → content, `tool_use` → `tool_calls` (arguments = JSON text
//! of `input`), thinking and server-tool blocks are skipped; `stop_reason` `end_turn`,
//! `stop_sequence`, `pause_turn` and `refusal` → `stop`, `max_tokens` and
//! `model_context_window_exceeded` → `length`, `tool_use` → `tool_calls`. Usage: prompt
//! tokens are `input_tokens` plus the cache-creation and cache-read tokens (OpenAI's
//! `prompt_tokens` includes cached ones), completion tokens are `output_tokens`.

use serde_json::{json, Map, Value};
use tierlm_api::chat::{
    AssistantMessage, ChatChoice, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest,
    Delta, FinishReason, FunctionCall, ResponseFormat, Role, ToolCall, ToolCallDelta, ToolChoice,
};
use tierlm_api::{ApiError, Usage};

use super::openai::{
    content_text, json_text, max_output_tokens, num, one_chunk, put, str_at, u32_at,
};
use super::WireRequest;

/// Anthropic requires `max_tokens`; this is used when the client sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// Prefix of the tool emulating `response_format` whose input is the answer.
pub const JSON_TOOL_PREFIX: &str = "tierlm_json_";
/// Prefix of the tool emulating `response_format` whose `input.value` is the answer.
pub const JSON_VALUE_TOOL_PREFIX: &str = "tierlm_jsonv_";

pub fn build_request(
    req: &ChatCompletionRequest,
    upstream_model: &str,
    stream: bool,
) -> Result<WireRequest, ApiError> {
    if req.n.unwrap_or(1) > 1 {
        return Err(ApiError::unsupported(
            "n",
            "Anthropic returns one choice per request; `n` must be 1",
        ));
    }
    if req.logprobs == Some(true) || req.top_logprobs.unwrap_or(0) > 0 {
        return Err(ApiError::unsupported(
            "logprobs",
            "Anthropic does not return log-probabilities",
        ));
    }
    if req.logit_bias.as_ref().is_some_and(|b| !b.is_empty()) {
        return Err(ApiError::unsupported(
            "logit_bias",
            "Anthropic does not support `logit_bias`",
        ));
    }
    let (system, messages) = translate_messages(req)?;
    let mut body = Map::new();
    body.insert("model".into(), json!(upstream_model));
    body.insert(
        "max_tokens".into(),
        json!(max_output_tokens(req).unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    body.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        body.insert("system".into(), json!(system));
    }
    put(
        &mut body,
        "temperature",
        req.temperature.map(|t| num(t.clamp(0.0, 1.0))),
    );
    put(&mut body, "top_p", req.top_p.map(num));
    put(
        &mut body,
        "top_k",
        req.top_k.filter(|k| *k > 0).map(|k| json!(k)),
    );
    if let Some(stop) = req.stop.clone() {
        let stop: Vec<String> = stop
            .into_vec()
            .into_iter()
            .filter(|s| !s.trim().is_empty())
            .collect();
        if !stop.is_empty() {
            body.insert("stop_sequences".into(), json!(stop));
        }
    }
    if let Some(user) = req
        .user
        .as_ref()
        .filter(|u| !u.is_empty() && u.len() <= 512)
    {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    let (tools, tool_choice) = translate_tools(req)?;
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
        put(&mut body, "tool_choice", tool_choice);
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    Ok(WireRequest {
        path: "/v1/messages".into(),
        query: Vec::new(),
        body: Value::Object(body),
    })
}

/// The top-level `system` text and the `messages` array.
fn translate_messages(req: &ChatCompletionRequest) -> Result<(String, Vec<Value>), ApiError> {
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let text = content_text(i, m.content.as_ref())?;
        let (role, mut blocks) = match m.role {
            Role::System | Role::Developer => {
                if !text.is_empty() {
                    system.push(text);
                }
                continue;
            }
            Role::User => ("user", Vec::new()),
            Role::Assistant => ("assistant", Vec::new()),
            Role::Tool => {
                let id = m
                    .tool_call_id
                    .as_deref()
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| {
                        ApiError::invalid(
                            &format!("messages[{i}].tool_call_id"),
                            "a `tool` message needs the `tool_call_id` it answers",
                        )
                    })?;
                let mut block = json!({"type": "tool_result", "tool_use_id": clean_id(id)});
                if !text.is_empty() {
                    block["content"] = json!(text);
                }
                ("user", vec![block])
            }
        };
        if m.role != Role::Tool && !text.is_empty() {
            blocks.push(json!({"type": "text", "text": text}));
        }
        if m.role == Role::Assistant {
            for (j, tc) in m.tool_calls.iter().flatten().enumerate() {
                blocks.push(json!({
                    "type": "tool_use",
                    "id": clean_id(&tc.id),
                    "name": tc.function.name,
                    "input": parse_arguments(&tc.function.arguments).ok_or_else(|| {
                        ApiError::invalid(
                            &format!("messages[{i}].tool_calls[{j}].function.arguments"),
                            "tool-call arguments must be a JSON object",
                        )
                    })?,
                }));
            }
        }
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, content)) if *last == role => content.append(&mut blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let messages = turns
        .into_iter()
        .map(|(role, mut content)| {
            if role == "user" {
                // Stable: tool results first, everything else after, in order.
                content.sort_by_key(|b| b["type"] != "tool_result");
            }
            json!({"role": role, "content": content})
        })
        .collect();
    Ok((system.join("\n\n"), messages))
}

/// A tool-call id in Anthropic's `^[a-zA-Z0-9_-]+$`.
fn clean_id(id: &str) -> String {
    let id: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() {
        "_".into()
    } else {
        id
    }
}

/// Tool-call arguments as a JSON object; empty text reads as `{}`.
fn parse_arguments(arguments: &str) -> Option<Value> {
    if arguments.trim().is_empty() {
        return Some(json!({}));
    }
    serde_json::from_str::<Value>(arguments)
        .ok()
        .filter(Value::is_object)
}

/// The `tools` array and `tool_choice`, the `response_format` emulation included.
fn translate_tools(req: &ChatCompletionRequest) -> Result<(Vec<Value>, Option<Value>), ApiError> {
    let mut tools = Vec::new();
    for (i, t) in req.tools.iter().flatten().enumerate() {
        if t.kind != "function" {
            return Err(ApiError::unsupported(
                &format!("tools[{i}].type"),
                format!("tool type `{}` is not supported by Anthropic", t.kind),
            ));
        }
        let name = &t.function.name;
        if name.starts_with(JSON_TOOL_PREFIX) || name.starts_with(JSON_VALUE_TOOL_PREFIX) {
            return Err(ApiError::invalid(
                &format!("tools[{i}].function.name"),
                format!("tool names starting with `{JSON_TOOL_PREFIX}` or `{JSON_VALUE_TOOL_PREFIX}` are reserved"),
            ));
        }
        let mut schema = t
            .function
            .parameters
            .clone()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        if let Some(obj) = schema.as_object_mut() {
            obj.entry("type").or_insert_with(|| json!("object"));
        }
        let mut tool = json!({"name": name, "input_schema": schema});
        if let Some(d) = t.function.description.as_ref().filter(|d| !d.is_empty()) {
            tool["description"] = json!(d);
        }
        tools.push(tool);
    }
    let has_client_tools = !tools.is_empty();
    let answer = answer_tool(req.response_format.as_ref());
    let answer_name = answer.as_ref().map(|a| a["name"].clone());
    tools.extend(answer);
    let mode = match &req.tool_choice {
        None => None,
        Some(ToolChoice::Mode(m)) => match m.as_str() {
            "auto" | "required" | "none" => Some(m.as_str()),
            other => {
                return Err(ApiError::invalid(
                    "tool_choice",
                    format!("unknown tool_choice `{other}`; expected auto, required or none"),
                ))
            }
        },
        Some(ToolChoice::Named(_)) => Some("named"),
    };
    let mut choice = match (&req.tool_choice, mode, answer_name) {
        (Some(ToolChoice::Named(n)), _, _) => json!({"type": "tool", "name": n.function.name}),
        (_, Some("none"), None) => return Ok((tools, Some(json!({"type": "none"})))),
        (_, Some("none"), Some(name)) => json!({"type": "tool", "name": name}),
        (_, _, Some(name)) if !has_client_tools => json!({"type": "tool", "name": name}),
        (_, Some("required"), _) | (_, _, Some(_)) => json!({"type": "any"}),
        (_, Some(_), None) => json!({"type": "auto"}),
        (_, None, None) if req.parallel_tool_calls == Some(false) => json!({"type": "auto"}),
        (_, None, None) => return Ok((tools, None)),
    };
    if req.parallel_tool_calls == Some(false) {
        choice["disable_parallel_tool_use"] = json!(true);
    }
    Ok((tools, Some(choice)))
}

/// The tool that emulates `response_format`, if one is asked for.
fn answer_tool(format: Option<&ResponseFormat>) -> Option<Value> {
    let description = "Give your final answer by calling this tool: its input is the answer.";
    match format? {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(json!({
            "name": format!("{JSON_TOOL_PREFIX}object"),
            "description": "Give your final answer, a JSON object, by calling this tool with it as the input.",
            "input_schema": {"type": "object"},
        })),
        ResponseFormat::JsonSchema { json_schema } => {
            let schema = json_schema
                .schema
                .clone()
                .unwrap_or_else(|| json!({"type": "object"}));
            let description = json_schema
                .description
                .as_ref()
                .map(|d| format!("{description} {d}"))
                .unwrap_or_else(|| description.to_string());
            let is_object = schema.get("type").and_then(Value::as_str) == Some("object");
            let (prefix, input_schema) = if is_object {
                (JSON_TOOL_PREFIX, schema)
            } else {
                (
                    JSON_VALUE_TOOL_PREFIX,
                    json!({"type": "object", "properties": {"value": schema}, "required": ["value"]}),
                )
            };
            Some(json!({
                "name": tool_name(prefix, &json_schema.name),
                "description": description,
                "input_schema": input_schema,
            }))
        }
    }
}

/// `prefix` + the schema name reduced to Anthropic's `^[a-zA-Z0-9_-]{1,128}$`.
fn tool_name(prefix: &str, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(128 - prefix.len())
        .collect();
    let clean = if clean.is_empty() {
        "response".into()
    } else {
        clean
    };
    format!("{prefix}{clean}")
}

/// What a `tool_use` block is, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ToolKind {
    Client,
    /// The answer is the input itself.
    Answer,
    /// The answer is `input.value`.
    WrappedAnswer,
}

fn tool_kind(name: &str) -> ToolKind {
    if name.starts_with(JSON_VALUE_TOOL_PREFIX) {
        ToolKind::WrappedAnswer
    } else if name.starts_with(JSON_TOOL_PREFIX) {
        ToolKind::Answer
    } else {
        ToolKind::Client
    }
}

fn map_stop_reason(reason: Option<&str>, client_tool_calls: bool) -> FinishReason {
    match reason {
        Some("max_tokens" | "model_context_window_exceeded") => FinishReason::Length,
        Some("tool_use") if client_tool_calls => FinishReason::ToolCalls,
        _ if client_tool_calls => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

fn parse_usage(u: &Value) -> (u32, u32) {
    let prompt = u32_at(u, "input_tokens")
        .saturating_add(u32_at(u, "cache_creation_input_tokens"))
        .saturating_add(u32_at(u, "cache_read_input_tokens"));
    (prompt, u32_at(u, "output_tokens"))
}

pub fn parse_response(body: &Value, model: &str) -> Result<ChatCompletion, String> {
    if body.get("type").and_then(Value::as_str) == Some("error") || body.get("error").is_some() {
        return Err(super::error_in(body).unwrap_or_else(|| "Anthropic returned an error".into()));
    }
    let blocks = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or("the response has no `content` array")?;
    let mut text = String::new();
    let mut answer: Option<String> = None;
    let mut tool_calls = Vec::new();
    for b in blocks {
        match str_at(b, "type") {
            "text" => text.push_str(str_at(b, "text")),
            "tool_use" => {
                let name = str_at(b, "name");
                let input = b.get("input").cloned().unwrap_or_else(|| json!({}));
                match tool_kind(name) {
                    ToolKind::Answer => answer = Some(json_text(&input)),
                    ToolKind::WrappedAnswer => {
                        answer = Some(json_text(input.get("value").unwrap_or(&Value::Null)))
                    }
                    ToolKind::Client => tool_calls.push(ToolCall {
                        id: str_at(b, "id").to_string(),
                        kind: "function".into(),
                        function: FunctionCall {
                            name: name.to_string(),
                            arguments: json_text(&input),
                        },
                    }),
                }
            }
            _ => {} // thinking, redacted_thinking, server tools
        }
    }
    let finish = map_stop_reason(
        body.get("stop_reason").and_then(Value::as_str),
        !tool_calls.is_empty(),
    );
    let content = match answer {
        Some(a) => Some(a),
        None if text.is_empty() && !tool_calls.is_empty() => None,
        None => Some(text),
    };
    let (prompt, completion) = parse_usage(body.get("usage").unwrap_or(&Value::Null));
    Ok(ChatCompletion {
        id: body
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| tierlm_api::ids::new_id("chatcmpl")),
        object: "chat.completion".into(),
        created: tierlm_api::ids::unix_now(),
        model: model.to_string(),
        choices: vec![ChatChoice {
            index: 0,
            message: AssistantMessage::new(content, (!tool_calls.is_empty()).then_some(tool_calls)),
            logprobs: None,
            finish_reason: finish,
        }],
        usage: Usage::new(prompt, completion),
        system_fingerprint: None,
    })
}

/// What a content block of the stream is.
#[derive(Debug, Clone)]
enum Block {
    Text,
    /// A client tool call, with its OpenAI `tool_calls` index.
    Tool(u32),
    /// The `response_format` answer, streamed as content.
    Answer,
    /// The wrapped answer, buffered until the block ends.
    WrappedAnswer(String),
    Other,
}

/// Decodes the Messages streaming events into OpenAI chunks.
#[derive(Debug)]
pub struct StreamDecoder {
    model: String,
    id: String,
    created: u64,
    role_sent: bool,
    blocks: Vec<(u64, Block)>,
    next_tool: u32,
    prompt_tokens: u32,
    completion_tokens: u32,
    usage_seen: bool,
    done: bool,
}

impl StreamDecoder {
    pub fn new(model: &str, id: String, created: u64) -> Self {
        Self {
            model: model.to_string(),
            id,
            created,
            role_sent: false,
            blocks: Vec::new(),
            next_tool: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            usage_seen: false,
            done: false,
        }
    }

    fn chunk(&mut self, mut delta: Delta, finish: Option<FinishReason>) -> ChatCompletionChunk {
        if !self.role_sent {
            self.role_sent = true;
            delta.role = Some(Role::Assistant);
        }
        one_chunk(&self.id, self.created, &self.model, 0, delta, finish)
    }

    fn text(&mut self, text: String) -> Vec<ChatCompletionChunk> {
        if text.is_empty() {
            return Vec::new();
        }
        let delta = Delta {
            content: Some(text),
            ..Delta::default()
        };
        vec![self.chunk(delta, None)]
    }

    fn tool_delta(
        &mut self,
        index: u32,
        id: &str,
        name: &str,
        arguments: &str,
    ) -> Vec<ChatCompletionChunk> {
        let delta = Delta {
            tool_calls: Some(vec![ToolCallDelta {
                index,
                id: id.to_string(),
                kind: "function".into(),
                function: FunctionCall {
                    name: name.to_string(),
                    arguments: arguments.to_string(),
                },
            }]),
            ..Delta::default()
        };
        vec![self.chunk(delta, None)]
    }

    fn block(&mut self, index: u64) -> Option<&mut Block> {
        self.blocks
            .iter_mut()
            .find(|(i, _)| *i == index)
            .map(|(_, b)| b)
    }

    /// One SSE event; the event name is read from `data.type` when absent.
    pub fn on_event(
        &mut self,
        event: Option<&str>,
        data: &str,
    ) -> Result<Vec<ChatCompletionChunk>, String> {
        if data.trim().is_empty() || self.done {
            return Ok(Vec::new());
        }
        let v: Value =
            serde_json::from_str(data).map_err(|e| format!("invalid JSON in the stream: {e}"))?;
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .or(event)
            .unwrap_or("");
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
        match kind {
            "message_start" => {
                let u = v.pointer("/message/usage").unwrap_or(&Value::Null);
                (self.prompt_tokens, self.completion_tokens) = parse_usage(u);
                self.usage_seen = true;
                Ok(Vec::new())
            }
            "content_block_start" => {
                let cb = v.get("content_block").unwrap_or(&Value::Null);
                match str_at(cb, "type") {
                    "text" => {
                        self.blocks.push((index, Block::Text));
                        Ok(self.text(str_at(cb, "text").to_string()))
                    }
                    "tool_use" => {
                        let name = str_at(cb, "name");
                        match tool_kind(name) {
                            ToolKind::Answer => {
                                self.blocks.push((index, Block::Answer));
                                Ok(Vec::new())
                            }
                            ToolKind::WrappedAnswer => {
                                self.blocks
                                    .push((index, Block::WrappedAnswer(String::new())));
                                Ok(Vec::new())
                            }
                            ToolKind::Client => {
                                let call = self.next_tool;
                                self.next_tool += 1;
                                self.blocks.push((index, Block::Tool(call)));
                                Ok(self.tool_delta(call, str_at(cb, "id"), name, ""))
                            }
                        }
                    }
                    _ => {
                        self.blocks.push((index, Block::Other));
                        Ok(Vec::new())
                    }
                }
            }
            "content_block_delta" => {
                let d = v.get("delta").unwrap_or(&Value::Null);
                let block = self.block(index).cloned().unwrap_or(Block::Text);
                match (str_at(d, "type"), block) {
                    ("text_delta", Block::Text) => Ok(self.text(str_at(d, "text").to_string())),
                    ("input_json_delta", Block::Tool(call)) => {
                        let part = str_at(d, "partial_json");
                        if part.is_empty() {
                            return Ok(Vec::new());
                        }
                        Ok(self.tool_delta(call, "", "", part))
                    }
                    ("input_json_delta", Block::Answer) => {
                        Ok(self.text(str_at(d, "partial_json").to_string()))
                    }
                    ("input_json_delta", Block::WrappedAnswer(_)) => {
                        let part = str_at(d, "partial_json").to_string();
                        if let Some(Block::WrappedAnswer(buf)) = self.block(index) {
                            buf.push_str(&part);
                        }
                        Ok(Vec::new())
                    }
                    _ => Ok(Vec::new()), // thinking, signature and citation deltas
                }
            }
            "content_block_stop" => match self.block(index).cloned() {
                Some(Block::WrappedAnswer(buf)) => {
                    let input: Value = if buf.trim().is_empty() {
                        json!({})
                    } else {
                        serde_json::from_str(&buf)
                            .map_err(|e| format!("invalid JSON answer in the stream: {e}"))?
                    };
                    Ok(self.text(json_text(input.get("value").unwrap_or(&Value::Null))))
                }
                _ => Ok(Vec::new()),
            },
            "message_delta" => {
                if let Some(u) = v.get("usage") {
                    if u.get("output_tokens").is_some() {
                        self.completion_tokens = u32_at(u, "output_tokens");
                    }
                    if u.get("input_tokens").is_some_and(|t| !t.is_null()) {
                        (self.prompt_tokens, _) = parse_usage(u);
                    }
                    self.usage_seen = true;
                }
                let reason = v.pointer("/delta/stop_reason").and_then(Value::as_str);
                match reason {
                    Some(r) => {
                        let finish = map_stop_reason(Some(r), self.next_tool > 0);
                        Ok(vec![self.chunk(Delta::default(), Some(finish))])
                    }
                    None => Ok(Vec::new()),
                }
            }
            "message_stop" => {
                self.done = true;
                Ok(Vec::new())
            }
            "error" => Err(super::error_in(&v).unwrap_or_else(|| "Anthropic stream error".into())),
            _ => Ok(Vec::new()), // ping and future event types
        }
    }

    /// `message_stop` arrived.
    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn usage(&self) -> Option<Usage> {
        self.usage_seen
            .then(|| Usage::new(self.prompt_tokens, self.completion_tokens))
    }
}

/// `error.message` of Anthropic's `{"type":"error","error":{"type","message"}}`.
pub fn error_message(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body.trim()).ok()?;
    super::error_in(&v)
}

#[cfg(test)]
#[path = "anthropic_tests.rs"]
mod tests;
