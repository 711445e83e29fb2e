//! Translation tests of the Responses dialect.

use super::*;
use crate::chat::{
    AssistantMessage, ChatChoice, ChatCompletion, ChatCompletionChunk, ChunkChoice, Delta,
    FinishReason, FunctionCall, MessageContent, ResponseFormat, Role, ToolCall, ToolChoice,
};
use crate::Usage;

fn parse(json: &str) -> CreateResponse {
    serde_json::from_str(json).unwrap()
}

#[test]
fn items_translate_to_a_chat_conversation() {
    let (chat, echo) = to_chat(parse(
        r#"{"model":"auto","instructions":"be brief","max_output_tokens":32,
        "input":[
          {"role":"user","content":"weather in Paris?"},
          {"type":"message","role":"assistant","content":[{"type":"output_text","text":"checking"}]},
          {"type":"function_call","call_id":"call_1","name":"weather","arguments":"{\"city\":\"Paris\"}"},
          {"type":"function_call_output","call_id":"call_1","output":"sunny"},
          {"type":"reasoning","id":"rs_1","summary":[]},
          {"role":"user","content":[{"type":"input_text","text":"thanks"}]}],
        "tools":[{"type":"function","name":"weather","parameters":{"type":"object"}}],
        "tool_choice":"required",
        "text":{"format":{"type":"json_schema","name":"w","schema":{"type":"object"}}},
        "metadata":{"team":"ops"}}"#,
    ))
    .unwrap();
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
        chat.messages[2].content,
        Some(MessageContent::Text("checking".into()))
    );
    assert_eq!(
        chat.messages[2].tool_calls.as_ref().unwrap()[0].id,
        "call_1"
    );
    assert_eq!(chat.messages[3].tool_call_id.as_deref(), Some("call_1"));
    assert_eq!(chat.max_tokens, Some(32));
    assert_eq!(chat.tool_choice, Some(ToolChoice::Mode("required".into())));
    assert!(matches!(
        chat.response_format,
        Some(ResponseFormat::JsonSchema { .. })
    ));
    assert_eq!(echo.tools[0]["strict"], serde_json::Value::Null);
    assert_eq!(echo.metadata["team"], "ops");
}

#[test]
fn what_needs_a_stored_response_is_refused_by_name() {
    for (body, param) in [
        (
            r#"{"model":"m","input":"hi","previous_response_id":"resp_1"}"#,
            "previous_response_id",
        ),
        (
            r#"{"model":"m","input":"hi","conversation":"conv_1"}"#,
            "conversation",
        ),
        (
            r#"{"model":"m","input":"hi","background":true}"#,
            "background",
        ),
        (
            r#"{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}"#,
            "input[0]",
        ),
        (
            r#"{"model":"m","input":"hi","tools":[{"type":"web_search"}]}"#,
            "tools[0].type",
        ),
        (
            r#"{"model":"m","input":"hi","max_output_tokens":8}"#,
            "max_output_tokens",
        ),
        (r#"{"model":"m"}"#, "input"),
    ] {
        let e = to_chat(parse(body)).unwrap_err();
        assert_eq!(e.param.as_deref(), Some(param), "{body}: {e:?}");
    }
    let unknown = serde_json::from_str::<CreateResponse>(r#"{"model":"m","inptu":"x"}"#);
    assert!(unknown.unwrap_err().to_string().contains("inptu"));
}

fn completion(
    content: Option<&str>,
    calls: Option<Vec<ToolCall>>,
    f: FinishReason,
) -> ChatCompletion {
    ChatCompletion {
        id: "chatcmpl-abc".into(),
        object: "chat.completion".into(),
        created: 5,
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
fn a_completion_becomes_a_response() {
    let call = ToolCall {
        id: "call_1".into(),
        kind: "function".into(),
        function: FunctionCall {
            name: "weather".into(),
            arguments: "{}".into(),
        },
    };
    let r = response_from_chat(
        completion(Some("hi"), Some(vec![call]), FinishReason::ToolCalls),
        &Echo::default(),
    );
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["id"], "resp_abc");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["store"], false);
    assert_eq!(v["output"][0]["type"], "message");
    assert_eq!(v["output"][0]["content"][0]["type"], "output_text");
    assert_eq!(v["output"][1]["type"], "function_call");
    assert_eq!(v["output"][1]["call_id"], "call_1");
    assert_eq!(v["usage"]["total_tokens"], 13);
    let cut = response_from_chat(
        completion(Some("x"), None, FinishReason::Length),
        &Echo::default(),
    );
    assert_eq!(cut.status, "incomplete");
    assert_eq!(cut.incomplete_details.unwrap().reason, "max_output_tokens");
}

fn chunk(content: &str, f: Option<FinishReason>) -> ChatCompletionChunk {
    ChatCompletionChunk {
        id: "chatcmpl-s".into(),
        object: "chat.completion.chunk".into(),
        created: 1,
        model: "m".into(),
        choices: vec![ChunkChoice {
            index: 0,
            delta: Delta {
                role: None,
                content: Some(content.into()),
                tool_calls: None,
            },
            logprobs: None,
            finish_reason: f,
        }],
        usage: None,
    }
}

#[test]
fn a_stream_has_the_typed_event_sequence() {
    let mut s = ResponseStream::new(Echo::default());
    let mut events = s.chunk(&chunk("Hel", None));
    events.extend(s.chunk(&chunk("lo", Some(FinishReason::Stop))));
    events.extend(s.done(Usage::new(4, 2)));
    let kinds: Vec<&str> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let seq: Vec<u64> = events.iter().map(|e| e.sequence_number).collect();
    assert_eq!(seq, (0..10).collect::<Vec<u64>>());
    let done = serde_json::to_value(&events[6]).unwrap();
    assert_eq!(done["text"], "Hello");
    let last = serde_json::to_value(&events[9]).unwrap();
    assert_eq!(last["response"]["output"][0]["content"][0]["text"], "Hello");
    assert_eq!(last["response"]["usage"]["output_tokens"], 2);
}
