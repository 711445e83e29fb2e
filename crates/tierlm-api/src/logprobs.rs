//! Token log-probabilities in the two shapes OpenAI uses: the chat shape
//! (`logprobs.content[]` with `top_logprobs`) and the legacy completions shape.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ChoiceLogprobs {
    pub content: Vec<TokenLogprob>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenLogprob {
    pub token: String,
    pub logprob: f32,
    pub bytes: Vec<u8>,
    pub top_logprobs: Vec<TopLogprob>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TopLogprob {
    pub token: String,
    pub logprob: f32,
    pub bytes: Vec<u8>,
}

/// `/v1/completions` logprobs: parallel arrays.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct CompletionLogprobs {
    pub tokens: Vec<String>,
    pub token_logprobs: Vec<f32>,
    pub top_logprobs: Vec<std::collections::BTreeMap<String, f32>>,
    pub text_offset: Vec<u32>,
}

impl CompletionLogprobs {
    /// Convert from the chat shape, computing text offsets from `start`.
    pub fn from_chat(chat: &ChoiceLogprobs, start: u32) -> Self {
        let mut out = CompletionLogprobs::default();
        let mut offset = start;
        for t in &chat.content {
            out.tokens.push(t.token.clone());
            out.token_logprobs.push(t.logprob);
            out.top_logprobs.push(
                t.top_logprobs
                    .iter()
                    .map(|top| (top.token.clone(), top.logprob))
                    .collect(),
            );
            out.text_offset.push(offset);
            offset += u32::try_from(t.token.len()).unwrap_or(u32::MAX);
        }
        out
    }
}
