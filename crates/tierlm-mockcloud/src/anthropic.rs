//! Anthropic Messages: `POST /v1/messages` (JSON, or SSE events `message_start`,
//! `content_block_start`, `content_block_delta`, `content_block_stop`, `message_delta`,
//! `message_stop` when `stream` is true), Anthropic's shape of `GET /v1/models`, and
//! `{"type": "error", "error": {"type", "message"}}` error bodies. `max_tokens` is
//! required, as on the real API.

use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::answer::{Answer, Content, Finish, Prompt, Tool, ToolChoice};
use crate::server::{answer_generation, Answered, AppState, Incoming, Provider};
use crate::sse::{event, sse_response};
use crate::text::{char_chunks, mix, word_pieces};

const MODELS: [&str; 3] = ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"];

/// `{"type": "error", "error": {...}}` for `status`.
pub(crate) fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        408 | 504 => "timeout_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message},
           "request_id": "req_mockcloud"})
}

pub(crate) fn model(id: &str) -> Value {
    json!({"type": "model", "id": id, "display_name": id, "created_at": "2025-01-01T00:00:00Z"})
}

pub(crate) fn models() -> Value {
    json!({
        "data": MODELS.iter().map(|m| model(m)).collect::<Vec<_>>(),
        "has_more": false, "first_id": MODELS[0], "last_id": MODELS[MODELS.len() - 1],
    })
}

/// Text of a `content` that is a string or a list of blocks (their `text`s joined by
/// newlines).
fn blocks_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn parse(body: &Value) -> Result<(Prompt, bool), String> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .ok_or("model: Field required")?;
    let max_tokens = body
        .get("max_tokens")
        .and_then(Value::as_u64)
        .ok_or("max_tokens: Field required")?;
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("messages: Field required")?;
    let mut p = Prompt::new(model.to_string());
    p.max_tokens = Some(max_tokens);
    p.count(&blocks_text(body.get("system")));
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let text = blocks_text(m.get("content"));
        p.count(&text);
        if role == "user" && !text.trim().is_empty() {
            p.last_user_text = text;
        }
        let mut results = Vec::new();
        for block in m
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match block.get("type").and_then(Value::as_str) {
                Some("tool_use") => {
                    let name = block.get("name").and_then(Value::as_str).unwrap_or("");
                    let input = block.get("input").map(Value::to_string).unwrap_or_default();
                    p.count_call(name, &input);
                }
                Some("tool_result") => {
                    let result = blocks_text(block.get("content"));
                    p.count(&result);
                    results.push(result);
                }
                _ => {}
            }
        }
        if i + 1 == messages.len() && role == "user" && !results.is_empty() {
            p.tool_result = Some(results.join("\n"));
        }
    }
    for t in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(name), Some(schema)) =
            (t.get("name").and_then(Value::as_str), t.get("input_schema"))
        else {
            continue;
        };
        p.tools.push(Tool {
            name: name.to_string(),
            schema: schema.clone(),
        });
    }
    if let Some(choice) = body.get("tool_choice") {
        p.tool_choice = match choice.get("type").and_then(Value::as_str) {
            Some("any") => ToolChoice::Any,
            Some("none") => ToolChoice::None,
            Some("tool") => match choice.get("name").and_then(Value::as_str) {
                Some(n) => ToolChoice::Named(n.to_string()),
                None => return Err("tool_choice.tool.name: Field required".into()),
            },
            _ => ToolChoice::Auto,
        };
    }
    p.stop = body
        .get("stop_sequences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let format = body
        .get("output_config")
        .and_then(|c| c.get("format"))
        .or_else(|| body.get("output_format"));
    if let Some(f) = format.filter(|f| f.get("type").and_then(Value::as_str) == Some("json_schema"))
    {
        p.json_schema = Some(f.get("schema").cloned().unwrap_or(Value::Null));
    }
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    Ok((p, stream))
}

fn stop_reason(f: &Finish) -> (&'static str, Value) {
    match f {
        Finish::End => ("end_turn", Value::Null),
        Finish::Length => ("max_tokens", Value::Null),
        Finish::Stop(s) => ("stop_sequence", json!(s)),
        Finish::Tool => ("tool_use", Value::Null),
    }
}

fn usage(input: u64, output: u64) -> Value {
    json!({
        "input_tokens": input, "output_tokens": output,
        "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
        "cache_creation": null, "server_tool_use": null, "service_tier": "standard",
        "inference_geo": null, "output_tokens_details": null,
    })
}

/// `POST /v1/messages`
pub(crate) async fn messages(
    axum::extract::State(s): AppState,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = Incoming {
        method,
        uri,
        headers,
        body,
    };
    let Answered {
        prompt: p,
        extra: stream,
        answer: a,
        seed,
        faults,
    } = match answer_generation(&s, Provider::Anthropic, req, None, parse).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let id = format!("msg_mock{seed:016x}");
    let tool_id = format!("toolu_mock{:016x}", mix(seed, 1));
    let (reason, sequence) = stop_reason(&a.finish);
    if !stream {
        return Json(message(&id, &p, Some((&a, &tool_id)))).into_response();
    }
    let mut frames = vec![event(
        "message_start",
        &json!({"type": "message_start", "message": message(&id, &p, None)}),
    )];
    let start = |block: Value| {
        event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0, "content_block": block}),
        )
    };
    let delta = |d: Value| {
        event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": d}),
        )
    };
    match &a.content {
        Content::Text(t) => {
            frames.push(start(
                json!({"type": "text", "text": "", "citations": null}),
            ));
            for piece in word_pieces(t) {
                frames.push(delta(json!({"type": "text_delta", "text": piece})));
            }
        }
        Content::ToolCall {
            name, args_json, ..
        } => {
            frames.push(start(
                json!({"type": "tool_use", "id": tool_id, "name": name, "input": {},
                                     "caller": {"type": "direct"}}),
            ));
            for piece in char_chunks(args_json, 16) {
                frames.push(delta(
                    json!({"type": "input_json_delta", "partial_json": piece}),
                ));
            }
        }
    }
    frames.push(event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    frames.push(event(
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": sequence, "stop_details": null,
                      "container": null},
            "usage": {"input_tokens": p.prompt_tokens, "output_tokens": a.completion_tokens,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                      "server_tool_use": null, "output_tokens_details": null},
        }),
    ));
    frames.push(event("message_stop", &json!({"type": "message_stop"})));
    sse_response(frames, &faults)
}

/// The Message object; with no answer, the empty one that `message_start` carries.
fn message(id: &str, p: &Prompt, answer: Option<(&Answer, &str)>) -> Value {
    let (content, reason, sequence, output) = match answer {
        None => (json!([]), Value::Null, Value::Null, 0),
        Some((a, tool_id)) => {
            let block = match &a.content {
                Content::Text(t) => json!({"type": "text", "text": t, "citations": null}),
                Content::ToolCall { name, args, .. } => json!({
                    "type": "tool_use", "id": tool_id, "name": name, "input": args,
                    "caller": {"type": "direct"},
                }),
            };
            let (reason, sequence) = stop_reason(&a.finish);
            (json!([block]), json!(reason), sequence, a.completion_tokens)
        }
    };
    json!({
        "id": id, "type": "message", "role": "assistant", "model": p.model,
        "content": content, "stop_reason": reason, "stop_sequence": sequence,
        "stop_details": null, "container": null, "usage": usage(p.prompt_tokens, output),
    })
}
