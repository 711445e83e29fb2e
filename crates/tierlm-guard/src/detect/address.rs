//! Postal addresses: a street line is found by one of a few patterns (number first with
//! an English street suffix, `221 Dallas Court`; number first with a French street
//! word, `82 rue Beauvau`; street word first, `Via Tasso 21`, `ul. Zamkowa 33`; a
//! Germanic or Nordic compound, `Jakobstrasse 89`, `Degnehøjvej 45`; any Title-case
//! words and a number when a postcode follows within the next parts, `Na Kopci 278,
//! 533 41 Kaplice`; a P.O. box), then extended over the parts that follow it after a
//! comma or on the next lines (apartment, town, state, postcode, country). Title-case
//! words and a number also count after "lives at", "address:" and the like. Without a
//! street, a US `City, ST 12345` and a full UK postcode are addresses too. Confidence
//! grows with completeness: a street alone is medium, a street with a town and a
//! postcode high. Patterns use ASCII word boundaries so that the regex engine keeps its
//! fast DFA on non-ASCII text (about 13 µs per 2 KB).

use std::sync::OnceLock;

use regex::Regex;

use crate::entity::{Entity, EntityKind};

/// A Title-case word of any script (`Nørrebro`, `O'Connell`, `Λεμεσός`, `ORLÉANS`).
const WORD: &str = r"\p{Lu}[\p{L}\p{M}'’.-]*";
/// Small words inside street and town names.
const PARTICLE: &str = r"(?:de|do|da|dos|das|del|della|di|du|des|la|le|les|el|los|las|of|the|van|von|der|den|an|am|ob|na|pod|nad|y|e)\b";
/// A house number: `12`, `12a`, `12-14`, `12/3`.
const NUMBER: &str = r"\d{1,5}[A-Za-z]?(?:[-/]\d{1,4}[A-Za-z]?)?";
/// English street suffixes.
const SUFFIX_EN: &str = r"(?:Street|St|Str|Avenue|Ave|Av|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Way|Place|Pl|Terrace|Ter|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Square|Sq|Crescent|Cres|Close|Grove|Gardens|Gdns|Row|Walk|Trail|Trl|Alley|Mews|Ridge|Loop|Path|Pike|Plaza|Parade|Pde|Esplanade|Quay|Wharf|Heights|Hts|Manor|Commons|Crossing|Landing|Expressway|Expy|Freeway|Fwy|Turnpike|Broadway)";
/// French street words written after the number (`82 rue Beauvau`).
const TYPE_FR: &str = r"(?i:rue|avenue|av\.|boulevard|bd|chemin|allée|allee|impasse|quai|route|cours|faubourg|passage|place|square|voie)";
/// Street words written first (`Via Tasso 21`, `Rua do Arenque 1634`, `ul. Zamkowa 33`).
const TYPE_FIRST: &str = r"(?:Rua|R\.|Ctra\.|Carretera|Avenida|Avda\.|Av\.|Calle|C/|Carrer|Paseo|Plaza|Camino|Ronda|Travessa|Largo|Via|Viale|Piazza|Piazzale|Corso|Vicolo|Strada|Calea|ul\.|Ul\.|ulica|al\.|Aleja|Rue|Avenue|Boulevard|Chemin|Route|Place|Quai)";
/// Street word endings of compounds (`Jakobstrasse`, `Olmstraat`, `Degnehøjvej`); short
/// endings that end ordinary words too (`-ring`, `-tee`) are left to the postcode rule.
const COMPOUND: &str = r"(?:strasse|straße|str\.|str|gasse|weg|allee|platz|straat|laan|gracht|plein|singel|steeg|vej|vænget|gade|vägen|gatan|gata|väg|gränd|veien|vegen|tie|katu|kuja|polku|iela|gatvė|utca|útja|körút|ulica|ulice)";
/// The same street words written as a separate word (`Reinprechtsdorfer Strasse 32`,
/// `Rákóczi út 66.`, `Karu põik 61`).
const SEPARATE: &str = r"(?:Strasse|Straße|Str\.|Gasse|Weg|Allee|Platz|Ring|út|utca|u\.|útja|tér|körút|krt\.|sor|köz|põik|tee|iela|cesta|ulica|trg|vej|gade|gate|veien|veg|vei|gata|gatan|vägen|tie|katu|straat|laan)";
/// Postcodes of most European and American countries, UK and Canadian ones.
const POSTCODE: &str = r"(?:[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b|[A-Z]\d[A-Z] ?\d[A-Z]\d\b|\d{5}-\d{4}|\d{5}-\d{3}|\d{4}-\d{3}|\d{2}-\d{3}|\d{3} \d{2}\b|\d{4} ?[A-Z]{2}\b|[A-Z]{1,2}-\d{4,5}|\d{3,5})";
/// US states and DC: the only codes a five-digit ZIP code follows.
const US_STATE: &str = r"(?:A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|PA|RI|S[CD]|T[NX]|UT|V[AT]|W[AIVY])";
/// US states, Canadian provinces, Australian states.
const STATE: &str = r"(?:A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|PA|RI|S[CD]|T[NX]|UT|V[AT]|W[AIVY]|ON|QC|BC|AB|MB|SK|NS|NB|NL|PE|NT|YT|NU|NSW|VIC|QLD|TAS|ACT)";
/// An apartment, suite, unit or floor.
const SECONDARY: &str = r"(?i:apt\.?|apartment|suite|ste\.?|unit|flat|floor|fl\.|room|rm\.?|building|bldg\.?)[ \t]*#?[ \t]*[A-Za-z0-9][A-Za-z0-9-]{0,5}|#[ \t]?\d{1,5}[A-Za-z]?";
/// Months: "April 11, 2008" is a date, not a street and a postcode.
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A street pattern: its regex, its confidence when nothing follows it, and whether it
/// counts only when a postcode follows.
struct Street {
    re: Regex,
    confidence: f32,
    needs_postcode: bool,
}

struct Patterns {
    streets: Vec<Street>,
    city_state_zip: Regex,
    uk_postcode: Regex,
    /// A separator and one more part of an address, anchored at the start.
    part: Regex,
}

fn town() -> String {
    format!(r"{WORD}(?:[ -](?:{WORD}|{PARTICLE}|\d{{1,2}}\b)){{0,4}}")
}

/// Compile with ASCII word boundaries and digits: Unicode `\b` makes the regex engine
/// give up its fast DFA on non-ASCII text (patterns that start with a letter of any
/// script check the boundary before them in code instead, see [`starts_word`]).
fn compile(re: &str) -> Result<Regex, regex::Error> {
    Regex::new(&re.replace(r"\b", r"(?-u:\b)").replace(r"\d", "[0-9]"))
}

/// Whether byte `at` of `text` starts a word.
fn starts_word(text: &str, at: usize) -> bool {
    text[..at]
        .chars()
        .next_back()
        .is_none_or(|c| !c.is_alphanumeric())
}

fn build() -> Result<Patterns, regex::Error> {
    let sp = r"[ \t]+";
    let words = format!(r"(?:(?:{WORD}|\d{{1,3}}(?:st|nd|rd|th)){sp}(?:{PARTICLE}{sp})*)");
    let direction = format!(r"(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?{sp})?");
    let street_en = format!(r"\b{NUMBER},?{sp}{direction}{words}{{1,4}}{SUFFIX_EN}\b\.?");
    let lead = format!(r"(?:(?:{PARTICLE}{sp}|[dl]['’]))*");
    let street_fr = format!(
        r"\b{NUMBER}(?:[ ]?(?:bis|ter))?,?{sp}{TYPE_FR}{sp}{lead}{WORD}(?:{sp}{lead}{WORD}){{0,4}}"
    );
    let type_first = format!(
        r"\b{TYPE_FIRST}{sp}{lead}{WORD}(?:{sp}(?:{PARTICLE}{sp})*{WORD}){{0,4}}{sp}\d{{1,5}}[A-Za-z]?\b\.?"
    );
    let compound = format!(
        r"(?:{WORD}{sp}){{0,2}}(?:\p{{Lu}}[\p{{L}}\p{{M}}'’-]*{COMPOUND}|(?:{WORD}{sp}){{1,2}}{SEPARATE}){sp}{NUMBER}\b\.?"
    );
    // Title-case words (then any words) and a number, or a number and Title-case words:
    // only with a postcode after them
    let any_street =
        format!(r"{WORD}(?:{sp}(?:{WORD}|\p{{Ll}}[\p{{L}}\p{{M}}'’.-]*)){{0,3}}{sp}{NUMBER}\b\.?");
    let number_first = format!(r"\b{NUMBER}{sp}{WORD}(?:{sp}(?:{WORD}|{PARTICLE})){{0,3}}");
    let po_box = r"(?i:\bP\.?[ ]?O\.?[ ]?Box|\bPost[ ]+Office[ ]+Box|\bPostbox|\bPostboks|\bPostfach|\bApartado(?:[ ]+de[ ]+Correos)?|\bCaixa[ ]+Postal)[ ]+\d{1,6}\b";
    let street =
        |re: &str, confidence: f32, needs_postcode: bool| -> Result<Street, regex::Error> {
            Ok(Street {
                re: compile(re)?,
                confidence,
                needs_postcode,
            })
        };
    let streets = vec![
        street(&street_en, 0.6, false)?,
        street(&street_fr, 0.6, false)?,
        street(&type_first, 0.55, false)?,
        street(&compound, 0.55, false)?,
        street(&any_street, 0.0, true)?,
        street(&number_first, 0.0, true)?,
        street(po_box, 0.6, false)?,
    ];
    let city_state_zip = compile(&format!(
        r"{WORD}(?:[ ]{WORD}){{0,2}},?[ ]+{US_STATE}[ ]+\d{{5}}(?:-\d{{4}})?\b"
    ))?;
    let uk_postcode = compile(r"\b[A-Z]{1,2}\d[A-Z\d]?[ ]\d[ABD-HJLNP-UW-Z]{2}\b")?;
    let town = town();
    let part = compile(&format!(
        r"^(?:[ \t]*,(?:[ \t]+|[ \t]*\r?\n[ \t>?]*)|(?:[ \t]*\r?\n){{1,2}}[ \t>?]*|[ \t]+)(?P<part>(?P<secondary>{SECONDARY})|(?P<statezip>{STATE}{sp}{POSTCODE})|(?P<pc>{POSTCODE})(?P<pctown>{sp}{town})?|(?P<town>{town})(?:[ ]*-[ ]*[A-Z]{{2}})?(?:,?{sp}(?:{STATE}{sp})?(?P<tpc>{POSTCODE}))?)"
    ))?;
    Ok(Patterns {
        streets,
        city_state_zip,
        uk_postcode,
        part,
    })
}

fn patterns() -> Option<&'static Patterns> {
    static PATTERNS: OnceLock<Option<Patterns>> = OnceLock::new();
    PATTERNS.get_or_init(|| build().ok()).as_ref()
}

/// Whether a part may end at byte `at`: not inside a word, number or identifier, nor
/// before a colon (`Mobile:` is a label) or another group of digits.
fn boundary(text: &str, at: usize) -> bool {
    let rest = &text[at..];
    let next_ok = rest
        .chars()
        .next()
        .is_none_or(|c| !(c.is_alphanumeric() || matches!(c, '-' | '@' | '/' | '_' | ':')));
    // "083 480 4953" is a phone number, not a postcode and more
    next_ok
        && !rest
            .trim_start_matches([' ', '\t'])
            .starts_with(|c: char| c.is_ascii_digit())
}

/// `end` moved back over lower-case words at the end of `text[start..end]` (a town
/// pattern may take a particle that starts the next phrase), and over a full stop
/// after a word longer than an abbreviation.
fn trim_lower_tail(text: &str, start: usize, end: usize) -> usize {
    let mut s = &text[start..end];
    if let Some(head) = s.strip_suffix('.') {
        let last = head.rsplit([' ', '\n', ',']).next().unwrap_or_default();
        if last.chars().count() > 4 {
            s = head;
        }
    }
    while let Some((head, last)) = s.rsplit_once([' ', '-']) {
        if last.chars().next().is_some_and(char::is_lowercase) {
            s = head;
        } else {
            break;
        }
    }
    start + s.len()
}

/// Extend an address ending at `end` over the parts after it: the new end, and
/// whether a town (or country) and a postcode (or state) were among them.
fn extend(p: &Patterns, text: &str, mut end: usize) -> (usize, bool, bool) {
    let (mut town, mut code) = (false, false);
    let mut towns_in_row = 0;
    for _ in 0..5 {
        let Some(c) = p.part.captures(&text[end..]) else {
            break;
        };
        let Some(part) = c.name("part") else { break };
        let part_end = trim_lower_tail(text, end + part.start(), end + part.end());
        let is_code = ["statezip", "pc", "tpc"]
            .iter()
            .any(|g| c.name(g).is_some());
        let is_town = c.name("town").is_some() || c.name("pctown").is_some();
        // after a plain space only an apartment or a state and ZIP code may follow
        // (not a bare number: "my card 4828 0490 ..." is no address)
        let plain_space = !text[end..end + part.start()].contains([',', '\n']);
        let state_zip = c.name("statezip").is_some();
        let secondary = c.name("secondary").is_some();
        if (plain_space && !(secondary || state_zip)) || !boundary(text, part_end) {
            break;
        }
        // a street, then at most two lines of town or country before a postcode
        towns_in_row = if is_town && !is_code {
            towns_in_row + 1
        } else {
            0
        };
        if towns_in_row > 2 {
            break;
        }
        code |= is_code;
        town |= is_town;
        end = part_end;
    }
    (end, town, code)
}

/// Whether a month name is among the words ("On December 26, 1993" is a date).
fn has_month(s: &str) -> bool {
    s.split(|c: char| !c.is_alphabetic())
        .any(|w| MONTHS.contains(&w))
}

/// Whether Title-case words and a number can be a street line: some lower case (not
/// an all-capitals company line) and no apartment word before the number.
fn plausible_street(street: &str) -> bool {
    const UNITS: [&str; 14] = [
        "apt",
        "apartment",
        "suite",
        "ste",
        "unit",
        "flat",
        "floor",
        "fl",
        "room",
        "rm",
        "building",
        "bldg",
        "no",
        "nr",
    ];
    let words: Vec<&str> = street.split_whitespace().collect();
    let before_number = words.len().checked_sub(2).and_then(|i| words.get(i));
    let unit = before_number
        .is_some_and(|w| UNITS.contains(&w.trim_end_matches('.').to_ascii_lowercase().as_str()));
    street.chars().any(char::is_lowercase) && !unit
}

/// Whether the text just before `at` announces an address.
fn address_cue(text: &str, at: usize) -> bool {
    const CUES: [&str; 14] = [
        "address",
        "address is",
        "addresses",
        "lives at",
        "live at",
        "living at",
        "lives on",
        "located at",
        "moved to",
        "ship to",
        "deliver to",
        "drops you off at",
        "meet me at",
        "meet you at",
    ];
    let mut from = at.saturating_sub(40);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let head = text[from..at]
        .trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ':' | ','))
        .to_lowercase();
    CUES.iter().any(|c| {
        head.strip_suffix(c)
            .is_some_and(|h| h.chars().next_back().is_none_or(|ch| !ch.is_alphanumeric()))
    })
}

/// Whether the number at `start` reads as a year after a preposition ("in 2004").
fn year_after_preposition(text: &str, start: usize) -> bool {
    let num: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let year = num.len() == 4 && (num.starts_with("19") || num.starts_with("20"));
    let before = text[..start].trim_end().to_ascii_lowercase();
    year && [
        "in", "since", "by", "of", "from", "until", "to", "and", "before", "after",
    ]
    .iter()
    .any(|w| before.ends_with(w))
}

/// Whether `word` is a US state, Canadian province or Australian state code (`IL`,
/// `QC`, `NSW`).
pub(super) fn is_state_code(word: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(&format!("^{STATE}$")).ok())
        .as_ref()
        .is_some_and(|re| re.is_match(word))
}

/// Append the postal addresses found in `text`.
pub(crate) fn find(text: &str, out: &mut Vec<Entity>) {
    if !text.bytes().any(|b| b.is_ascii_digit()) {
        return;
    }
    let Some(p) = patterns() else { return };
    let mut found: Vec<Entity> = Vec::new();
    for street in &p.streets {
        let mut at = 0;
        while let Some(m) = street.re.find_at(text, at) {
            match street_at(p, street, text, m.start(), m.end()) {
                Some(e) => {
                    at = m.end();
                    found.push(e);
                }
                // a rejected match must not hide one that starts inside it: "Leonard
                // Arntsen lives at Buerlia 227" is no street, "Buerlia 227" after the cue is
                None => at = next_word(text, m.start()).unwrap_or(text.len()),
            }
            if at >= text.len() {
                break;
            }
        }
    }
    for m in p.city_state_zip.find_iter(text) {
        // "CALL ME BACK ON 07633 74 03 82": more digit groups after the "ZIP" make
        // it a phone number
        let digits_follow = text[m.end()..]
            .strip_prefix(' ')
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
        if !starts_word(text, m.start()) || digits_follow {
            continue;
        }
        let plus4 = m.as_str().contains('-');
        found.push(address(m.start(), m.end(), if plus4 { 0.7 } else { 0.6 }));
    }
    for m in p.uk_postcode.find_iter(text) {
        found.push(address(m.start(), m.end(), 0.5));
    }
    // overlapping findings are one address
    found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut merged: Vec<Entity> = Vec::with_capacity(found.len());
    for e in found {
        match merged.last_mut() {
            Some(prev) if e.start < prev.end => {
                prev.end = prev.end.max(e.end);
                prev.confidence = prev.confidence.max(e.confidence);
            }
            _ => merged.push(e),
        }
    }
    out.extend(merged);
}

/// The address whose street line `street` matched at `text[start..end]`, or `None`
/// when the match is no street line.
fn street_at(
    p: &Patterns,
    street: &Street,
    text: &str,
    start: usize,
    end: usize,
) -> Option<Entity> {
    if !starts_word(text, start) {
        return None;
    }
    let matched = &text[start..end];
    let street_end = trim_lower_tail(text, start, end);
    let (end, town, code) = extend(p, text, street_end);
    // "in 2004 Downing Street said": a year, not a house number
    if !town && !code && year_after_preposition(text, start) {
        return None;
    }
    // words and a number: an address with a postcode after it, or after "lives at",
    // "address:", ...
    let cued = street.needs_postcode && address_cue(text, start);
    if street.needs_postcode
        && (!((code || cued) && plausible_street(matched)) || has_month(&text[start..end]))
    {
        return None;
    }
    let base = if cued { 0.6 } else { street.confidence };
    let confidence = match (town, code) {
        (true, true) => 0.9,
        (false, true) => 0.8,
        (true, false) => base.max(0.7),
        (false, false) => base,
    };
    Some(address(start, end, confidence))
}

/// The start of the word after the one at `at` (after the spaces that end it).
fn next_word(text: &str, at: usize) -> Option<usize> {
    let rest = &text[at..];
    let gap = rest.find(char::is_whitespace)?;
    let after = &rest[gap..];
    let word = after.find(|c: char| !c.is_whitespace())?;
    Some(at + gap + word)
}

fn address(start: usize, end: usize, confidence: f32) -> Entity {
    Entity {
        kind: EntityKind::PostalAddress,
        start,
        end,
        confidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(text: &str) -> Vec<(&str, f32)> {
        let mut out = Vec::new();
        find(text, &mut out);
        out.iter()
            .map(|e| (&text[e.start..e.end], e.confidence))
            .collect()
    }

    fn texts(text: &str) -> Vec<&str> {
        addresses(text).into_iter().map(|(s, _)| s).collect()
    }

    #[test]
    fn patterns_compile() {
        assert!(build().is_ok(), "{:?}", build().err());
    }

    #[test]
    fn us_addresses() {
        let got = addresses("Ship it to 2071 Maryland Avenue, Pinellas, FL 34624-1234.");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "2071 Maryland Avenue, Pinellas, FL 34624-1234");
        assert!(got[0].1 >= 0.85);
        assert_eq!(
            texts("Meet me at 5 Crestview Terrace Apt 4\nSan Antonio, TX 78205 tomorrow"),
            ["5 Crestview Terrace Apt 4\nSan Antonio, TX 78205"]
        );
        assert_eq!(texts("The restaurant is at 12 Oak St"), ["12 Oak St"]);
        assert_eq!(texts("Springfield IL 62704"), ["Springfield IL 62704"]);
        // five digits follow US states only, and a ZIP code is not followed by more
        // digit groups (a phone number is)
        assert!(texts("Toronto ON 07633").is_empty());
        assert!(texts("Springfield IL 62704 74 03").is_empty());
        assert_eq!(
            texts("Send it to P.O. Box 255, Anchorage, AK 99501"),
            ["P.O. Box 255, Anchorage, AK 99501"]
        );
        assert_eq!(
            texts("Office in Springfield, IL 62704"),
            ["Springfield, IL 62704"]
        );
    }

    #[test]
    fn european_addresses() {
        assert_eq!(
            texts("Jakobstrasse 89, 4943 Oeschenbach"),
            ["Jakobstrasse 89, 4943 Oeschenbach"]
        );
        assert_eq!(
            texts("It's at 82 rue Beauvau, 13001 MARSEILLE."),
            ["82 rue Beauvau, 13001 MARSEILLE"]
        );
        assert_eq!(
            texts("Via Francesco Girardi 49, 35010 Carmignano Di Brenta"),
            ["Via Francesco Girardi 49, 35010 Carmignano Di Brenta"]
        );
        assert_eq!(
            texts("ul. Elbląska 97\n10-672 Olsztyn\nPoland"),
            ["ul. Elbląska 97\n10-672 Olsztyn\nPoland"]
        );
        assert_eq!(
            texts("Na Kopci 278, 533 41 Lázne Bohdanec"),
            ["Na Kopci 278, 533 41 Lázne Bohdanec"]
        );
        assert_eq!(
            texts("90 Petworth Rd, DUNSINNAN, PH2 5HL"),
            ["90 Petworth Rd, DUNSINNAN, PH2 5HL"]
        );
    }

    #[test]
    fn a_rejected_match_does_not_hide_a_cued_street() {
        // "Arntsen lives at Buerlia 227" is the leftmost "words and a number" match; it
        // is rejected (no cue before it), and the street after "lives at" is still read
        assert_eq!(
            texts("Leonard Arntsen lives at Buerlia 227, SANDEFJORD"),
            ["Buerlia 227, SANDEFJORD"]
        );
        assert_eq!(
            texts("Manuel Lundström lives at Aqqusinersuaq 108, Nanortalik"),
            ["Aqqusinersuaq 108, Nanortalik"]
        );
        assert!(texts("Leonard Arntsen scored at Wembley 2 goals").is_empty());
    }

    #[test]
    fn uk_postcode_alone() {
        assert_eq!(texts("postcode SW1A 1AA please"), ["SW1A 1AA"]);
    }

    #[test]
    fn not_addresses() {
        assert!(texts("In 2004 Downing Street said no.").is_empty());
        assert!(texts("We sold 300 units in 12 months").is_empty());
        assert!(texts("Chapter 3 covers the rest").is_empty());
        assert!(texts("no digits here at all").is_empty());
        assert!(texts("More than 2,000 people came, about 1,100 left.").is_empty());
        assert!(texts("My card 4828 0490 7058 1086 was declined").is_empty());
        assert!(texts("On December 26, 1993 it snowed.").is_empty());
        assert!(texts("They're not answering at 21 272 987 6146").is_empty());
        assert_eq!(
            texts("1755 Nelson Mandela Drive\nPietersburg 820\nSouth Africa\n083 480 4953 office"),
            ["1755 Nelson Mandela Drive\nPietersburg 820\nSouth Africa"]
        );
    }
}

#[cfg(test)]
mod checks {
    use proptest::prelude::*;
    use std::time::Instant;

    /// Time the name and address detectors separately on 2 KB chunks of the PII
    /// background (`eval/pii/build_pii.py`); run with `--ignored --nocapture`.
    #[test]
    #[ignore]
    fn names_and_addresses_per_2kb() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../eval/data/pii/background.jsonl"
        );
        let Ok(data) = std::fs::read_to_string(path) else {
            eprintln!("{path} missing: run eval/pii/build_pii.py");
            return;
        };
        let texts: Vec<String> = data
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["text"].as_str().map(str::to_string))
            .collect();
        let all = texts.join("\n\n");
        let mut chunks = Vec::new();
        let mut rest = all.as_str();
        while rest.len() > 1024 {
            let mut cut = 2048.min(rest.len());
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            chunks.push(&rest[..cut]);
            rest = &rest[cut..];
        }
        let mut out = Vec::new();
        let t = Instant::now();
        super::super::names::find("warm up Anna", &mut out);
        let names_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        super::find("warm up 1 Main Street", &mut out);
        let address_ms = t.elapsed().as_secs_f64() * 1e3;
        eprintln!("first call (loads lists, compiles): names {names_ms:.1} ms, addresses {address_ms:.1} ms");
        for (name, f) in [
            (
                "names",
                super::super::names::find as fn(&str, &mut Vec<crate::Entity>),
            ),
            ("addresses", super::find),
        ] {
            let mut times: Vec<(f64, usize)> = chunks
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let mut best = f64::MAX;
                    for _ in 0..5 {
                        let mut out = Vec::new();
                        let t = Instant::now();
                        f(c, &mut out);
                        best = best.min(t.elapsed().as_secs_f64() * 1e6);
                    }
                    (best, i)
                })
                .collect();
            times.sort_by(|a, b| a.0.total_cmp(&b.0));
            let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
            let (p50, p99, max) = (at(0.5), at(0.99), at(1.0));
            eprintln!(
                "{name}: {} chunks, p50 {:.1} us, p99 {:.1} us, max {:.1} us (chunk {})",
                chunks.len(),
                p50.0,
                p99.0,
                max.0,
                max.1
            );
        }
    }

    proptest! {
        /// Whatever the text, both detectors return spans inside it, on char
        /// boundaries, with a confidence in (0, 1].
        #[test]
        fn spans_are_valid(text in "(?s)[A-Za-z0-9 ,.:;'’\\-\n>?éøßŁ–ΛΑ]{0,120}") {
            let mut out = Vec::new();
            super::super::names::find(&text, &mut out);
            super::find(&text, &mut out);
            for e in out {
                prop_assert!(e.start < e.end && e.end <= text.len());
                prop_assert!(text.is_char_boundary(e.start) && text.is_char_boundary(e.end));
                prop_assert!(e.confidence > 0.0 && e.confidence <= 1.0);
            }
        }
    }
}
