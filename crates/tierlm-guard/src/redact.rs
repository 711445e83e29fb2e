//! Reversible redaction: each sensitive value becomes a typed placeholder such as
//! `<PERSON_1>`; the same value keeps the same placeholder within a request, so the
//! cloud model can still tell "the same person" from "another person"; the original
//! values are put back in the answer, streamed answers included.
//!
//! Placeholders never collide with text already in the request: every `<NAME_N>` that
//! appears in any of the request's texts is reserved before numbering starts (call
//! [`RedactionMap::reserve`] on all of them first). Restoration replaces only the
//! placeholders this map assigned, so a literal `<PERSON_1>` the user wrote survives.
//!
//! Streams: a placeholder may arrive split across chunks (`<PER` + `SON_1>`).
//! [`StreamRestorer`] holds back a chunk's tail while it could still be the start of a
//! placeholder and releases it once it cannot.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::entity::Entity;

/// The placeholders of one request and the values they stand for.
#[derive(Debug, Default, Clone)]
pub struct RedactionMap {
    /// placeholder → original value.
    originals: HashMap<String, String>,
    /// (type, original value) → placeholder.
    assigned: HashMap<(String, String), String>,
    /// Placeholders seen in the input: never assigned.
    reserved: HashSet<String>,
    /// Next number per type.
    next: HashMap<String, u32>,
    /// Values replaced per type (occurrences).
    counts: BTreeMap<String, u32>,
    /// Longest assigned placeholder, in bytes (bounds the stream hold-back).
    longest: usize,
}

/// Every `<NAME_N>`-shaped token in `text` (upper-case letters, digits and `_`).
fn placeholder_like(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices('<').filter_map(move |(i, _)| {
        let rest = &text[i + 1..];
        let end = rest.find('>')?;
        let inner = &rest[..end];
        let shaped = !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        shaped.then(|| &text[i..i + end + 2])
    })
}

impl RedactionMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserve the placeholder-shaped tokens already present in `text`.
    pub fn reserve(&mut self, text: &str) {
        for p in placeholder_like(text) {
            self.reserved.insert(p.to_string());
        }
    }

    fn placeholder_for(&mut self, kind: &str, value: &str) -> String {
        let key = (kind.to_string(), value.to_string());
        if let Some(p) = self.assigned.get(&key) {
            return p.clone();
        }
        let n = self.next.entry(kind.to_string()).or_insert(0);
        let placeholder = loop {
            *n += 1;
            let candidate = format!("<{kind}_{n}>");
            if !self.reserved.contains(&candidate) {
                break candidate;
            }
        };
        self.longest = self.longest.max(placeholder.len());
        self.originals
            .insert(placeholder.clone(), value.to_string());
        self.assigned.insert(key, placeholder.clone());
        placeholder
    }

    /// `text` with every entity replaced by its placeholder. `entities` must be
    /// sorted and non-overlapping spans of `text` (what the detector returns); spans
    /// that are not are skipped rather than mangling the text.
    pub fn redact(&mut self, text: &str, entities: &[Entity]) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0usize;
        for e in entities {
            let valid = e.start >= at
                && e.start < e.end
                && e.end <= text.len()
                && text.is_char_boundary(e.start)
                && text.is_char_boundary(e.end);
            if !valid {
                continue;
            }
            out.push_str(&text[at..e.start]);
            let kind = e.kind.name().to_string();
            let p = self.placeholder_for(&kind, &text[e.start..e.end]);
            *self.counts.entry(kind).or_insert(0) += 1;
            out.push_str(&p);
            at = e.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// `text` with every placeholder this map assigned replaced by its value.
    pub fn restore(&self, text: &str) -> String {
        if self.originals.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0usize;
        for p in placeholder_like(text) {
            let start = p.as_ptr() as usize - text.as_ptr() as usize;
            if start < at {
                continue;
            }
            if let Some(original) = self.originals.get(p) {
                out.push_str(&text[at..start]);
                out.push_str(original);
                at = start + p.len();
            }
        }
        out.push_str(&text[at..]);
        out
    }

    /// Values replaced, by entity type.
    pub fn counts(&self) -> &BTreeMap<String, u32> {
        &self.counts
    }

    /// Whether anything was replaced.
    pub fn is_empty(&self) -> bool {
        self.originals.is_empty()
    }
}

/// Restores placeholders in a streamed answer, chunk by chunk.
#[derive(Debug)]
pub struct StreamRestorer {
    map: Arc<RedactionMap>,
    pending: String,
}

impl StreamRestorer {
    pub fn new(map: Arc<RedactionMap>) -> Self {
        Self {
            map,
            pending: String::new(),
        }
    }

    /// Text that can be sent now; a possible placeholder start stays held back.
    pub fn push(&mut self, chunk: &str) -> String {
        self.pending.push_str(chunk);
        let keep_from = self.holdback_start();
        let ready: String = self.pending[..keep_from].to_string();
        self.pending.replace_range(..keep_from, "");
        self.map.restore(&ready)
    }

    /// Whatever is left at the end of the stream.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        self.map.restore(&rest)
    }

    /// Where the unfinished placeholder candidate at the end of `pending` starts
    /// (`pending.len()` when there is none).
    fn holdback_start(&self) -> usize {
        let p = &self.pending;
        let Some(i) = p.rfind('<') else {
            return p.len();
        };
        let tail = &p[i + 1..];
        let could_continue = tail.len() < self.map.longest.max(2)
            && tail
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if could_continue && !self.map.is_empty() {
            i
        } else {
            p.len()
        }
    }
}

#[cfg(test)]
#[path = "redact_tests.rs"]
mod tests;
