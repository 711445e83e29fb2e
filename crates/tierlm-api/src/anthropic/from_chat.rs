//! The gateway's chat answer as an Anthropic message, whole or as Anthropic's event
//! stream.
//!
//! The first choice is the message (Messages has no `n`). Its text is one `text`
//! block, each tool call one `tool_use` block (`input` parsed from the call's JSON
//! text). `stop` becomes `end_turn`: the engines do not report which stop sequence
//! ended an answer, so `stop_sequence` is always `null`.
//!
//! A stream is `message_start`, `ping`, then per block `content_block_start`,
//! deltas (`text_delta`, or one `input_json_delta` with a tool call's whole
//! arguments) and `content_block_stop`, then `message_delta` (stop reason and the
//! cumulative usage) and `message_stop`; a failure after the start is an `error`
//! event and nothing more.

use serde_json::Value;

use super::{
    BlockDelta, Caller, DeltaUsage, ErrorDetail, Message, MessageDeltaBody, MessageUsage,
    OutputBlock, StopReason, StreamEvent,
};
use crate::chat::{ChatCompletion, ChatCompletionChunk, FinishReason, ToolCall};
use crate::{ApiError, Usage};

/// `msg_…` from a completion id (`chatcmpl-…`).
fn message_id(id: &str) -> String {
    let tail = id
        .split_once('-')
        .map_or(id, |(_, t)| t)
        .trim_start_matches("msg_");
    format!("msg_{tail}")
}

fn stop_reason(f: FinishReason) -> StopReason {
    match f {
        FinishReason::Stop => StopReason::EndTurn,
        FinishReason::Length => StopReason::MaxTokens,
        FinishReason::ToolCalls => StopReason::ToolUse,
    }
}

/// A tool call's arguments as the object Anthropic's `input` must be.
fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        Ok(other) => serde_json::json!({ "value": other }),
        Err(_) => serde_json::json!({ "arguments": arguments }),
    }
}

fn tool_block(call: &ToolCall) -> OutputBlock {
    OutputBlock::ToolUse {
        id: call.id.clone(),
        name: call.function.name.clone(),
        input: tool_input(&call.function.arguments),
        caller: Caller::DIRECT,
    }
}

/// A whole chat completion as a message.
pub fn message_from_chat(c: ChatCompletion) -> Message {
    let mut content = Vec::new();
    let mut reason = None;
    if let Some(choice) = c.choices.into_iter().next() {
        reason = Some(stop_reason(choice.finish_reason));
        if let Some(text) = choice.message.content.filter(|t| !t.is_empty()) {
            content.push(OutputBlock::Text {
                text,
                citations: None,
            });
        }
        content.extend(choice.message.tool_calls.iter().flatten().map(tool_block));
    }
    Message {
        id: message_id(&c.id),
        kind: "message",
        role: "assistant",
        content,
        model: c.model,
        stop_reason: reason,
        stop_sequence: None,
        stop_details: None,
        usage: MessageUsage::new(c.usage.prompt_tokens, c.usage.completion_tokens),
        container: None,
    }
}

/// Turns chat chunks into Anthropic's stream events (see the module docs).
#[derive(Debug, Default)]
pub struct StreamEncoder {
    started: bool,
    /// The open block's index and whether it is text.
    open: Option<(u32, bool)>,
    next_index: u32,
    stop: Option<StopReason>,
    id: String,
    model: String,
}

impl StreamEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn start(&mut self, id: &str, model: &str, out: &mut Vec<StreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = message_id(id);
        self.model = model.to_string();
        out.push(StreamEvent::MessageStart {
            message: Message {
                id: self.id.clone(),
                kind: "message",
                role: "assistant",
                content: Vec::new(),
                model: self.model.clone(),
                stop_reason: None,
                stop_sequence: None,
                stop_details: None,
                usage: MessageUsage::new(0, 0),
                container: None,
            },
        });
        out.push(StreamEvent::Ping);
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((index, _)) = self.open.take() {
            out.push(StreamEvent::ContentBlockStop { index });
        }
    }

    fn open(&mut self, block: OutputBlock, text: bool, out: &mut Vec<StreamEvent>) -> u32 {
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((index, text));
        out.push(StreamEvent::ContentBlockStart {
            index,
            content_block: block,
        });
        index
    }

    /// The events for one chat chunk (its first choice).
    pub fn chunk(&mut self, c: &ChatCompletionChunk) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        self.start(&c.id, &c.model, &mut out);
        let Some(choice) = c.choices.iter().find(|ch| ch.index == 0) else {
            return out;
        };
        if let Some(text) = choice.delta.content.as_deref().filter(|t| !t.is_empty()) {
            let index = match self.open {
                Some((index, true)) => index,
                _ => self.open(
                    OutputBlock::Text {
                        text: String::new(),
                        citations: None,
                    },
                    true,
                    &mut out,
                ),
            };
            out.push(StreamEvent::ContentBlockDelta {
                index,
                delta: BlockDelta::TextDelta {
                    text: text.to_string(),
                },
            });
        }
        for call in choice.delta.tool_calls.iter().flatten() {
            let index = self.open(
                OutputBlock::ToolUse {
                    id: call.id.clone(),
                    name: call.function.name.clone(),
                    input: Value::Object(Default::default()),
                    caller: Caller::DIRECT,
                },
                false,
                &mut out,
            );
            let input = tool_input(&call.function.arguments);
            out.push(StreamEvent::ContentBlockDelta {
                index,
                delta: BlockDelta::InputJsonDelta {
                    partial_json: serde_json::to_string(&input).unwrap_or_default(),
                },
            });
            self.close(&mut out);
        }
        if let Some(f) = choice.finish_reason {
            self.stop = Some(stop_reason(f));
        }
        out
    }

    /// The closing events, with the answer's usage.
    pub fn done(&mut self, usage: Usage) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        let (id, model) = (self.id.clone(), self.model.clone());
        self.start(&id, &model, &mut out);
        self.close(&mut out);
        out.push(StreamEvent::MessageDelta {
            delta: MessageDeltaBody {
                stop_reason: Some(self.stop.unwrap_or(StopReason::EndTurn)),
                stop_sequence: None,
                stop_details: None,
                container: None,
            },
            usage: DeltaUsage {
                input_tokens: Some(usage.prompt_tokens),
                output_tokens: usage.completion_tokens,
                cache_creation_input_tokens: None,
                cache_read_input_tokens: None,
                output_tokens_details: None,
                server_tool_use: None,
            },
        });
        out.push(StreamEvent::MessageStop);
        out
    }

    /// A failure after the stream began.
    pub fn error(&mut self, e: &ApiError) -> Vec<StreamEvent> {
        vec![StreamEvent::Error {
            error: ErrorDetail::of(e),
        }]
    }
}
