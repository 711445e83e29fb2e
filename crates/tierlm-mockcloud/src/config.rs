//! Server configuration (what the CLI flags set) and the fixtures file: one JSON object per
//! line, `{"prompt": "...", "answer": "...", "model": "..."?}`, matched against the text of
//! the last user message.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Everything the mock server needs to know; each fault field is the default that the
/// matching `x-mock-*` request header overrides.
#[derive(Debug, Clone)]
pub struct Config {
    /// Append one JSON line per received provider request to this file.
    pub record: Option<PathBuf>,
    /// Canned answers, matched by the last user message's text.
    pub fixtures: Vec<Fixture>,
    /// Delay before answering (headers included), in milliseconds.
    pub latency_ms: u64,
    /// Delay before the first chunk of a streamed answer, in milliseconds.
    pub first_token_ms: u64,
    /// Delay between streamed chunks, in milliseconds.
    pub token_interval_ms: u64,
    /// Fraction of requests (0..=1) answered with an injected error.
    pub error_rate: f64,
    /// Statuses used for injected errors, in turn.
    pub error_statuses: Vec<u16>,
    /// `Retry-After` seconds sent with 429 answers.
    pub retry_after: u64,
    /// Abort streamed answers after this many chunks.
    pub reset_after_chunks: Option<u64>,
    /// When set, requests must carry this API key.
    pub require_key: Option<String>,
    /// Seed of the deterministic error injection.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            record: None,
            fixtures: Vec::new(),
            latency_ms: 0,
            first_token_ms: 0,
            token_interval_ms: 0,
            error_rate: 0.0,
            error_statuses: vec![500, 429, 503],
            retry_after: 1,
            reset_after_chunks: None,
            require_key: None,
            seed: 0,
        }
    }
}

/// One canned answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// Exact text of the last user message that selects this fixture.
    pub prompt: String,
    /// The answer text.
    pub answer: String,
    /// When set, the fixture only matches requests for this model.
    #[serde(default)]
    pub model: Option<String>,
}

/// Reads a fixtures file (JSON lines; blank lines and lines starting with `#` are skipped).
/// The error names the file and line.
pub fn load_fixtures(path: &Path) -> Result<Vec<Fixture>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fixture: Fixture =
            serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
        out.push(fixture);
    }
    Ok(out)
}

/// Fixtures indexed by prompt text; within one prompt, model-specific ones win over
/// model-less ones, and earlier lines win over later ones.
#[derive(Debug, Default)]
pub(crate) struct FixtureIndex {
    by_prompt: HashMap<String, Vec<Fixture>>,
}

impl FixtureIndex {
    pub(crate) fn new(fixtures: &[Fixture]) -> Self {
        let mut by_prompt: HashMap<String, Vec<Fixture>> = HashMap::new();
        for f in fixtures {
            by_prompt
                .entry(f.prompt.clone())
                .or_default()
                .push(f.clone());
        }
        Self { by_prompt }
    }

    pub(crate) fn lookup(&self, prompt: &str, model: &str) -> Option<&str> {
        let list = self.by_prompt.get(prompt)?;
        list.iter()
            .find(|f| f.model.as_deref() == Some(model))
            .or_else(|| list.iter().find(|f| f.model.is_none()))
            .map(|f| f.answer.as_str())
    }
}
