//! A Responses request as the gateway's neutral chat request, plus the request facts
//! a response repeats back ([`Echo`]).
//!
//! - `instructions` become the first, system message; `input` is a string (one user
//!   message) or items: messages (`input_text` / `output_text` parts; images and files
//!   are kept as non-text parts so the core names them in a clear error),
//!   `function_call` items (an assistant turn's tool calls) and `function_call_output`
//!   items (`tool` messages); `reasoning` items are dropped;
//! - function `tools`, `tool_choice` and `text.format` map one to one; built-in tools
//!   (web search, file search, computer use, MCP…) are not run by tierlm and are
//!   refused by name;
//! - what needs a stored response is refused (see the module docs of `responses`).

use serde_json::{json, Value};

use super::{CreateResponse, StringOr, TextFormat, TextParam, NOTHING_STORED};
use crate::chat::{
    ChatCompletionRequest, ChatMessage, ContentPart, FunctionCall, FunctionDefinition,
    JsonSchemaFormat, MessageContent, NamedFunction, NamedToolChoice, ResponseFormat, Role, Tool,
    ToolCall, ToolChoice,
};
use crate::ApiError;

/// The least `max_output_tokens` OpenAI accepts.
pub const MIN_OUTPUT_TOKENS: u32 = 16;

/// What a response repeats of its request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Echo {
    pub instructions: Option<String>,
    pub max_output_tokens: Option<u32>,
    pub parallel_tool_calls: bool,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub text: Option<TextParam>,
    pub tool_choice: Option<Value>,
    pub tools: Vec<Value>,
    pub user: Option<String>,
    pub metadata: serde_json::Map<String, Value>,
}

fn refused(param: &str, why: &str) -> ApiError {
    ApiError::unsupported(param, why.to_string())
}

/// The neutral chat request for a Responses request, and its echo.
pub fn to_chat(req: CreateResponse) -> Result<(ChatCompletionRequest, Echo), ApiError> {
    if req.previous_response_id.is_some() {
        return Err(ApiError::invalid("previous_response_id", NOTHING_STORED));
    }
    if req.conversation.as_ref().is_some_and(|c| !c.is_null()) {
        return Err(ApiError::invalid("conversation", NOTHING_STORED));
    }
    if req.prompt.as_ref().is_some_and(|p| !p.is_null()) {
        return Err(refused(
            "prompt",
            "stored prompt templates are not supported by tierlm; send `instructions` and `input`",
        ));
    }
    if req.background == Some(true) {
        return Err(refused(
            "background",
            "background responses need a stored response, and tierlm stores none",
        ));
    }
    if req
        .context_management
        .as_ref()
        .is_some_and(|c| !c.is_null())
    {
        return Err(refused(
            "context_management",
            "context management (compaction) is not supported by tierlm",
        ));
    }
    if let Some(n) = req.max_output_tokens.filter(|n| *n < MIN_OUTPUT_TOKENS) {
        return Err(ApiError::invalid(
            "max_output_tokens",
            format!("`max_output_tokens` must be at least {MIN_OUTPUT_TOKENS}, got {n}"),
        ));
    }
    let Some(input) = req.input else {
        return Err(ApiError::invalid(
            "input",
            "`input` is required (tierlm has no stored prompts to take it from)",
        ));
    };
    let mut messages = Vec::new();
    if let Some(i) = &req.instructions {
        messages.push(ChatMessage::text(Role::System, i.clone()));
    }
    match input {
        StringOr::Text(t) => messages.push(ChatMessage::text(Role::User, t)),
        StringOr::Blocks(items) => {
            for (i, item) in items.iter().enumerate() {
                input_item(item, &format!("input[{i}]"), &mut messages)?;
            }
        }
    }
    let (tools, echo_tools) = tools(req.tools.unwrap_or_default())?;
    let tool_choice = req.tool_choice.as_ref().map(tool_choice).transpose()?;
    let response_format = req
        .text
        .as_ref()
        .and_then(|t| t.format.clone())
        .map(|f| match f {
            TextFormat::Text => ResponseFormat::Text,
            TextFormat::JsonObject => ResponseFormat::JsonObject,
            TextFormat::JsonSchema {
                name,
                schema,
                description,
                strict,
            } => ResponseFormat::JsonSchema {
                json_schema: JsonSchemaFormat {
                    name,
                    description,
                    schema: Some(schema),
                    strict,
                },
            },
        });
    let echo = Echo {
        instructions: req.instructions,
        max_output_tokens: req.max_output_tokens,
        parallel_tool_calls: req.parallel_tool_calls.unwrap_or(true),
        temperature: req.temperature,
        top_p: req.top_p,
        text: req.text,
        tool_choice: req.tool_choice,
        tools: echo_tools,
        user: req.user.clone(),
        metadata: req.metadata.unwrap_or_default(),
    };
    let chat = ChatCompletionRequest {
        model: req.model,
        messages,
        max_tokens: req.max_output_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stream: req.stream,
        tools: (!tools.is_empty()).then_some(tools),
        tool_choice: tool_choice.filter(|_| !echo.tools.is_empty()),
        parallel_tool_calls: req.parallel_tool_calls,
        response_format,
        user: req.user.or(req.safety_identifier),
        deterministic: req.deterministic,
        ..ChatCompletionRequest::default()
    };
    Ok((chat, echo))
}

fn str_field<'a>(item: &'a Value, key: &str, at: &str) -> Result<&'a str, ApiError> {
    item.get(key).and_then(Value::as_str).ok_or_else(|| {
        ApiError::invalid(&format!("{at}.{key}"), format!("`{key}` must be a string"))
    })
}

/// One input item, appended to `out` as chat messages.
fn input_item(item: &Value, at: &str, out: &mut Vec<ChatMessage>) -> Result<(), ApiError> {
    let kind = item.get("type").and_then(Value::as_str);
    match kind {
        None | Some("message") if item.get("role").is_some() => {
            let role = match str_field(item, "role", at)? {
                "user" => Role::User,
                "assistant" => Role::Assistant,
                "system" => Role::System,
                "developer" => Role::Developer,
                other => {
                    return Err(ApiError::invalid(
                        &format!("{at}.role"),
                        format!(
                            "`{other}` is not a role; use user, assistant, system or developer"
                        ),
                    ))
                }
            };
            let content = content(item.get("content"), &format!("{at}.content"))?;
            out.push(ChatMessage::new(role, content));
        }
        Some("function_call") => {
            let call = ToolCall {
                id: str_field(item, "call_id", at)?.to_string(),
                kind: "function".into(),
                function: FunctionCall {
                    name: str_field(item, "name", at)?.to_string(),
                    arguments: str_field(item, "arguments", at)?.to_string(),
                },
            };
            // Consecutive calls (and the text before them) are one assistant turn.
            match out.last_mut() {
                Some(last) if last.role == Role::Assistant => {
                    last.tool_calls.get_or_insert_with(Vec::new).push(call)
                }
                _ => out.push(ChatMessage {
                    role: Role::Assistant,
                    content: None,
                    name: None,
                    tool_calls: Some(vec![call]),
                    tool_call_id: None,
                }),
            }
        }
        Some("function_call_output") => {
            let output = match item.get("output") {
                Some(Value::String(s)) => s.clone(),
                other => text_of_parts(other, &format!("{at}.output"))?,
            };
            out.push(ChatMessage {
                role: Role::Tool,
                content: Some(MessageContent::Text(output)),
                name: None,
                tool_calls: None,
                tool_call_id: Some(str_field(item, "call_id", at)?.to_string()),
            });
        }
        Some("reasoning") => {}
        Some("item_reference") => {
            return Err(ApiError::invalid(at, NOTHING_STORED));
        }
        Some(other) => {
            return Err(ApiError::unsupported(
                &format!("{at}.type"),
                format!("`{other}` input items are not supported by tierlm"),
            ))
        }
        None => {
            return Err(ApiError::invalid(
                at,
                "an input item needs a `type`, or a `role` and `content`",
            ))
        }
    }
    Ok(())
}

/// A message's content: a string, or parts (`input_text`, `output_text`, images…).
fn content(v: Option<&Value>, at: &str) -> Result<MessageContent, ApiError> {
    match v {
        Some(Value::String(s)) => Ok(MessageContent::Text(s.clone())),
        Some(Value::Array(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, p) in parts.iter().enumerate() {
                let here = format!("{at}[{j}]");
                let kind = str_field(p, "type", &here)?;
                out.push(match kind {
                    "input_text" | "output_text" | "text" => ContentPart {
                        kind: "text".into(),
                        text: Some(str_field(p, "text", &here)?.to_string()),
                    },
                    "refusal" => ContentPart {
                        kind: "text".into(),
                        text: Some(str_field(p, "refusal", &here)?.to_string()),
                    },
                    // Kept for the core to name ("content parts of type `input_image` …").
                    other => ContentPart {
                        kind: other.to_string(),
                        text: None,
                    },
                });
            }
            Ok(match out.as_slice() {
                [ContentPart {
                    kind,
                    text: Some(t),
                }] if kind == "text" => MessageContent::Text(t.clone()),
                _ => MessageContent::Parts(out),
            })
        }
        _ => Err(ApiError::invalid(
            at,
            "`content` must be a string or a list of content parts",
        )),
    }
}

/// The text of a function call's output given as parts.
fn text_of_parts(v: Option<&Value>, at: &str) -> Result<String, ApiError> {
    match content(v, at)?.text() {
        Ok(t) => Ok(t),
        Err(kind) => Err(ApiError::unsupported(
            at,
            format!("`{kind}` parts are not supported in a function call's output; send text"),
        )),
    }
}

/// Function tools as chat tools, and as the response repeats them.
fn tools(defs: Vec<Value>) -> Result<(Vec<Tool>, Vec<Value>), ApiError> {
    let mut tools = Vec::with_capacity(defs.len());
    let mut echo = Vec::with_capacity(defs.len());
    for (i, t) in defs.into_iter().enumerate() {
        let at = format!("tools[{i}]");
        let kind = str_field(&t, "type", &at)?;
        if kind != "function" {
            return Err(ApiError::unsupported(
                &format!("{at}.type"),
                format!("built-in tools (`{kind}`) are not run by tierlm; declare function tools"),
            ));
        }
        let name = str_field(&t, "name", &at)?.to_string();
        let description = t
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string);
        let parameters = t.get("parameters").filter(|p| !p.is_null()).cloned();
        let strict = t.get("strict").and_then(Value::as_bool);
        echo.push(json!({
            "type": "function",
            "name": name,
            "description": description,
            "parameters": parameters,
            "strict": strict,
        }));
        tools.push(Tool {
            kind: "function".into(),
            function: FunctionDefinition {
                name,
                description,
                parameters,
                strict,
            },
        });
    }
    Ok((tools, echo))
}

fn tool_choice(v: &Value) -> Result<ToolChoice, ApiError> {
    match v {
        Value::String(mode) if ["none", "auto", "required"].contains(&mode.as_str()) => {
            Ok(ToolChoice::Mode(mode.clone()))
        }
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            let name = str_field(v, "name", "tool_choice")?;
            Ok(ToolChoice::Named(NamedToolChoice {
                kind: "function".into(),
                function: NamedFunction {
                    name: name.to_string(),
                },
            }))
        }
        _ => Err(ApiError::unsupported(
            "tool_choice",
            "tool_choice must be `none`, `auto`, `required` or a function ({\"type\": \"function\", \"name\": …})",
        )),
    }
}
