//! Phone numbers. Always: international `+CC` numbers with any grouping, NANP numbers,
//! national numbers with a trunk `0` (10-12 digits) and ten-digit runs after a phone
//! word. With a cue near the number ("call", "text", "tel.", "Fax:", "messages to",
//! "my number is" just before it, or "office", "mobile", "fax" just after it): shorter
//! or oddly grouped sequences too, 6-13 digits in 1-5 groups ("31 66 86", "450 0840",
//! "21 265 703 3306"). Without a cue, long grouped sequences (10-13 digits in 3-5
//! groups with one of 3+ digits, "(19) 2440-7222"). Dates, times, money, years,
//! decimals, thousands-grouped amounts, scores and numbers labelled as orders,
//! invoices, tickets... are rejected.

use regex::Regex;

use super::structured::{digit_runs, digits_of, free_edges, glued, NOT_PII_CTX};
use super::{char_at, char_before, entity, floor_boundary, re, Hints};
use crate::entity::{Entity, EntityKind};

const INTL: &str = r"\+[1-9][0-9]{0,3}(?:[ .-]?(?:\([0-9]{1,4}\)|[0-9]{1,6})){1,7}";
const NANP: &str =
    r"(?:\+?1[ .-]?)?(?:\([2-9][0-9]{2}\)[ .-]?|[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}";
const BARE: &str = r"(?-u:\b)[2-9][0-9]{9}(?-u:\b)";
const NATIONAL: &str = r"\(?0[0-9]{1,4}\)?(?:[ ./-]?[0-9]{2,8}){1,5}";
/// Digit groups joined by single separators, maybe after a parenthesized area code.
const GROUPED: &str = r"(?:\([0-9]{1,5}\)[ .-]?)?[0-9]+(?:[ .-][0-9]+)*";

/// Words before a number that raise the confidence of the always-on shapes (prefixes).
const PHONE_CTX: &str =
    "phone|tel|call|mobile|cell|fax|whatsapp|text me|reach me|contact|ring|dial";

/// Cues before a grouped number: a whole word or phrase, the most bytes allowed between
/// it and the number, and whether it is a phone word (strong) or only hints at one.
const CUES: &[(&str, usize, bool)] = &[
    ("call", 24, true),
    ("calling", 24, true),
    ("answering", 24, true),
    ("ring", 24, true),
    ("text", 24, true),
    ("texting", 24, true),
    ("sms", 24, true),
    ("whatsapp", 24, true),
    ("phone", 24, true),
    ("telephone", 24, true),
    ("tel", 24, true),
    ("tlf", 24, true),
    ("ph", 4, true),
    ("mobile", 24, true),
    ("mob", 4, true),
    ("cell", 24, true),
    ("cellphone", 24, true),
    ("fax", 24, true),
    ("dial", 24, true),
    ("messages to", 4, true),
    ("message me", 12, true),
    ("landline", 12, true),
    ("hotline", 12, true),
    ("helpline", 12, true),
    ("desk", 3, true),
    ("office", 3, true),
    ("home", 3, true),
    ("work", 3, true),
    ("number", 6, false),
    ("registered", 6, false),
    ("contact", 12, false),
    ("reach", 12, false),
];

/// Labels just after a number that make it a phone number ("22 543484 office"), when
/// no word follows them ("250 000 home owners" is no phone number).
const AFTER_CUES: &str = "office|fax|mobile|cell|home|work|desk|phone|tel|landline|ring me|call me";

/// The words that may end the text between a cue and the number ("call me on", "my
/// number is"); any other ("call option strike 1250 1300") breaks the link.
const GAP_END_OK: &str =
    "on|at|to|is|me|us|him|her|them|number|no|nr|via|under|are|was|be|here|now|back|or|\
    directly|anytime|today|tomorrow|tonight|asap|again|instead";

/// Lower-case words that may follow a cued number (anything else, "people", "euros",
/// "users", makes it a quantity).
const AFTER_OK: &str = "after|before|or|and|if|for|at|to|from|by|on|in|between|until|till|when|\
    anytime|today|tonight|tomorrow|now|please|pls|asap|ext|x|thanks|thank|i|we|you|is|was|\
    instead|again|too|also|but|so|then|which|that|any|during";

/// Currency codes that make a number an amount (before or after it).
const CURRENCIES: &str = "usd|eur|gbp|chf|jpy|cad|aud|inr|rs|sek|nok|dkk|pln|czk|huf";

/// The compiled phone detectors.
#[derive(Debug, Clone)]
pub(crate) struct Phones {
    intl: Regex,
    nanp: Regex,
    bare: Regex,
    national: Regex,
    grouped: Regex,
}

impl Phones {
    pub(crate) fn new() -> Result<Self, String> {
        Ok(Phones {
            intl: re(INTL)?,
            nanp: re(NANP)?,
            bare: re(BARE)?,
            national: re(NATIONAL)?,
            grouped: re(GROUPED)?,
        })
    }

    /// Append the phone numbers of `h.text`.
    pub(crate) fn find(&self, h: &Hints, out: &mut Vec<Entity>) {
        if h.digits >= 8 {
            self.shapes(h, out);
        }
        if h.digits >= 6 {
            self.grouped(h, out);
        }
    }

    /// The shapes that need no cue (a cue raises their confidence).
    fn shapes(&self, h: &Hints, out: &mut Vec<Entity>) {
        let (text, t) = (h.text, h.text.as_bytes());
        let conf = |s: usize, base: f32| match h.context_before(s, PHONE_CTX) {
            true => 0.95,
            false if h.context_before(s, NOT_PII_CTX) => 0.3,
            false => base,
        };
        if text.contains('+') {
            for m in self.intl.find_iter(text) {
                let s = m.start();
                let Some(e) = trim_digits(text, s + 1, m.end(), 15) else {
                    continue;
                };
                let n = digits_of(&text[s..e]).len();
                if n < 8 || !free_edges(text, s, e) {
                    continue;
                }
                let separated = text[s + 1..e].bytes().any(|b| !b.is_ascii_digit());
                let base = if separated || n >= 10 { 0.85 } else { 0.6 };
                out.push(entity(EntityKind::Phone, s, e, conf(s, base)));
            }
        }
        for m in self.nanp.find_iter(text) {
            let (s, e) = (m.start(), m.end());
            if !free_edges(text, s, e) || glued(t, s, e, b"-./ ") {
                continue;
            }
            let base = match m.as_str().contains(['(', '-', '+']) {
                true => 0.75,
                false => 0.55,
            };
            out.push(entity(EntityKind::Phone, s, e, conf(s, base)));
        }
        for m in self.bare.find_iter(text) {
            if h.context_before(m.start(), PHONE_CTX) {
                out.push(entity(EntityKind::Phone, m.start(), m.end(), 0.75));
            }
        }
        for m in self.national.find_iter(text) {
            let s = m.start();
            let Some(e) = trim_digits(text, s, m.end(), 12) else {
                continue;
            };
            let p = &text[s..e];
            let n = digits_of(p).len();
            if !(10..=12).contains(&n)
                || !free_edges(text, s, e)
                || char_before(text, s) == Some('+')
                || glued(t, s, e, b"-./ ")
                || p.contains(')') != p.starts_with('(')
                || p.matches('/').count() > 1
                || looks_like_date(p)
            {
                continue;
            }
            let separated = p.bytes().any(|b| !b.is_ascii_digit());
            if separated || h.context_before(s, PHONE_CTX) {
                out.push(entity(EntityKind::Phone, s, e, conf(s, 0.65)));
            }
        }
    }

    /// Runs of digit groups, judged by [`grouped_confidence`].
    fn grouped(&self, h: &Hints, out: &mut Vec<Entity>) {
        for m in self.grouped.find_iter(h.text) {
            let n = m.as_str().bytes().filter(u8::is_ascii_digit).count();
            if !(6..=13).contains(&n) {
                continue;
            }
            if let Some(conf) = grouped_confidence(h, m.start(), m.end()) {
                out.push(entity(EntityKind::Phone, m.start(), m.end(), conf));
            }
        }
    }
}

/// The confidence that `text[s..e]`, a run of digit groups with 6-13 digits, is a phone
/// number; `None` when it is something else or lacks the cue its shape needs.
fn grouped_confidence(h: &Hints, s: usize, e: usize) -> Option<f32> {
    let (text, p) = (h.text, &h.text[s..e]);
    let before = char_before(text, s);
    if !free_edges(text, s, e)
        || glued(text.as_bytes(), s, e, b" .,:/-")
        || before.is_some_and(|c| "+#$£€¥₹@&=_/\\".contains(c))
        || char_at(text, e).is_some_and(|c| "%‰°".contains(c))
        || money_before(h, s)
        || h.context_in(s.saturating_sub(24), s, NOT_PII_CTX)
    {
        return None;
    }
    let paren = p.starts_with('(');
    let body = match paren {
        true => p
            .split_once(')')
            .map_or(p, |(_, b)| b.trim_start_matches([' ', '.', '-'])),
        false => p,
    };
    let groups = digit_runs(p);
    let seps: Vec<u8> = body.bytes().filter(|b| !b.is_ascii_digit()).collect();
    let n: usize = groups.iter().map(|g| g.len()).sum();
    if groups.len() > 5
        || groups.iter().skip(1).any(|g| g.len() < 2)
        || !consistent(&seps)
        || not_a_phone(&groups, &seps)
    {
        return None;
    }
    let after = cue_after(&h.lower, e);
    if !after && !followed_ok(text, &h.lower, e) {
        return None;
    }
    let thousands = !paren
        && groups.len() >= 2
        && groups[0].len() <= 3
        && groups[1..].iter().all(|g| g.len() == 3)
        && seps.iter().all(|&b| b == b' ' || b == b'.');
    let cue = cue_before(&h.lower, s);
    let strong = after || cue.is_some_and(|(strong, gap)| strong && (!thousands || gap <= 12));
    if thousands || groups.len() == 1 {
        if strong && (groups.len() > 1 || n >= 7) {
            Some(0.85)
        } else {
            // "my registered 641 572 459": nine or more digits in groups of three after a
            // hint ("number", "registered") are a mobile number more often than an amount
            (thousands && cue.is_some() && n >= 9 && groups[0].len() == 3).then_some(0.7)
        }
    } else if strong {
        Some(0.85)
    } else if cue.is_some() {
        Some(0.7)
    } else {
        let long = n >= 10 && groups.len() >= 3 && groups.iter().any(|g| g.len() >= 3);
        // Round numbers and space-separated lists ("1250 1300 1350") are no phone.
        let round = groups.iter().filter(|g| g.ends_with("00")).count() >= 2;
        let list =
            seps.iter().all(|&b| b == b' ') && groups.iter().all(|g| g.len() == n / groups.len());
        (long && !round && !list).then_some(0.6)
    }
}

/// Separators a phone number may have: one kind throughout, or spaces then dashes
/// ("95 322-829").
fn consistent(seps: &[u8]) -> bool {
    let Some(&first) = seps.first() else {
        return true;
    };
    let rest = &seps[seps.iter().position(|&b| b != first).unwrap_or(seps.len())..];
    rest.is_empty() || (first == b' ' && rest.iter().all(|&b| b == b'-'))
}

/// Dates, times, decimals, years and IPv4 addresses in digit groups.
fn not_a_phone(groups: &[&str], seps: &[u8]) -> bool {
    let n = |g: &str| g.parse::<u32>().unwrap_or(u32::MAX);
    let year = |g: &&str| g.len() == 4 && (1900..=2099).contains(&n(g));
    let dotted = seps.first().is_some_and(|b| b".-/".contains(b));
    match groups {
        // 12.05.24, 2024-05-12, 10.30.45
        [a, b, c] if dotted && a.len() <= 2 && b.len() <= 2 && matches!(c.len(), 2 | 4) => {
            (1..=31).contains(&n(a)) && (1..=12).contains(&n(b))
                || (n(a) <= 23 && n(b) <= 59 && n(c) <= 59)
        }
        [y, ..] if year(y) && groups[1..].iter().all(|g| g.len() <= 2) => true,
        // 102.975, 3.14159
        [_, _] if seps == b"." => true,
        [_, _, _, _] if seps.iter().all(|&b| b == b'.') => groups.iter().all(|g| g.len() <= 3),
        _ => {
            groups.iter().filter(|g| year(g)).count() >= 2
                || (year(&groups[0]) && groups.iter().map(|g| g.len()).sum::<usize>() <= 8)
                || (groups.len() >= 3
                    && groups[0].len() <= 2
                    && groups[1].len() <= 2
                    && groups[2].len() == 4
                    && dotted)
        }
    }
}

/// Whether a currency symbol or code comes just before byte `s` (spaces between).
fn money_before(h: &Hints, s: usize) -> bool {
    let head = h.lower[..s].trim_end_matches([' ', '\t']);
    head.ends_with(['$', '£', '€', '¥', '₹'])
        || CURRENCIES.split('|').any(|c| {
            head.ends_with(c)
                && !head.as_bytes()[..head.len() - c.len()]
                    .last()
                    .is_some_and(u8::is_ascii_alphanumeric)
        })
}

/// The nearest cue of [`CUES`] that ends within its distance before byte `s` of the
/// lower-cased text, with nothing but words and spaces between (no digit, no sentence
/// end, at most one line break, the last word one of [`GAP_END_OK`]): `(strong, gap in
/// bytes)`.
fn cue_before(lower: &str, s: usize) -> Option<(bool, usize)> {
    let window = &lower[floor_boundary(lower, s.saturating_sub(40))..s];
    let b = window.as_bytes();
    let word = |i: Option<&u8>| i.is_some_and(|&c| c.is_ascii_alphanumeric() || c >= 0x80);
    let mut best: Option<(bool, usize)> = None;
    for &(cue, max_gap, strong) in CUES {
        for (i, _) in window.match_indices(cue) {
            let end = i + cue.len();
            let gap = &window[end..];
            let g = gap.strip_prefix('.').unwrap_or(gap);
            if (i > 0 && word(b.get(i - 1)))
                || word(b.get(end))
                || gap.len() > max_gap
                || g.bytes().any(|c| c.is_ascii_digit() || b".!?".contains(&c))
                || g.matches('\n').count() > 1
                || !gap_end_ok(g)
            {
                continue;
            }
            if best.is_none_or(|(_, at)| gap.len() < at) {
                best = Some((strong, gap.len()));
            }
        }
    }
    best
}

/// Whether the last word of `gap` (if any) may come just before a phone number.
fn gap_end_ok(gap: &str) -> bool {
    let last = gap
        .split(|c: char| !c.is_alphanumeric())
        .rfind(|w| !w.is_empty());
    last.is_none_or(|w| GAP_END_OK.split('|').any(|ok| ok == w))
}

/// Whether a label of [`AFTER_CUES`] follows byte `e` of the lower-cased text, and no
/// word follows the label.
fn cue_after(lower: &str, e: usize) -> bool {
    let rest = &lower[e..];
    let label = rest.trim_start_matches([' ', '\t', '-', ',', '(']);
    rest.len() - label.len() <= 3
        && AFTER_CUES.split('|').any(|w| {
            let after = label.get(w.len()..).unwrap_or("x");
            label.starts_with(w)
                && (w.contains(' ')
                    || !after
                        .trim_start_matches([' ', '\t'])
                        .starts_with(|c: char| c.is_alphanumeric()))
        })
}

/// Whether what follows byte `e` fits a phone number: the end, a line break or
/// punctuation, a capitalised word, or one of [`AFTER_OK`]; not a unit or a quantity.
fn followed_ok(text: &str, lower: &str, e: usize) -> bool {
    let rest = lower[e..].trim_start_matches([' ', '\t']);
    let Some(c) = rest.chars().next() else {
        return true;
    };
    if !c.is_alphabetic() {
        return !"%‰°".contains(c);
    }
    let word: &str = rest
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or(rest);
    let start = lower.len() - rest.len();
    let capital = char_at(text, start).is_some_and(char::is_uppercase);
    if CURRENCIES.split('|').any(|w| w == word) {
        return false;
    }
    capital || AFTER_OK.split('|').any(|w| w == word)
}

/// Cut `text[from..e]` at separators until it holds at most `max` digits; the end of
/// what is left (on a digit or a closing parenthesis), if any.
fn trim_digits(text: &str, from: usize, mut e: usize, max: usize) -> Option<usize> {
    let b = text.as_bytes();
    while b[from..e].iter().filter(|c| c.is_ascii_digit()).count() > max {
        e = from + b[from..e].iter().rposition(|c| !c.is_ascii_digit())?;
    }
    while e > from && !(b[e - 1].is_ascii_digit() || b[e - 1] == b')') {
        e -= 1;
    }
    (e > from).then_some(e)
}

/// `d.m.yyyy`-like start (a date, maybe followed by a time), not a phone number.
fn looks_like_date(p: &str) -> bool {
    let parts = digit_runs(p);
    parts.len() >= 3 && parts[0].len() <= 2 && parts[1].len() <= 2 && parts[2].len() == 4
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn helpers() {
        assert!(looks_like_date("06.05.2024 10") && !looks_like_date("020 7946 0958"));
        assert_eq!(trim_digits("+44 20 7946 0958 2024", 1, 21, 15), Some(16));
        assert!(consistent(b"  ") && consistent(b" --") && consistent(b""));
        assert!(!consistent(b"- ") && !consistent(b" - ") && !consistent(b" ."));
        let lower = "you can call me on 9422 1048? tel. 12 34 56 order 1";
        assert_eq!(cue_before(lower, 19), Some((true, 7)));
        assert_eq!(cue_before(lower, 35), Some((true, 2)));
        assert_eq!(cue_before("telling 12", 8), None);
        assert_eq!(cue_before("call me. then 12", 14), None);
        assert!(cue_after("12 34 56 office", 8) && cue_after("1-fax", 1));
        assert!(!cue_after("12 34 56 officers", 8) && !cue_after("250 000 home owners", 7));
        assert!(cue_after("0125698789 ring me if", 10) && cue_after("1 fax\n2", 1));
        assert!(gap_end_ok(" me on ") && gap_end_ok(": ") && gap_end_ok(""));
        assert!(!gap_end_ok(" option strike ") && !gap_end_ok(" aviv "));
        assert!(followed_ok("12 34 56. Ok", "12 34 56. ok", 8));
        assert!(followed_ok("12 34 56 after 5pm", "12 34 56 after 5pm", 8));
        assert!(!followed_ok("12 34 56 people", "12 34 56 people", 8));
        assert!(!followed_ok("12 34 56 EUR", "12 34 56 eur", 8));
    }

    #[test]
    fn cued_short_and_odd_groupings() {
        let d = detector(&[]);
        for (text, value) in [
            ("Fax: 31 66 86\n", "31 66 86"),
            (
                "I would like to stop receiving messages to 73 196 188",
                "73 196 188",
            ),
            ("Desk: (19) 2440-7222\nFax: 450 0840\n", "(19) 2440-7222"),
            ("Desk: (19) 2440-7222\nFax: 450 0840\n", "450 0840"),
            ("Contact: Felix, tel. 21 265 703 3306", "21 265 703 3306"),
            ("Personal Info:\nPhone:\n431 7050\n\nE-mail:", "431 7050"),
            ("Phone:\n772 845 614\n", "772 845 614"),
            ("South Africa\n959 54 685 mobile\n", "959 54 685"),
            ("Name: Mariya Kanou\nPhone: 041-874-295", "041-874-295"),
            ("Can someone call me on 9422 1048? I have", "9422 1048"),
            ("If the parcel is late, text 471 15 966.", "471 15 966"),
            (
                "They're not answering at 21 272 987 6146",
                "21 272 987 6146",
            ),
            ("Katokopia\n22 543484 office\n81 94 31 fax\n", "22 543484"),
            ("Katokopia\n22 543484 office\n81 94 31 fax\n", "81 94 31"),
            ("my number is 94 25 77", "94 25 77"),
            (
                "MY NO. IN LUTON 0125698789 RING ME IF UR AROUND",
                "0125698789",
            ),
            ("call 5551234 after 6", "5551234"),
            ("any message on my registered 12-34-56-78.", "12-34-56-78"),
            ("Tel.: 95 322-829", "95 322-829"),
            ("They're not answering at 777 265 448", "777 265 448"),
            ("They're not answering at (42) 863-974", "(42) 863-974"),
            (
                "I didn't get any message on my registered 641 572 459. Could you",
                "641 572 459",
            ),
        ] {
            assert_finds(&d, text, "PHONE", value);
        }
        // The formats of presidio-evaluator that the fixed shapes already cover.
        for (text, value) in [
            (
                "any message on my registered (026) 2463-815.",
                "(026) 2463-815",
            ),
            (
                "+420 727 174 467 fax\n+351 21 222 829 6838 mobile",
                "+351 21 222 829 6838",
            ),
            (
                "GU8 6PN\n078 3780 0656-Office,0362 5922676-Fax",
                "078 3780 0656",
            ),
            (
                "GU8 6PN\n078 3780 0656-Office,0362 5922676-Fax",
                "0362 5922676",
            ),
            ("Fax: +33 5.44.95.93.86\n", "+33 5.44.95.93.86"),
        ] {
            assert_finds(&d, text, "PHONE", value);
        }
    }

    #[test]
    fn cued_numbers_that_are_not_phones() {
        let d = detector(&[]);
        for text in [
            // Dates, times, years, ranges.
            "call me on 12.05.2024 please",
            "text me 2024-05-12 at noon",
            "call 12.05.24 or later",
            "phone at 10.30.45 today",
            "call centre hours 2007-2013",
            "call him in 2004 2005",
            // Money, decimals, quantities, percentages.
            "phone bill $123 456",
            "phone bill of EUR 123 456 789",
            "call rate 102.975 against the dollar",
            "a call to 1 000 000 customers",
            "the text of 123 456 words",
            "calls rose to 1 234 567.",
            "phone 12 345 678%",
            "the number of cases rose to 1 234 567.",
            "my number is 1 234 567",
            "registered 12 345 678 shares",
            "the number is 641 572 459 votes",
            // Labelled as something else.
            "call about order 12 34 56 78",
            "phone re invoice 123 456 789",
            "call about ticket 9422 1048",
            // Scores and tallies, IPs, versions, glued to other text.
            "phone poll: won 5-7 6-0 6-2 in the final",
            "call 192.168.1.20 now",
            "telling 12 34 56",
            "call me. Then 12 34 56 came",
            "call #12 34 56",
            "call option strike 1250 1300 1350",
            "Tel Aviv 1948 1967 2000",
            "an estimated 250 000 home owners",
            "the phone maker shipped 45 600 000 units",
            "Call of Duty sold 12 345 678 copies",
            "Office hours 09 00 17 00",
        ] {
            assert_none(&d, text, "PHONE");
        }
    }

    #[test]
    fn uncued_sequences_that_are_not_phones() {
        let d = detector(&[]);
        for text in [
            "On Monday, MPs voted 272-219 in favour of the Bill",
            "the 777-200 LR will fly in 2008",
            "scores 10 20 30 40 50 and 1000 2000 3000",
            "ISBN-free 978-3-16-148410-0 listed",
            "pages 1436 - 1446 of the volume",
            "from 100 200 300 400 to more",
            "strikes 1250 1300 1350 and 2440 7222 1234",
            "numbers 1 2 3 4 5 6 7 8 9 10",
            "a 4111 1111 1111 1112 card number",
            "beat Kiefer 6-7 (4-7) 7-6 (8-6) 7-5 and",
            "It's 17 October 1979 and 22 543484",
            "in 12 34 56 cases",
        ] {
            assert_none(&d, text, "PHONE");
        }
    }
}
