//! Request and token totals for `GET /mock/stats`, kept in atomics. The per-model map sits
//! behind a read-write lock that the hot path only reads; the write lock is taken the first
//! time a model is seen and by `POST /mock/reset`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::RwLock;

use serde_json::{json, Value};

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    errors: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
}

impl Counters {
    fn add(&self, outcome: Outcome) {
        self.requests.fetch_add(1, Relaxed);
        match outcome {
            Outcome::Answered { prompt, completion } => {
                self.prompt_tokens.fetch_add(prompt, Relaxed);
                self.completion_tokens.fetch_add(completion, Relaxed);
            }
            Outcome::Failed => {
                self.errors.fetch_add(1, Relaxed);
            }
        }
    }

    fn json(&self) -> Value {
        json!({
            "requests": self.requests.load(Relaxed),
            "errors": self.errors.load(Relaxed),
            "prompt_tokens": self.prompt_tokens.load(Relaxed),
            "completion_tokens": self.completion_tokens.load(Relaxed),
        })
    }

    fn clear(&self) {
        for c in [
            &self.requests,
            &self.errors,
            &self.prompt_tokens,
            &self.completion_tokens,
        ] {
            c.store(0, Relaxed);
        }
    }
}

/// How one generation request ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    Answered { prompt: u64, completion: u64 },
    Failed,
}

/// Totals over generation requests (chat completions, messages, generateContent).
#[derive(Default)]
pub(crate) struct Stats {
    total: Counters,
    by_model: RwLock<HashMap<String, Counters>>,
    /// TCP connections accepted so far: a client that reuses its connections (as a
    /// gateway's pool should) keeps this far below `requests`.
    connections: AtomicU64,
}

impl Stats {
    /// Counts one generation request; `model` is `None` when the body could not be read.
    pub(crate) fn add(&self, model: Option<&str>, outcome: Outcome) {
        self.total.add(outcome);
        let Some(model) = model else { return };
        {
            let map = self.by_model.read().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = map.get(model) {
                c.add(outcome);
                return;
            }
        }
        let mut map = self.by_model.write().unwrap_or_else(|e| e.into_inner());
        map.entry(model.to_string()).or_default().add(outcome);
    }

    /// Counts one accepted TCP connection.
    pub(crate) fn connection(&self) {
        self.connections.fetch_add(1, Relaxed);
    }

    pub(crate) fn json(&self) -> Value {
        let map = self.by_model.read().unwrap_or_else(|e| e.into_inner());
        let by_model: BTreeMap<&str, Value> =
            map.iter().map(|(k, v)| (k.as_str(), v.json())).collect();
        let mut out = self.total.json();
        out["by_model"] = json!(by_model);
        out["connections"] = json!(self.connections.load(Relaxed));
        out
    }

    pub(crate) fn reset(&self) {
        let mut map = self.by_model.write().unwrap_or_else(|e| e.into_inner());
        map.clear();
        self.total.clear();
        self.connections.store(0, Relaxed);
    }
}
