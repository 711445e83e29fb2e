//! The detectors: one [`Detector`] compiled once from a [`DetectorConfig`] finds the
//! sensitive values in a text. The "structured" (regex-class) detectors find identifiers
//! with a shape and usually a checksum (cards, IBANs, SSNs, national IDs, e-mail, phone
//! numbers, IP, dates of birth, medical and health-plan ids), secrets and per-tenant patterns;
//! names and postal addresses come from their own modules. Every finding has a
//! confidence: validators and context words just before a value raise it, a weak shape
//! without context lowers it, and findings under `min_confidence` are dropped.

pub(crate) mod address;
mod capitals;
mod coref;
mod custom;
mod email_names;
pub(crate) mod names;
mod phone;
mod secrets;
mod signature;
mod strict;
mod structured;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::entity::{resolve_overlaps, Entity, EntityKind};

/// How a [`Detector`] is built (TOML/JSON section of a tenant or of the gateway).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// ISO 3166 alpha-2 codes whose national IDs and passports are looked for:
    /// `US`, `GB`, `DE`, `FR`, `IN`, `ES` (case-insensitive). US SSNs are always
    /// looked for (they are their own kind).
    pub countries: Vec<String>,
    /// Per-tenant patterns and keyword lists.
    pub custom: Vec<CustomRule>,
    /// Look for person names.
    pub names: bool,
    /// Look for postal addresses.
    pub addresses: bool,
    /// Findings with a lower confidence are dropped; in [0, 1].
    pub min_confidence: f32,
    /// Fail closed on the free-form types: every Title-case run with a word that is
    /// not a known English word is a possible person (with `names`), and every full
    /// date is a possible date of birth, birth context or not. For routes where a
    /// leaked name costs more than an over-redacted place or company.
    pub strict: bool,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            countries: vec!["US".to_string()],
            custom: Vec::new(),
            names: true,
            addresses: true,
            min_confidence: 0.5,
            strict: false,
        }
    }
}

/// A per-tenant rule: values matching any of `patterns` (regular expressions, `regex`
/// crate syntax) or equal to any of `keywords` (case-insensitive, whole words) are
/// reported as `EntityKind::Custom(NAME)`, `NAME` being `name` upper-cased.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRule {
    pub name: String,
    #[serde(default)]
    pub patterns: Vec<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// All detectors, compiled once; cheap to share (`Sync`) and to clone.
#[derive(Debug, Clone)]
pub struct Detector {
    structured: structured::Structured,
    phones: phone::Phones,
    secrets: secrets::Secrets,
    custom: custom::Custom,
    names: bool,
    addresses: bool,
    min_confidence: f32,
    strict: bool,
}

impl Detector {
    /// Compile every detector. Errors name the offending setting or custom rule.
    pub fn new(cfg: &DetectorConfig) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&cfg.min_confidence) {
            return Err(format!(
                "min_confidence must be in [0, 1], got {}",
                cfg.min_confidence
            ));
        }
        Ok(Detector {
            structured: structured::Structured::new(&cfg.countries, cfg.strict)?,
            phones: phone::Phones::new()?,
            secrets: secrets::Secrets::new()?,
            custom: custom::Custom::new(&cfg.custom)?,
            names: cfg.names,
            addresses: cfg.addresses,
            min_confidence: cfg.min_confidence,
            strict: cfg.strict,
        })
    }

    /// Every detector; the result is sorted by start, non-overlapping, and holds only
    /// findings at or above `min_confidence`.
    pub fn scan(&self, text: &str) -> Vec<Entity> {
        self.scan_all(&[text]).pop().unwrap_or_default()
    }

    /// [`Detector::scan`] over the texts of one request, one result per text: a person
    /// found in one text is also found at the bare mentions of their name in the others
    /// ("the customer is Mr. Tadanori Okabe" in the system message, "Okabe signed it"
    /// in a later turn).
    pub fn scan_all(&self, texts: &[&str]) -> Vec<Vec<Entity>> {
        let firsts: Vec<_> = texts.iter().map(|text| self.first_pass(text)).collect();
        let mut names: Vec<&str> = texts
            .iter()
            .zip(&firsts)
            .filter(|(_, (_, words))| words.is_some())
            .flat_map(|(text, (found, _))| coref::name_words(text, found))
            .collect();
        names.sort_unstable();
        names.dedup();
        texts
            .iter()
            .zip(firsts)
            .map(|(text, (mut out, words))| {
                if let Some(words) = &words {
                    coref::extend(text, &names, self.min_confidence, &mut out);
                    // after coref: a strict run ("The Liberace") must not spread its
                    // listed words; its unknown ones are found again wherever they recur
                    if self.strict {
                        strict::find_names(text, words, false, &mut out);
                    }
                }
                self.finish(text, out)
            })
            .collect()
    }

    /// Every detector but repeated mentions and strict mode, unresolved; with the
    /// text's classified words when the name detector read them.
    fn first_pass(&self, text: &str) -> (Vec<Entity>, Option<Vec<names::Token>>) {
        let mut out = self.raw_structured(text);
        // the words, classified once for the name detector and strict mode
        let words = (self.names && text.chars().any(char::is_uppercase))
            .then(|| names::tokens(text, names::lexicon()));
        if let Some(words) = &words {
            names::find_in(text, words, &mut out);
            email_names::find(text, words, &mut out);
        }
        if self.addresses {
            address::find(text, &mut out);
        }
        if self.names || self.addresses {
            let wanted = capitals::Wanted {
                names: self.names,
                addresses: self.addresses,
                strict: self.strict,
            };
            capitals::find(text, &wanted, &mut out);
        }
        if let Some(words) = words.as_deref().filter(|_| self.names) {
            signature::find(text, words, &mut out);
        }
        (out, words)
    }

    /// The regex-class detectors only (everything except names and addresses), with
    /// the same guarantees as [`Detector::scan`].
    pub fn scan_structured(&self, text: &str) -> Vec<Entity> {
        let out = self.raw_structured(text);
        self.finish(text, out)
    }

    fn raw_structured(&self, text: &str) -> Vec<Entity> {
        let mut out = Vec::new();
        if text.is_empty() {
            return out;
        }
        let hints = Hints::new(text);
        self.structured.find(&hints, &mut out);
        self.phones.find(&hints, &mut out);
        self.secrets.find(&hints, &mut out);
        self.custom.find(text, &mut out);
        out
    }

    /// Drop weak and malformed findings (defensive: spans must be in bounds and on
    /// char boundaries whoever produced them), then sort and resolve overlaps.
    fn finish(&self, text: &str, mut found: Vec<Entity>) -> Vec<Entity> {
        found.retain(|e| {
            e.start < e.end
                && e.end <= text.len()
                && text.is_char_boundary(e.start)
                && text.is_char_boundary(e.end)
                && e.confidence.is_finite()
                && e.confidence >= self.min_confidence
        });
        for e in &mut found {
            e.confidence = e.confidence.clamp(0.0, 1.0);
        }
        resolve_overlaps(found)
    }
}

/// Time `iterations` calls of [`Detector::scan_structured`] on `text` (after a short
/// warm-up) and return the median and the 99th percentile of one call.
pub fn bench_structured(
    detector: &Detector,
    text: &str,
    iterations: usize,
) -> (Duration, Duration) {
    if iterations == 0 {
        return (Duration::ZERO, Duration::ZERO);
    }
    for _ in 0..iterations.clamp(1, 50) {
        std::hint::black_box(detector.scan_structured(std::hint::black_box(text)));
    }
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        std::hint::black_box(detector.scan_structured(std::hint::black_box(text)));
        times.push(t.elapsed());
    }
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    (at(0.50), at(0.99))
}

/// How many bytes before a value are searched for context words.
pub(crate) const CONTEXT_BYTES: usize = 48;

/// Facts about the scanned text computed once and shared by the detectors, so that
/// each can skip its regexes cheaply.
pub(crate) struct Hints<'a> {
    pub text: &'a str,
    /// `text` with ASCII letters lower-cased: same length and char boundaries.
    pub lower: String,
    /// Number of ASCII digits.
    pub digits: usize,
}

impl<'a> Hints<'a> {
    pub fn new(text: &'a str) -> Self {
        Hints {
            text,
            lower: text.to_ascii_lowercase(),
            digits: text.bytes().filter(u8::is_ascii_digit).count(),
        }
    }

    /// Whether the (lower-cased) text contains any of `needles` (separated by `|`).
    pub fn has_any(&self, needles: &str) -> bool {
        needles.split('|').any(|n| self.lower.contains(n))
    }

    /// Whether one of `words` (lower case, separated by `|`) starts a word within the
    /// [`CONTEXT_BYTES`] before byte `start`.
    pub fn context_before(&self, start: usize, words: &str) -> bool {
        self.context_in(start.saturating_sub(CONTEXT_BYTES), start, words)
    }

    /// Whether one of `words` (lower case, separated by `|`) is a whole word within the
    /// [`CONTEXT_BYTES`] before byte `start` ("v" does not match "VPN").
    pub fn words_before(&self, start: usize, words: &str) -> bool {
        self.find_words(start.saturating_sub(CONTEXT_BYTES), start, words, true)
    }

    /// Whether one of `words` (lower case, separated by `|`) starts a word in
    /// `lower[from..to]` (bounds are moved onto char boundaries).
    pub fn context_in(&self, from: usize, to: usize, words: &str) -> bool {
        self.find_words(from, to, words, false)
    }

    fn find_words(&self, from: usize, to: usize, words: &str, whole: bool) -> bool {
        let to = floor_boundary(&self.lower, to);
        let window = &self.lower[floor_boundary(&self.lower, from.min(to))..to];
        let word = |i: Option<&u8>| i.is_some_and(u8::is_ascii_alphanumeric);
        words.split('|').any(|w| {
            window.match_indices(w).any(|(i, _)| {
                let b = window.as_bytes();
                (i == 0 || !word(b.get(i - 1))) && !(whole && word(b.get(i + w.len())))
            })
        })
    }
}

/// The largest char boundary of `s` at or below `i`.
pub(crate) fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The char just before byte `i` (a char boundary) of `s`.
pub(crate) fn char_before(s: &str, i: usize) -> Option<char> {
    s.get(..i).and_then(|p| p.chars().next_back())
}

/// The char at byte `i` (a char boundary) of `s`.
pub(crate) fn char_at(s: &str, i: usize) -> Option<char> {
    s.get(i..).and_then(|p| p.chars().next())
}

/// Compile a built-in pattern.
pub(crate) fn re(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| format!("built-in pattern {pattern:?}: {e}"))
}

/// A finding.
pub(crate) fn entity(kind: EntityKind, start: usize, end: usize, confidence: f32) -> Entity {
    Entity {
        kind,
        start,
        end,
        confidence,
    }
}

/// Helpers shared by the detector tests.
#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    pub(crate) fn detector(countries: &[&str]) -> Detector {
        Detector::new(&DetectorConfig {
            countries: countries.iter().map(|c| c.to_string()).collect(),
            ..DetectorConfig::default()
        })
        .unwrap()
    }

    /// A detector for every supported country, built once.
    pub(crate) fn all() -> &'static Detector {
        static ALL: std::sync::OnceLock<Detector> = std::sync::OnceLock::new();
        ALL.get_or_init(|| detector(&["US", "GB", "DE", "FR", "IN", "ES"]))
    }

    /// `(KIND, value)` pairs found by the structured detectors.
    pub(crate) fn found(d: &Detector, text: &str) -> Vec<(String, String)> {
        d.scan_structured(text)
            .into_iter()
            .map(|e| (e.kind.name().to_string(), text[e.start..e.end].to_string()))
            .collect()
    }

    #[track_caller]
    pub(crate) fn assert_finds(d: &Detector, text: &str, kind: &str, value: &str) {
        let f = found(d, text);
        assert!(
            f.iter().any(|(k, v)| k == kind && v == value),
            "expected {kind} {value:?} in {text:?}, found {f:?}"
        );
    }

    #[track_caller]
    pub(crate) fn assert_none(d: &Detector, text: &str, kind: &str) {
        let f = found(d, text);
        assert!(
            f.iter().all(|(k, _)| k != kind),
            "unexpected {kind} in {text:?}: {f:?}"
        );
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
