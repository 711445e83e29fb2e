//! Names that their own e-mail address vouches for. "Čika Hrvat (CikaHrvat@gustr.com)",
//! "From: Searlait LeBatelier <s.lebatelier@cellnovo.com>" and
//! "anna.novak@acme.com (Anna Novak)" hold a name no gazetteer lists and no cue
//! introduces, but the address next to it spells it out. A run of capitalised words
//! within [`REACH`] bytes of an e-mail address is a person when two of its words (or
//! its only word, when that is no common English word) occur in the address's local
//! part, compared without case, accents or separators.

use super::names::{self, Role, Token};
use super::strict::is_known_word;
use crate::entity::{Entity, EntityKind};

/// How far (in bytes) from an e-mail address a name it vouches for may be.
const REACH: usize = 80;

/// Confidence of a name that its e-mail address spells: as sure as a gazetteer name
/// with a cue.
const CONFIDENCE: f32 = 0.8;

/// The letters of `word` that can appear in an e-mail address: ASCII letters,
/// lower-cased; accented and other letters are dropped ("Čika" → "ika").
fn folded(word: &str) -> String {
    word.chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A word that can be part of a name here: Title case or all capitals (forms),
/// an initial or a particle.
fn member(text: &str, t: &Token) -> bool {
    let word = &text[t.start..t.end];
    match t.role {
        Role::Word { .. } | Role::Initial | Role::Particle => true,
        Role::Honorific => false,
        Role::Other => {
            names::is_title(word)
                || (word.chars().count() >= 2
                    && word.chars().all(char::is_uppercase)
                    && word.chars().all(char::is_alphabetic))
        }
    }
}

/// The letters of each e-mail address's local part in `found`, with its span.
fn local_parts(text: &str, found: &[Entity]) -> Vec<(usize, usize, String)> {
    found
        .iter()
        .filter(|e| e.kind == EntityKind::Email)
        .filter_map(|e| {
            let value = &text[e.start..e.end];
            let local = folded(&value[..value.find('@')?]);
            Some((e.start, e.end, local))
        })
        .collect()
}

/// Whether the words of `run` spell a name in `local`, and then the name's span: the
/// run without the common words at its ends ("Please Contact Anna Novak"), so that
/// the given name of "s.lebatelier" stays with the surname.
fn vouched(text: &str, run: &[Token], local: &str, buf: &mut String) -> Option<(usize, usize)> {
    let mut known = |t: &Token| {
        buf.clear();
        buf.extend(text[t.start..t.end].chars().flat_map(char::to_lowercase));
        is_known_word(buf)
    };
    let hit = |t: &Token| {
        let letters = folded(&text[t.start..t.end]);
        t.role != Role::Initial && letters.len() >= 2 && local.contains(&letters)
    };
    let hits: Vec<&Token> = run.iter().filter(|t| hit(t)).collect();
    let enough = match hits.as_slice() {
        [] => false,
        [one] => text[one.start..one.end].chars().count() >= 4 && !known(one),
        _ => true,
    };
    if !enough {
        return None;
    }
    let mut keep = |t: &Token| hit(t) || t.role == Role::Initial || !known(t);
    let first = run.iter().position(&mut keep)?;
    let last = run
        .iter()
        .rposition(|t| t.role != Role::Initial && keep(t))?;
    (first <= last).then(|| (run[first].start, run[last].end))
}

/// Append a person for every run of capitalised words near an e-mail address in
/// `out` that the address's local part spells.
pub(super) fn find(text: &str, tokens: &[Token], out: &mut Vec<Entity>) {
    let locals = local_parts(text, out);
    if locals.is_empty() {
        return;
    }
    let mut buf = String::new();
    let mut extra = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if !member(text, &tokens[i]) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < tokens.len()
            && !tokens[j - 1].possessive()
            && names::joined(text, &tokens[j - 1], &tokens[j])
            && member(text, &tokens[j])
        {
            j += 1;
        }
        let (start, end) = (tokens[i].start, tokens[j - 1].end);
        let near = locals.iter().filter(|(at, until, _)| {
            (*at >= end && at - end <= REACH) || (start >= *until && start - until <= REACH)
        });
        for (_, _, local) in near {
            if let Some((s, e)) = vouched(text, &tokens[i..j], local, &mut buf) {
                extra.push(Entity {
                    kind: EntityKind::Person,
                    start: s,
                    end: e,
                    confidence: CONFIDENCE,
                });
                break;
            }
        }
        i = j;
    }
    out.extend(extra);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let at = text.find('@').unwrap();
        let start = text[..at].rfind([' ', '(', '<']).map_or(0, |i| i + 1);
        let end = at + text[at..].find([' ', ')', '>']).unwrap_or(text.len() - at);
        out.push(Entity {
            kind: EntityKind::Email,
            start,
            end,
            confidence: 0.95,
        });
        find(text, &names::tokens(text, names::lexicon()), &mut out);
        out[1..].iter().map(|e| &text[e.start..e.end]).collect()
    }

    #[test]
    fn a_name_spelled_by_its_address_is_a_person() {
        assert_eq!(
            found("Čika Hrvat (CikaHrvat@gustr.com) asked for a refund."),
            ["Čika Hrvat"]
        );
        assert_eq!(
            found("From: Searlait LeBatelier <s.lebatelier@cellnovo.com>"),
            ["Searlait LeBatelier"]
        );
        assert_eq!(
            found("Lukasz van der Elst (LukaszvanderElst@teleworm.us) wrote"),
            ["Lukasz van der Elst"]
        );
        // the address first, the name after it; capitals
        assert_eq!(
            found("reply to anna.novak@acme.com (ANNA NOVAK) today"),
            ["ANNA NOVAK"]
        );
        // one uncommon word that is the whole local part
        assert_eq!(found("Write to Zeinab at zeinab@mail.example"), ["Zeinab"]);
    }

    #[test]
    fn words_the_address_does_not_spell_are_left_alone() {
        // the cue word before the name is not part of it
        assert_eq!(
            found("Please Contact Anna Novak <anna.novak@acme.com>"),
            ["Anna Novak"]
        );
        // a common word that happens to be the local part
        assert!(found("Customer Support (support@acme.com) is open").is_empty());
        // a name far from the address
        let far = format!("Anna Novak {} anna.novak@acme.com", "x ".repeat(60));
        assert!(found(&far).is_empty());
        // the domain does not count
        assert!(found("Acme Labs <info@acmelabs.com>").is_empty());
    }
}
