//! The provider-neutral request summary ([`Prompt`]) that each wire format parses into,
//! and the deterministic answer rules that turn it into an [`Answer`]:
//!
//! 1. a fixture whose prompt equals the last user text (and whose model, if any, matches);
//! 2. a tool call when tools are offered and the tool choice forces one (OpenAI
//!    `required`/named, Anthropic `any`/`tool`, Gemini `ANY`);
//! 3. `Tool result received: <text>` when the last message is a tool result;
//! 4. a tool call to the first tool when tools are offered (choice not `none`) and the last
//!    user text contains the word `call`;
//! 5. a minimal JSON instance of the requested schema (`{}` without one) in JSON mode;
//! 6. `Mock answer to: <first 12 words of the last user text>`.
//!
//! Rule 3 comes before rule 4 so that an agent loop ends: after the tool result, the same
//! user text no longer triggers another call. Text answers are then cut at the first stop
//! sequence and truncated to the max-tokens limit (whichever comes first). Tool calls are
//! never truncated.

use serde_json::Value;

use crate::config::FixtureIndex;
use crate::schema;
use crate::text::{first_words, mentions_call, place_hint, tokens};

/// How the request lets the model use its tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToolChoice {
    Auto,
    None,
    Any,
    Named(String),
}

/// A function tool offered by the request.
#[derive(Debug, Clone)]
pub(crate) struct Tool {
    pub name: String,
    pub schema: Value,
}

/// What every provider's request reduces to.
#[derive(Debug, Clone)]
pub(crate) struct Prompt {
    pub model: String,
    pub prompt_tokens: u64,
    /// Text of the last user message that has any text.
    pub last_user_text: String,
    /// The result text when the last message is a tool result.
    pub tool_result: Option<String>,
    pub tools: Vec<Tool>,
    pub tool_choice: ToolChoice,
    /// `Some` in JSON mode: the schema, or `Value::Null` when none was given.
    pub json_schema: Option<Value>,
    pub max_tokens: Option<u64>,
    pub stop: Vec<String>,
}

impl Prompt {
    pub(crate) fn new(model: String) -> Self {
        Self {
            model,
            prompt_tokens: 0,
            last_user_text: String::new(),
            tool_result: None,
            tools: Vec::new(),
            tool_choice: ToolChoice::Auto,
            json_schema: None,
            max_tokens: None,
            stop: Vec::new(),
        }
    }

    /// Adds `text` to the prompt token count.
    pub(crate) fn count(&mut self, text: &str) {
        self.prompt_tokens += tokens(text);
    }

    /// Adds a tool call from the history (name and argument JSON) to the count.
    pub(crate) fn count_call(&mut self, name: &str, args_json: &str) {
        self.prompt_tokens += tokens(name) + tokens(args_json);
    }
}

/// The answer's content.
#[derive(Debug, Clone)]
pub(crate) enum Content {
    Text(String),
    ToolCall {
        name: String,
        args: Value,
        /// `args` as compact JSON (what OpenAI sends as `arguments`).
        args_json: String,
    },
}

/// Why the answer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finish {
    /// Natural end of the answer.
    End,
    /// Truncated to the max-tokens limit.
    Length,
    /// Cut at this stop sequence.
    Stop(String),
    /// The answer is a tool call.
    Tool,
}

#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub content: Content,
    pub finish: Finish,
    pub completion_tokens: u64,
}

/// The deterministic answer to `p`.
pub(crate) fn respond(p: &Prompt, fixtures: &FixtureIndex) -> Answer {
    if let Some(text) = fixtures.lookup(&p.last_user_text, &p.model) {
        return finish_text(text.to_string(), p);
    }
    if !p.tools.is_empty() {
        match &p.tool_choice {
            ToolChoice::Any => return tool_call(p, &p.tools[0].name),
            ToolChoice::Named(name) => return tool_call(p, name),
            ToolChoice::Auto | ToolChoice::None => {}
        }
    }
    if let Some(result) = &p.tool_result {
        return finish_text(format!("Tool result received: {result}"), p);
    }
    if !p.tools.is_empty() && p.tool_choice == ToolChoice::Auto && mentions_call(&p.last_user_text)
    {
        return tool_call(p, &p.tools[0].name);
    }
    if let Some(schema) = &p.json_schema {
        let value = match schema {
            Value::Object(m) if !m.is_empty() => {
                schema::instance(schema, place_hint(&p.last_user_text).as_deref())
            }
            _ => Value::Object(Default::default()),
        };
        return finish_text(value.to_string(), p);
    }
    let words: Vec<&str> = p.last_user_text.split_whitespace().take(12).collect();
    let text = format!("Mock answer to: {}", words.join(" "));
    finish_text(text.trim_end().to_string(), p)
}

fn tool_call(p: &Prompt, name: &str) -> Answer {
    let empty = Value::Object(Default::default());
    let schema = p
        .tools
        .iter()
        .find(|t| t.name == name)
        .map_or(&empty, |t| &t.schema);
    let args = match schema {
        Value::Object(m) if !m.is_empty() => {
            let v = schema::instance(schema, place_hint(&p.last_user_text).as_deref());
            if v.is_object() {
                v
            } else {
                empty.clone()
            }
        }
        _ => empty.clone(),
    };
    let args_json = args.to_string();
    Answer {
        completion_tokens: tokens(name) + tokens(&args_json),
        content: Content::ToolCall {
            name: name.to_string(),
            args,
            args_json,
        },
        finish: Finish::Tool,
    }
}

/// Applies stop sequences, then the max-tokens limit, to a text answer.
fn finish_text(mut text: String, p: &Prompt) -> Answer {
    let mut finish = Finish::End;
    let earliest = p
        .stop
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()).map(|at| (at, s)))
        .min_by_key(|(at, _)| *at);
    if let Some((at, seq)) = earliest {
        finish = Finish::Stop(seq.clone());
        text.truncate(at);
    }
    if let Some(max) = p.max_tokens {
        if tokens(&text) > max {
            let cut = first_words(&text, max).len();
            text.truncate(cut);
            finish = Finish::Length;
        }
    }
    Answer {
        completion_tokens: tokens(&text),
        content: Content::Text(text),
        finish,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Fixture;
    use serde_json::json;

    fn prompt(text: &str) -> Prompt {
        let mut p = Prompt::new("m".into());
        p.last_user_text = text.into();
        p
    }

    fn text_of(a: &Answer) -> &str {
        match &a.content {
            Content::Text(t) => t,
            Content::ToolCall { .. } => "<tool>",
        }
    }

    #[test]
    fn default_and_limits() {
        let mut p =
            prompt("one two three four five six seven eight nine ten eleven twelve thirteen");
        let a = respond(&p, &FixtureIndex::default());
        assert_eq!(
            text_of(&a),
            "Mock answer to: one two three four five six seven eight nine ten eleven twelve"
        );
        assert_eq!(a.completion_tokens, 15);
        p.max_tokens = Some(4);
        let a = respond(&p, &FixtureIndex::default());
        assert_eq!(
            (text_of(&a), a.finish.clone()),
            ("Mock answer to: one", Finish::Length)
        );
        p.max_tokens = None;
        p.stop = vec!["three".into(), "two".into()];
        let a = respond(&p, &FixtureIndex::default());
        assert_eq!(text_of(&a), "Mock answer to: one ");
        assert_eq!(a.finish, Finish::Stop("two".into()));
    }

    #[test]
    fn fixtures_tools_and_results() {
        let fx = FixtureIndex::new(&[
            Fixture {
                prompt: "hi".into(),
                answer: "generic".into(),
                model: None,
            },
            Fixture {
                prompt: "hi".into(),
                answer: "special".into(),
                model: Some("m".into()),
            },
        ]);
        assert_eq!(text_of(&respond(&prompt("hi"), &fx)), "special");

        let mut p = prompt("call the weather tool in Paris");
        p.tools = vec![Tool {
            name: "get_weather".into(),
            schema: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        }];
        let a = respond(&p, &fx);
        match &a.content {
            Content::ToolCall {
                name, args_json, ..
            } => {
                assert_eq!(name, "get_weather");
                assert_eq!(args_json, r#"{"city":"Paris"}"#);
            }
            Content::Text(t) => panic!("expected a tool call, got {t}"),
        }
        assert_eq!(a.completion_tokens, 2);
        p.tool_result = Some("sunny".into());
        assert_eq!(text_of(&respond(&p, &fx)), "Tool result received: sunny");
        p.tool_choice = ToolChoice::Any;
        assert_eq!(respond(&p, &fx).finish, Finish::Tool);
    }
}
