//! Google Gemini API (`generateContent`; base URL
//! `https://generativelanguage.googleapis.com`).
//!
//! Paths: `/v1beta/models/{model}:generateContent`, and for streaming
//! `/v1beta/models/{model}:streamGenerateContent` with the query `alt=sse` (an upstream
//! model already written as `models/…` or `tunedModels/…` is used as is).
//!
//! Request translation:
//! - `system`/`developer` messages → `systemInstruction.parts[].text`;
//! - user → role `user`, assistant → role `model`, consecutive turns of a role merged
//!   (parallel function responses must share one turn), empty text dropped;
//! - assistant `tool_calls` → `functionCall {name, args}` parts (empty arguments read
//!   as `{}`, anything but a JSON object is an error); `tool` messages → role `user`
//!   `functionResponse {name, response: {content}}` parts, `content` being the parsed
//!   JSON when the result is JSON and the text otherwise, the name found from the
//!   matching `tool_call_id` in the nearest earlier assistant message (or the
//!   message's `name`);
//! - `tools` → `tools[{functionDeclarations[{name, description, parameters}]}]`, a
//!   function without parameters declared without `parameters` (Gemini rejects an
//!   object schema with no properties); `tool_choice` → `toolConfig.
//!   functionCallingConfig.mode` `AUTO`/`ANY`/`NONE`, a named function → `ANY` with
//!   `allowedFunctionNames`;
//! - `generationConfig`: `temperature` (same 0–2 range), `topP`, `topK` (when
//!   positive), `maxOutputTokens`, `stopSequences`, `candidateCount` (= `n`), `seed`,
//!   `presencePenalty`, `frequencyPenalty`, `responseLogprobs`/`logprobs` (=
//!   `top_logprobs`), `responseMimeType: application/json` for `json_object` and
//!   `json_schema`, plus `responseSchema` for the latter;
//! - `logit_bias` is `UnsupportedParameter`; `parallel_tool_calls`, `user`,
//!   `metadata`, `store` and the tierlm extensions `min_p`, `repetition_penalty` have no
//!   Gemini counterpart and are ignored.
//!
//! Schemas (`parameters`, `responseSchema`) are Gemini's OpenAPI 3.0 subset, so JSON
//! schemas are converted: local `$ref`s (`#/$defs/…`, `#/definitions/…`) are inlined
//! (recursion cut after [`MAX_SCHEMA_DEPTH`] levels), `allOf` is merged, `oneOf`
//! becomes `anyOf`, `const` a one-value `enum`, `type: [T, "null"]` and `anyOf [T,
//! {type: null}]` become `T` + `nullable`, type names are upper-cased, non-string
//! `enum`s are dropped, `format` is kept only where Gemini honours it (`enum`,
//! `date-time`, `float`, `double`, `int32`, `int64`), and every key outside
//! [`SCHEMA_KEYS`] is stripped — notably `additionalProperties`, `$schema`, `$id`,
//! `$defs`, `definitions`, `$comment`, `examples`, `strict`, `not`, `if`/`then`/`else`,
//! `patternProperties`, `prefixItems`, `uniqueItems`, `multipleOf`,
//! `exclusiveMinimum`/`exclusiveMaximum`, `readOnly`/`writeOnly` and `deprecated`.
//!
//! Responses: text parts → content (thought parts skipped), `functionCall` parts →
//! `tool_calls` with the call's own `id` when Gemini sends one, else `call_<n>`
//! (numbered through the response), arguments = JSON text of `args`. `finishReason`
//! `MAX_TOKENS` → `length`; `STOP` → `stop`, or `tool_calls` when the candidate called
//! functions; every other reason (`SAFETY`, `RECITATION`, `BLOCKLIST`,
//! `MALFORMED_FUNCTION_CALL`, …) → `stop` as well, since OpenAI's `content_filter` is
//! not in the gateway's `FinishReason`. A prompt blocked outright (no candidates,
//! `promptFeedback.blockReason`) is an error. Usage: prompt = `promptTokenCount`,
//! completion = `candidatesTokenCount` + `thoughtsTokenCount` (thinking tokens are
//! billed as output, as OpenAI counts reasoning tokens in `completion_tokens`).
//! `logprobsResult` maps to the OpenAI `logprobs.content` shape.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use tierlm_api::chat::{
    AssistantMessage, ChatChoice, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest,
    ChunkChoice, Delta, FinishReason, FunctionCall, ResponseFormat, Role, ToolCall, ToolCallDelta,
    ToolChoice,
};
use tierlm_api::logprobs::{ChoiceLogprobs, TokenLogprob, TopLogprob};
use tierlm_api::{ApiError, Usage};

use super::openai::{
    content_text, index_at, json_text, max_output_tokens, num, put, str_at, u32_at, RoleTracker,
};
use super::WireRequest;

/// JSON-schema keys Gemini's `Schema` accepts (discovery document, `Schema`).
pub const SCHEMA_KEYS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "items",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
];

/// How deep `$ref`s are followed before a recursive schema is cut.
pub const MAX_SCHEMA_DEPTH: usize = 16;

const FORMATS: &[&str] = &["enum", "date-time", "float", "double", "int32", "int64"];

pub fn build_request(
    req: &ChatCompletionRequest,
    upstream_model: &str,
    stream: bool,
) -> Result<WireRequest, ApiError> {
    if req.logit_bias.as_ref().is_some_and(|b| !b.is_empty()) {
        return Err(ApiError::unsupported(
            "logit_bias",
            "Gemini does not support `logit_bias`",
        ));
    }
    let model =
        if upstream_model.starts_with("models/") || upstream_model.starts_with("tunedModels/") {
            upstream_model.to_string()
        } else {
            format!("models/{upstream_model}")
        };
    let (path, query) = if stream {
        (
            format!("/v1beta/{model}:streamGenerateContent"),
            vec![("alt".to_string(), "sse".to_string())],
        )
    } else {
        (format!("/v1beta/{model}:generateContent"), Vec::new())
    };
    let (system, contents) = translate_messages(req)?;
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        let parts: Vec<Value> = system.into_iter().map(|t| json!({"text": t})).collect();
        body.insert("systemInstruction".into(), json!({"parts": parts}));
    }
    let declarations = translate_tools(req)?;
    if !declarations.is_empty() {
        body.insert(
            "tools".into(),
            json!([{"functionDeclarations": declarations}]),
        );
        put(&mut body, "toolConfig", tool_config(req)?);
    }
    let config = generation_config(req);
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    Ok(WireRequest {
        path,
        query,
        body: Value::Object(body),
    })
}

/// The system texts and the `contents` array.
fn translate_messages(req: &ChatCompletionRequest) -> Result<(Vec<String>, Vec<Value>), ApiError> {
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let text = content_text(i, m.content.as_ref())?;
        let (role, parts) = match m.role {
            Role::System | Role::Developer => {
                if !text.is_empty() {
                    system.push(text);
                }
                continue;
            }
            Role::User => ("user", text_part(text)),
            Role::Assistant => {
                let mut parts = text_part(text);
                for (j, tc) in m.tool_calls.iter().flatten().enumerate() {
                    let args = parse_arguments(&tc.function.arguments).ok_or_else(|| {
                        ApiError::invalid(
                            &format!("messages[{i}].tool_calls[{j}].function.arguments"),
                            "tool-call arguments must be a JSON object",
                        )
                    })?;
                    parts.push(json!({"functionCall": {"name": tc.function.name, "args": args}}));
                }
                ("model", parts)
            }
            Role::Tool => {
                let name = tool_name_for(req, i).ok_or_else(|| {
                    ApiError::invalid(
                        &format!("messages[{i}].tool_call_id"),
                        "a `tool` message must answer a tool call of an earlier assistant message",
                    )
                })?;
                let content = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
                (
                    "user",
                    vec![
                        json!({"functionResponse": {"name": name, "response": {"content": content}}}),
                    ],
                )
            }
        };
        if parts.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(parts),
            _ => turns.push((role, parts)),
        }
    }
    let contents = turns
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect();
    Ok((system, contents))
}

fn text_part(text: String) -> Vec<Value> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![json!({"text": text})]
    }
}

fn parse_arguments(arguments: &str) -> Option<Value> {
    if arguments.trim().is_empty() {
        return Some(json!({}));
    }
    serde_json::from_str::<Value>(arguments)
        .ok()
        .filter(Value::is_object)
}

/// The function name a `tool` message answers: the nearest earlier assistant call
/// with its `tool_call_id`, else the message's own `name`.
fn tool_name_for(req: &ChatCompletionRequest, i: usize) -> Option<String> {
    let msg = &req.messages[i];
    let from_calls = msg.tool_call_id.as_ref().and_then(|id| {
        req.messages[..i].iter().rev().find_map(|m| {
            m.tool_calls
                .iter()
                .flatten()
                .find(|tc| &tc.id == id)
                .map(|tc| tc.function.name.clone())
        })
    });
    from_calls.or_else(|| msg.name.clone().filter(|n| !n.is_empty()))
}

fn translate_tools(req: &ChatCompletionRequest) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    for (i, t) in req.tools.iter().flatten().enumerate() {
        if t.kind != "function" {
            return Err(ApiError::unsupported(
                &format!("tools[{i}].type"),
                format!("tool type `{}` is not supported by Gemini", t.kind),
            ));
        }
        let mut decl = json!({"name": t.function.name});
        if let Some(d) = t.function.description.as_ref().filter(|d| !d.is_empty()) {
            decl["description"] = json!(d);
        }
        if let Some(params) = &t.function.parameters {
            let schema = to_gemini_schema(params);
            let has_properties = schema
                .get("properties")
                .and_then(Value::as_object)
                .is_some_and(|p| !p.is_empty());
            if has_properties {
                decl["parameters"] = schema;
            }
        }
        out.push(decl);
    }
    Ok(out)
}

fn tool_config(req: &ChatCompletionRequest) -> Result<Option<Value>, ApiError> {
    let config = match &req.tool_choice {
        None => return Ok(None),
        Some(ToolChoice::Mode(m)) => match m.as_str() {
            "auto" => json!({"mode": "AUTO"}),
            "required" => json!({"mode": "ANY"}),
            "none" => json!({"mode": "NONE"}),
            other => {
                return Err(ApiError::invalid(
                    "tool_choice",
                    format!("unknown tool_choice `{other}`; expected auto, required or none"),
                ))
            }
        },
        Some(ToolChoice::Named(n)) => {
            json!({"mode": "ANY", "allowedFunctionNames": [n.function.name]})
        }
    };
    Ok(Some(json!({"functionCallingConfig": config})))
}

fn generation_config(req: &ChatCompletionRequest) -> Map<String, Value> {
    let mut c = Map::new();
    put(&mut c, "temperature", req.temperature.map(num));
    put(&mut c, "topP", req.top_p.map(num));
    put(
        &mut c,
        "topK",
        req.top_k.filter(|k| *k > 0).map(|k| json!(k)),
    );
    put(
        &mut c,
        "maxOutputTokens",
        max_output_tokens(req).map(|n| json!(n)),
    );
    if let Some(stop) = req.stop.clone() {
        let stop = stop.into_vec();
        if !stop.is_empty() {
            c.insert("stopSequences".into(), json!(stop));
        }
    }
    put(
        &mut c,
        "candidateCount",
        req.n.filter(|n| *n > 1).map(|n| json!(n)),
    );
    // Gemini's seed is an int32; larger seeds keep their low 32 bits.
    put(&mut c, "seed", req.seed.map(|s| json!(s as i32)));
    put(&mut c, "presencePenalty", req.presence_penalty.map(num));
    put(&mut c, "frequencyPenalty", req.frequency_penalty.map(num));
    if req.logprobs == Some(true) {
        c.insert("responseLogprobs".into(), json!(true));
        put(&mut c, "logprobs", req.top_logprobs.map(|n| json!(n)));
    }
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => {
            c.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            c.insert("responseMimeType".into(), json!("application/json"));
            if let Some(schema) = &json_schema.schema {
                c.insert("responseSchema".into(), to_gemini_schema(schema));
            }
        }
        Some(ResponseFormat::Text) | None => {}
    }
    c
}

/// A JSON schema converted to Gemini's `Schema` (see the module docs).
pub fn to_gemini_schema(schema: &Value) -> Value {
    convert_schema(schema, schema, 0)
}

fn convert_schema(s: &Value, root: &Value, depth: usize) -> Value {
    let Some(obj) = s.as_object() else {
        return json!({}); // `true`: anything
    };
    if depth > MAX_SCHEMA_DEPTH {
        return json!({});
    }
    if let Some(target) = obj
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer))
    {
        // Siblings of `$ref` (a description, say) override the target's.
        let mut merged = target.as_object().cloned().unwrap_or_default();
        for (k, v) in obj.iter().filter(|(k, _)| k.as_str() != "$ref") {
            merged.insert(k.clone(), v.clone());
        }
        return convert_schema(&Value::Object(merged), root, depth + 1);
    }
    let mut out = Map::new();
    for sub in obj
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        merge_schema(&mut out, convert_schema(sub, root, depth + 1));
    }
    for (key, value) in obj {
        match key.as_str() {
            "type" => set_type(&mut out, value),
            "const" if !obj.contains_key("enum") => set_enum(&mut out, &json!([value])),
            "enum" => set_enum(&mut out, value),
            "anyOf" | "oneOf" => {
                let subs: Vec<Value> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|v| convert_schema(v, root, depth + 1))
                    .collect();
                let non_null: Vec<Value> = subs
                    .iter()
                    .filter(|v| v.get("type").and_then(Value::as_str) != Some("NULL"))
                    .cloned()
                    .collect();
                if non_null.len() < subs.len() {
                    out.insert("nullable".into(), json!(true));
                }
                match non_null.len() {
                    0 => {}
                    1 => {
                        for (k, v) in non_null.into_iter().flat_map(|v| match v {
                            Value::Object(m) => m,
                            _ => Map::new(),
                        }) {
                            out.entry(k).or_insert(v);
                        }
                    }
                    _ => {
                        out.insert("anyOf".into(), Value::Array(non_null));
                    }
                }
            }
            "properties" => {
                let props: Map<String, Value> = value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), convert_schema(v, root, depth + 1)))
                    .collect();
                out.insert("properties".into(), Value::Object(props));
            }
            "items" if value.is_object() => {
                out.insert("items".into(), convert_schema(value, root, depth + 1));
            }
            "format" if value.as_str().is_some_and(|f| FORMATS.contains(&f)) => {
                out.insert("format".into(), value.clone());
            }
            "items" | "nullable" | "format" => {}
            k if SCHEMA_KEYS.contains(&k) => {
                out.insert(key.clone(), value.clone());
            }
            _ => {}
        }
    }
    if obj.get("nullable") == Some(&json!(true)) {
        out.insert("nullable".into(), json!(true));
    }
    Value::Object(out)
}

/// `type`: upper-cased; `[T, "null"]` → `T` + nullable; several types → `anyOf`.
fn set_type(out: &mut Map<String, Value>, value: &Value) {
    match value {
        Value::String(t) => {
            out.insert("type".into(), json!(t.to_uppercase()));
        }
        Value::Array(types) => {
            let names: Vec<String> = types
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .map(str::to_uppercase)
                .collect();
            if names.len() < types.len() {
                out.insert("nullable".into(), json!(true));
            }
            match names.as_slice() {
                [] => {
                    out.insert("type".into(), json!("NULL"));
                }
                [one] => {
                    out.insert("type".into(), json!(one));
                }
                many => {
                    let any: Vec<Value> = many.iter().map(|t| json!({"type": t})).collect();
                    out.insert("anyOf".into(), Value::Array(any));
                }
            }
        }
        _ => {}
    }
}

/// `enum`: strings only (a `null` member makes the schema nullable).
fn set_enum(out: &mut Map<String, Value>, value: &Value) {
    let Some(values) = value.as_array() else {
        return;
    };
    if values.iter().any(Value::is_null) {
        out.insert("nullable".into(), json!(true));
    }
    let values: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
    if !values.is_empty() && values.iter().all(|v| v.is_string()) {
        out.insert("enum".into(), json!(values));
        out.entry("type").or_insert_with(|| json!("STRING"));
    }
}

/// `allOf`: properties and `required` are unioned; other keys kept from the first.
fn merge_schema(out: &mut Map<String, Value>, sub: Value) {
    let Value::Object(sub) = sub else { return };
    for (k, v) in sub {
        match (k.as_str(), out.get_mut(&k), v) {
            ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => {
                mine.extend(theirs);
            }
            ("required", Some(Value::Array(mine)), Value::Array(theirs)) => {
                for r in theirs {
                    if !mine.contains(&r) {
                        mine.push(r);
                    }
                }
            }
            (_, None, v) => {
                out.insert(k, v);
            }
            _ => {}
        }
    }
}

fn map_finish(reason: &str, has_tool_calls: bool) -> FinishReason {
    match reason {
        "MAX_TOKENS" => FinishReason::Length,
        _ if has_tool_calls => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

fn parse_usage(u: &Value) -> Usage {
    Usage::new(
        u32_at(u, "promptTokenCount"),
        u32_at(u, "candidatesTokenCount").saturating_add(u32_at(u, "thoughtsTokenCount")),
    )
}

fn parse_logprobs(r: Option<&Value>) -> Option<ChoiceLogprobs> {
    let r = r?;
    let chosen = r.get("chosenCandidates")?.as_array()?;
    let top = r.get("topCandidates").and_then(Value::as_array);
    let entry = |c: &Value| {
        let token = str_at(c, "token").to_string();
        let logprob = c
            .get("logProbability")
            .and_then(Value::as_f64)
            .unwrap_or(0.0) as f32;
        (token, logprob)
    };
    let content = chosen
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (token, logprob) = entry(c);
            let top_logprobs = top
                .and_then(|t| t.get(i))
                .and_then(|t| t.get("candidates"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| {
                    let (token, logprob) = entry(c);
                    TopLogprob {
                        bytes: token.as_bytes().to_vec(),
                        token,
                        logprob,
                    }
                })
                .collect();
            TokenLogprob {
                bytes: token.as_bytes().to_vec(),
                token,
                logprob,
                top_logprobs,
            }
        })
        .collect();
    Some(ChoiceLogprobs { content })
}

/// The text (thoughts skipped) and function calls of a candidate's parts.
fn read_parts(candidate: &Value, next_call: &mut u32) -> (String, Vec<ToolCall>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    let parts = candidate
        .pointer("/content/parts")
        .and_then(Value::as_array);
    for p in parts.into_iter().flatten() {
        if let Some(fc) = p.get("functionCall") {
            let id = match str_at(fc, "id") {
                "" => format!("call_{next_call}"),
                id => id.to_string(),
            };
            *next_call += 1;
            calls.push(ToolCall {
                id,
                kind: "function".into(),
                function: FunctionCall {
                    name: str_at(fc, "name").to_string(),
                    arguments: json_text(fc.get("args").unwrap_or(&json!({}))),
                },
            });
        } else if p.get("thought").and_then(Value::as_bool) != Some(true) {
            text.push_str(str_at(p, "text"));
        }
    }
    (text, calls)
}

/// The error for a response without candidates.
fn no_candidates(body: &Value) -> String {
    match body
        .pointer("/promptFeedback/blockReason")
        .and_then(Value::as_str)
    {
        Some(reason) => format!("Gemini blocked the prompt ({reason})"),
        None => "the response has no candidates".into(),
    }
}

pub fn parse_response(body: &Value, model: &str) -> Result<ChatCompletion, String> {
    if let Some(message) = super::error_in(body) {
        return Err(message);
    }
    let candidates = body
        .get("candidates")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| no_candidates(body))?;
    let mut next_call = 0;
    let mut choices = Vec::with_capacity(candidates.len());
    for (pos, c) in candidates.iter().enumerate() {
        let (text, calls) = read_parts(c, &mut next_call);
        let finish = map_finish(str_at(c, "finishReason"), !calls.is_empty());
        choices.push(ChatChoice {
            index: index_at(c, pos),
            message: AssistantMessage::new(
                if text.is_empty() && !calls.is_empty() {
                    None
                } else {
                    Some(text)
                },
                (!calls.is_empty()).then_some(calls),
            ),
            logprobs: parse_logprobs(c.get("logprobsResult")),
            finish_reason: finish,
        });
    }
    Ok(ChatCompletion {
        id: body
            .get("responseId")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| tierlm_api::ids::new_id("chatcmpl")),
        object: "chat.completion".into(),
        created: tierlm_api::ids::unix_now(),
        model: model.to_string(),
        choices,
        usage: body
            .get("usageMetadata")
            .map(parse_usage)
            .unwrap_or_default(),
        system_fingerprint: None,
    })
}

/// Decodes `streamGenerateContent?alt=sse`: every event is a partial
/// `GenerateContentResponse` whose parts are new text or whole function calls.
#[derive(Debug)]
pub struct StreamDecoder {
    model: String,
    id: String,
    created: u64,
    roles: RoleTracker,
    next_call: u32,
    /// Per candidate index: how many tool calls it made, and whether it finished.
    candidates: BTreeMap<u32, (u32, bool)>,
    usage: Option<Usage>,
}

impl StreamDecoder {
    pub fn new(model: &str, id: String, created: u64) -> Self {
        Self {
            model: model.to_string(),
            id,
            created,
            roles: RoleTracker::default(),
            next_call: 0,
            candidates: BTreeMap::new(),
            usage: None,
        }
    }

    pub fn on_event(
        &mut self,
        _event: Option<&str>,
        data: &str,
    ) -> Result<Vec<ChatCompletionChunk>, String> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let v: Value =
            serde_json::from_str(data).map_err(|e| format!("invalid JSON in the stream: {e}"))?;
        if let Some(message) = super::error_in(&v) {
            return Err(message);
        }
        if let Some(u) = v.get("usageMetadata") {
            self.usage = Some(parse_usage(u));
        }
        let candidates = v.get("candidates").and_then(Value::as_array);
        if candidates.is_none_or(Vec::is_empty) {
            if v.pointer("/promptFeedback/blockReason").is_some() {
                return Err(no_candidates(&v));
            }
            return Ok(Vec::new());
        }
        let mut choices = Vec::new();
        for (pos, c) in candidates.into_iter().flatten().enumerate() {
            let index = index_at(c, pos);
            let (text, calls) = read_parts(c, &mut self.next_call);
            let state = self.candidates.entry(index).or_default();
            let first_call = state.0;
            state.0 += u32::try_from(calls.len()).unwrap_or(u32::MAX);
            let tool_calls: Vec<ToolCallDelta> = calls
                .into_iter()
                .zip(first_call..)
                .map(|(tc, i)| ToolCallDelta {
                    index: i,
                    id: tc.id,
                    kind: tc.kind,
                    function: tc.function,
                })
                .collect();
            let finish = match c.get("finishReason").and_then(Value::as_str) {
                Some(r) if !r.is_empty() && r != "FINISH_REASON_UNSPECIFIED" => {
                    state.1 = true;
                    Some(map_finish(r, state.0 > 0))
                }
                _ => None,
            };
            let logprobs = parse_logprobs(c.get("logprobsResult"));
            if text.is_empty() && tool_calls.is_empty() && finish.is_none() && logprobs.is_none() {
                continue;
            }
            choices.push(ChunkChoice {
                index,
                delta: Delta {
                    role: self.roles.take(index),
                    content: (!text.is_empty()).then_some(text),
                    tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                },
                logprobs,
                finish_reason: finish,
            });
        }
        if choices.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices,
            usage: None,
        }])
    }

    /// Every candidate seen has a `finishReason`.
    pub fn is_done(&self) -> bool {
        !self.candidates.is_empty() && self.candidates.values().all(|(_, done)| *done)
    }

    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }
}

/// `error.message` of Google's `{"error":{"code","message","status"}}`, also when
/// wrapped in an array (as the non-SSE stream sends it).
pub fn error_message(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body.trim()).ok()?;
    match &v {
        Value::Array(items) => items.iter().find_map(super::error_in),
        _ => super::error_in(&v),
    }
}

#[cfg(test)]
#[path = "gemini_tests.rs"]
mod tests;
