//! A host-RAM cache of sequence states, beyond the KV cache of the sequence slots.
//!
//! A slot keeps its tokens' KV state after a request finishes, but only until the
//! slot is reused. Before a slot drops a long cached prefix, its state is copied to
//! RAM here; a later prompt that shares a longer prefix with a saved state than with
//! any slot restores it instead of recomputing. Entries are evicted least recently
//! used first once their bytes exceed the budget. (llama-server's `--cache-ram` does
//! the same; without it, repeated prompts beyond the slot count are prefilled again.)

use llama_cpp_2::context::session::SeqState;
use llama_cpp_2::token::LlamaToken;

/// Only states of at least this many tokens are worth saving and restoring.
pub const MIN_TOKENS: usize = 32;

/// Restoring (a memory copy, about a millisecond) must spare at least this many
/// tokens of prefill (several milliseconds each on a CPU) to be chosen.
pub const MIN_GAIN: usize = 8;

struct Entry {
    tokens: Vec<LlamaToken>,
    state: SeqState,
    used: u64,
}

pub struct PromptCache {
    entries: Vec<Entry>,
    bytes: usize,
    budget: usize,
    clock: u64,
}

/// Length of the longest common prefix of two token sequences.
pub(crate) fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl PromptCache {
    pub fn new(budget_bytes: usize) -> Self {
        Self {
            entries: Vec::new(),
            bytes: 0,
            budget: budget_bytes,
            clock: 0,
        }
    }

    pub fn enabled(&self) -> bool {
        self.budget > 0
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The entry sharing the longest prefix with `prompt`, and that length.
    pub fn best(&self, prompt: &[LlamaToken]) -> Option<(usize, usize)> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i, common_prefix(&e.tokens, prompt)))
            .max_by_key(|&(_, l)| l)
            .filter(|&(_, l)| l > 0)
    }

    /// An entry's tokens and state; marks it recently used.
    pub fn take(&mut self, i: usize) -> Option<(Vec<LlamaToken>, &SeqState)> {
        self.clock += 1;
        let clock = self.clock;
        let e = self.entries.get_mut(i)?;
        e.used = clock;
        Some((e.tokens.clone(), &e.state))
    }

    /// Whether a state of these tokens would add anything (no entry already covers them).
    pub fn wants(&self, tokens: &[LlamaToken]) -> bool {
        self.enabled()
            && tokens.len() >= MIN_TOKENS
            && !self
                .entries
                .iter()
                .any(|e| e.tokens.len() >= tokens.len() && e.tokens.starts_with(tokens))
    }

    /// Save a state; entries it supersedes are dropped, then the least recently used
    /// are evicted until the cache fits its budget.
    pub fn insert(&mut self, tokens: Vec<LlamaToken>, state: SeqState) {
        let size = state.byte_len();
        if !self.wants(&tokens) || size > self.budget {
            return;
        }
        let mut freed = 0;
        self.entries.retain(|e| {
            let covered = tokens.starts_with(&e.tokens);
            if covered {
                freed += e.state.byte_len();
            }
            !covered
        });
        self.bytes -= freed;
        self.clock += 1;
        self.bytes += size;
        self.entries.push(Entry {
            tokens,
            state,
            used: self.clock,
        });
        while self.bytes > self.budget {
            let Some(oldest) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.used)
                .map(|(i, _)| i)
            else {
                break;
            };
            let e = self.entries.swap_remove(oldest);
            self.bytes -= e.state.byte_len();
        }
    }
}
