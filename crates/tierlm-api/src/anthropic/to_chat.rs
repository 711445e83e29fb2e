//! An Anthropic Messages request as the gateway's neutral chat request.
//!
//! - `system` (a string or text blocks) becomes the first, system message;
//! - a user turn's `tool_result` blocks become `tool` messages (in order, before the
//!   turn's other content), its text blocks one user message; an image or document
//!   block is kept as a non-text part, so the core names it in a clear error (local
//!   models and the providers read text);
//! - an assistant turn's text becomes its content and its `tool_use` blocks its tool
//!   calls (`input` as JSON text); thinking blocks are dropped;
//! - `tools` become functions (`input_schema` is the parameters), `tool_choice`
//!   `auto | any | tool | none` becomes `auto | required | named | none`, and
//!   `disable_parallel_tool_use` turns parallel calls off;
//! - `output_config.format` (a JSON schema) becomes `response_format`.
//!
//! Anthropic's server tools, extended thinking and containers are not things tierlm
//! runs: they are refused by name rather than silently dropped.

use serde_json::Value;

use super::{
    CountTokensRequest, InputBlock, InputMessage, InputRole, MessagesRequest, OutputConfig,
    StringOr, ToolChoice as AnthropicToolChoice, ToolDefinition,
};
use crate::chat::{
    ChatCompletionRequest, ChatMessage, ContentPart, FunctionCall, FunctionDefinition,
    JsonSchemaFormat, MessageContent, NamedFunction, NamedToolChoice, ResponseFormat, Role,
    StopSequences, Tool, ToolCall, ToolChoice,
};
use crate::ApiError;

/// The neutral chat request for a Messages request.
pub fn to_chat(req: MessagesRequest) -> Result<ChatCompletionRequest, ApiError> {
    if req.max_tokens == 0 {
        return Err(ApiError::invalid(
            "max_tokens",
            "`max_tokens` must be at least 1",
        ));
    }
    refuse_thinking(req.thinking.as_ref())?;
    if req.container.as_ref().is_some_and(|c| !c.is_null()) {
        return Err(ApiError::unsupported(
            "container",
            "containers (Anthropic's code execution) are not supported by tierlm",
        ));
    }
    let messages = messages(req.system, req.messages)?;
    let (tools, tool_choice, parallel) = tools(req.tools, req.tool_choice)?;
    Ok(ChatCompletionRequest {
        model: req.model,
        messages,
        max_tokens: Some(req.max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        stream: req.stream,
        stop: req
            .stop_sequences
            .filter(|s| !s.is_empty())
            .map(StopSequences::Many),
        tools,
        tool_choice,
        parallel_tool_calls: parallel,
        response_format: response_format(req.output_config)?,
        user: req.metadata.and_then(|m| m.user_id),
        deterministic: req.deterministic,
        ..ChatCompletionRequest::default()
    })
}

/// The neutral chat request whose prompt `count_tokens` measures.
pub fn count_request_to_chat(req: CountTokensRequest) -> Result<ChatCompletionRequest, ApiError> {
    refuse_thinking(req.thinking.as_ref())?;
    let messages = messages(req.system, req.messages)?;
    let (tools, tool_choice, _) = tools(req.tools, req.tool_choice)?;
    Ok(ChatCompletionRequest {
        model: req.model,
        messages,
        tools,
        tool_choice,
        response_format: response_format(req.output_config)?,
        ..ChatCompletionRequest::default()
    })
}

fn refuse_thinking(thinking: Option<&Value>) -> Result<(), ApiError> {
    let kind = thinking
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("disabled");
    if kind == "disabled" {
        return Ok(());
    }
    Err(ApiError::unsupported(
        "thinking",
        format!("extended thinking (`{kind}`) is not supported by tierlm; omit `thinking` or set its type to `disabled`"),
    ))
}

fn messages(
    system: Option<StringOr<InputBlock>>,
    turns: Vec<InputMessage>,
) -> Result<Vec<ChatMessage>, ApiError> {
    let mut out = Vec::with_capacity(turns.len() + 1);
    if let Some(system) = system {
        out.push(ChatMessage::text(
            Role::System,
            plain_text(system, "system")?,
        ));
    }
    for (i, turn) in turns.into_iter().enumerate() {
        let at = format!("messages[{i}].content");
        match (turn.role, turn.content) {
            (InputRole::System, content) => {
                out.push(ChatMessage::text(Role::System, plain_text(content, &at)?));
            }
            (role, StringOr::Text(text)) => out.push(ChatMessage::text(chat_role(role), text)),
            (InputRole::User, StringOr::Blocks(blocks)) => user_turn(blocks, &at, &mut out)?,
            (InputRole::Assistant, StringOr::Blocks(blocks)) => {
                out.push(assistant_turn(blocks, &at)?)
            }
        }
    }
    Ok(out)
}

fn chat_role(role: InputRole) -> Role {
    match role {
        InputRole::User => Role::User,
        InputRole::Assistant => Role::Assistant,
        InputRole::System => Role::System,
    }
}

/// The text of a string or of text blocks (`system`, tool results).
fn plain_text(content: StringOr<InputBlock>, at: &str) -> Result<String, ApiError> {
    match content {
        StringOr::Text(t) => Ok(t),
        StringOr::Blocks(blocks) => {
            let mut text = String::new();
            for (j, b) in blocks.into_iter().enumerate() {
                match b {
                    InputBlock::Text { text: t } => {
                        if !text.is_empty() {
                            text.push('\n');
                        }
                        text.push_str(&t);
                    }
                    other => {
                        return Err(ApiError::unsupported(
                            &format!("{at}[{j}]"),
                            format!(
                                "`{}` blocks are not supported here; send text",
                                other.kind()
                            ),
                        ))
                    }
                }
            }
            Ok(text)
        }
    }
}

/// A user turn: its tool results as `tool` messages, then its other content.
fn user_turn(
    blocks: Vec<InputBlock>,
    at: &str,
    out: &mut Vec<ChatMessage>,
) -> Result<(), ApiError> {
    let mut parts = Vec::new();
    for (j, block) in blocks.into_iter().enumerate() {
        match block {
            InputBlock::Text { text } => parts.push(ContentPart {
                kind: "text".into(),
                text: Some(text),
            }),
            InputBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => {
                let text = match content {
                    Some(c) => plain_text(c, &format!("{at}[{j}].content"))?,
                    None => String::new(),
                };
                let text = if is_error == Some(true) {
                    format!("Error: {text}")
                } else {
                    text
                };
                out.push(ChatMessage {
                    role: Role::Tool,
                    content: Some(MessageContent::Text(text)),
                    name: None,
                    tool_calls: None,
                    tool_call_id: Some(tool_use_id),
                });
            }
            InputBlock::Thinking { .. } | InputBlock::RedactedThinking { .. } => {}
            InputBlock::ToolUse { .. } => {
                return Err(ApiError::invalid(
                    &format!("{at}[{j}]"),
                    "`tool_use` blocks belong to assistant turns",
                ))
            }
            // Kept as a part the core can name ("content parts of type `image` …").
            other @ (InputBlock::Image { .. } | InputBlock::Document { .. }) => {
                parts.push(ContentPart {
                    kind: other.kind().into(),
                    text: None,
                })
            }
        }
    }
    if !parts.is_empty() {
        let content = match parts.as_slice() {
            [ContentPart {
                kind,
                text: Some(t),
            }] if kind == "text" => MessageContent::Text(t.clone()),
            _ => MessageContent::Parts(parts),
        };
        out.push(ChatMessage::new(Role::User, content));
    }
    Ok(())
}

/// An assistant turn: its text, and its tool calls.
fn assistant_turn(blocks: Vec<InputBlock>, at: &str) -> Result<ChatMessage, ApiError> {
    let mut text = String::new();
    let mut calls = Vec::new();
    for (j, block) in blocks.into_iter().enumerate() {
        match block {
            InputBlock::Text { text: t } => text.push_str(&t),
            InputBlock::ToolUse { id, name, input } => calls.push(ToolCall {
                id,
                kind: "function".into(),
                function: FunctionCall {
                    name,
                    arguments: serde_json::to_string(&input).unwrap_or_else(|_| "{}".into()),
                },
            }),
            InputBlock::Thinking { .. } | InputBlock::RedactedThinking { .. } => {}
            other => {
                return Err(ApiError::invalid(
                    &format!("{at}[{j}]"),
                    format!("`{}` blocks belong to user turns", other.kind()),
                ))
            }
        }
    }
    Ok(ChatMessage {
        role: Role::Assistant,
        content: (!text.is_empty() || calls.is_empty()).then_some(MessageContent::Text(text)),
        name: None,
        tool_calls: (!calls.is_empty()).then_some(calls),
        tool_call_id: None,
    })
}

type Tools = (Option<Vec<Tool>>, Option<ToolChoice>, Option<bool>);

fn tools(
    defs: Option<Vec<ToolDefinition>>,
    choice: Option<AnthropicToolChoice>,
) -> Result<Tools, ApiError> {
    let mut tools = Vec::new();
    for (i, t) in defs.into_iter().flatten().enumerate() {
        if let Some(kind) = t.kind.as_deref().filter(|k| *k != "custom") {
            return Err(ApiError::unsupported(
                &format!("tools[{i}].type"),
                format!("Anthropic's server tools (`{kind}`) are not run by tierlm; declare client tools with an `input_schema`"),
            ));
        }
        let Some(schema) = t.input_schema else {
            return Err(ApiError::invalid(
                &format!("tools[{i}].input_schema"),
                "a tool needs an `input_schema`",
            ));
        };
        tools.push(Tool {
            kind: "function".into(),
            function: FunctionDefinition {
                name: t.name,
                description: t.description,
                parameters: Some(schema),
                strict: t.strict,
            },
        });
    }
    let (choice, no_parallel) = match choice {
        None => (None, None),
        Some(AnthropicToolChoice::Auto {
            disable_parallel_tool_use,
        }) => (
            Some(ToolChoice::Mode("auto".into())),
            disable_parallel_tool_use,
        ),
        Some(AnthropicToolChoice::Any {
            disable_parallel_tool_use,
        }) => (
            Some(ToolChoice::Mode("required".into())),
            disable_parallel_tool_use,
        ),
        Some(AnthropicToolChoice::None) => (Some(ToolChoice::Mode("none".into())), None),
        Some(AnthropicToolChoice::Tool {
            name,
            disable_parallel_tool_use,
        }) => (
            Some(ToolChoice::Named(NamedToolChoice {
                kind: "function".into(),
                function: NamedFunction { name },
            })),
            disable_parallel_tool_use,
        ),
    };
    if tools.is_empty() {
        // A choice without tools means nothing to the model.
        return Ok((None, None, None));
    }
    Ok((Some(tools), choice, no_parallel.map(|d| !d)))
}

fn response_format(config: Option<OutputConfig>) -> Result<Option<ResponseFormat>, ApiError> {
    let Some(format) = config.and_then(|c| c.format) else {
        return Ok(None);
    };
    if format.kind != "json_schema" {
        return Err(ApiError::invalid(
            "output_config.format.type",
            format!(
                "`{}` is not an output format; use `json_schema`",
                format.kind
            ),
        ));
    }
    Ok(Some(ResponseFormat::JsonSchema {
        json_schema: JsonSchemaFormat {
            name: "output".into(),
            description: None,
            schema: Some(format.schema),
            strict: Some(true),
        },
    }))
}
