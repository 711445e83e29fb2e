//! Strict mode for person names: fail closed. The default name detector wants evidence
//! (a gazetteer hit, an honorific, a cue such as `my name is`) and so lets through the
//! names it has never seen: about 5% of the names in the leak test. In strict mode every
//! run of Title-case words that holds an *unknown* word — one that is not among the
//! 21,000 whole words of MiniLM's uncased WordPiece vocabulary (`data/known_words.txt`)
//! or the 98,000 other lower-case words of SCOWL's large English list
//! (`data/english_words.txt`, both written by `eval/pii/build_gazetteer.py`), nor a
//! common word, month, place or role word — is taken for a possible person, and so is
//! a known given name or surname that does not start a sentence, including the US
//! census's frequent surnames that are also words ("Peoples", "Usher"). Unknown places and
//! companies are redacted with the people: that is the price, measured in
//! docs/BENCHMARKS.md ("Strict mode").

use std::collections::HashSet;
use std::sync::OnceLock;

use super::names::{self, Role, Token};
use crate::entity::{Entity, EntityKind};

const KNOWN_WORDS: &str = include_str!("../../data/known_words.txt");
/// The lower-case words of SCOWL's large American English list that the vocabulary
/// lacks ("paraphrase", "unsupervised"; written by `eval/pii/build_gazetteer.py`).
const ENGLISH_WORDS: &str = include_str!("../../data/english_words.txt");
/// Surnames of the 1990 US census's 5,000 most frequent that the gazetteer lacks
/// ("peoples", "battle"; written by `eval/pii/build_gazetteer.py`).
const CENSUS_SURNAMES: &str = include_str!("../../data/census_surnames.txt");

fn census_surnames() -> &'static HashSet<&'static str> {
    static CENSUS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    CENSUS.get_or_init(|| names::lines(CENSUS_SURNAMES).collect())
}

/// Confidence of a strict finding: the default `min_confidence`, and below the
/// evidence-based detector's findings, which win an overlap of the same length.
const STRICT_CONFIDENCE: f32 = 0.5;

fn known_words() -> &'static HashSet<&'static str> {
    static KNOWN: OnceLock<HashSet<&'static str>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        names::lines(KNOWN_WORDS)
            .chain(names::lines(ENGLISH_WORDS))
            .collect()
    })
}

/// Whether `lower` (a lower-case word) is an English word of the vocabulary; a
/// hyphenated word is when each of its parts is ("film-maker", "ten-year-old"; not
/// "lom-ali").
pub(super) fn is_known_word(lower: &str) -> bool {
    known_words().contains(lower)
        || (lower.contains('-') && lower.split('-').all(|p| known_words().contains(p)))
}

/// Whether `lower` (a lower-case word) is no English word of the vocabulary. A
/// contraction ("we're", "shouldn't") is known when its head is, and a head shorter
/// than three letters ("we", "i") is known: the vocabulary list holds longer words.
pub(super) fn is_unknown_word(lower: &str) -> bool {
    let head = lower.split(['\'', '\u{2019}']).next().unwrap_or_default();
    head.chars().count() >= 3 && !is_known_word(head)
}

/// Whether a Title-case word could be a name nobody has listed: unknown to the
/// vocabulary (accents count: `Bożena` is not `bozena`), a gazetteer name that is not
/// the first word of a sentence ("met Chelsea", not "Chelsea won"), or one in the
/// possessive.
fn suspicious(text: &str, t: &Token, initial: bool, buf: &mut String) -> bool {
    if !t.is_word() {
        return false;
    }
    buf.clear();
    buf.extend(text[t.start..t.end].chars().flat_map(char::to_lowercase));
    let unknown = is_unknown_word(buf);
    // a listed name in the possessive, even one that is also a word ("Frank's kid")
    let owner = t.owner(buf, initial);
    let census = !initial && census_surnames().contains(buf.as_str());
    unknown || (t.strong() && !initial) || owner || census
}

/// Whether a token can be part of a strict run: a Title-case word (listed as a common
/// word or a place or not: "Pavia A. Rosing", "Lukasz van der Elst"), an initial or a
/// particle.
fn member(text: &str, t: &Token) -> bool {
    match t.role {
        Role::Word { .. } | Role::Initial | Role::Particle => true,
        Role::Other => names::is_title(&text[t.start..t.end]),
        Role::Honorific => false,
    }
}

/// Append a possible person for every run of Title-case words (with initials and
/// particles inside) that holds a suspicious word. The whole run is reported, so a
/// name is never half redacted; a listed word ("The", "Please") that starts a
/// sentence is left out of it. A run that ends in an organisation word ("Sage
/// Centre") is the organisation, except in a copy folded from capitals
/// (`from_capitals`), where a run is the whole line ("BOŻENA IS FROM TUTOR PERINI
/// CORPORATION").
pub(super) fn find_names(text: &str, tokens: &[Token], from_capitals: bool, out: &mut Vec<Entity>) {
    let title = |t: &Token| {
        t.is_word() || (t.role == Role::Other && names::is_title(&text[t.start..t.end]))
    };
    let mut buf = String::new();
    let mut i = 0;
    while i < tokens.len() {
        if !title(&tokens[i]) {
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
        let next = j;
        while j > i + 1 && !title(&tokens[j - 1]) {
            j -= 1;
        }
        let mut start = i;
        while start + 1 < j
            && !tokens[start].is_word()
            && names::sentence_initial(text, tokens[start].start)
        {
            start += 1;
        }
        let initial = names::sentence_initial(text, tokens[start].start);
        let last = &tokens[j - 1];
        let organisation = !from_capitals && j - start >= 2 && {
            buf.clear();
            buf.extend(
                text[last.start..last.end]
                    .chars()
                    .flat_map(char::to_lowercase),
            );
            names::lexicon().is_organisation_word(&buf)
        };
        if !organisation
            && tokens[start..j]
                .iter()
                .enumerate()
                .any(|(k, t)| suspicious(text, t, initial && k == 0, &mut buf))
        {
            out.push(Entity {
                kind: EntityKind::Person,
                start: tokens[start].start,
                end: tokens[j - 1].end,
                confidence: STRICT_CONFIDENCE,
            });
        }
        i = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        find_names(
            text,
            &names::tokens(text, names::lexicon()),
            false,
            &mut out,
        );
        out.iter().map(|e| &text[e.start..e.end]).collect()
    }

    #[test]
    fn unknown_title_case_words_are_possible_names_anywhere() {
        assert_eq!(found("Tamila is a very sympathetic person."), ["Tamila"]);
        assert_eq!(
            found("billing: Iven Desnoyer, 5221070376160110"),
            ["Iven Desnoyer"]
        );
        assert_eq!(
            found("we need to add Brankica Vučan as guardian"),
            ["Brankica Vučan"]
        );
        assert_eq!(
            found("Bożena is from Tutor Perini"),
            ["Bożena", "Tutor Perini"]
        );
    }

    #[test]
    fn known_words_need_a_name_off_the_sentence_start() {
        // common words and sentence-initial known words are left alone
        assert!(found("Please contact the team. Yesterday it rained in London.").is_empty());
        assert!(found("We're sure. We've seen it. Lol, Oh well").is_empty());
        // a gazetteer surname inside a sentence is a possible name
        assert_eq!(found("The report by Howard was late."), ["Howard"]);
    }

    #[test]
    fn a_census_surname_that_is_a_word_counts_inside_a_sentence() {
        assert_eq!(found("Unlike the Peoples novel, it is short."), ["Peoples"]);
        assert!(found("Peoples of the north met.").is_empty());
        assert!(found("He left Glasgow for good.").is_empty());
    }

    #[test]
    fn a_listed_name_in_the_possessive_is_a_possible_name_unless_a_place() {
        // "Frank" is also a word, so it needs the possessive
        assert_eq!(found("a done thing between him and Frank's kid"), ["Frank"]);
        assert!(found("a done thing between him and Frank kid").is_empty());
        assert!(found("the growth of India's economy").is_empty());
    }

    #[test]
    fn a_run_is_reported_whole_and_initials_stay_inside() {
        assert_eq!(
            found("directed by Pavia A. Rosing and"),
            ["Pavia A. Rosing"]
        );
        assert_eq!(
            found("Lukasz van der Elst (x@y.z) asked"),
            ["Lukasz van der Elst"]
        );
        // listed words (a place, a common word) stay in a run with an unknown word
        assert_eq!(
            found("Geraldo T. Greece of Hiramatsu"),
            ["Geraldo T. Greece", "Hiramatsu"]
        );
        assert_eq!(found("The Hakuba Oosawa version"), ["Hakuba Oosawa"]);
    }

    #[test]
    fn a_run_ending_in_an_organisation_word_is_no_person() {
        assert!(found("a grant from the Jimi Hendrix Foundation").is_empty());
        assert!(found("they won the Sparkassen Cup last year").is_empty());
        // a surname that is also an organisation word keeps the run a person
        assert_eq!(found("a song by Charlotte Church"), ["Charlotte Church"]);
    }

    #[test]
    fn lower_case_text_is_skipped() {
        assert!(found("nothing here but lower case, 42 and tamila").is_empty());
    }
}
