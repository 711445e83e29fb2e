//! Tool calling for local models.
//!
//! Tools are described to the model in the system turn, and the model answers a call
//! as `<tool_call>{"name": …, "arguments": {…}}</tool_call>` (the Hermes/Qwen
//! convention most small instruct models have seen). With `tool_choice` `required` or
//! a named function, a grammar forces a well-formed call that matches the function's
//! parameter schema; with `auto` a lazy grammar takes over only once the model opens
//! a `<tool_call>`, so free text stays free.

use serde_json::{json, Value};
use tierlm_api::chat::{FunctionCall, Tool, ToolCall, ToolChoice};
use tierlm_api::{ApiError, ErrorCode};

use crate::request::Grammar;

pub const CALL_OPEN: &str = "<tool_call>";
pub const CALL_CLOSE: &str = "</tool_call>";

/// How the answer may use tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolMode {
    /// No tools offered.
    None,
    /// The model decides.
    Auto,
    /// The model must call one of these functions.
    Required(Vec<String>),
}

/// Decide the tool mode from `tools` and `tool_choice`, checking names.
pub fn tool_mode(tools: &[Tool], choice: Option<&ToolChoice>) -> Result<ToolMode, ApiError> {
    for t in tools {
        if t.kind != "function" {
            return Err(ApiError::unsupported(
                "tools",
                format!("tool type `{}` is not supported; use `function`", t.kind),
            ));
        }
    }
    let names: Vec<String> = tools.iter().map(|t| t.function.name.clone()).collect();
    let mode = match choice {
        None => {
            if tools.is_empty() {
                ToolMode::None
            } else {
                ToolMode::Auto
            }
        }
        Some(ToolChoice::Mode(m)) => match m.as_str() {
            "none" => ToolMode::None,
            "auto" => ToolMode::Auto,
            "required" => ToolMode::Required(names.clone()),
            other => {
                return Err(ApiError::invalid(
                    "tool_choice",
                    format!(
                        "`tool_choice` must be none, auto, required or a function, got `{other}`"
                    ),
                ))
            }
        },
        Some(ToolChoice::Named(named)) => {
            if !names.contains(&named.function.name) {
                return Err(ApiError::invalid(
                    "tool_choice",
                    format!(
                        "`tool_choice` names function `{}`, which is not in `tools`",
                        named.function.name
                    ),
                ));
            }
            ToolMode::Required(vec![named.function.name.clone()])
        }
    };
    if mode != ToolMode::None && tools.is_empty() {
        return Err(ApiError::invalid(
            "tool_choice",
            "`tool_choice` requires a non-empty `tools` list",
        ));
    }
    Ok(mode)
}

/// The system-turn text that describes the tools.
pub fn tool_prompt(tools: &[Tool]) -> String {
    let mut s = String::from(
        "You can call functions to help with the user's request. The functions are:\n<tools>\n",
    );
    for t in tools {
        s.push_str(&serde_json::to_string(&t.function).unwrap_or_default());
        s.push('\n');
    }
    s.push_str(
        "</tools>\nTo call a function, answer only with a JSON object inside tags:\n\
         <tool_call>\n{\"name\": \"function name\", \"arguments\": {\"argument\": \"value\"}}\n</tool_call>",
    );
    s
}

/// An assistant turn that made tool calls, rendered back into the prompt.
pub fn render_calls(calls: &[ToolCall]) -> String {
    calls
        .iter()
        .map(|c| {
            let args: Value = serde_json::from_str(&c.function.arguments)
                .unwrap_or(Value::String(c.function.arguments.clone()));
            format!(
                "{CALL_OPEN}\n{}\n{CALL_CLOSE}",
                json!({"name": c.function.name, "arguments": args})
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The JSON schema of one call to any of `names`.
fn call_schema(tools: &[Tool], names: &[String]) -> Value {
    let variants: Vec<Value> = tools
        .iter()
        .filter(|t| names.contains(&t.function.name))
        .map(|t| {
            let params = t
                .function
                .parameters
                .clone()
                .unwrap_or_else(|| json!({"type": "object"}));
            json!({
                "type": "object",
                "properties": {"name": {"const": t.function.name}, "arguments": params},
                "required": ["name", "arguments"],
                "additionalProperties": false
            })
        })
        .collect();
    if variants.len() == 1 {
        variants.into_iter().next().unwrap_or(Value::Null)
    } else {
        json!({"anyOf": variants})
    }
}

/// Compile a JSON schema into a GBNF grammar with root rule `root`.
pub fn schema_grammar(schema: &Value, param: &str) -> Result<String, ApiError> {
    if !schema.is_object() && !schema.is_boolean() {
        return Err(ApiError::new(
            ErrorCode::InvalidJsonSchema,
            "the JSON schema must be an object",
        )
        .with_param(param));
    }
    llama_cpp_2::json_schema_to_grammar(&schema.to_string()).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidJsonSchema,
            format!("invalid JSON schema: {e}"),
        )
        .with_param(param)
    })
}

/// The grammar that constrains tool calls in this mode, if any.
pub fn tool_grammar(tools: &[Tool], mode: &ToolMode) -> Result<Option<Grammar>, ApiError> {
    let (names, lazy) = match mode {
        ToolMode::None => return Ok(None),
        ToolMode::Auto => (
            tools
                .iter()
                .map(|t| t.function.name.clone())
                .collect::<Vec<_>>(),
            true,
        ),
        ToolMode::Required(names) => (names.clone(), false),
    };
    let inner = schema_grammar(&call_schema(tools, &names), "tools")?;
    // Rename the schema's root so the call can be wrapped in its tags.
    let inner = inner.replacen("root ::=", "tool-call-body ::=", 1);
    let gbnf = format!(
        "root ::= \"{CALL_OPEN}\" [ \\n]? tool-call-body [ \\n]? \"{CALL_CLOSE}\"\n{inner}"
    );
    Ok(Some(Grammar {
        gbnf,
        trigger: lazy.then(|| CALL_OPEN.to_string()),
    }))
}

/// Split a finished answer into leading text and tool calls. `None` when it holds no
/// well-formed call (the text is then returned to the client as is).
pub fn parse_tool_calls(text: &str, tools: &[Tool]) -> Option<(String, Vec<ToolCall>)> {
    let first = text.find(CALL_OPEN)?;
    let mut calls = Vec::new();
    let mut rest = &text[first..];
    while let Some(start) = rest.find(CALL_OPEN) {
        let body_start = start + CALL_OPEN.len();
        let end = rest[body_start..]
            .find(CALL_CLOSE)
            .map_or(rest.len(), |e| body_start + e);
        let body: Value = serde_json::from_str(rest[body_start..end].trim()).ok()?;
        let name = body.get("name")?.as_str()?.to_string();
        if !tools.iter().any(|t| t.function.name == name) {
            return None;
        }
        let arguments = body.get("arguments").cloned().unwrap_or_else(|| json!({}));
        calls.push(ToolCall {
            id: tierlm_api::ids::new_id("call"),
            kind: "function".to_string(),
            function: FunctionCall {
                name,
                arguments: arguments.to_string(),
            },
        });
        rest = &rest[(end + CALL_CLOSE.len()).min(rest.len())..];
    }
    Some((text[..first].trim().to_string(), calls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierlm_api::chat::FunctionDefinition;

    fn weather() -> Vec<Tool> {
        vec![Tool {
            kind: "function".into(),
            function: FunctionDefinition {
                name: "get_weather".into(),
                description: None,
                parameters: Some(
                    json!({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}),
                ),
                strict: None,
            },
        }]
    }

    #[test]
    fn parses_tagged_calls() {
        let text = "ok <tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>";
        let (lead, calls) = parse_tool_calls(text, &weather()).unwrap();
        assert_eq!(lead, "ok");
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].function.name, "get_weather");
        let args: Value = serde_json::from_str(&calls[0].function.arguments).unwrap();
        assert_eq!(args["city"], "Oslo");
    }

    #[test]
    fn unknown_function_is_not_a_call() {
        let text = "<tool_call>{\"name\": \"rm_rf\", \"arguments\": {}}</tool_call>";
        assert!(parse_tool_calls(text, &weather()).is_none());
    }

    #[test]
    fn named_choice_must_exist() {
        let choice: ToolChoice =
            serde_json::from_value(json!({"type":"function","function":{"name":"nope"}})).unwrap();
        let err = tool_mode(&weather(), Some(&choice)).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("tool_choice"));
    }
}
