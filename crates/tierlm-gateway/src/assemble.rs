//! Assembling engine events into Chat Completions answers.
//!
//! One [`ChatAssembler`] serves both the streaming and the non-streaming path: it
//! turns each engine event into zero or more stream chunks, and keeps what it needs
//! to build the whole answer at the end. With tools in `auto` mode, text that could be
//! the start of a `<tool_call>` tag is held back until it is clear; with a required
//! call, the whole answer is held and sent as `tool_calls`.

use tierlm_api::chat::{
    AssistantMessage, ChatChoice, ChatCompletion, ChatCompletionChunk, ChunkChoice, Delta,
    FinishReason, Role, Tool, ToolCall, ToolCallDelta,
};
use tierlm_api::logprobs::{ChoiceLogprobs, TokenLogprob};
use tierlm_api::Usage;
use tierlm_engine::tools::{self, ToolMode, CALL_OPEN};
use tierlm_engine::Finish;

#[derive(Default)]
struct ChoiceState {
    /// Everything the model produced for this choice.
    raw: String,
    /// Bytes of `raw` already sent as content.
    sent: usize,
    /// A `<tool_call>` tag was seen (or a call is required): the rest is held.
    holding: bool,
    logprobs: Vec<TokenLogprob>,
    finish: Option<FinishReason>,
    tool_calls: Option<Vec<ToolCall>>,
    content: String,
}

pub struct ChatAssembler {
    pub id: String,
    pub model: String,
    pub created: u64,
    mode: ToolMode,
    tools: Vec<Tool>,
    want_logprobs: bool,
    choices: Vec<ChoiceState>,
    pub usage: Option<Usage>,
}

/// Length of the longest suffix of `text` that is a proper prefix of `marker`.
fn partial_marker(text: &str, marker: &str) -> usize {
    (1..marker.len())
        .rev()
        .find(|&i| marker.is_char_boundary(i) && text.ends_with(&marker[..i]))
        .unwrap_or(0)
}

impl ChatAssembler {
    pub fn new(model: &str, n: u32, mode: ToolMode, tools: Vec<Tool>, want_logprobs: bool) -> Self {
        let holding = matches!(mode, ToolMode::Required(_));
        Self {
            id: tierlm_api::ids::new_id("chatcmpl"),
            model: model.to_string(),
            created: tierlm_api::ids::unix_now(),
            mode,
            tools,
            want_logprobs,
            choices: (0..n)
                .map(|_| ChoiceState {
                    holding,
                    ..Default::default()
                })
                .collect(),
            usage: None,
        }
    }

    pub fn chunk(&self, choices: Vec<ChunkChoice>, usage: Option<Usage>) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices,
            usage,
        }
    }

    /// The opening chunk: the assistant role for every choice.
    pub fn role_chunk(&self) -> ChatCompletionChunk {
        let choices = (0..self.choices.len() as u32)
            .map(|index| ChunkChoice {
                index,
                delta: Delta {
                    role: Some(Role::Assistant),
                    content: Some(String::new()),
                    tool_calls: None,
                },
                logprobs: None,
                finish_reason: None,
            })
            .collect();
        self.chunk(choices, None)
    }

    /// New text for a choice; returns the chunk choice to stream, if any.
    pub fn on_text(
        &mut self,
        choice: u32,
        text: &str,
        logprobs: Vec<TokenLogprob>,
    ) -> Option<ChunkChoice> {
        let auto = self.mode == ToolMode::Auto;
        let want_lp = self.want_logprobs;
        let st = self.choices.get_mut(choice as usize)?;
        st.raw.push_str(text);
        if want_lp {
            st.logprobs.extend(logprobs.iter().cloned());
        }
        if !st.holding && auto {
            if let Some(at) = st.raw[st.sent..].find(CALL_OPEN) {
                st.holding = true;
                let release = st.sent + at;
                return Self::release(st, release, logprobs, want_lp);
            }
        }
        if st.holding {
            return None;
        }
        let keep = if auto {
            partial_marker(&st.raw, CALL_OPEN)
        } else {
            0
        };
        let release = st.raw.len() - keep;
        Self::release(st, release, logprobs, want_lp)
    }

    fn release(
        st: &mut ChoiceState,
        upto: usize,
        logprobs: Vec<TokenLogprob>,
        want_lp: bool,
    ) -> Option<ChunkChoice> {
        let upto = upto.max(st.sent);
        let text = st.raw[st.sent..upto].to_string();
        st.sent = upto;
        st.content.push_str(&text);
        if text.is_empty() && (logprobs.is_empty() || !want_lp) {
            return None;
        }
        Some(ChunkChoice {
            index: 0,
            delta: Delta {
                role: None,
                content: Some(text),
                tool_calls: None,
            },
            logprobs: want_lp.then_some(ChoiceLogprobs { content: logprobs }),
            finish_reason: None,
        })
    }

    /// A choice finished; returns the chunk choices to stream (remaining text or tool
    /// calls, then the finish reason).
    pub fn on_finished(&mut self, choice: u32, reason: Finish) -> Vec<ChunkChoice> {
        let mode_on = self.mode != ToolMode::None;
        let tools = self.tools.clone();
        let Some(st) = self.choices.get_mut(choice as usize) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut finish = match reason {
            Finish::Stop => FinishReason::Stop,
            Finish::Length => FinishReason::Length,
        };
        let held = st.raw[st.sent..].to_string();
        let parsed = if mode_on {
            tools::parse_tool_calls(&held, &tools)
        } else {
            None
        };
        match parsed {
            Some((lead, calls)) if !calls.is_empty() => {
                if !lead.is_empty() {
                    st.content.push_str(&lead);
                    out.push(text_choice(choice, lead));
                }
                st.sent = st.raw.len();
                out.push(ChunkChoice {
                    index: choice,
                    delta: Delta {
                        role: None,
                        content: None,
                        tool_calls: Some(
                            calls
                                .iter()
                                .enumerate()
                                .map(|(i, c)| ToolCallDelta {
                                    index: i as u32,
                                    id: c.id.clone(),
                                    kind: c.kind.clone(),
                                    function: c.function.clone(),
                                })
                                .collect(),
                        ),
                    },
                    logprobs: None,
                    finish_reason: None,
                });
                st.tool_calls = Some(calls);
                finish = FinishReason::ToolCalls;
            }
            _ => {
                if !held.is_empty() {
                    st.content.push_str(&held);
                    st.sent = st.raw.len();
                    out.push(text_choice(choice, held));
                }
            }
        }
        st.finish = Some(finish);
        out.push(ChunkChoice {
            index: choice,
            delta: Delta::default(),
            logprobs: None,
            finish_reason: Some(finish),
        });
        for c in &mut out {
            c.index = choice;
        }
        out
    }

    /// The whole answer (non-streaming).
    pub fn into_completion(self) -> ChatCompletion {
        let want_lp = self.want_logprobs;
        let choices = self
            .choices
            .into_iter()
            .enumerate()
            .map(|(i, st)| {
                let has_calls = st.tool_calls.is_some();
                ChatChoice {
                    index: i as u32,
                    message: AssistantMessage::new(
                        if has_calls && st.content.is_empty() {
                            None
                        } else {
                            Some(st.content)
                        },
                        st.tool_calls,
                    ),
                    logprobs: want_lp.then_some(ChoiceLogprobs {
                        content: st.logprobs,
                    }),
                    finish_reason: st.finish.unwrap_or(FinishReason::Stop),
                }
            })
            .collect();
        ChatCompletion {
            id: self.id,
            object: "chat.completion".into(),
            created: self.created,
            model: self.model,
            choices,
            usage: self.usage.unwrap_or_default(),
            system_fingerprint: None,
        }
    }
}

fn text_choice(index: u32, text: String) -> ChunkChoice {
    ChunkChoice {
        index,
        delta: Delta {
            role: None,
            content: Some(text),
            tool_calls: None,
        },
        logprobs: None,
        finish_reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tierlm_api::chat::FunctionDefinition;

    fn tools_list() -> Vec<Tool> {
        vec![Tool {
            kind: "function".into(),
            function: FunctionDefinition {
                name: "f".into(),
                description: None,
                parameters: Some(json!({"type":"object"})),
                strict: None,
            },
        }]
    }

    #[test]
    fn auto_mode_holds_a_partial_tag_then_releases_plain_text() {
        let mut a = ChatAssembler::new("m", 1, ToolMode::Auto, tools_list(), false);
        let c = a.on_text(0, "hello <tool", vec![]).unwrap();
        assert_eq!(c.delta.content.as_deref(), Some("hello "));
        let c = a.on_text(0, "s are fun", vec![]).unwrap();
        assert_eq!(c.delta.content.as_deref(), Some("<tools are fun"));
    }

    #[test]
    fn auto_mode_turns_a_tag_into_tool_calls() {
        let mut a = ChatAssembler::new("m", 1, ToolMode::Auto, tools_list(), false);
        a.on_text(0, "<tool_call>{\"name\":\"f\",", vec![]);
        a.on_text(0, "\"arguments\":{\"x\":1}}</tool_call>", vec![]);
        let out = a.on_finished(0, Finish::Stop);
        assert_eq!(
            out.last().unwrap().finish_reason,
            Some(FinishReason::ToolCalls)
        );
        let done = a.into_completion();
        assert!(done.choices[0].message.content.is_none());
        let calls = done.choices[0].message.tool_calls.as_ref().unwrap();
        assert_eq!(calls[0].function.name, "f");
    }

    #[test]
    fn a_malformed_call_comes_back_as_text() {
        let mut a = ChatAssembler::new(
            "m",
            1,
            ToolMode::Required(vec!["f".into()]),
            tools_list(),
            false,
        );
        assert!(a.on_text(0, "<tool_call>{oops", vec![]).is_none());
        let out = a.on_finished(0, Finish::Length);
        assert_eq!(out[0].delta.content.as_deref(), Some("<tool_call>{oops"));
        assert_eq!(
            out.last().unwrap().finish_reason,
            Some(FinishReason::Length)
        );
    }
}
