//! What the engine is asked to do and what it answers, independent of the HTTP API.
//!
//! A [`Generation`] is an already validated, tokenised request. The worker answers
//! on the request's own channel with [`Event`]s: text deltas per choice (with their
//! log-probabilities), one `Finished` per choice, then `Done` with exact usage.

use tierlm_api::logprobs::TokenLogprob;
use tierlm_api::ApiError;

/// Sampling parameters of one request (validated).
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 means greedy.
    pub temperature: f32,
    pub top_p: f32,
    /// 0 disables top-k.
    pub top_k: i32,
    pub min_p: f32,
    pub seed: Option<u64>,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    pub repetition_penalty: f32,
    pub logit_bias: Vec<(i32, f32)>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            min_p: 0.0,
            seed: None,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            repetition_penalty: 1.0,
            logit_bias: Vec::new(),
        }
    }
}

/// A grammar constraining the output (GBNF text, root rule `root`).
#[derive(Debug, Clone, PartialEq)]
pub struct Grammar {
    pub gbnf: String,
    /// Lazy grammars only apply once this text appears (tool calls in `auto` mode).
    pub trigger: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Generation {
    pub prompt: Vec<i32>,
    pub n: u32,
    pub max_tokens: u32,
    pub sampling: SamplingParams,
    pub stop: Vec<String>,
    pub grammar: Option<Grammar>,
    /// `Some(k)`: report the chosen token's log-probability and the top `k`.
    pub logprobs: Option<u32>,
    /// Keep generating past end-of-sequence tokens (benchmarks only).
    pub ignore_eos: bool,
    /// The fair-share group (the caller's tenant): when requests wait for a sequence
    /// slot, the group with the fewest requests running is served next.
    pub tenant: Option<String>,
    /// Run in a batch of its own, from an empty cache: at temperature 0 the answer is
    /// byte-identical whatever else the engine is asked (other requests wait).
    pub deterministic: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// End of sequence or a stop string.
    Stop,
    /// `max_tokens` or the context ran out.
    Length,
}

#[derive(Debug, Clone)]
pub enum Event {
    /// Final text for one choice; `logprobs` has one entry per token it covers.
    Text {
        choice: u32,
        text: String,
        logprobs: Vec<TokenLogprob>,
    },
    Finished {
        choice: u32,
        reason: Finish,
        completion_tokens: u32,
    },
    /// Every choice has finished.
    Done {
        prompt_tokens: u32,
        completion_tokens: u32,
        cached_tokens: u32,
    },
    Error(ApiError),
}
