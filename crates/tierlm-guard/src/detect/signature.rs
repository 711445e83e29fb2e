//! Names heading a contact block: an e-mail signature, a letter's address block, the
//! recipient line of a billing address.
//!
//! ```text
//! Searlait LeBatelier            Billing address: Iqra Huting
//! Cellnovo Group SA                  3326 Coal Street Unit 317
//! Mobile: +45 20-23-41-52            Altoona, PA 16601
//! ```
//!
//! A line that holds nothing but two to four capitalised words (after an optional
//! label such as `Billing address:`) names a person when a postal address, a phone
//! number or an e-mail address starts within the next [`LINES_AFTER`] lines, none of
//! its words is a listed common word, place or organisation word ("Kind Regards",
//! "Cellnovo Group SA"), and one of them is a listed name or no English word at all.

use super::names::{self, Role, Token};
use super::strict::is_known_word;
use crate::entity::{Entity, EntityKind};

/// How many lines below the name the contact details may start.
const LINES_AFTER: usize = 4;

/// Confidence of a name heading a contact block: a name alone on its line, with the
/// block as its cue.
const CONFIDENCE: f32 = 0.7;

/// The byte where the `lines` lines after byte `from` (a line start) end.
fn lines_end(text: &str, from: usize, lines: usize) -> usize {
    text[from..]
        .match_indices('\n')
        .nth(lines.saturating_sub(1))
        .map_or(text.len(), |(i, _)| from + i + 1)
}

/// Where the name may start on the line `text[start..end]`: after quote marks and
/// bullets, and after a short label ending in a colon ("Billing address:", "Name:").
fn name_start(text: &str, start: usize, end: usize) -> usize {
    let line = &text[start..end];
    let lead = line.len()
        - line
            .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '>' | '*' | '-'))
            .len();
    let body = &line[lead..];
    match body.find(':') {
        Some(colon)
            if body[..colon].split_whitespace().count() <= 3
                && body[..colon].chars().all(|c| c.is_alphabetic() || c == ' ') =>
        {
            start + lead + colon + 1
        }
        _ => start + lead,
    }
}

/// A capitalised word of a name line: Title case or all capitals.
fn capitalised(word: &str) -> bool {
    names::is_title(word)
        || (word.chars().count() >= 2
            && word.chars().all(|c| c.is_alphabetic() && c.is_uppercase()))
}

/// The span of the name on a line whose tokens are `line` and whose name may start at
/// byte `from` and must end by `end`, if the line holds a name and nothing else.
fn name_on_line(
    text: &str,
    line: &[Token],
    from: usize,
    end: usize,
    buf: &mut String,
) -> Option<(usize, usize)> {
    let lex = names::lexicon();
    let run: Vec<&Token> = line.iter().filter(|t| t.start >= from).collect();
    let (first, last) = (run.first()?, run.last()?);
    let words = run
        .iter()
        .filter(|t| !matches!(t.role, Role::Initial | Role::Particle))
        .count();
    let clean_before = text[from..first.start].trim().is_empty();
    let clean_after = text[last.full_end..end]
        .chars()
        .all(|c| c.is_whitespace() || matches!(c, ',' | '.' | ';'));
    let joined = run.windows(2).all(|w| names::joined(text, w[0], w[1]));
    if !(2..=4).contains(&words)
        || !clean_before
        || !clean_after
        || !joined
        || matches!(first.role, Role::Particle)
        || matches!(last.role, Role::Initial | Role::Particle)
    {
        return None;
    }
    let mut evidence = false;
    for t in run
        .iter()
        .filter(|t| !matches!(t.role, Role::Initial | Role::Particle))
    {
        let word = &text[t.start..t.end];
        if !capitalised(word) {
            return None;
        }
        buf.clear();
        buf.extend(word.chars().flat_map(char::to_lowercase));
        if lex.is_blocked(buf) {
            return None;
        }
        evidence |= !is_known_word(buf) || (lex.is_name(buf) && !lex.is_weak(buf));
    }
    evidence.then_some((first.start, last.end))
}

/// Append a person for every name line that heads a contact block of `out`.
pub(super) fn find(text: &str, tokens: &[Token], out: &mut Vec<Entity>) {
    let contacts: Vec<usize> = out
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EntityKind::PostalAddress | EntityKind::Phone | EntityKind::Email
            )
        })
        .map(|e| e.start)
        .collect();
    if contacts.is_empty() {
        return;
    }
    let mut buf = String::new();
    let mut extra = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let end = start + line.len();
        let below = lines_end(text, end, LINES_AFTER);
        if contacts.iter().any(|&c| c >= end && c < below) {
            let (a, b) = (
                tokens.partition_point(|t| t.start < start),
                tokens.partition_point(|t| t.start < end),
            );
            let from = name_start(text, start, end);
            if let Some((s, e)) = name_on_line(text, &tokens[a..b], from, end, &mut buf) {
                extra.push(Entity {
                    kind: EntityKind::Person,
                    start: s,
                    end: e,
                    confidence: CONFIDENCE,
                });
            }
        }
        start = end;
    }
    out.extend(extra);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run [`find`] with a phone finding at every `+`.
    fn found(text: &str) -> Vec<&str> {
        let mut out: Vec<Entity> = text
            .match_indices('+')
            .map(|(i, _)| Entity {
                kind: EntityKind::Phone,
                start: i,
                end: i + 1,
                confidence: 0.95,
            })
            .collect();
        let phones = out.len();
        find(text, &names::tokens(text, names::lexicon()), &mut out);
        out[phones..]
            .iter()
            .map(|e| &text[e.start..e.end])
            .collect()
    }

    #[test]
    fn a_name_line_above_contact_details_is_a_person() {
        assert_eq!(
            found("Searlait LeBatelier\nCellnovo Group SA\nMobile: +45 20-23-41-52\n"),
            ["Searlait LeBatelier"]
        );
        assert_eq!(
            found("Thanks,\n\n> Gerdine A. Hovestad\n\n+357 22 123456"),
            ["Gerdine A. Hovestad"]
        );
        assert_eq!(
            found("Billing address: IQRA HUTING\nTel +1 555 0100"),
            ["IQRA HUTING"]
        );
    }

    #[test]
    fn other_lines_are_left_alone() {
        // common words, organisation words, a sentence, a name too far above
        assert!(found("Kind Regards\nCustomer Service\nAcme Holdings\n+1 555 0100").is_empty());
        assert!(found("I met Searlait LeBatelier today.\n+45 20 23 41 52").is_empty());
        assert!(found("Searlait LeBatelier\n\n\n\n\n\n+45 20 23 41 52").is_empty());
        // no contact details below
        assert!(found("Searlait LeBatelier\nCellnovo Group SA\n").is_empty());
    }
}
