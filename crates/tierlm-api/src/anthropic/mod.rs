//! Anthropic Messages wire types (`POST /v1/messages`, `/v1/messages/count_tokens`),
//! as the vendor's OpenAPI description defines them, and their translation to and
//! from the gateway's neutral chat request ([`to_chat`]) and answer ([`from_chat`]).
//!
//! Requests are strict like the vendor's (`additionalProperties: false` at the top
//! level): an unknown field is an error that names it. Responses carry every field the
//! description marks required, the nullable ones as `null`. Errors have Anthropic's
//! shape, `{"type":"error","error":{"type","message"},"request_id"}`
//! ([`error_body`]).

mod from_chat;
mod to_chat;

pub use from_chat::{message_from_chat, StreamEncoder};
pub use to_chat::{count_request_to_chat, to_chat};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::string_or::StringOr;
use crate::{ApiError, ErrorCode};

/// `POST /v1/messages`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesRequest {
    pub model: String,
    pub messages: Vec<InputMessage>,
    pub max_tokens: u32,
    #[serde(default)]
    pub system: Option<TextOrBlocks>,
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub top_k: Option<i32>,
    #[serde(default)]
    pub tools: Option<Vec<ToolDefinition>>,
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub output_config: Option<OutputConfig>,
    #[serde(default)]
    pub thinking: Option<Value>,
    /// Accepted and ignored: tierlm has one service tier.
    #[serde(default)]
    pub service_tier: Option<String>,
    /// Accepted and ignored: the local engines cache prefixes on their own.
    #[serde(default)]
    pub cache_control: Option<Value>,
    #[serde(default)]
    pub container: Option<Value>,
    /// Accepted and ignored: tierlm serves where it runs.
    #[serde(default)]
    pub inference_geo: Option<String>,
    /// Fields newer SDKs send (2.17: `speed`, `diagnostics`, `user_profile_id`,
    /// `workspace_id`): accepted and ignored, so an up-to-date client is not refused.
    #[serde(default)]
    pub speed: Option<Value>,
    #[serde(default)]
    pub diagnostics: Option<Value>,
    #[serde(default)]
    pub user_profile_id: Option<Value>,
    #[serde(default)]
    pub workspace_id: Option<Value>,
    /// tierlm's extension: a byte-identical answer at temperature 0 (see the chat API).
    #[serde(default)]
    pub deterministic: Option<bool>,
}

/// `POST /v1/messages/count_tokens`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountTokensRequest {
    pub model: String,
    pub messages: Vec<InputMessage>,
    #[serde(default)]
    pub system: Option<TextOrBlocks>,
    #[serde(default)]
    pub tools: Option<Vec<ToolDefinition>>,
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default)]
    pub output_config: Option<OutputConfig>,
    #[serde(default)]
    pub thinking: Option<Value>,
    #[serde(default)]
    pub cache_control: Option<Value>,
}

/// `count_tokens`' answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CountTokensResponse {
    pub input_tokens: u32,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InputRole {
    User,
    Assistant,
    System,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputMessage {
    pub role: InputRole,
    pub content: Content,
}

/// A message's content: a string or a list of blocks.
pub type Content = StringOr<InputBlock>;

/// A system prompt or a tool result: a string or a list of blocks (text is read).
pub type TextOrBlocks = StringOr<InputBlock>;

/// A block of a request message.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputBlock {
    Text {
        text: String,
    },
    Image {
        source: Value,
    },
    Document {
        source: Value,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(default)]
        content: Option<StringOr<InputBlock>>,
        #[serde(default)]
        is_error: Option<bool>,
    },
    Thinking {
        thinking: String,
    },
    RedactedThinking {
        data: String,
    },
}

impl InputBlock {
    /// The block's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            InputBlock::Text { .. } => "text",
            InputBlock::Image { .. } => "image",
            InputBlock::Document { .. } => "document",
            InputBlock::ToolUse { .. } => "tool_use",
            InputBlock::ToolResult { .. } => "tool_result",
            InputBlock::Thinking { .. } => "thinking",
            InputBlock::RedactedThinking { .. } => "redacted_thinking",
        }
    }
}

/// A tool the model may call: a client tool (`input_schema`), or one of Anthropic's
/// server tools (a dated `type`), which tierlm does not run.
#[derive(Debug, Clone, Deserialize)]
pub struct ToolDefinition {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub input_schema: Option<Value>,
    #[serde(default)]
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ToolChoice {
    Auto {
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    Any {
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    Tool {
        name: String,
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    #[serde(default)]
    pub user_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    #[serde(default)]
    pub format: Option<JsonOutputFormat>,
    /// Accepted and ignored: local models have one effort.
    #[serde(default)]
    pub effort: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonOutputFormat {
    #[serde(rename = "type")]
    pub kind: String,
    pub schema: Value,
}

/// `POST /v1/messages`' answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Message {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub role: &'static str,
    pub content: Vec<OutputBlock>,
    pub model: String,
    pub stop_reason: Option<StopReason>,
    pub stop_sequence: Option<String>,
    pub stop_details: Option<Value>,
    pub usage: MessageUsage,
    pub container: Option<Value>,
}

/// A block of the answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputBlock {
    Text {
        text: String,
        citations: Option<Value>,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
        caller: Caller,
    },
}

/// Who called a tool: always the model itself here.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Caller {
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl Caller {
    pub const DIRECT: Caller = Caller { kind: "direct" };
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
}

/// Token counts of a whole answer; the cache and server-tool fields are `null` (the
/// local engines' prefix cache is not billed separately).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct MessageUsage {
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub cache_creation: Option<Value>,
    pub cache_creation_input_tokens: Option<u32>,
    pub cache_read_input_tokens: Option<u32>,
    pub inference_geo: Option<String>,
    pub output_tokens_details: Option<Value>,
    pub server_tool_use: Option<Value>,
    pub service_tier: Option<String>,
}

impl MessageUsage {
    pub fn new(input_tokens: u32, output_tokens: u32) -> Self {
        Self {
            input_tokens,
            output_tokens,
            ..Self::default()
        }
    }
}

/// One server-sent event of a streamed answer; its `type` is also the SSE event name.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    MessageStart {
        message: Message,
    },
    Ping,
    ContentBlockStart {
        index: u32,
        content_block: OutputBlock,
    },
    ContentBlockDelta {
        index: u32,
        delta: BlockDelta,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: MessageDeltaBody,
        usage: DeltaUsage,
    },
    MessageStop,
    Error {
        error: ErrorDetail,
    },
}

impl StreamEvent {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            StreamEvent::MessageStart { .. } => "message_start",
            StreamEvent::Ping => "ping",
            StreamEvent::ContentBlockStart { .. } => "content_block_start",
            StreamEvent::ContentBlockDelta { .. } => "content_block_delta",
            StreamEvent::ContentBlockStop { .. } => "content_block_stop",
            StreamEvent::MessageDelta { .. } => "message_delta",
            StreamEvent::MessageStop => "message_stop",
            StreamEvent::Error { .. } => "error",
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockDelta {
    TextDelta { text: String },
    InputJsonDelta { partial_json: String },
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MessageDeltaBody {
    pub stop_reason: Option<StopReason>,
    pub stop_sequence: Option<String>,
    pub stop_details: Option<Value>,
    pub container: Option<Value>,
}

/// Cumulative token counts at the end of a stream.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeltaUsage {
    pub input_tokens: Option<u32>,
    pub output_tokens: u32,
    pub cache_creation_input_tokens: Option<u32>,
    pub cache_read_input_tokens: Option<u32>,
    pub output_tokens_details: Option<Value>,
    pub server_tool_use: Option<Value>,
}

/// The inner error object.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorDetail {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub message: String,
}

impl ErrorDetail {
    pub fn of(e: &ApiError) -> Self {
        Self {
            kind: error_type(e.code),
            message: e.message.clone(),
        }
    }
}

/// Anthropic's error `type` for a tierlm error code.
pub fn error_type(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::InvalidJson
        | ErrorCode::InvalidParameter
        | ErrorCode::UnknownParameter
        | ErrorCode::UnsupportedParameter
        | ErrorCode::ContextLengthExceeded
        | ErrorCode::InvalidJsonSchema
        | ErrorCode::MethodNotAllowed
        | ErrorCode::ProviderRejected => "invalid_request_error",
        ErrorCode::ModelNotFound | ErrorCode::NotFound => "not_found_error",
        ErrorCode::PayloadTooLarge => "request_too_large",
        ErrorCode::InvalidApiKey | ErrorCode::ProviderAuth => "authentication_error",
        ErrorCode::PolicyRefused | ErrorCode::ModelNotAllowed => "permission_error",
        ErrorCode::RateLimited | ErrorCode::ProviderRateLimited => "rate_limit_error",
        ErrorCode::BudgetExceeded => "billing_error",
        ErrorCode::ProviderTimeout => "timeout_error",
        ErrorCode::Overloaded | ErrorCode::NotReady | ErrorCode::ProviderUnavailable => {
            "overloaded_error"
        }
        ErrorCode::ProviderError | ErrorCode::Internal => "api_error",
    }
}

/// An error in Anthropic's shape, as a JSON body.
pub fn error_body(e: &ApiError, request_id: Option<&str>) -> String {
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        error: ErrorDetail,
        request_id: Option<&'a str>,
    }
    let message = match &e.param {
        Some(p) if !e.message.contains(p.as_str()) => format!("{p}: {}", e.message),
        _ => e.message.clone(),
    };
    let body = Body {
        kind: "error",
        error: ErrorDetail {
            kind: error_type(e.code),
            message,
        },
        request_id,
    };
    serde_json::to_string(&body).unwrap_or_else(|_| {
        r#"{"type":"error","error":{"type":"api_error","message":"error"},"request_id":null}"#
            .to_string()
    })
}

#[cfg(test)]
mod tests;
