//! Gemini API: `POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent` (SSE `data:` events with `?alt=sse`, else one streamed JSON
//! array), also under `/v1/models/`; `GET /v1beta/models[/{model}]`; and
//! `{"error": {"code", "message", "status"}}` error bodies. Request fields are read in
//! camelCase or snake_case, as the real API accepts both.

use axum::extract::Path;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::answer::{Answer, Content, Finish, Prompt, Tool, ToolChoice};
use crate::server::{answer_generation, listing, Answered, AppState, Incoming, Provider};
use crate::sse::{data, sse_response, streamed};
use crate::text::word_pieces;

const MODELS: [&str; 3] = ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash"];

/// `{"error": {"code", "message", "status"}}` for `status`.
pub(crate) fn error_body(status: u16, message: &str) -> Value {
    let name = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "NOT_IMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    };
    json!({"error": {"code": status, "message": message, "status": name}})
}

pub(crate) fn model(id: &str) -> Value {
    json!({
        "name": format!("models/{id}"), "baseModelId": id, "version": "001",
        "displayName": id, "inputTokenLimit": 1_048_576, "outputTokenLimit": 65_536,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent"],
    })
}

pub(crate) fn models() -> Value {
    json!({"models": MODELS.iter().map(|m| model(m)).collect::<Vec<_>>()})
}

/// `GET /v1beta/models`
pub(crate) async fn list(
    axum::extract::State(s): AppState,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    listing(&s, Provider::Gemini, method, uri, headers, None).await
}

/// `GET /v1beta/models/{model}`
pub(crate) async fn get(
    axum::extract::State(s): AppState,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    listing(&s, Provider::Gemini, method, uri, headers, Some(&id)).await
}

/// `obj[camel]`, or `obj[snake]`.
fn field<'a>(obj: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    obj.get(camel).or_else(|| obj.get(snake))
}

fn parts_text(parts: Option<&Value>) -> String {
    parts
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n")
}

fn parse(body: &Value, model: &str) -> Result<Prompt, String> {
    let contents = body
        .get("contents")
        .and_then(Value::as_array)
        .ok_or("* GenerateContentRequest.contents: contents is not specified")?;
    let mut p = Prompt::new(model.to_string());
    if let Some(sys) = field(body, "systemInstruction", "system_instruction") {
        p.count(&parts_text(sys.get("parts")));
    }
    for (i, c) in contents.iter().enumerate() {
        let role = c.get("role").and_then(Value::as_str).unwrap_or("user");
        let text = parts_text(c.get("parts"));
        p.count(&text);
        if role == "user" && !text.trim().is_empty() {
            p.last_user_text = text;
        }
        let mut results = Vec::new();
        for part in c
            .get("parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(call) = field(part, "functionCall", "function_call") {
                let name = call.get("name").and_then(Value::as_str).unwrap_or("");
                let args = call.get("args").map(Value::to_string).unwrap_or_default();
                p.count_call(name, &args);
            }
            if let Some(resp) = field(part, "functionResponse", "function_response") {
                let result = resp
                    .get("response")
                    .map(Value::to_string)
                    .unwrap_or_default();
                p.count(&result);
                results.push(result);
            }
        }
        if i + 1 == contents.len() && !results.is_empty() {
            p.tool_result = Some(results.join("\n"));
        }
    }
    for t in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let decls = field(t, "functionDeclarations", "function_declarations");
        for d in decls.and_then(Value::as_array).into_iter().flatten() {
            let Some(name) = d.get("name").and_then(Value::as_str) else {
                continue;
            };
            let schema = d
                .get("parameters")
                .or_else(|| field(d, "parametersJsonSchema", "parameters_json_schema"))
                .cloned()
                .unwrap_or(Value::Null);
            p.tools.push(Tool {
                name: name.to_string(),
                schema,
            });
        }
    }
    let calling = field(body, "toolConfig", "tool_config")
        .and_then(|t| field(t, "functionCallingConfig", "function_calling_config"));
    if let Some(cfg) = calling {
        let allowed = field(cfg, "allowedFunctionNames", "allowed_function_names")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str);
        p.tool_choice = match cfg.get("mode").and_then(Value::as_str) {
            Some("ANY") => allowed.map_or(ToolChoice::Any, |n| ToolChoice::Named(n.to_string())),
            Some("NONE") => ToolChoice::None,
            _ => ToolChoice::Auto,
        };
    }
    if let Some(gen) = field(body, "generationConfig", "generation_config") {
        p.max_tokens = field(gen, "maxOutputTokens", "max_output_tokens").and_then(Value::as_u64);
        p.stop = field(gen, "stopSequences", "stop_sequences")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let mime = field(gen, "responseMimeType", "response_mime_type").and_then(Value::as_str);
        if mime == Some("application/json") {
            let schema = field(gen, "responseSchema", "response_schema")
                .or_else(|| field(gen, "responseJsonSchema", "response_json_schema"))
                .or_else(|| gen.get("_responseJsonSchema"));
            p.json_schema = Some(schema.cloned().unwrap_or(Value::Null));
        }
    }
    Ok(p)
}

fn finish_reason(f: &Finish) -> &'static str {
    match f {
        Finish::Length => "MAX_TOKENS",
        Finish::End | Finish::Stop(_) | Finish::Tool => "STOP",
    }
}

fn usage(p: &Prompt, a: &Answer) -> Value {
    json!({
        "promptTokenCount": p.prompt_tokens,
        "candidatesTokenCount": a.completion_tokens,
        "totalTokenCount": p.prompt_tokens + a.completion_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": p.prompt_tokens}],
    })
}

/// One GenerateContentResponse with `parts`; the last one carries the finish reason and
/// the usage.
fn response(p: &Prompt, id: &str, parts: Value, last: Option<&Answer>) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    let mut out = json!({"candidates": [], "modelVersion": p.model, "responseId": id});
    if let Some(a) = last {
        candidate["finishReason"] = json!(finish_reason(&a.finish));
        out["usageMetadata"] = usage(p, a);
    }
    out["candidates"] = json!([candidate]);
    out
}

/// `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`.
pub(crate) async fn generate(
    axum::extract::State(s): AppState,
    Path(rest): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rest = rest.trim_start_matches('/');
    let Some((model, action)) = rest.rsplit_once(':') else {
        return Provider::Gemini.error(404, &format!("mock: unknown method models/{rest}"), 0);
    };
    let stream = match action {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return Provider::Gemini.error(404, &format!("mock: unknown method {action}"), 0),
    };
    let model = model.strip_prefix("models/").unwrap_or(model);
    let sse = uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse"));
    let req = Incoming {
        method,
        uri,
        headers,
        body,
    };
    let Answered {
        prompt: p,
        extra: (),
        answer: a,
        seed,
        faults,
    } = match answer_generation(&s, Provider::Gemini, req, Some(model), |b: &Value| {
        parse(b, model).map(|p| (p, ()))
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let id = format!("mock{seed:016x}");
    let events: Vec<Value> = match (&a.content, stream) {
        (Content::Text(t), false) => vec![response(&p, &id, json!([{"text": t}]), Some(&a))],
        (Content::ToolCall { name, args, .. }, _) => vec![response(
            &p,
            &id,
            json!([{"functionCall": {"name": name, "args": args}}]),
            Some(&a),
        )],
        (Content::Text(t), true) => {
            let pieces = word_pieces(t);
            let n = pieces.len().max(1);
            (0..n)
                .map(|i| {
                    let piece = pieces.get(i).copied().unwrap_or("");
                    let last = (i + 1 == n).then_some(&a);
                    response(&p, &id, json!([{"text": piece}]), last)
                })
                .collect()
        }
    };
    if !stream {
        let single = events.into_iter().next().unwrap_or(Value::Null);
        return Json(single).into_response();
    }
    if sse {
        return sse_response(events.iter().map(data).collect(), &faults);
    }
    // Without `alt=sse` the real API streams one JSON array.
    let n = events.len();
    let frames = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let open = if i == 0 { "[" } else { ",\r\n" };
            let close = if i + 1 == n { "]" } else { "" };
            Bytes::from(format!("{open}{e}{close}"))
        })
        .collect();
    streamed(frames, &faults, "application/json")
}
