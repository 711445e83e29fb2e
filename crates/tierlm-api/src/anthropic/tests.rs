//! Translation tests of the Anthropic dialect.

use super::*;
use crate::chat::{
    AssistantMessage, ChatChoice, ChatCompletion, ChatCompletionChunk, ChunkChoice, Delta,
    FinishReason, FunctionCall, MessageContent, ResponseFormat, Role, ToolCall, ToolCallDelta,
    ToolChoice as ChatToolChoice,
};
use crate::Usage;

fn parse(json: &str) -> MessagesRequest {
    serde_json::from_str(json).unwrap()
}

#[test]
fn a_full_request_translates_to_chat() {
    let req = parse(
        r#"{"model":"auto","max_tokens":64,"system":[{"type":"text","text":"be brief"}],
        "messages":[
          {"role":"user","content":"weather in Paris?"},
          {"role":"assistant","content":[{"type":"text","text":"checking"},
            {"type":"tool_use","id":"toolu_1","name":"weather","input":{"city":"Paris"}}]},
          {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"sunny"},
            {"type":"text","text":"thanks"}]}],
        "tools":[{"name":"weather","description":"w","input_schema":{"type":"object"}}],
        "tool_choice":{"type":"any","disable_parallel_tool_use":true},
        "stop_sequences":["END"],"temperature":0,"top_k":5,
        "metadata":{"user_id":"u1"},
        "output_config":{"format":{"type":"json_schema","schema":{"type":"object"}}}}"#,
    );
    let chat = to_chat(req).unwrap();
    let roles: Vec<Role> = chat.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        vec![
            Role::System,
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::User
        ]
    );
    assert_eq!(
        chat.messages[0].content,
        Some(MessageContent::Text("be brief".into()))
    );
    let calls = chat.messages[2].tool_calls.as_ref().unwrap();
    assert_eq!(calls[0].id, "toolu_1");
    assert_eq!(calls[0].function.arguments, r#"{"city":"Paris"}"#);
    assert_eq!(chat.messages[3].tool_call_id.as_deref(), Some("toolu_1"));
    assert_eq!(
        chat.messages[4].content,
        Some(MessageContent::Text("thanks".into()))
    );
    assert_eq!(chat.max_tokens, Some(64));
    assert_eq!(chat.top_k, Some(5));
    assert_eq!(chat.user.as_deref(), Some("u1"));
    assert_eq!(chat.parallel_tool_calls, Some(false));
    assert_eq!(
        chat.tool_choice,
        Some(ChatToolChoice::Mode("required".into()))
    );
    assert_eq!(chat.stop.unwrap().into_vec(), vec!["END".to_string()]);
    assert!(matches!(
        chat.response_format,
        Some(ResponseFormat::JsonSchema { .. })
    ));
}

#[test]
fn errors_name_the_field() {
    let unknown = serde_json::from_str::<MessagesRequest>(
        r#"{"model":"m","max_tokens":1,"messages":[],"maxtokens":3}"#,
    )
    .unwrap_err();
    assert!(unknown.to_string().contains("maxtokens"), "{unknown}");
    let missing =
        serde_json::from_str::<MessagesRequest>(r#"{"model":"m","messages":[]}"#).unwrap_err();
    assert!(missing.to_string().contains("max_tokens"), "{missing}");
    let bad_block = serde_json::from_str::<MessagesRequest>(
        r#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"video"}]}]}"#,
    )
    .unwrap_err();
    assert!(bad_block.to_string().contains("video"), "{bad_block}");
    let thinking = to_chat(parse(
        r#"{"model":"m","max_tokens":1,"messages":[],"thinking":{"type":"enabled","budget_tokens":1024}}"#,
    ))
    .unwrap_err();
    assert_eq!(thinking.param.as_deref(), Some("thinking"));
    let server_tool = to_chat(parse(
        r#"{"model":"m","max_tokens":1,"messages":[],"tools":[{"type":"web_search_20250305","name":"web_search"}]}"#,
    ))
    .unwrap_err();
    assert!(server_tool.message.contains("web_search_20250305"));
    let zero = to_chat(parse(r#"{"model":"m","max_tokens":0,"messages":[]}"#)).unwrap_err();
    assert_eq!(zero.param.as_deref(), Some("max_tokens"));
}

#[test]
fn an_image_is_kept_for_the_core_to_name() {
    let chat = to_chat(parse(
        r#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[
          {"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}},
          {"type":"text","text":"what is this?"}]}]}"#,
    ))
    .unwrap();
    let err = chat.messages[0]
        .content
        .as_ref()
        .unwrap()
        .text()
        .unwrap_err();
    assert_eq!(err, "image");
}

fn completion(
    content: Option<&str>,
    calls: Option<Vec<ToolCall>>,
    f: FinishReason,
) -> ChatCompletion {
    ChatCompletion {
        id: "chatcmpl-abc".into(),
        object: "chat.completion".into(),
        created: 1,
        model: "smollm2-135m".into(),
        choices: vec![ChatChoice {
            index: 0,
            message: AssistantMessage::new(content.map(str::to_string), calls),
            logprobs: None,
            finish_reason: f,
        }],
        usage: Usage::new(10, 3),
        system_fingerprint: None,
    }
}

#[test]
fn a_completion_becomes_a_message_with_every_required_field() {
    let call = ToolCall {
        id: "call_1".into(),
        kind: "function".into(),
        function: FunctionCall {
            name: "weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        },
    };
    let m = message_from_chat(completion(
        Some("hi"),
        Some(vec![call]),
        FinishReason::ToolCalls,
    ));
    let v = serde_json::to_value(&m).unwrap();
    assert_eq!(v["id"], "msg_abc");
    assert_eq!(v["type"], "message");
    assert_eq!(v["stop_reason"], "tool_use");
    assert!(v["stop_sequence"].is_null() && v.get("stop_details").is_some());
    assert!(v.get("container").is_some());
    assert_eq!(v["content"][0]["type"], "text");
    assert!(v["content"][0].get("citations").is_some());
    assert_eq!(v["content"][1]["input"]["city"], "Paris");
    assert_eq!(v["content"][1]["caller"]["type"], "direct");
    assert_eq!(v["usage"]["input_tokens"], 10);
    assert_eq!(v["usage"]["output_tokens"], 3);
    for k in [
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "service_tier",
        "server_tool_use",
    ] {
        assert!(v["usage"].get(k).is_some(), "{k}");
    }
    let m = message_from_chat(completion(Some("x"), None, FinishReason::Length));
    assert_eq!(m.stop_reason, Some(StopReason::MaxTokens));
}

fn chunk(
    content: Option<&str>,
    calls: Option<Vec<ToolCallDelta>>,
    f: Option<FinishReason>,
) -> ChatCompletionChunk {
    ChatCompletionChunk {
        id: "chatcmpl-s".into(),
        object: "chat.completion.chunk".into(),
        created: 1,
        model: "m".into(),
        choices: vec![ChunkChoice {
            index: 0,
            delta: Delta {
                role: None,
                content: content.map(str::to_string),
                tool_calls: calls,
            },
            logprobs: None,
            finish_reason: f,
        }],
        usage: None,
    }
}

#[test]
fn a_stream_has_anthropics_event_sequence() {
    let mut enc = StreamEncoder::new();
    let mut names = Vec::new();
    let mut events = Vec::new();
    events.extend(enc.chunk(&chunk(Some("Hel"), None, None)));
    events.extend(enc.chunk(&chunk(Some("lo"), None, None)));
    events.extend(enc.chunk(&chunk(
        None,
        Some(vec![ToolCallDelta {
            index: 0,
            id: "call_9".into(),
            kind: "function".into(),
            function: FunctionCall {
                name: "f".into(),
                arguments: "{\"a\":1}".into(),
            },
        }]),
        Some(FinishReason::ToolCalls),
    )));
    events.extend(enc.done(Usage::new(7, 2)));
    names.extend(events.iter().map(StreamEvent::name));
    assert_eq!(
        names,
        vec![
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let v = serde_json::to_value(&events[9]).unwrap();
    assert_eq!(v["delta"]["stop_reason"], "tool_use");
    assert_eq!(v["usage"]["output_tokens"], 2);
    let v = serde_json::to_value(&events[7]).unwrap();
    assert_eq!(v["index"], 1);
    assert_eq!(v["delta"]["type"], "input_json_delta");
    // Every event's JSON names its own type.
    for e in &events {
        assert_eq!(serde_json::to_value(e).unwrap()["type"], e.name());
    }
}

#[test]
fn an_empty_stream_still_opens_and_closes_the_message() {
    let mut enc = StreamEncoder::new();
    let names: Vec<&str> = enc
        .done(Usage::new(1, 0))
        .iter()
        .map(StreamEvent::name)
        .collect();
    assert_eq!(
        names,
        vec!["message_start", "ping", "message_delta", "message_stop"]
    );
}

#[test]
fn errors_have_anthropics_shape() {
    let e = ApiError::invalid("messages", "bad").with_param("messages");
    let v: serde_json::Value = serde_json::from_str(&error_body(&e, Some("req_1"))).unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert_eq!(v["request_id"], "req_1");
    assert_eq!(
        error_type(crate::ErrorCode::BudgetExceeded),
        "billing_error"
    );
    assert_eq!(
        error_type(crate::ErrorCode::InvalidApiKey),
        "authentication_error"
    );
}

#[test]
fn count_tokens_requests_translate() {
    let req: CountTokensRequest = serde_json::from_str(
        r#"{"model":"auto","system":"s","messages":[{"role":"user","content":"hi"}]}"#,
    )
    .unwrap();
    let chat = count_request_to_chat(req).unwrap();
    assert_eq!(chat.messages.len(), 2);
    assert_eq!(chat.model, "auto");
}
