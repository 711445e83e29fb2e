//! OpenAI Chat Completions: `POST /v1/chat/completions` (JSON, or SSE `data:` chunks ending
//! with `data: [DONE]` when `stream` is true), the `GET /v1/models` listing and
//! `{"error": {"message", "type", "param", "code"}}` error bodies.

use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::answer::{Answer, Content, Finish, Prompt, Tool, ToolChoice};
use crate::server::{answer_generation, Answered, AppState, Incoming, Provider};
use crate::sse::{data, sse_response};
use crate::text::{char_chunks, mix, unix_ms, word_pieces};

const MODELS: [&str; 4] = ["gpt-4o", "gpt-4o-mini", "gpt-4.1-mini", "o3-mini"];

/// `{"error": {...}}` for `status`.
pub(crate) fn error_body(status: u16, message: &str) -> Value {
    let (kind, code) = match status {
        401 => ("invalid_request_error", Value::from("invalid_api_key")),
        403 => ("invalid_request_error", Value::from("permission_denied")),
        404 => ("invalid_request_error", Value::from("not_found")),
        429 => ("requests", Value::from("rate_limit_exceeded")),
        500..=599 => ("server_error", Value::Null),
        _ => ("invalid_request_error", Value::Null),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

pub(crate) fn model(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": 1_700_000_000, "owned_by": "tierlm-mockcloud"})
}

pub(crate) fn models() -> Value {
    json!({"object": "list", "data": MODELS.iter().map(|m| model(m)).collect::<Vec<_>>()})
}

/// Request options that shape the response rather than the answer.
struct Opts {
    stream: bool,
    include_usage: bool,
}

/// The text of a message's `content`: a string, or the `text` of its parts joined by
/// newlines.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| {
                p.get("text")
                    .or_else(|| p.get("refusal"))
                    .and_then(Value::as_str)
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn parse(body: &Value) -> Result<(Prompt, Opts), String> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .ok_or("you must provide a model parameter")?;
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("'messages' is a required property")?;
    if messages.is_empty() {
        return Err("[] is too short - 'messages'".into());
    }
    let mut p = Prompt::new(model.to_string());
    for m in messages {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let text = content_text(m.get("content"));
        p.count(&text);
        if role == "user" && !text.trim().is_empty() {
            p.last_user_text = text;
        }
        for call in m
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let f = call.get("function").unwrap_or(&Value::Null);
            let name = f.get("name").and_then(Value::as_str).unwrap_or("");
            p.count_call(
                name,
                f.get("arguments").and_then(Value::as_str).unwrap_or(""),
            );
        }
        if let Some(f) = m.get("function_call") {
            let name = f.get("name").and_then(Value::as_str).unwrap_or("");
            p.count_call(
                name,
                f.get("arguments").and_then(Value::as_str).unwrap_or(""),
            );
        }
    }
    if let Some(last) = messages.last() {
        if matches!(
            last.get("role").and_then(Value::as_str),
            Some("tool" | "function")
        ) {
            p.tool_result = Some(content_text(last.get("content")));
        }
    }
    for t in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(f) = t.get("function") {
            push_tool(&mut p, f);
        }
    }
    for f in body
        .get("functions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        push_tool(&mut p, f);
    }
    p.tool_choice = match body
        .get("tool_choice")
        .or_else(|| body.get("function_call"))
    {
        Some(Value::String(s)) if s == "none" => ToolChoice::None,
        Some(Value::String(s)) if s == "required" => ToolChoice::Any,
        Some(Value::Object(o)) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| o.get("name"))
                .and_then(Value::as_str);
            match name {
                Some(n) => ToolChoice::Named(n.to_string()),
                None => ToolChoice::Auto,
            }
        }
        _ => ToolChoice::Auto,
    };
    if let Some(rf) = body.get("response_format") {
        match rf.get("type").and_then(Value::as_str) {
            Some("json_schema") => {
                let schema = rf.get("json_schema").and_then(|j| j.get("schema"));
                p.json_schema = Some(schema.cloned().unwrap_or(Value::Null));
            }
            Some("json_object") => p.json_schema = Some(Value::Null),
            _ => {}
        }
    }
    p.max_tokens = body
        .get("max_completion_tokens")
        .and_then(Value::as_u64)
        .or_else(|| body.get("max_tokens").and_then(Value::as_u64));
    p.stop = match body.get("stop") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    };
    let opts = Opts {
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        include_usage: body
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    Ok((p, opts))
}

fn push_tool(p: &mut Prompt, f: &Value) {
    if let Some(name) = f.get("name").and_then(Value::as_str) {
        let schema = f.get("parameters").cloned().unwrap_or(Value::Null);
        p.tools.push(Tool {
            name: name.to_string(),
            schema,
        });
    }
}

fn finish_reason(f: &Finish) -> &'static str {
    match f {
        Finish::End | Finish::Stop(_) => "stop",
        Finish::Length => "length",
        Finish::Tool => "tool_calls",
    }
}

fn usage(p: &Prompt, a: &Answer) -> Value {
    json!({
        "prompt_tokens": p.prompt_tokens,
        "completion_tokens": a.completion_tokens,
        "total_tokens": p.prompt_tokens + a.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    })
}

/// `POST /v1/chat/completions`
pub(crate) async fn chat(
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
        extra: opts,
        answer: a,
        seed,
        faults,
    } = match answer_generation(&s, Provider::OpenAi, req, None, parse).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let id = format!("chatcmpl-mock{seed:016x}");
    let call_id = format!("call_mock{:016x}", mix(seed, 1));
    let created = unix_ms() / 1000;
    if !opts.stream {
        let message = match &a.content {
            Content::Text(t) => {
                json!({"role": "assistant", "content": t, "refusal": null, "annotations": []})
            }
            Content::ToolCall {
                name, args_json, ..
            } => json!({
                "role": "assistant", "content": null, "refusal": null, "annotations": [],
                "tool_calls": [{"id": call_id, "type": "function",
                                "function": {"name": name, "arguments": args_json}}],
            }),
        };
        return Json(json!({
            "id": id, "object": "chat.completion", "created": created, "model": p.model,
            "choices": [{"index": 0, "message": message, "logprobs": null,
                         "finish_reason": finish_reason(&a.finish)}],
            "usage": usage(&p, &a),
            "service_tier": "default",
            "system_fingerprint": "fp_mockcloud",
        }))
        .into_response();
    }
    let chunk = |delta: Value, finish: Value| {
        let mut c = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": p.model,
            "system_fingerprint": "fp_mockcloud",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if opts.include_usage {
            c["usage"] = Value::Null;
        }
        data(&c)
    };
    let mut frames = vec![chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        Value::Null,
    )];
    match &a.content {
        Content::Text(t) => {
            for piece in word_pieces(t) {
                frames.push(chunk(json!({"content": piece}), Value::Null));
            }
        }
        Content::ToolCall {
            name, args_json, ..
        } => {
            frames.push(chunk(
                json!({"tool_calls": [{"index": 0, "id": call_id, "type": "function",
                                       "function": {"name": name, "arguments": ""}}]}),
                Value::Null,
            ));
            for piece in char_chunks(args_json, 16) {
                frames.push(chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                    Value::Null,
                ));
            }
        }
    }
    frames.push(chunk(json!({}), json!(finish_reason(&a.finish))));
    if opts.include_usage {
        frames.push(data(&json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": p.model,
            "system_fingerprint": "fp_mockcloud", "choices": [], "usage": usage(&p, &a),
        })));
    }
    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
    sse_response(frames, &faults)
}
