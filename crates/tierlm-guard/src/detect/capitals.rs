//! Names and addresses written in capitals: a form's fields ("PATIENT: JOHN SMITH",
//! "12 OAK STREET, SPRINGFIELD, IL 62704"), a shouted message ("CALL MARIA GONZALEZ
//! NOW"), a signature block in upper case. The name and address detectors read Title
//! case, so they see none of these. Here every word in capitals is folded to Title case
//! in a copy of the text (letter by letter, only where the lower-case letter has the same
//! UTF-8 length, so every byte offset stays the same; a state code before a number stays
//! as it is), both detectors run on the copy, and their findings that hold a folded word
//! are kept. Addresses are kept as the address detector scores them (a street needs a
//! number and a street word); names only when they are strong: a given name with a surname, or an honorific or a cue
//! ("NAME:", "Dear") before a single word. Capitals carry no sentence-case signal, and
//! shouted text ("FREE ENTRY, CALL NOW", "WHAT R U DOING") is common in messages, so a
//! lone word that merely is a name ("MARY", "WILL", "BERT") is not enough, and the
//! text-speak letters `I`, `U` and `R` are initials only with a dot.

use super::{address, names, strict};
use crate::entity::{Entity, EntityKind};

/// The confidence a finding on folded words needs (a full name scores 0.8-0.9, a
/// gazetteer word after an honorific or a cue 0.75-0.85, a lone name 0.6 or less).
const MIN_CONFIDENCE: f32 = 0.75;

/// Single capitals that are words of their own in shouted text ("I", "U", "R"): folded
/// to lower case unless a dot follows, so they cannot pass for an initial.
const TEXT_SPEAK: [&str; 3] = ["I", "U", "R"];

/// Whether `word` is in capitals: two or more letters, every letter upper-case.
fn in_capitals(word: &str) -> bool {
    let mut letters = 0;
    for c in word.chars() {
        if c.is_alphabetic() {
            if !c.is_uppercase() {
                return false;
            }
            letters += 1;
        } else if c.is_numeric() {
            return false;
        }
    }
    letters >= 2
}

/// `c` in lower case where that is one letter of the same UTF-8 length, else `c`.
fn lower_in_place(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) if l.len_utf8() == c.len_utf8() => l,
        _ => c,
    }
}

/// Append `word` in lower case, letter by letter where that keeps the UTF-8 length.
fn push_lower(word: &str, out: &mut String) {
    out.extend(word.chars().map(lower_in_place));
}

/// Append `word` in Title case: the first letter, and any letter after a hyphen or an
/// apostrophe, stays a capital ("JEAN-PAUL" → "Jean-Paul", "O'BRIEN" → "O'Brien").
fn push_title(word: &str, out: &mut String) {
    let mut capital = true;
    for c in word.chars() {
        out.push(if capital { c } else { lower_in_place(c) });
        capital = matches!(c, '-' | '\'' | '\u{2019}');
    }
}

/// Whether the word `text[start..end]` is a state code before a number ("IL 62704"),
/// which the address detector wants in capitals.
fn state_before_number(text: &str, start: usize, end: usize) -> bool {
    text[end..]
        .strip_prefix(' ')
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        && address::is_state_code(&text[start..end])
}

/// `text` with its words in capitals folded, and where those words are.
struct Folded {
    /// Every word in capitals in Title case: what the address detector reads.
    text: String,
    /// For the name detector outside strict mode: a word in capitals that is a known
    /// English word and no gazetteer name in lower case ("HAVE YOU HEARD KIRA FRANSSON SPEAK" → "have you
    /// heard Kira Fransson speak"), the others in Title case, so that a name does not run
    /// into the words around it and its cues read as cues.
    for_names: String,
    /// The folded words: start, end, and whether the gazetteer lists the word as a given
    /// name or a surname.
    spans: Vec<(usize, usize, bool)>,
}

impl Folded {
    fn new(text: &str) -> Self {
        let lex = names::lexicon();
        let mut folded = Folded {
            text: String::with_capacity(text.len()),
            for_names: String::with_capacity(text.len()),
            spans: Vec::new(),
        };
        let mut lower = String::new();
        let mut copied = 0;
        for (start, end) in names::words(text) {
            let word = &text[start..end];
            if TEXT_SPEAK.contains(&word) && !text[end..].starts_with('.') {
                for out in [&mut folded.text, &mut folded.for_names] {
                    out.push_str(&text[copied..start]);
                    out.push_str(&word.to_ascii_lowercase());
                }
                copied = end;
                continue;
            }
            if !in_capitals(word) || state_before_number(text, start, end) {
                continue;
            }
            lower.clear();
            lower.extend(word.chars().flat_map(char::to_lowercase));
            let name = lex.is_name(&lower);
            let known = !name
                && (word.chars().count() <= 2
                    || lex.is_blocked(&lower)
                    || strict::is_known_word(&lower));
            folded.text.push_str(&text[copied..start]);
            push_title(word, &mut folded.text);
            folded.for_names.push_str(&text[copied..start]);
            if known {
                push_lower(word, &mut folded.for_names);
            } else {
                push_title(word, &mut folded.for_names);
            }
            copied = end;
            folded.spans.push((start, end, name));
        }
        for out in [&mut folded.text, &mut folded.for_names] {
            out.push_str(&text[copied..]);
            debug_assert_eq!(out.len(), text.len());
        }
        folded
    }

    /// Whether `e` holds a folded word.
    fn holds_folded(&self, e: &Entity) -> bool {
        self.spans.iter().any(|&(s, t, _)| e.start < t && s < e.end)
    }

    /// The stretches of the copy worth reading: each group of folded words (gaps under
    /// [`MARGIN`]) with [`MARGIN`] bytes of context on both sides, cut at a space. The
    /// detectors read only these, so their cost follows the text in capitals, not the
    /// whole text.
    fn windows(&self) -> Vec<Window> {
        let text = &self.text;
        let mut out: Vec<Window> = Vec::new();
        for &(start, end, name) in &self.spans {
            match out.last_mut() {
                Some(last) if start <= last.to + MARGIN => {
                    last.run |= start == last.to + 1 && text.as_bytes()[last.to] == b' ';
                    last.to = end;
                    last.name |= name;
                }
                _ => out.push(Window {
                    from: start,
                    to: end,
                    name,
                    run: false,
                }),
            }
        }
        for w in &mut out {
            let mut from = w.from.saturating_sub(MARGIN);
            while !text.is_char_boundary(from) {
                from += 1;
            }
            w.from = match text[from..w.from].find(char::is_whitespace) {
                Some(i) if from > 0 => from + i + 1,
                _ => from,
            };
            let mut to = (w.to + MARGIN).min(text.len());
            while !text.is_char_boundary(to) {
                to -= 1;
            }
            w.to = match text[w.to..to].rfind(char::is_whitespace) {
                Some(i) if to < text.len() => w.to + i,
                _ => to,
            };
        }
        out
    }
}

/// A stretch of the folded copy around words in capitals.
#[derive(Debug)]
struct Window {
    from: usize,
    to: usize,
    /// A folded word in it is a given name or surname of the gazetteer.
    name: bool,
    /// Two folded words in it follow each other ("JOHN SMITH", "FREE ENTRY").
    run: bool,
}

/// Context kept around words in capitals: more than the name detector's cue window
/// (48 bytes) and room for an address's town and postcode after its street.
const MARGIN: usize = 64;

/// Which detectors run on the folded copy.
pub(super) struct Wanted {
    pub(super) names: bool,
    pub(super) addresses: bool,
    /// Strict mode: every name-like finding counts, and so does every run in capitals
    /// that strict mode would take in Title case (one with a word unknown to the
    /// vocabulary, or a gazetteer name inside a sentence).
    pub(super) strict: bool,
}

/// Append the person names and postal addresses written in capitals in `text`.
pub(super) fn find(text: &str, wanted: &Wanted, out: &mut Vec<Entity>) {
    if !text.contains(|c: char| c.is_uppercase()) {
        return;
    }
    let folded = Folded::new(text);
    if folded.spans.is_empty() {
        return;
    }
    let mut found = Vec::new();
    for w in folded.windows() {
        let mut here = Vec::new();
        let copies = (&folded.text[w.from..w.to], &folded.for_names[w.from..w.to]);
        read_window(copies, wanted, &w, &mut here);
        found.extend(here.into_iter().map(|e| Entity {
            start: e.start + w.from,
            end: e.end + w.from,
            ..e
        }));
    }
    // a finding on the copy may complete one of the same kind ("John SMITH", a street
    // with its town in capitals) but not swallow another kind ("GDR 144A" on the line
    // before a name and an address)
    found.retain(|e| {
        folded.holds_folded(e)
            && out
                .iter()
                .all(|o| o.kind == e.kind || o.end <= e.start || e.end <= o.start)
    });
    out.append(&mut found);
}

/// The detectors on one window of the folded copy.
/// `(text, for_names)` are the window in the two copies of [`Folded`].
fn read_window(
    (text, for_names): (&str, &str),
    wanted: &Wanted,
    window: &Window,
    found: &mut Vec<Entity>,
) {
    // nothing in capitals that the gazetteer knows: no name to find (except in strict
    // mode, where a run of unknown words counts)
    if wanted.names && (window.name || (wanted.strict && window.run)) {
        // strict mode reads every word in capitals as a possible part of a name (the
        // Title-case copy): recall first
        let copy = if wanted.strict { text } else { for_names };
        let lex = names::lexicon();
        let tokens = names::tokens(copy, lex);
        let mut people = Vec::new();
        names::find_in(copy, &tokens, &mut people);
        found.extend(people.into_iter().filter(|e| {
            let single = !copy[e.start..e.end].contains(char::is_whitespace);
            e.kind == EntityKind::Person
                && (wanted.strict
                    || (e.confidence >= MIN_CONFIDENCE
                        && (!single || lex.introduced(copy, e.start))))
        }));
        if wanted.strict {
            // not a single word alone: that is too often an acronym ("GPU", "NATO")
            let mut runs = Vec::new();
            strict::find_names(copy, &tokens, true, &mut runs);
            found.extend(
                runs.into_iter()
                    .filter(|e| copy[e.start..e.end].contains(char::is_whitespace)),
            );
        }
    }
    if wanted.addresses {
        address::find(text, found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capitals(text: &str) -> Vec<&str> {
        found(text)
            .into_iter()
            .filter(|(kind, _)| *kind == EntityKind::Person)
            .map(|(_, t)| t)
            .collect()
    }

    fn found(text: &str) -> Vec<(EntityKind, &str)> {
        let mut out = Vec::new();
        let wanted = Wanted {
            names: true,
            addresses: true,
            strict: false,
        };
        find(text, &wanted, &mut out);
        out.iter()
            .map(|e| (e.kind.clone(), &text[e.start..e.end]))
            .collect()
    }

    #[test]
    fn addresses_in_capitals_are_found() {
        assert_eq!(
            found("SHIP TO: 221 DALLAS COURT, SPRINGFIELD, IL 62704"),
            [(
                EntityKind::PostalAddress,
                "221 DALLAS COURT, SPRINGFIELD, IL 62704"
            )]
        );
        assert_eq!(
            found("JOHN SMITH\n12 OAK ST\nBOSTON, MA 02110"),
            [
                (EntityKind::Person, "JOHN SMITH"),
                (EntityKind::PostalAddress, "12 OAK ST\nBOSTON, MA 02110"),
            ]
        );
        // a number and capitals without a street word are no address
        assert!(found("WIN 2 TICKETS TO THE FA CUP FINAL").is_empty());
        // "ON" is Ontario, but no ZIP code follows a province, and a phone number
        // continues after its first group
        assert!(found("CALL ME BACK ON 07633 74 03 82").is_empty());
        assert!(found("CALL ME 07633 74 03 82").is_empty());
    }

    #[test]
    fn full_names_in_capitals_are_found() {
        assert_eq!(
            capitals("PATIENT: JOHN SMITH\nDOB: 1980-02-03"),
            ["JOHN SMITH"]
        );
        assert_eq!(
            capitals("PLEASE CALL MARIA GONZALEZ TODAY"),
            ["MARIA GONZALEZ"]
        );
        assert_eq!(capitals("Signed, JEAN-PAUL O'BRIEN"), ["JEAN-PAUL O'BRIEN"]);
        assert_eq!(capitals("Dear Mr SMITH, thank you"), ["SMITH"]);
        assert_eq!(capitals("NAME: GONZALEZ"), ["GONZALEZ"]);
        // known words around a name do not run into it, and their cues count
        assert_eq!(
            capitals("HAVE YOU HEARD KIRA FRANSSON SPEAK YET?"),
            ["KIRA FRANSSON"]
        );
        assert_eq!(
            capitals("JOHN F. KENNEDY AND JOHN F KENNEDY"),
            ["JOHN F. KENNEDY", "JOHN F KENNEDY"]
        );
    }

    #[test]
    fn a_name_half_in_capitals_is_found_whole() {
        assert_eq!(
            capitals("the form was signed by John SMITH yesterday"),
            ["John SMITH"]
        );
    }

    #[test]
    fn only_the_stretches_around_capitals_are_read_and_offsets_hold() {
        let filler = "the meeting notes say nothing about anyone in particular. ".repeat(12);
        let text = format!(
            "{filler}Billing: MARIA GONZALEZ, 221 DALLAS COURT, SPRINGFIELD, IL 62704. \
             {filler}and then ÅSA LINDQVIST signed."
        );
        assert_eq!(
            found(&text),
            [
                (EntityKind::Person, "MARIA GONZALEZ"),
                (
                    EntityKind::PostalAddress,
                    "221 DALLAS COURT, SPRINGFIELD, IL 62704"
                ),
                (EntityKind::Person, "ÅSA LINDQVIST"),
            ]
        );
        let folded = Folded::new(&text);
        let windows = folded.windows();
        assert_eq!(windows.len(), 2);
        assert!(windows.iter().all(|w| w.to - w.from < 250), "{windows:?}");
        assert!(windows.iter().all(|w| w.name && w.run), "{windows:?}");
    }

    #[test]
    fn shouting_without_a_full_name_is_no_person() {
        assert!(capitals("FREE ENTRY IN 2 A WKLY COMP TO WIN FA CUP FINAL TKTS").is_empty());
        assert!(capitals("URGENT! CALL NOW, MARY WILL WIN A PRIZE").is_empty());
        assert!(capitals("DARLIN I HOPE U R OK, FRAN I DECIDED").is_empty());
        assert!(capitals("pre-trained models such as BERT, identical to BERT").is_empty());
        assert!(capitals("The BBC and NATO met in the UK.").is_empty());
        assert!(capitals("no capitals at all").is_empty());
    }

    #[test]
    fn folding_keeps_every_byte_offset() {
        // 'ẞ' lowers to 'ß' (3 bytes to 2): left as it is, so offsets do not move
        let text = "NAME: ÅSA ẞMITH, JOSÉ NUÑEZ";
        for (start, end) in names::words(text) {
            let mut w = String::new();
            push_title(&text[start..end], &mut w);
            assert_eq!(w.len(), end - start, "{w}");
        }
        assert_eq!(capitals("Contact: JOSÉ NUÑEZ"), ["JOSÉ NUÑEZ"]);
    }
}
