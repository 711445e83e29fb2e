//! Per-tenant rules: each [`CustomRule`] contributes its regular expressions and its
//! keyword list (case-insensitive, whole words), reported as
//! `EntityKind::Custom(NAME)`. A `RegexSet` over all patterns tells which ones can
//! match, so a message that matches none costs one pass.

use regex::{Regex, RegexBuilder, RegexSet};

use super::{char_at, char_before, entity, CustomRule};
use crate::entity::{Entity, EntityKind};

/// Confidence of a custom finding: the tenant asked for it explicitly.
const CONFIDENCE: f32 = 0.95;
/// Compiled size limit of one pattern, so a tenant cannot make scans expensive.
const SIZE_LIMIT: usize = 2 << 20;

/// The compiled custom rules.
#[derive(Debug, Clone)]
pub(crate) struct Custom {
    /// All patterns of all rules, for a one-pass "does anything match" check.
    set: RegexSet,
    /// `(kind, pattern)` in the order of `set`.
    patterns: Vec<(EntityKind, Regex)>,
    /// One case-insensitive alternation of escaped keywords per rule.
    keywords: Vec<(EntityKind, Regex)>,
}

impl Custom {
    pub(crate) fn new(rules: &[CustomRule]) -> Result<Self, String> {
        let mut patterns = Vec::new();
        let mut keywords = Vec::new();
        let mut sources = Vec::new();
        for rule in rules {
            let name = rule.name.trim().to_uppercase();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "custom rule {:?}: the name must be non-empty letters, digits and '_'",
                    rule.name
                ));
            }
            if EntityKind::parse(&name).is_some() {
                return Err(format!(
                    "custom rule {name:?}: the name is a built-in entity kind"
                ));
            }
            if rule.patterns.is_empty() && rule.keywords.iter().all(|k| k.trim().is_empty()) {
                return Err(format!("custom rule {name:?}: no patterns and no keywords"));
            }
            let kind = EntityKind::Custom(name.clone());
            for (i, p) in rule.patterns.iter().enumerate() {
                let regex = RegexBuilder::new(p)
                    .size_limit(SIZE_LIMIT)
                    .build()
                    .map_err(|e| format!("custom rule {name:?}: pattern {} ({p:?}): {e}", i + 1))?;
                patterns.push((kind.clone(), regex));
                sources.push(p.as_str());
            }
            let mut words: Vec<&str> = rule
                .keywords
                .iter()
                .map(|k| k.trim())
                .filter(|k| !k.is_empty())
                .collect();
            if !words.is_empty() {
                // Longest first, so "Project Apollo" wins over "Project" at the same place.
                words.sort_by_key(|w| std::cmp::Reverse(w.len()));
                let alternation: Vec<String> = words.iter().map(|w| regex::escape(w)).collect();
                let regex = RegexBuilder::new(&alternation.join("|"))
                    .case_insensitive(true)
                    .size_limit(SIZE_LIMIT)
                    .build()
                    .map_err(|e| format!("custom rule {name:?}: keywords: {e}"))?;
                keywords.push((kind, regex));
            }
        }
        let set = RegexSet::new(&sources).map_err(|e| format!("custom rules: {e}"))?;
        Ok(Custom {
            set,
            patterns,
            keywords,
        })
    }

    /// Append the custom findings in `text`.
    pub(crate) fn find(&self, text: &str, out: &mut Vec<Entity>) {
        if !self.patterns.is_empty() {
            for i in self.set.matches(text).iter() {
                let (kind, regex) = &self.patterns[i];
                for m in regex.find_iter(text).filter(|m| !m.is_empty()) {
                    out.push(entity(kind.clone(), m.start(), m.end(), CONFIDENCE));
                }
            }
        }
        for (kind, regex) in &self.keywords {
            let mut at = 0;
            while let Some(m) = regex.find_at(text, at) {
                if whole_word(text, m.start(), m.end()) {
                    out.push(entity(kind.clone(), m.start(), m.end(), CONFIDENCE));
                    at = m.end();
                } else {
                    // Retry one char later: a shorter keyword may start inside.
                    at = m.start() + char_at(text, m.start()).map_or(1, char::len_utf8);
                }
                if at >= text.len() {
                    break;
                }
            }
        }
    }
}

/// Whether `text[s..e]` is not glued to letters or digits on a side where the keyword
/// itself starts or ends with a letter or digit.
fn whole_word(text: &str, s: usize, e: usize) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let (first, last) = (char_at(text, s), char_before(text, e));
    let glued_start = word(first) && word(char_before(text, s));
    let glued_end = word(last) && word(char_at(text, e));
    !glued_start && !glued_end
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::{CustomRule, Detector, DetectorConfig};

    #[test]
    fn custom_rules() {
        let d = Detector::new(&DetectorConfig {
            custom: vec![CustomRule {
                name: "project".into(),
                patterns: vec!["ACME-[0-9]{4}".into()],
                keywords: vec!["Apollo".into(), "Project Zeus".into(), "C++".into()],
            }],
            ..DetectorConfig::default()
        })
        .unwrap();
        let text =
            "Ticket ACME-1234 about apollo and PROJECT ZEUS, not Apollonian or xC++; C++ yes";
        let f = found(&d, text);
        let want: Vec<(String, String)> = ["ACME-1234", "apollo", "PROJECT ZEUS", "C++"]
            .iter()
            .map(|v| ("PROJECT".to_string(), v.to_string()))
            .collect();
        assert_eq!(f, want);
        assert_eq!(d.scan(text).len(), 4);
    }
}
