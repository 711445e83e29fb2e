//! Wire shapes, usage exactness and answer rules of the three provider APIs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{post, post_sse, start, ANTHROPIC};
use serde_json::{json, Value};
use tierlm_mockcloud::{tokens, Config, Fixture};

fn weather_tool_openai() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"]}}}])
}

#[tokio::test]
async fn openai_json_shape_and_usage() {
    let base = start(Config::default()).await;
    let (status, _, r) = post(
        &format!("{base}/v1/chat/completions"),
        &[],
        &json!({"model": "gpt-4o-mini", "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [{"type": "text", "text": "Hello there   mock"}]}]}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["object"], "chat.completion");
    assert!(r["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(r["model"], "gpt-4o-mini");
    let choice = &r["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(
        choice["message"]["content"],
        "Mock answer to: Hello there mock"
    );
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(r["usage"]["prompt_tokens"], 6);
    assert_eq!(r["usage"]["completion_tokens"], 6);
    assert_eq!(r["usage"]["total_tokens"], 12);
}

#[tokio::test]
async fn openai_stream_shape() {
    let base = start(Config::default()).await;
    let (status, events) = post_sse(
        &format!("{base}/v1/chat/completions"),
        &[],
        &json!({"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true},
                "messages": [{"role": "user", "content": "one two  three"}]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Mock answer to: one two three");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], 3);
    assert_eq!(usage["usage"]["completion_tokens"], 6);
    // One delta per word.
    let deltas = chunks
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        })
        .count();
    assert_eq!(deltas, 6);
}

#[tokio::test]
async fn openai_tools_and_tool_results() {
    let base = start(Config::default()).await;
    let url = format!("{base}/v1/chat/completions");
    let (_, _, r) = post(
        &url,
        &[],
        &json!({"model": "gpt-4o", "tools": weather_tool_openai(),
                "messages": [{"role": "user", "content": "Please call it: weather in Paris?"}]}),
    )
    .await;
    let call = &r["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(r["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let args = call["function"]["arguments"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(args).unwrap(),
        json!({"city": "Paris", "unit": "celsius"})
    );
    assert_eq!(
        r["usage"]["completion_tokens"],
        tokens("get_weather") + tokens(args)
    );

    // Forced by tool_choice, no "call" word.
    let (_, _, r) = post(
        &url,
        &[],
        &json!({"model": "gpt-4o", "tools": weather_tool_openai(), "tool_choice": "required",
                "messages": [{"role": "user", "content": "hello"}]}),
    )
    .await;
    assert_eq!(
        r["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );

    // Tool result: answered, and counted in the prompt.
    let (_, _, r) = post(
        &url,
        &[],
        &json!({"model": "gpt-4o", "tools": weather_tool_openai(), "messages": [
            {"role": "user", "content": "call weather in Paris"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny and warm"}]}),
    )
    .await;
    assert_eq!(
        r["choices"][0]["message"]["content"],
        "Tool result received: sunny and warm"
    );
    assert_eq!(r["usage"]["prompt_tokens"], 4 + 2 + 3);
    assert_eq!(r["usage"]["completion_tokens"], 6);
}

#[tokio::test]
async fn openai_limits_and_json_mode() {
    let base = start(Config::default()).await;
    let url = format!("{base}/v1/chat/completions");
    let msgs = json!([{"role": "user", "content": "alpha beta"}]);
    let (_, _, r) = post(
        &url,
        &[],
        &json!({"model": "m", "messages": msgs, "max_tokens": 2}),
    )
    .await;
    assert_eq!(r["choices"][0]["message"]["content"], "Mock answer");
    assert_eq!(r["choices"][0]["finish_reason"], "length");
    assert_eq!(r["usage"]["completion_tokens"], 2);
    let (_, _, r) = post(
        &url,
        &[],
        &json!({"model": "m", "messages": msgs, "stop": "beta"}),
    )
    .await;
    assert_eq!(
        r["choices"][0]["message"]["content"],
        "Mock answer to: alpha "
    );
    assert_eq!(r["choices"][0]["finish_reason"], "stop");
    assert_eq!(r["usage"]["completion_tokens"], 4);
    let schema = json!({"type": "object", "properties": {"n": {"type": "integer", "minimum": 3},
        "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["n", "tags"],
        "additionalProperties": false});
    let (_, _, r) = post(&url, &[], &json!({"model": "m", "messages": msgs,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": true}}})).await;
    let content: Value =
        serde_json::from_str(r["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(content, json!({"n": 3, "tags": []}));
    let (_, _, r) = post(
        &url,
        &[],
        &json!({"model": "m", "messages": msgs, "response_format": {"type": "json_object"}}),
    )
    .await;
    assert_eq!(r["choices"][0]["message"]["content"], "{}");
    // Invalid requests get OpenAI-shaped 400s.
    let (status, _, r) = post(&url, &[], &json!({"model": "m"})).await;
    assert_eq!(status, 400);
    assert_eq!(r["error"]["type"], "invalid_request_error");
    assert!(r["error"].as_object().unwrap().contains_key("param"));
}

#[tokio::test]
async fn anthropic_json_shape_and_errors() {
    let base = start(Config::default()).await;
    let url = format!("{base}/v1/messages");
    let body = json!({"model": "claude-haiku-4-5", "max_tokens": 100, "system": "Be brief please",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi Claude"}]}]});
    let (status, _, r) = post(&url, &ANTHROPIC, &body).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["type"], "message");
    assert_eq!(r["role"], "assistant");
    assert_eq!(
        r["content"][0],
        json!({"type": "text", "text": "Mock answer to: Hi Claude", "citations": null})
    );
    assert_eq!(r["stop_reason"], "end_turn");
    assert_eq!(r["stop_sequence"], Value::Null);
    assert_eq!(r["usage"]["input_tokens"], 5);
    assert_eq!(r["usage"]["output_tokens"], 5);

    let mut no_max = body.clone();
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let (status, _, r) = post(&url, &ANTHROPIC, &no_max).await;
    assert_eq!(status, 400);
    assert_eq!(r["type"], "error");
    assert_eq!(r["error"]["type"], "invalid_request_error");
    assert!(r["error"]["message"]
        .as_str()
        .unwrap()
        .contains("max_tokens"));

    let (status, _, r) = post(&url, &[], &body).await;
    assert_eq!(status, 400, "anthropic-version is required: {r}");

    let mut stop = body.clone();
    stop["stop_sequences"] = json!(["Claude"]);
    let (_, _, r) = post(&url, &ANTHROPIC, &stop).await;
    assert_eq!(r["stop_reason"], "stop_sequence");
    assert_eq!(r["stop_sequence"], "Claude");
    assert_eq!(r["content"][0]["text"], "Mock answer to: Hi ");
    let mut short = body.clone();
    short["max_tokens"] = json!(3);
    let (_, _, r) = post(&url, &ANTHROPIC, &short).await;
    assert_eq!(r["stop_reason"], "max_tokens");
    assert_eq!(r["content"][0]["text"], "Mock answer to:");
    assert_eq!(r["usage"]["output_tokens"], 3);
}

#[tokio::test]
async fn anthropic_stream_text_and_tool_use() {
    let base = start(Config::default()).await;
    let url = format!("{base}/v1/messages");
    let (status, events) = post_sse(
        &url,
        &ANTHROPIC,
        &json!({"model": "claude-sonnet-4-5",
        "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "a b c"}]}),
    )
    .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names[1], "content_block_start");
    assert_eq!(
        &names[names.len() - 3..],
        &["content_block_stop", "message_delta", "message_stop"]
    );
    let datas: Vec<Value> = events
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    for ((name, _), d) in events.iter().zip(&datas) {
        assert_eq!(&d["type"], name);
    }
    assert_eq!(datas[0]["message"]["usage"]["input_tokens"], 3);
    let text: String = datas
        .iter()
        .filter(|d| d["type"] == "content_block_delta")
        .map(|d| d["delta"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Mock answer to: a b c");
    let delta = &datas[datas.len() - 2];
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 6);

    let tools = json!([{"name": "lookup", "description": "Look up",
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer", "minimum": 1}}, "required": ["query", "limit"]}}]);
    let (_, events) = post_sse(
        &url,
        &ANTHROPIC,
        &json!({"model": "claude-sonnet-4-5", "max_tokens": 50,
        "stream": true, "tools": tools, "tool_choice": {"type": "tool", "name": "lookup"},
        "messages": [{"role": "user", "content": "find it"}]}),
    )
    .await;
    let datas: Vec<Value> = events
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(datas[1]["content_block"]["type"], "tool_use");
    assert_eq!(datas[1]["content_block"]["name"], "lookup");
    let json_text: String = datas
        .iter()
        .filter(|d| d["type"] == "content_block_delta")
        .map(|d| {
            assert_eq!(d["delta"]["type"], "input_json_delta");
            d["delta"]["partial_json"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&json_text).unwrap(),
        json!({"query": "x", "limit": 1})
    );
    assert_eq!(datas[datas.len() - 2]["delta"]["stop_reason"], "tool_use");

    // Tool result in the history.
    let (_, _, r) = post(&url, &ANTHROPIC, &json!({"model": "claude-sonnet-4-5", "max_tokens": 50,
        "tools": tools, "messages": [
            {"role": "user", "content": "call lookup"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {"query": "x"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "42 results"}]}]}]})).await;
    assert_eq!(r["content"][0]["text"], "Tool result received: 42 results");
    assert_eq!(r["usage"]["input_tokens"], 2 + 2 + 2);
}

#[tokio::test]
async fn gemini_generate_and_stream() {
    let base = start(Config::default()).await;
    let body = json!({"systemInstruction": {"parts": [{"text": "be nice"}]},
        "contents": [{"role": "user", "parts": [{"text": "Tell me a joke"}]}],
        "generationConfig": {"maxOutputTokens": 100}});
    let (status, _, r) = post(
        &format!("{base}/v1beta/models/gemini-2.5-flash:generateContent"),
        &[],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let cand = &r["candidates"][0];
    assert_eq!(cand["content"]["role"], "model");
    assert_eq!(
        cand["content"]["parts"][0]["text"],
        "Mock answer to: Tell me a joke"
    );
    assert_eq!(cand["finishReason"], "STOP");
    assert_eq!(r["usageMetadata"]["promptTokenCount"], 6);
    assert_eq!(r["usageMetadata"]["candidatesTokenCount"], 7);
    assert_eq!(r["usageMetadata"]["totalTokenCount"], 13);
    assert_eq!(r["modelVersion"], "gemini-2.5-flash");

    let (status, events) = post_sse(
        &format!("{base}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
        &[],
        &body,
    )
    .await;
    assert_eq!(status, 200);
    let datas: Vec<Value> = events
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(datas.len(), 7);
    let text: String = datas
        .iter()
        .map(|d| {
            d["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(text, "Mock answer to: Tell me a joke");
    let last = datas.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 7);
    assert!(datas[0]["candidates"][0].get("finishReason").is_none());

    // Without alt=sse: one JSON array.
    let text = common::client()
        .post(format!(
            "{base}/v1beta/models/gemini-2.5-flash:streamGenerateContent"
        ))
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(serde_json::from_str::<Vec<Value>>(&text).unwrap().len(), 7);

    let mut short = body.clone();
    short["generationConfig"] = json!({"maxOutputTokens": 2, "stopSequences": ["zzz"]});
    let (_, _, r) = post(
        &format!("{base}/v1beta/models/gemini-2.5-pro:generateContent"),
        &[],
        &short,
    )
    .await;
    assert_eq!(r["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(
        r["candidates"][0]["content"]["parts"][0]["text"],
        "Mock answer"
    );
}

#[tokio::test]
async fn gemini_tools_and_json() {
    let base = start(Config::default()).await;
    let url = format!("{base}/v1beta/models/gemini-2.5-flash:generateContent");
    let tools = json!([{"functionDeclarations": [{"name": "get_weather",
        "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER"}}, "required": ["city"]}}]}]);
    let (_, _, r) = post(
        &url,
        &[],
        &json!({"tools": tools, "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "contents": [{"role": "user", "parts": [{"text": "weather in Oslo"}]}]}),
    )
    .await;
    let part = &r["candidates"][0]["content"]["parts"][0];
    assert_eq!(
        part["functionCall"],
        json!({"name": "get_weather", "args": {"city": "Oslo"}})
    );
    assert_eq!(r["usageMetadata"]["candidatesTokenCount"], 2);

    let (_, _, r) = post(&url, &[], &json!({"tools": tools, "contents": [
        {"role": "user", "parts": [{"text": "call weather in Oslo"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "rain"}}}]}]})).await;
    assert_eq!(
        r["candidates"][0]["content"]["parts"][0]["text"],
        "Tool result received: {\"result\":\"rain\"}"
    );

    let (_, _, r) = post(&url, &[], &json!({"contents": [{"parts": [{"text": "json please"}]}],
        "generationConfig": {"responseMimeType": "application/json",
            "responseSchema": {"type": "OBJECT", "properties": {"ok": {"type": "BOOLEAN"}}, "required": ["ok"]}}})).await;
    let text = r["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap(),
        json!({"ok": false})
    );

    let (status, _, r) = post(&url, &[], &json!({"nope": 1})).await;
    assert_eq!(status, 400);
    assert_eq!(r["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(r["error"]["code"], 400);
}

#[tokio::test]
async fn fixtures_stats_models_and_health() {
    let base = start(Config {
        fixtures: vec![
            Fixture {
                prompt: "What is 2+2?".into(),
                answer: "4".into(),
                model: None,
            },
            Fixture {
                prompt: "What is 2+2?".into(),
                answer: "four".into(),
                model: Some("gpt-4o".into()),
            },
        ],
        ..Config::default()
    })
    .await;
    let url = format!("{base}/v1/chat/completions");
    let msgs = json!([{"role": "user", "content": "What is 2+2?"}]);
    let (_, _, r) = post(
        &url,
        &[],
        &json!({"model": "gpt-4o-mini", "messages": msgs}),
    )
    .await;
    assert_eq!(r["choices"][0]["message"]["content"], "4");
    let (_, _, r) = post(&url, &[], &json!({"model": "gpt-4o", "messages": msgs})).await;
    assert_eq!(r["choices"][0]["message"]["content"], "four");
    let (_, _, _) = post(
        &url,
        &[("x-mock-status", "500")],
        &json!({"model": "gpt-4o", "messages": msgs}),
    )
    .await;

    let stats: Value = common::client()
        .get(format!("{base}/mock/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"], 3);
    assert_eq!(stats["errors"], 1);
    assert_eq!(stats["prompt_tokens"], 6);
    assert_eq!(stats["completion_tokens"], 2);
    assert_eq!(stats["by_model"]["gpt-4o"]["requests"], 2);
    assert_eq!(stats["by_model"]["gpt-4o-mini"]["completion_tokens"], 1);
    common::client()
        .post(format!("{base}/mock/reset"))
        .send()
        .await
        .unwrap();
    let stats: Value = common::client()
        .get(format!("{base}/mock/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Each `common::client()` is a new client, so this very request came over the one
    // connection accepted since the reset.
    assert_eq!(
        stats,
        json!({"requests": 0, "errors": 0, "prompt_tokens": 0, "completion_tokens": 0, "by_model": {},
               "connections": 1})
    );

    let models: Value = common::client()
        .get(format!("{base}/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["object"], "model");
    let models: Value = common::client()
        .get(format!("{base}/v1/models"))
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["type"], "model");
    let models: Value = common::client()
        .get(format!("{base}/v1beta/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(models["models"][0]["name"]
        .as_str()
        .unwrap()
        .starts_with("models/"));
    let health = common::client()
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}
