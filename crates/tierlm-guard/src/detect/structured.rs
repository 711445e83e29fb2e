//! Structured identifiers: payment cards (Luhn), IBANs (mod 97), US SSNs, e-mail,
//! IPv4/IPv6 addresses, dates of birth (with birth context; any full date in strict
//! mode), medical-record and health-plan ids (with a label, or the Medicare MBI
//! shape), and the national IDs and passports of the configured countries (phone
//! numbers are in `phone.rs`). Every regex is guarded by a cheap prefilter (enough
//! digits, a needed character or keyword) so a message without such values costs a few
//! scans of its bytes.

use std::net::Ipv6Addr;

use regex::Regex;

use super::{char_at, char_before, entity, re, Hints};
use crate::entity::{Entity, EntityKind};

const CARD: &str = r"(?-u:\b)(?:[0-9]{13,19}|[0-9]{4}(?:[ -][0-9]{4}){2}[ -][0-9]{1,4}(?:[ -][0-9]{1,3})?|[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5})(?-u:\b)";
/// Any case: an IBAN typed in lower case ("gb82 west ...") is still one.
const IBAN: &str =
    r"(?i)(?-u:\b)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?-u:\b)";
const SSN: &str = r"(?-u:\b)(?:[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}|[0-9]{9})(?-u:\b)";
const EMAIL: &str = r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?-u:\b)";
const IPV4: &str = r"(?-u:\b)(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?-u:\b)";
const IPV6: &str = r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.[0-9]{1,3}){0,3}";
const MONTH: &str = r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)";
const ID: &str = r"[ \t]*(?:is[ \t]+)?[:#=]?[ \t]*([A-Za-z0-9][A-Za-z0-9-]{4,16}[A-Za-z0-9])";
const MEDICAL: &str = r"(?i)(?-u:\b)(?:mrn|medical[ \t]+record(?:[ \t]+(?:number|no\.?|num|#))?|patient[ \t]+(?:id|number|no\.?|#))";
const HEALTH: &str = r"(?i)(?-u:\b)(?:member[ \t]+(?:id|number|no\.?|#)|health[ \t]+plan(?:[ \t]+(?:id|number|no\.?|#))?|insurance[ \t]+(?:id|number|no\.?|#)|policy[ \t]+(?:number|no\.?|#|id)|beneficiary(?:[ \t]+(?:id|number|no\.?|#))?|subscriber[ \t]+(?:id|number)|group[ \t]+(?:number|no\.?))";
const MBI: &str = r"(?-u:\b)[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9]-?[AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9]-?[AC-HJKMNP-RT-Y]{2}[0-9]{2}(?-u:\b)";
const NINO: &str =
    r"(?-u:\b)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D](?-u:\b)";
const DE_ID: &str = r"(?-u:\b)[CFGHJKLMNPRTVWXYZ0-9]{9}[0-9]?(?-u:\b)";
const NIR: &str = r"(?-u:\b)[1-478] ?[0-9]{2} ?(?:0[1-9]|1[0-2]|[2-9][0-9]) ?(?:[0-9]{2}|2[AB]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}(?-u:\b)";
const AADHAAR: &str = r"(?-u:\b)[2-9][0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{4}(?-u:\b)";
const PAN: &str = r"(?-u:\b)[A-Z]{3}[ABCFGHLJPT][A-Z][0-9]{4}[A-Z](?-u:\b)";
const DNI: &str = r"(?-u:\b)(?:[XYZ][0-9]{7}|[0-9]{8})[ -]?[A-Z](?-u:\b)";

const CARD_CTX: &str = "card|credit|debit|visa|mastercard|amex|cc|payment|pan";
const IBAN_CTX: &str = "iban|account|bank|transfer|wire|sepa";
const SSN_CTX: &str =
    "ssn|social security|social sec|ss#|ss #|ss no|irs|taxpayer|tax id|tax identification|itin";
/// Words that make an ambiguous number something other than PII.
pub(super) const NOT_PII_CTX: &str =
    "order|invoice|isbn|tracking|sku|serial|ref|version|build|ticket|case #|item";
const DOB_CTX: &str = "born|dob|d.o.b|birth|date of birth";
const MBI_CTX: &str = "medicare|mbi|beneficiary";
const NINO_CTX: &str = "national insurance|ni number|ni no|nino|insurance number";
const DE_ID_CTX: &str =
    "personalausweis|ausweis|id card|identity card|identity number|id-nr|personal id";
const NIR_CTX: &str = "insee|nir|sécurité sociale|securite sociale|social security|sécu";
const AADHAAR_CTX: &str = "aadhaar|aadhar|uidai|uid";
const PAN_CTX: &str = "pan|permanent account|income tax";
const DNI_CTX: &str = "dni|nie|nif|documento";
const PASSPORT_CTX: &str = "passport|reisepass|passeport|pasaporte";

/// The supported countries and the shapes of their passport numbers.
const COUNTRIES: &[(&str, &str)] = &[
    ("US", "[0-9]{9}|[A-Z][0-9]{8}"),
    ("GB", "[0-9]{9}"),
    ("DE", "[CFGHJK][CFGHJKLMNPRTVWXYZ0-9]{8}"),
    ("FR", "[0-9]{2}[A-Z]{2}[0-9]{5}"),
    ("IN", "[A-Z][0-9]{7}"),
    ("ES", "[A-Z]{3}[0-9]{6}"),
];

/// Declares the always-compiled regexes, each built from its pattern expression.
macro_rules! regexes {
    ($($field:ident = $pattern:expr),* $(,)?) => {
        #[derive(Debug, Clone)]
        struct Regexes { $($field: Regex),* }
        impl Regexes {
            fn new() -> Result<Self, String> {
                Ok(Regexes { $($field: re(&$pattern)?),* })
            }
        }
    };
}

regexes! {
    card = CARD, iban = IBAN, ssn = SSN, email = EMAIL, ipv4 = IPV4, ipv6 = IPV6, date = date_pattern(), medical = format!("{MEDICAL}{ID}"),
    health = format!("{HEALTH}{ID}"), mbi = MBI, nino = NINO, de_id = DE_ID, nir = NIR,
    aadhaar = AADHAAR, pan = PAN, dni = DNI,
}

/// Numeric (d/m/y, y-m-d) and written ("12 March 1980", "March 12, 1980") dates.
fn date_pattern() -> String {
    format!(
        r"[0-9]{{1,2}}[/.-][0-9]{{1,2}}[/.-](?:[0-9]{{4}}|[0-9]{{2}})|[0-9]{{4}}[/.-][0-9]{{1,2}}[/.-][0-9]{{1,2}}|[0-9]{{1,2}}(?:st|nd|rd|th)?(?: of)? {MONTH}\.?,? [0-9]{{4}}|{MONTH}\.? [0-9]{{1,2}}(?:st|nd|rd|th)?,? [0-9]{{4}}"
    )
}

/// The compiled structured detectors.
#[derive(Debug, Clone)]
pub(crate) struct Structured {
    /// The configured countries (codes from [`COUNTRIES`]).
    countries: Vec<&'static str>,
    r: Regexes,
    /// The passport shapes of the configured countries, if any.
    passport: Option<Regex>,
    /// Every valid full date is a possible date of birth (strict mode).
    all_dates: bool,
}

impl Structured {
    pub(crate) fn new(countries: &[String], all_dates: bool) -> Result<Self, String> {
        let mut codes: Vec<&'static str> = Vec::new();
        let mut passports: Vec<&str> = Vec::new();
        for code in countries {
            let upper = code.trim().to_ascii_uppercase().replace("UK", "GB");
            let Some(&(c, passport)) = COUNTRIES.iter().find(|(c, _)| *c == upper) else {
                return Err(format!(
                    "countries: unsupported country {code:?} (supported: US, GB, DE, FR, IN, ES)"
                ));
            };
            if !codes.contains(&c) {
                codes.push(c);
                passports.push(passport);
            }
        }
        let alternation = passports.join("|");
        let passport = match passports.is_empty() {
            true => None,
            false => Some(re(&format!("(?-u:\\b)(?:{alternation})(?-u:\\b)"))?),
        };
        Ok(Structured {
            countries: codes,
            r: Regexes::new()?,
            passport,
            all_dates,
        })
    }

    /// Append everything found in `h.text`.
    pub(crate) fn find(&self, h: &Hints, out: &mut Vec<Entity>) {
        type Step = fn(&Structured, &Hints, &mut Vec<Entity>);
        let steps: [(bool, Step); 9] = [
            (h.digits >= 13, Self::cards),
            (h.digits >= 2, Self::ibans),
            (h.digits >= 9, Self::ssns),
            (h.text.contains('@'), Self::emails),
            (h.digits >= 4 && h.text.contains('.'), Self::ipv4s),
            (h.text.contains(':'), Self::ipv6s),
            (
                h.digits >= 2 && (self.all_dates || h.has_any("born|dob|birth|d.o.b")),
                Self::dates_of_birth,
            ),
            (h.digits >= 1, Self::labelled_ids),
            (h.digits >= 4, Self::national_ids),
        ];
        for (run, step) in steps {
            if run {
                step(self, h, out);
            }
        }
    }

    fn emails(&self, h: &Hints, out: &mut Vec<Entity>) {
        let b = h.text.as_bytes();
        for m in self.r.email.find_iter(h.text) {
            // `git@github.com:org/repo` is an SSH remote, not an address.
            let remote = b.get(m.end()) == Some(&b':')
                && b.get(m.end() + 1).is_some_and(u8::is_ascii_graphic);
            if !remote {
                out.push(entity(EntityKind::Email, m.start(), m.end(), 0.95));
            }
        }
    }

    fn cards(&self, h: &Hints, out: &mut Vec<Entity>) {
        let t = h.text.as_bytes();
        for m in self.r.card.find_iter(h.text) {
            let (s, e) = (m.start(), m.end());
            if glued(t, s, e, b"-./") || !one_separator(m.as_str()) {
                continue;
            }
            let d = digits_of(m.as_str());
            if d[0] == 0 || d.iter().all(|&x| x == d[0]) || !luhn(&d) {
                continue;
            }
            let conf = boost(
                if known_iin(&d) { 0.85 } else { 0.4 },
                h.context_before(s, CARD_CTX),
            );
            out.push(entity(EntityKind::CreditCard, s, e, conf));
        }
    }

    fn ibans(&self, h: &Hints, out: &mut Vec<Entity>) {
        for m in self.r.iban.find_iter(h.text) {
            let s = m.start();
            let chars: Vec<(u8, usize)> = m
                .as_str()
                .bytes()
                .enumerate()
                .filter(|&(_, b)| b != b' ')
                .map(|(i, b)| (b.to_ascii_uppercase(), s + i + 1))
                .collect();
            let (len, known) = match iban_length(&m.as_str()[..2].to_ascii_uppercase()) {
                Some(len) => (len, true),
                None => (chars.len(), false),
            };
            if chars.len() < len || !(15..=34).contains(&len) {
                continue;
            }
            let end = chars[len - 1].1;
            if char_at(h.text, end).is_some_and(char::is_alphanumeric) {
                continue;
            }
            let compact: Vec<u8> = chars[..len].iter().map(|&(b, _)| b).collect();
            if !iban_checksum(&compact) {
                continue;
            }
            let conf = boost(if known { 0.9 } else { 0.6 }, h.context_before(s, IBAN_CTX));
            out.push(entity(EntityKind::Iban, s, end, conf));
        }
    }

    fn ssns(&self, h: &Hints, out: &mut Vec<Entity>) {
        let t = h.text.as_bytes();
        for m in self.r.ssn.find_iter(h.text) {
            let (s, e, b) = (m.start(), m.end(), m.as_str().as_bytes());
            if glued(t, s, e, b"-./") {
                continue;
            }
            let ctx = h.context_before(s, SSN_CTX);
            let (area, group, serial, conf) = if b.len() == 9 {
                if !ctx {
                    continue;
                }
                (num(&b[..3]), num(&b[3..5]), num(&b[5..]), 0.85)
            } else {
                if b[3] != b[6] {
                    continue;
                }
                let conf = match (ctx, b[3]) {
                    (true, _) => 0.97,
                    (false, b'-') => 0.75,
                    _ => 0.55,
                };
                (num(&b[..3]), num(&b[4..6]), num(&b[7..]), conf)
            };
            if ssn_valid(area, group, serial) {
                out.push(entity(EntityKind::UsSsn, s, e, conf));
            }
        }
    }

    fn ipv4s(&self, h: &Hints, out: &mut Vec<Entity>) {
        for m in self.r.ipv4.find_iter(h.text) {
            let (s, e) = (m.start(), m.end());
            if glued(h.text.as_bytes(), s, e, b".") {
                continue;
            }
            let ok = m.as_str().split('.').all(|o| {
                (o.len() == 1 || !o.starts_with('0')) && o.parse::<u16>().is_ok_and(|v| v <= 255)
            });
            if ok {
                // Whole words: "v" must not match "VPN", nor "ver" "very".
                let version =
                    h.words_before(s, "version|ver|build|release|released|firmware|rev|v");
                out.push(entity(
                    EntityKind::IpAddress,
                    s,
                    e,
                    if version { 0.3 } else { 0.85 },
                ));
            }
        }
    }

    fn ipv6s(&self, h: &Hints, out: &mut Vec<Entity>) {
        let colons = h.text.bytes().filter(|&b| b == b':').count();
        if !(colons >= 7 || (colons >= 2 && h.text.contains("::"))) {
            return;
        }
        for m in self.r.ipv6.find_iter(h.text) {
            let (s, e, p) = (m.start(), m.end(), m.as_str());
            let edge = |c: Option<char>, dot| {
                c.is_some_and(|c| c.is_alphanumeric() || c == ':' || (dot && c == '.'))
            };
            let t = h.text.as_bytes();
            if edge(char_before(h.text, s), true)
                || edge(char_at(h.text, e), false)
                || glued(t, s, e, b".")
            {
                continue;
            }
            let hex = p.bytes().filter(u8::is_ascii_hexdigit).count();
            if hex < 4 || !p.bytes().any(|b| b.is_ascii_digit()) || p.parse::<Ipv6Addr>().is_err() {
                continue;
            }
            out.push(entity(EntityKind::IpAddress, s, e, 0.85));
        }
    }

    fn dates_of_birth(&self, h: &Hints, out: &mut Vec<Entity>) {
        for m in self.r.date.find_iter(h.text) {
            let (s, e) = (m.start(), m.end());
            if free_edges(h.text, s, e)
                && !glued(h.text.as_bytes(), s, e, b"-./")
                && valid_date(m.as_str())
            {
                if h.context_before(s, DOB_CTX) {
                    out.push(entity(EntityKind::DateOfBirth, s, e, 0.9));
                } else if self.all_dates {
                    out.push(entity(EntityKind::DateOfBirth, s, e, 0.5));
                }
            }
        }
    }

    /// Ids introduced by a label (MRN, member id, ...) and Medicare MBIs.
    fn labelled_ids(&self, h: &Hints, out: &mut Vec<Entity>) {
        let labelled = [
            (
                &self.r.medical,
                EntityKind::MedicalRecord,
                12,
                0.9,
                "mrn|medical record|patient",
            ),
            (
                &self.r.health,
                EntityKind::HealthPlan,
                15,
                0.85,
                "member|health plan|insurance|policy|beneficiary|subscriber|group n",
            ),
        ];
        for (regex, kind, max, conf, needles) in labelled {
            if !h.has_any(needles) {
                continue;
            }
            for c in regex.captures_iter(h.text) {
                let Some(id) = c.get(1) else { continue };
                let alnum = id
                    .as_str()
                    .bytes()
                    .filter(u8::is_ascii_alphanumeric)
                    .count();
                if (6..=max).contains(&alnum)
                    && id.as_str().bytes().any(|b| b.is_ascii_digit())
                    && !char_at(h.text, id.end()).is_some_and(char::is_alphanumeric)
                {
                    out.push(entity(kind.clone(), id.start(), id.end(), conf));
                }
            }
        }
        for m in self.r.mbi.find_iter(h.text) {
            let conf = boost(0.55, h.context_before(m.start(), MBI_CTX));
            out.push(entity(EntityKind::HealthPlan, m.start(), m.end(), conf));
        }
    }

    fn national_ids(&self, h: &Hints, out: &mut Vec<Entity>) {
        let has = |country| self.countries.contains(&country);
        let t = h.text.as_bytes();
        let mut push = |kind: EntityKind, s: usize, e: usize, conf: f32| {
            if !glued(t, s, e, b"-./") {
                out.push(entity(kind, s, e, conf));
            }
        };
        if has("GB") {
            for m in self.r.nino.find_iter(h.text) {
                let p = m.as_str().as_bytes();
                if !"BG GB NK KN TN NT ZZ"
                    .split(' ')
                    .any(|x| x.as_bytes() == &p[..2])
                {
                    let conf = boost(0.8, h.context_before(m.start(), NINO_CTX));
                    push(EntityKind::NationalId, m.start(), m.end(), conf);
                }
            }
        }
        if has("DE") && h.has_any("ausweis|id card|identity|id-nr|personal id") {
            for m in self.r.de_id.find_iter(h.text) {
                let p = m.as_str().as_bytes();
                if !p.iter().any(u8::is_ascii_digit) || !h.context_before(m.start(), DE_ID_CTX) {
                    continue;
                }
                if p.len() == 9 {
                    push(EntityKind::NationalId, m.start(), m.end(), 0.8);
                } else if de_id_check(p) {
                    push(EntityKind::NationalId, m.start(), m.end(), 0.9);
                }
            }
        }
        if has("FR") && h.digits >= 13 {
            for m in self.r.nir.find_iter(h.text) {
                if nir_valid(m.as_str()) {
                    // Sex digits 3, 4, 7, 8 (temporary numbers) collide with card prefixes.
                    let base = if m.as_str().starts_with(['1', '2']) {
                        0.9
                    } else {
                        0.7
                    };
                    let conf = boost(base, h.context_before(m.start(), NIR_CTX));
                    push(EntityKind::NationalId, m.start(), m.end(), conf);
                }
            }
        }
        if has("IN") {
            if h.digits >= 12 {
                for m in self.r.aadhaar.find_iter(h.text) {
                    let d = digits_of(m.as_str());
                    if one_separator(m.as_str()) && verhoeff(&d) {
                        let spaced =
                            m.as_str().len() > 12 && !h.context_before(m.start(), NOT_PII_CTX);
                        let base = if spaced { 0.6 } else { 0.45 };
                        let conf = boost(base, h.context_before(m.start(), AADHAAR_CTX));
                        push(EntityKind::NationalId, m.start(), m.end(), conf);
                    }
                }
            }
            for m in self.r.pan.find_iter(h.text) {
                let conf = boost(0.75, h.context_before(m.start(), PAN_CTX));
                push(EntityKind::NationalId, m.start(), m.end(), conf);
            }
        }
        if has("ES") && h.digits >= 7 {
            for m in self.r.dni.find_iter(h.text) {
                if dni_valid(m.as_str()) {
                    let conf = boost(0.85, h.context_before(m.start(), DNI_CTX));
                    push(EntityKind::NationalId, m.start(), m.end(), conf);
                }
            }
        }
        if let Some(passport) = &self.passport {
            if h.has_any(PASSPORT_CTX) {
                for m in passport.find_iter(h.text) {
                    if h.context_before(m.start(), PASSPORT_CTX) {
                        push(EntityKind::Passport, m.start(), m.end(), 0.9);
                    }
                }
            }
        }
    }
}

/// A confidence raised by context.
fn boost(base: f32, context: bool) -> f32 {
    if context {
        (base + 0.3).min(0.98)
    } else {
        base
    }
}

/// Whether `t[s..e]` continues a longer number: a digit then one of `seps` before it,
/// or one of `seps` then a digit after it.
pub(super) fn glued(t: &[u8], s: usize, e: usize, seps: &[u8]) -> bool {
    (s >= 2 && seps.contains(&t[s - 1]) && t[s - 2].is_ascii_digit())
        || (e + 1 < t.len() && seps.contains(&t[e]) && t[e + 1].is_ascii_digit())
}

/// Whether neither side of `text[s..e]` touches a letter, digit or underscore.
pub(super) fn free_edges(text: &str, s: usize, e: usize) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    !word(char_before(text, s)) && !word(char_at(text, e))
}

/// Whether the non-digits of `s` are all the same character.
fn one_separator(s: &str) -> bool {
    let mut seps = s.bytes().filter(|b| !b.is_ascii_digit());
    match seps.next() {
        Some(first) => seps.all(|b| b == first),
        None => true,
    }
}

/// The runs of ASCII digits in `p`.
pub(super) fn digit_runs(p: &str) -> Vec<&str> {
    p.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The ASCII digits of `s` as numbers.
pub(super) fn digits_of(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

fn num(b: &[u8]) -> u32 {
    b.iter()
        .fold(0, |a, &d| a * 10 + u32::from(d.wrapping_sub(b'0')))
}

/// The Luhn check over decimal digits.
pub(crate) fn luhn(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            match (i % 2 == 1, x * 2) {
                (false, _) => x,
                (true, y) if y > 9 => y - 9,
                (true, y) => y,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Issuer prefixes and lengths of the major card networks.
fn known_iin(d: &[u8]) -> bool {
    let n = |k: usize| d[..k].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    let len = d.len();
    match d[0] {
        4 => matches!(len, 13 | 16 | 19),
        5 => (51..=55).contains(&n(2)) && len == 16,
        2 => (2221..=2720).contains(&n(4)) && len == 16,
        3 => {
            (matches!(n(2), 34 | 37) && len == 15)
                || (n(2) == 35 && (16..=19).contains(&len))
                || (matches!(n(2), 30 | 36 | 38 | 39) && (14..=19).contains(&len))
        }
        6 => {
            (n(4) == 6011 || n(2) == 65 || n(2) == 62 || (644..=649).contains(&n(3)))
                && (16..=19).contains(&len)
        }
        _ => false,
    }
}

/// IBAN lengths of the common (SEPA and other registry) countries.
pub(crate) const IBAN_LENGTHS: &str = concat!(
    "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BR29 CH21 CR22 CY28 CZ24 DE22 DK18 ",
    "DO28 EE20 EG29 ES24 FI18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22 ",
    "IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 MC27 MD24 ME22 ",
    "MK19 MR27 MT31 MU30 NL18 NO15 PK24 PL28 PS29 PT25 QA29 RO24 RS22 SA24 SC31 SE24 ",
    "SI19 SK24 SM27 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20",
);

fn iban_length(country: &str) -> Option<usize> {
    IBAN_LENGTHS
        .split(' ')
        .find(|e| e.get(..2) == Some(country))
        .and_then(|e| e[2..].parse().ok())
}

/// ISO 13616 mod-97 check of a compact upper-case IBAN.
pub(crate) fn iban_checksum(c: &[u8]) -> bool {
    if c.len() < 5 {
        return false;
    }
    let mut r: u32 = 0;
    for &b in c[4..].iter().chain(&c[..4]) {
        r = match b {
            b'0'..=b'9' => (r * 10 + u32::from(b - b'0')) % 97,
            b'A'..=b'Z' => (r * 100 + u32::from(b - b'A' + 10)) % 97,
            _ => return false,
        };
    }
    r == 1
}

/// SSA rules: no area 000, 666 or 900-999, no group 00, no serial 0000, and not the
/// well-known advertising numbers.
fn ssn_valid(area: u32, group: u32, serial: u32) -> bool {
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && (area, group, serial) != (78, 5, 1120)
        && (area, group, serial) != (219, 9, 9999)
}

/// A plausible calendar date (the regex fixed the shape).
fn valid_date(p: &str) -> bool {
    let runs = digit_runs(p);
    let n = |s: &str| s.parse::<u32>().unwrap_or(0);
    let year = |s: &str| s.len() == 2 || (1880..=2100).contains(&n(s));
    let day = |v: u32| (1..=31).contains(&v);
    if p.bytes().any(|b| b.is_ascii_alphabetic()) {
        return match runs.as_slice() {
            [d, y] | [y, d] if y.len() == 4 => day(n(d)) && year(y),
            _ => false,
        };
    }
    match runs.as_slice() {
        [y, m, d] if y.len() == 4 => year(y) && (1..=12).contains(&n(m)) && day(n(d)),
        [a, b, y] => {
            let (a, b) = (n(a), n(b));
            day(a) && day(b) && a.min(b) <= 12 && year(y)
        }
        _ => false,
    }
}

/// The German ID card check digit (weights 7, 3, 1; letters count from 10).
fn de_id_check(p: &[u8]) -> bool {
    let value = |b: u8| match b {
        b'0'..=b'9' => u32::from(b - b'0'),
        _ => u32::from(b - b'A') + 10,
    };
    let sum: u32 = p[..9]
        .iter()
        .zip([7, 3, 1].iter().cycle())
        .map(|(&b, w)| value(b) * w)
        .sum();
    sum % 10 == value(p[9])
}

/// The French NIR key: 97 - (first 13 digits mod 97), Corsica 2A/2B read as 19/18.
fn nir_valid(p: &str) -> bool {
    let c: String = p.chars().filter(|c| !c.is_whitespace()).collect();
    if c.len() != 15 {
        return false;
    }
    let (body, key) = c.split_at(13);
    let dept = match &body[5..7] {
        "2A" => "19",
        "2B" => "18",
        d => d,
    };
    let digits = format!("{}{}{}", &body[..5], dept, &body[7..]);
    match (digits.parse::<u64>(), key.parse::<u64>()) {
        (Ok(n), Ok(k)) => 97 - n % 97 == k,
        _ => false,
    }
}

/// Verhoeff multiplication and permutation tables, row after row of 10.
const VERHOEFF_D: &[u8; 100] =
    b"0123456789123406789523401789563401289567401239567859876043216598710432765982104387659321049876543210";
const VERHOEFF_P: &[u8; 80] =
    b"01234567891576283094580379614289160435279453126870428657390127938064157046913258";

/// The Verhoeff check (Aadhaar) over decimal digits, check digit last.
pub(crate) fn verhoeff(d: &[u8]) -> bool {
    let at = |t: &[u8], i: usize| usize::from(t[i] - b'0');
    let c = d.iter().rev().enumerate().fold(0, |c, (i, &x)| {
        at(
            VERHOEFF_D,
            c * 10 + at(VERHOEFF_P, (i % 8) * 10 + usize::from(x % 10)),
        )
    });
    c == 0
}

/// Spanish DNI (8 digits) or NIE (X/Y/Z + 7 digits) with its mod-23 letter.
fn dni_valid(p: &str) -> bool {
    let compact: Vec<u8> = p.bytes().filter(u8::is_ascii_alphanumeric).collect();
    let Some((&letter, body)) = compact.split_last() else {
        return false;
    };
    let lead = match body.first() {
        Some(b'X') => Some(0),
        Some(b'Y') => Some(1),
        Some(b'Z') => Some(2),
        _ => None,
    };
    let n = match lead {
        Some(l) => l * 10_000_000 + num(&body[1..]),
        None => num(body),
    };
    b"TRWAGMYFPDXBNJZSQVHLCKE"[(n % 23) as usize] == letter
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn validators() {
        assert!(luhn(&digits_of("4111111111111111")) && !luhn(&digits_of("4111111111111112")));
        assert!(known_iin(&digits_of("378282246310005")));
        assert!(!known_iin(&digits_of("9111111111111111")));
        assert!(iban_checksum(b"GB82WEST12345698765432"));
        assert!(!iban_checksum(b"GB82WEST12345698765433"));
        assert_eq!(iban_length("DE"), Some(22));
        assert!(verhoeff(&digits_of("234123412346")) && !verhoeff(&digits_of("234123412345")));
        assert!(dni_valid("12345678Z") && dni_valid("Y7654321G") && !dni_valid("12345678A"));
        assert!(nir_valid("1 85 05 78 006 084 91") && nir_valid("185052A00608435"));
        assert!(de_id_check(b"T220001293") && !de_id_check(b"T220001294"));
        assert!(ssn_valid(536, 22, 8711) && !ssn_valid(900, 22, 8711) && !ssn_valid(78, 5, 1120));
        assert!(valid_date("29/02/1980") && valid_date("March 12, 1980"));
        assert!(!valid_date("13/13/1980") && !valid_date("DOB 31/31/1980"));
    }

    #[test]
    fn version_and_tax_context() {
        let d = detector(&[]);
        // "v" and "ver" count as whole words only: "VPN", "very" are no version cue.
        for (text, ip) in [
            (
                "The VPN assigns 192.168.143.253 to my laptop",
                "192.168.143.253",
            ),
            ("a very odd host 10.219.86.174 here", "10.219.86.174"),
        ] {
            assert_finds(&d, text, "IP_ADDRESS", ip);
        }
        for text in [
            "firmware v 4.2.0.1",
            "ver 10.0.0.1",
            "released 1.2.3.4 today",
        ] {
            assert_none(&d, text, "IP_ADDRESS");
        }
        // The IRS and taxpayer ids are SSN context; a bare nine-digit number is not.
        assert_finds(
            &d,
            "Why does the IRS letter quote 754692412 when that is not my number?",
            "US_SSN",
            "754692412",
        );
        assert_finds(&d, "taxpayer id 536-22-8711", "US_SSN", "536-22-8711");
        assert_none(&d, "Why does the letter quote 754692412?", "US_SSN");
    }

    #[test]
    fn national_ids() {
        let d = all();
        for (text, value) in [
            ("NI number AB 12 34 56 C", "AB 12 34 56 C"),
            ("Personalausweis T220001293", "T220001293"),
            ("INSEE 1 85 05 78 006 084 91", "1 85 05 78 006 084 91"),
            ("NIR 185052A00608435", "185052A00608435"),
            ("Aadhaar 2341 2341 2346", "2341 2341 2346"),
            ("PAN ABCPE1234F", "ABCPE1234F"),
            ("DNI 12345678Z", "12345678Z"),
            ("NIE X1234567L", "X1234567L"),
        ] {
            assert_finds(d, text, "NATIONAL_ID", value);
        }
        for text in [
            "NI number GB 12 34 56 C",
            "Personalausweis T220001294",
            "numéro INSEE 1 85 05 78 006 084 92",
            "Aadhaar 2341 2341 2347",
            "DNI 12345678A",
        ] {
            assert_none(d, text, "NATIONAL_ID");
        }
        // Only the configured countries.
        assert_none(
            &detector(&["US"]),
            "DNI 12345678Z and PAN ABCPE1234F",
            "NATIONAL_ID",
        );
    }
}
