//! Repeated mentions: once a text names "Świętosław Gorski", a later bare "Gorski"
//! (or "Świętosław") is the same person even where no cue or gazetteer entry would
//! find it alone. Every other whole-word, capitalised occurrence of a detected name's
//! words becomes a person finding too — in the same text, and in the other texts of
//! the same request (a name given in the system message or an early turn, repeated
//! bare three turns later). On the PII sentences this closed most of the names the
//! detector saw once but missed on their second mention.

use super::names;
use crate::entity::{Entity, EntityKind};

/// Confidence of a repeated mention: below a strong first finding, above the default
/// `min_confidence`.
const REPEAT_CONFIDENCE: f32 = 0.7;

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80 || b == b'-' || b == b'\''
}

/// The words of the person names in `found` that are worth looking for elsewhere:
/// capitalised, three characters or more, and no listed common word or place, not
/// even one that is also a name ("France", "White", "Villa"): alone, such a word is
/// more often the place or the word, and a run taken for a person by mistake
/// ("Aston Villa") must not spread to every mention of it.
pub(crate) fn name_words<'t>(text: &'t str, found: &[Entity]) -> Vec<&'t str> {
    let lex = names::lexicon();
    let mut lower = String::new();
    found
        .iter()
        .filter(|e| e.kind == EntityKind::Person && e.confidence >= 0.5)
        .flat_map(|e| text[e.start..e.end].split(|c: char| c.is_whitespace() || c == ','))
        .map(|w| w.trim_matches(|c: char| c == '.' || c == '\'' || c == '"'))
        .filter(|w| w.chars().count() >= 3 && w.chars().next().is_some_and(char::is_uppercase))
        .filter(|w| {
            lower.clear();
            lower.extend(w.chars().flat_map(char::to_lowercase));
            !lex.is_blocked(&lower) && !lex.is_weak(&lower)
        })
        .collect()
}

/// Add every whole-word mention of `words` (from [`name_words`], of this text or of
/// others) in `text` that no finding at or above `min_confidence` covers yet. A weaker
/// finding there (the name detector's unconvinced guess at "early Gorski", dropped
/// later) does not hide the mention.
pub(crate) fn extend(text: &str, words: &[&str], min_confidence: f32, found: &mut Vec<Entity>) {
    let bytes = text.as_bytes();
    let mut extra = Vec::new();
    for w in words {
        for (start, _) in text.match_indices(w) {
            let end = start + w.len();
            let bounded = (start == 0 || !is_word_byte(bytes[start - 1]))
                && (end == bytes.len() || !is_word_byte(bytes[end]) || bytes[end] == b'\'');
            let covered = found
                .iter()
                .chain(&extra)
                .any(|e| e.confidence >= min_confidence && e.start < end && start < e.end);
            if bounded && !covered {
                extra.push(Entity {
                    kind: EntityKind::Person,
                    start,
                    end,
                    confidence: REPEAT_CONFIDENCE,
                });
            }
        }
    }
    found.extend(extra);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(text: &str, value: &str) -> Entity {
        let start = text.find(value).unwrap();
        Entity {
            kind: EntityKind::Person,
            start,
            end: start + value.len(),
            confidence: 0.9,
        }
    }

    #[test]
    fn later_mentions_of_a_found_name_are_found() {
        let text = "Verses from Świętosław Gorski's tales. Early Gorski? Not Gorskiy.";
        let mut found = vec![person(text, "Świętosław Gorski")];
        let words = name_words(text, &found);
        extend(text, &words, 0.5, &mut found);
        let values: Vec<&str> = found.iter().map(|e| &text[e.start..e.end]).collect();
        assert_eq!(values, ["Świętosław Gorski", "Gorski"]);
    }

    #[test]
    fn short_and_lower_case_words_are_not_spread() {
        let text = "Al Li met al and li.";
        let mut found = vec![person(text, "Al Li")];
        let words = name_words(text, &found);
        extend(text, &words, 0.5, &mut found);
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn a_weak_guess_does_not_hide_a_repeated_mention() {
        let text = "Verses from Świętosław Gorski's tales. Early Gorski? Sure.";
        let mut found = vec![person(text, "Świętosław Gorski")];
        let mut weak = person(text, "Early Gorski");
        weak.confidence = 0.3;
        found.push(weak);
        let words = name_words(text, &found);
        extend(text, &words, 0.5, &mut found);
        let strong: Vec<&str> = found
            .iter()
            .filter(|e| e.confidence >= 0.5)
            .map(|e| &text[e.start..e.end])
            .collect();
        assert_eq!(strong, ["Świętosław Gorski", "Gorski"]);
    }
}
