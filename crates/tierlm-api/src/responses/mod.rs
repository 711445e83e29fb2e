//! OpenAI Responses wire types (`POST /v1/responses`) and their translation to and
//! from the gateway's neutral chat request ([`to_chat`]) and answer ([`from_chat`]).
//!
//! tierlm keeps no message content, so it stores no response: every response says
//! `store: false`, and what would need a stored one (`previous_response_id`,
//! `conversation`, `item_reference` inputs, `GET`/`DELETE /v1/responses/{id}`) gets an
//! error that says so, never an answer made without the earlier turns.

mod from_chat;
mod to_chat;

pub use from_chat::{response_from_chat, ResponseStream};
pub use to_chat::{to_chat, Echo};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::string_or::StringOr;

/// Why nothing stored can be fetched or continued.
pub const NOTHING_STORED: &str = "tierlm keeps no message content, so it stores no responses; \
     send the whole conversation as `input` items";

/// `POST /v1/responses`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateResponse {
    pub model: String,
    #[serde(default)]
    pub input: Option<StringOr<Value>>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub text: Option<TextParam>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<Value>,
    #[serde(default)]
    pub store: Option<bool>,
    #[serde(default)]
    pub previous_response_id: Option<String>,
    #[serde(default)]
    pub conversation: Option<Value>,
    #[serde(default)]
    pub prompt: Option<Value>,
    #[serde(default)]
    pub background: Option<bool>,
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub max_tool_calls: Option<u32>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub safety_identifier: Option<String>,
    /// Accepted and ignored (local engines cache prefixes on their own).
    #[serde(default)]
    pub prompt_cache_key: Option<String>,
    #[serde(default)]
    pub prompt_cache_retention: Option<String>,
    #[serde(default)]
    pub service_tier: Option<String>,
    /// Accepted and ignored: the local models do not reason in a separate channel.
    #[serde(default)]
    pub reasoning: Option<Value>,
    #[serde(default)]
    pub truncation: Option<String>,
    #[serde(default)]
    pub include: Option<Vec<String>>,
    #[serde(default)]
    pub top_logprobs: Option<u32>,
    #[serde(default)]
    pub context_management: Option<Value>,
    /// tierlm's extension: a byte-identical answer at temperature 0 (see the chat API).
    #[serde(default)]
    pub deterministic: Option<bool>,
}

/// `text`: the output format.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct TextParam {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<TextFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbosity: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TextFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        schema: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strict: Option<bool>,
    },
}

/// A response, whole or as the stream's snapshots.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Response {
    pub id: String,
    pub object: &'static str,
    pub created_at: u64,
    pub completed_at: Option<u64>,
    pub status: &'static str,
    pub error: Option<Value>,
    pub incomplete_details: Option<IncompleteDetails>,
    pub instructions: Option<String>,
    pub max_output_tokens: Option<u32>,
    pub model: String,
    pub output: Vec<OutputItem>,
    pub parallel_tool_calls: bool,
    pub previous_response_id: Option<String>,
    pub reasoning: Option<Value>,
    pub store: bool,
    pub temperature: Option<f32>,
    pub text: TextParam,
    pub tool_choice: Value,
    pub tools: Vec<Value>,
    pub top_p: Option<f32>,
    pub truncation: &'static str,
    /// Absent until the response is finished (the description does not allow null).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<ResponseUsage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub metadata: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IncompleteDetails {
    pub reason: &'static str,
}

/// An output item: the assistant's message or a function call.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    Message {
        id: String,
        role: &'static str,
        status: &'static str,
        content: Vec<OutputText>,
    },
    FunctionCall {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
        status: &'static str,
    },
}

/// A piece of the assistant's text.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutputText {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
    pub annotations: Vec<Value>,
    pub logprobs: Vec<Value>,
}

impl OutputText {
    pub fn new(text: String) -> Self {
        Self {
            kind: "output_text",
            text,
            annotations: Vec::new(),
            logprobs: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ResponseUsage {
    pub input_tokens: u32,
    pub input_tokens_details: InputTokensDetails,
    pub output_tokens: u32,
    pub output_tokens_details: OutputTokensDetails,
    pub total_tokens: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InputTokensDetails {
    pub cached_tokens: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutputTokensDetails {
    pub reasoning_tokens: u32,
}

impl ResponseUsage {
    pub fn of(u: crate::Usage) -> Self {
        Self {
            input_tokens: u.prompt_tokens,
            input_tokens_details: InputTokensDetails { cached_tokens: 0 },
            output_tokens: u.completion_tokens,
            output_tokens_details: OutputTokensDetails {
                reasoning_tokens: 0,
            },
            total_tokens: u.total_tokens,
        }
    }
}

/// One event of a streamed response; `type` is also its SSE event name.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StreamEvent {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub sequence_number: u64,
    #[serde(flatten)]
    pub body: serde_json::Map<String, Value>,
}

#[cfg(test)]
mod tests;
