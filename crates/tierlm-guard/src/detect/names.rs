//! Person names, found without a model: runs of Title-case words are scored with a
//! gazetteer of given names and surnames (built from Faker's name lists for 60-odd
//! locales by `eval/pii/build_gazetteer.py`), honorifics (`Mr`, `Dr`, ...), context cues
//! just before a run (`my name is`, `Dear`, `Kind regards,`, `patient`, ...) and
//! exclusions (common English words, months, weekdays, places, street and organisation
//! words, sentence-initial capitals). A given name and a surname together score high; a
//! lone gazetteer word scores medium, or low at the start of a sentence; a word that is
//! neither listed nor English needs a person's context: an honorific or a cue before it,
//! a verb or a possessive after it, or another such word beside it. Honorifics are not
//! part of the reported span, nor is a possessive `'s`.

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::entity::{Entity, EntityKind};

const FIRST_NAMES: &str = include_str!("../../data/first_names.txt");
const SURNAMES: &str = include_str!("../../data/surnames.txt");
const COMMON_WORDS: &str = include_str!("../../data/common_words.txt");
const PLACES: &str = include_str!("../../data/places.txt");

const NAME_WORDS: &str = include_str!("../../data/name_words.txt");

/// Prefixes after which a capital may follow inside a surname (`LeBlanc`, `McKay`).
const CAPITAL_PREFIXES: [&str; 11] = [
    "Mc", "Mac", "Le", "La", "De", "Di", "Da", "Du", "Van", "Von", "Fitz",
];

/// The word lists, loaded once.
pub(super) struct Lexicon {
    first: HashSet<&'static str>,
    last: HashSet<&'static str>,
    /// Names that are also common English words, places or months.
    weak: HashSet<&'static str>,
    /// Never a name: the hand lists, and common words and places that are no name.
    blocked: HashSet<&'static str>,
    /// Street, place and organisation words: a run followed by one is no person.
    suffix_words: HashSet<&'static str>,
    /// The listed places ("Chelsea", "Sydney", "London").
    places: HashSet<&'static str>,
    /// The organisation words alone ("Foundation", "Cup").
    organisation_words: HashSet<&'static str>,
    honorifics: HashSet<&'static str>,
    particles: HashSet<&'static str>,
    verbs_after: HashSet<&'static str>,
    surname_endings: Vec<&'static str>,
    role_nouns: HashSet<&'static str>,
    strong_cues: Vec<&'static str>,
    weak_cues: Vec<&'static str>,
    person_verbs: Vec<&'static str>,
    place_prepositions: Vec<&'static str>,
}

pub(super) fn lines(data: &'static str) -> impl Iterator<Item = &'static str> {
    data.lines().map(str::trim).filter(|l| !l.is_empty())
}

/// The lists of `name_words.txt`: `[name]` then entries, split on spaces or, for
/// phrase lists, on `|`; line breaks end an entry in both.
fn word_list(name: &str, phrases: bool) -> Vec<&'static str> {
    let header = format!("[{name}]");
    let mut out = Vec::new();
    let mut inside = false;
    for line in lines(NAME_WORDS).filter(|l| !l.starts_with('#')) {
        if line.starts_with('[') {
            inside = line == header;
        } else if inside && phrases {
            out.extend(line.split('|').map(str::trim).filter(|p| !p.is_empty()));
        } else if inside {
            out.extend(line.split_whitespace());
        }
    }
    out
}

pub(super) fn lexicon() -> &'static Lexicon {
    static LEXICON: OnceLock<Lexicon> = OnceLock::new();
    LEXICON.get_or_init(|| {
        let words = |name: &str| word_list(name, false);
        let first: HashSet<&'static str> = lines(FIRST_NAMES).collect();
        let last: HashSet<&'static str> = lines(SURNAMES).collect();
        let mut weak: HashSet<&'static str> = words("ambiguous").into_iter().collect();
        let suffix_words: HashSet<&'static str> = ["place_words", "organisation_words"]
            .iter()
            .flat_map(|l| words(l))
            .collect();
        let mut blocked: HashSet<&'static str> =
            ["months_and_days", "role_words", "sentence_words"]
                .iter()
                .flat_map(|l| words(l))
                .chain(suffix_words.iter().copied())
                .collect();
        for w in lines(COMMON_WORDS).chain(lines(PLACES)) {
            if first.contains(w) || last.contains(w) {
                weak.insert(w);
            } else {
                blocked.insert(w);
            }
        }
        Lexicon {
            first,
            last,
            weak,
            blocked,
            suffix_words,
            places: lines(PLACES).collect(),
            organisation_words: words("organisation_words").into_iter().collect(),
            honorifics: words("honorifics").into_iter().collect(),
            particles: words("particles").into_iter().collect(),
            verbs_after: words("verbs_after").into_iter().collect(),
            surname_endings: words("surname_endings"),
            role_nouns: words("role_nouns").into_iter().collect(),
            strong_cues: word_list("strong_cues", true),
            weak_cues: word_list("weak_cues", true),
            person_verbs: word_list("person_verbs", true),
            place_prepositions: words("place_prepositions"),
        }
    })
}

impl Lexicon {
    /// Whether the gazetteer lists `lower` (lower-case) as a given name or a surname.
    pub(super) fn is_name(&self, lower: &str) -> bool {
        self.first.contains(lower) || self.last.contains(lower)
    }

    /// Whether `lower` (lower-case) names a kind of organisation or event
    /// ("foundation", "cup") and is no listed name ("Church", "Post" are surnames too).
    pub(super) fn is_organisation_word(&self, lower: &str) -> bool {
        self.organisation_words.contains(lower) && !self.is_name(lower)
    }

    /// Whether `lower` (lower-case) is a listed place.
    pub(super) fn is_place(&self, lower: &str) -> bool {
        self.places.contains(lower)
    }

    /// Whether `lower` (lower-case) is a listed name that is also a common word, a
    /// place or a month ("White", "Chelsea").
    pub(super) fn is_weak(&self, lower: &str) -> bool {
        self.weak.contains(lower)
    }

    /// Whether `lower` (lower-case) is a listed common word, place, month or role word
    /// that is no name.
    pub(super) fn is_blocked(&self, lower: &str) -> bool {
        self.blocked.contains(lower)
    }

    /// Whether an honorific or a strong cue (`name:`, `Dear`, `patient`) comes just
    /// before byte `at` of `text`.
    pub(super) fn introduced(&self, text: &str, at: usize) -> bool {
        let cue_text = before(text, at);
        let last_word = cue_text
            .rsplit(|c: char| !c.is_alphabetic())
            .next()
            .unwrap_or_default();
        self.honorifics.contains(last_word) || has_cue(&cue_text, &self.strong_cues)
    }
}

/// What a word can be in a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// A Title-case word: `first`/`last` when the gazetteer has it, `weak` when it is
    /// also a common word or a place, `morph` when it is unknown but ends like a surname,
    /// `unknown` when it is neither listed nor an English word ("Tadanori", "Yukos").
    Word {
        first: bool,
        last: bool,
        weak: bool,
        morph: bool,
        unknown: bool,
    },
    /// One capital letter.
    Initial,
    /// A lower-case particle (`van`, `de`).
    Particle,
    /// An honorific (`Mr`, `dr`).
    Honorific,
    /// Anything else: a break.
    Other,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Token {
    pub(super) start: usize,
    /// End of the word without a possessive `'s`.
    pub(super) end: usize,
    /// End with the possessive, or with the dot after an initial or honorific.
    pub(super) full_end: usize,
    pub(super) role: Role,
}

impl Token {
    pub(super) fn is_word(&self) -> bool {
        matches!(self.role, Role::Word { .. })
    }
    fn gazetteer(&self) -> bool {
        matches!(self.role, Role::Word { first, last, .. } if first || last)
    }
    fn strong_first(&self) -> bool {
        matches!(
            self.role,
            Role::Word {
                first: true,
                weak: false,
                ..
            }
        )
    }
    fn strong_last(&self) -> bool {
        matches!(
            self.role,
            Role::Word {
                last: true,
                weak: false,
                ..
            }
        )
    }
    pub(super) fn strong(&self) -> bool {
        self.strong_first() || self.strong_last()
    }
    /// A known surname, or an unknown word that ends like one.
    fn surname_like(&self) -> bool {
        self.strong_last() || matches!(self.role, Role::Word { morph: true, .. })
    }
    /// A word neither listed nor English.
    fn unknown(&self) -> bool {
        matches!(self.role, Role::Word { unknown: true, .. })
    }
    /// A listed name that is no listed place, in the possessive inside a sentence
    /// ("Frank's kid"; not "India's"), `lower` being the word in lower case.
    pub(super) fn owner(&self, lower: &str, initial: bool) -> bool {
        self.possessive() && !initial && self.gazetteer() && !lexicon().is_place(lower)
    }
    /// A word with a possessive `'s`: the end of a name.
    pub(super) fn possessive(&self) -> bool {
        self.is_word() && self.full_end > self.end
    }
    /// An initial with its dot.
    fn dotted(&self) -> bool {
        self.role == Role::Initial && self.full_end > self.end
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '\u{300}'..='\u{36f}')
}

/// Split `text` into words: letters and digits, with inner apostrophes and hyphens.
pub(super) fn words(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if is_word_char(c) {
            if start.is_none() {
                start = Some(i);
            }
            continue;
        }
        if let Some(s) = start {
            let joins = matches!(c, '\'' | '\u{2019}' | '-')
                && chars.peek().is_some_and(|&(_, n)| n.is_alphabetic());
            if !joins {
                out.push((s, i));
                start = None;
            }
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

/// Title case: a capital, then at least one lower-case letter, no digits, and capitals
/// only after a hyphen or apostrophe or a surname prefix (`McKay`, `LeBlanc`).
pub(super) fn is_title(word: &str) -> bool {
    let mut chars = word.chars();
    if !chars.next().is_some_and(char::is_uppercase) {
        return false;
    }
    let mut lower = false;
    let mut prev = ' ';
    for (i, c) in word.char_indices().skip(1) {
        if c.is_numeric() {
            return false;
        }
        // the Dutch digraph IJ is capitalised whole ("IJssel", "IJzerman")
        let dutch_ij = i == 1 && c == 'J' && word.starts_with('I');
        if c.is_uppercase()
            && !dutch_ij
            && !matches!(prev, '-' | '\'' | '\u{2019}')
            && !CAPITAL_PREFIXES
                .iter()
                .any(|p| p.len() == i && word.starts_with(p))
        {
            return false;
        }
        lower |= c.is_lowercase();
        prev = c;
    }
    lower
}

fn classify(text: &str, (start, end): (usize, usize), lex: &Lexicon, buf: &mut String) -> Token {
    let raw = &text[start..end];
    let mut word_end = end;
    for suffix in ["'s", "\u{2019}s"] {
        if raw.len() > suffix.len() + 1 && raw.ends_with(suffix) {
            word_end = end - suffix.len();
        }
    }
    let word = &text[start..word_end];
    let dot = usize::from(text[end..].starts_with('.'));
    let mut token = Token {
        start,
        end: word_end,
        full_end: end,
        role: Role::Other,
    };
    buf.clear();
    buf.extend(word.chars().flat_map(char::to_lowercase));
    let lower = buf.as_str();
    if lex.honorifics.contains(lower) {
        token.role = Role::Honorific;
        token.full_end = end + dot;
        return token;
    }
    let mut chars = word.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if c.is_uppercase() {
            token.role = Role::Initial;
            token.full_end = end + dot;
        }
        return token;
    }
    if lex.particles.contains(word) {
        token.role = Role::Particle;
        return token;
    }
    if !is_title(word) || lex.blocked.contains(lower) {
        return token;
    }
    let (first, last) = (lex.first.contains(lower), lex.last.contains(lower));
    let weak = lex.weak.contains(lower) || lower.chars().count() < 3;
    let morph = !first
        && !last
        && !weak
        && lex
            .surname_endings
            .iter()
            .any(|e| lower.len() >= e.len() + 3 && lower.ends_with(e));
    let unknown = !first && !last && !weak && super::strict::is_unknown_word(lower);
    token.role = Role::Word {
        first,
        last,
        weak,
        morph,
        unknown,
    };
    token
}

/// The lower-cased text before byte `at`, back to the start of the line before (at
/// most 48 bytes), with trailing spaces and quote marks trimmed.
fn before(text: &str, at: usize) -> String {
    let head = &text[..at];
    let line_start = head
        .char_indices()
        .rev()
        .filter(|&(_, c)| c == '\n')
        .nth(1)
        .map_or(0, |(i, _)| i + 1);
    let mut from = line_start.max(at.saturating_sub(48));
    while !text.is_char_boundary(from) {
        from += 1;
    }
    text[from..at]
        .trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '(' | '>'))
        .to_lowercase()
}

/// Whether the text before a run ends with one of the cues.
fn has_cue(cue_text: &str, cues: &[&str]) -> bool {
    let trimmed =
        cue_text.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '=' | '?'));
    cues.iter()
        .any(|c| ends_with_word(if c.ends_with(':') { cue_text } else { trimmed }, c))
}

/// Whether `hay` ends with the word(s) `cue`.
fn ends_with_word(hay: &str, cue: &str) -> bool {
    hay.strip_suffix(cue).is_some_and(|head| {
        head.chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric())
    })
}

/// Whether byte `at` starts a sentence: only spaces and quotes back to the start of
/// the text, a line break, a colon or sentence punctuation.
pub(super) fn sentence_initial(text: &str, at: usize) -> bool {
    for c in text[..at].chars().rev() {
        match c {
            ' ' | '\t' | '"' | '\'' | '\u{201c}' | '(' | '*' | '-' | '>' => continue,
            '.' | '!' | '?' | '\n' | ':' | '\u{2026}' => return true,
            _ => return false,
        }
    }
    true
}

/// Whether `text[start..end]` is alone on its line (quote marks and bullets aside): a
/// signature, an address block or a form value.
fn alone_on_line(text: &str, start: usize, end: usize) -> bool {
    let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
    alone_before(text, start)
        && text[end..line_end]
            .chars()
            .all(|c| c.is_whitespace() || matches!(c, ',' | '.' | ';'))
}

/// Whether `after` (the text after a word) is a colon and the start of a sentence or
/// a quotation: the word is a speaker.
fn speech_follows(after: &str) -> bool {
    after
        .strip_prefix(':')
        .map(|a| a.trim_start_matches(' '))
        .is_some_and(|a| a.starts_with(|c: char| c.is_uppercase() || c == '"'))
}

/// Whether `text` is a dialogue: two or more lines start with a capitalised word, a
/// colon and speech.
fn is_dialogue(text: &str) -> bool {
    text.lines()
        .filter(|line| {
            let line = line
                .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '>' | '-' | '*'));
            let word_end = line
                .find(|c: char| !c.is_alphabetic() && c != '-')
                .unwrap_or(line.len());
            line.starts_with(char::is_uppercase) && speech_follows(&line[word_end..])
        })
        .take(2)
        .count()
        >= 2
}

/// Whether only quote marks and bullets are between the start of the line and `at`.
fn alone_before(text: &str, at: usize) -> bool {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..at]
        .chars()
        .all(|c| c.is_whitespace() || matches!(c, '>' | '?' | '*' | '-' | '\u{2022}'))
}

/// Whether one space (or nothing after an initial's dot) lies between two tokens.
pub(super) fn joined(text: &str, a: &Token, b: &Token) -> bool {
    let gap = &text[a.full_end..b.start];
    gap == " " || (gap.is_empty() && a.dotted())
}

/// The lower-cased word after byte `at` (after spaces).
fn word_after(text: &str, at: usize) -> String {
    text[at..]
        .trim_start_matches(' ')
        .split(|c: char| !c.is_alphabetic())
        .next()
        .unwrap_or_default()
        .to_lowercase()
}

/// A scored run, before the list pass.
struct Candidate {
    start: usize,
    end: usize,
    confidence: f32,
    /// One word.
    single: bool,
}

/// The words of `text`, classified.
pub(super) fn tokens(text: &str, lex: &Lexicon) -> Vec<Token> {
    let mut buf = String::new();
    words(text)
        .into_iter()
        .map(|w| classify(text, w, lex, &mut buf))
        .collect()
}

/// Append the person names found in `text`.
#[cfg(test)]
pub(crate) fn find(text: &str, out: &mut Vec<Entity>) {
    if text.chars().any(char::is_uppercase) {
        find_in(text, &tokens(text, lexicon()), out);
    }
}

/// [`find`] on the words of `text` already classified by [`tokens`].
pub(super) fn find_in(text: &str, tokens: &[Token], out: &mut Vec<Entity>) {
    let lex = lexicon();
    // an initial or particle at k belongs to a run when initials and particles and
    // then a word follow it
    let continues = |k: usize| {
        let mut m = k;
        while let Some(n) = tokens.get(m + 1) {
            if !joined(text, &tokens[m], n) {
                return false;
            }
            match n.role {
                Role::Word { .. } => return true,
                Role::Initial | Role::Particle => m += 1,
                _ => return false,
            }
        }
        false
    };
    let dialogue = is_dialogue(text);
    let mut found: Vec<Candidate> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        let after_honorific = i > 0 && tokens[i - 1].role == Role::Honorific;
        let starts = t.is_word()
            || (t.dotted() && continues(i))
            || (t.role == Role::Particle && after_honorific && continues(i));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < tokens.len()
            && !tokens[j - 1].possessive()
            && joined(text, &tokens[j - 1], &tokens[j])
        {
            match tokens[j].role {
                Role::Word { .. } => j += 1,
                Role::Initial | Role::Particle if continues(j) => j += 1,
                _ => break,
            }
        }
        if let Some(c) = score(text, lex, tokens, (i, j), dialogue) {
            found.push(c);
        }
        i = j;
    }
    list_pass(text, &mut found);
    out.extend(
        found
            .into_iter()
            .filter(|c| c.confidence > 0.0)
            .map(|c| Entity {
                kind: EntityKind::Person,
                start: c.start,
                end: c.end,
                confidence: c.confidence,
            }),
    );
}

/// Names in a list ("Anna, Petr and Jana") lend each other confidence: an unknown
/// single word next to a name, or two name-like ones together, become names.
fn list_pass(text: &str, found: &mut [Candidate]) {
    let listed = |a: &Candidate, b: &Candidate| {
        a.single
            && b.single
            && matches!(
                text[a.end..b.start].trim(),
                "," | "and" | "or" | "&" | ", and" | ", or"
            )
    };
    for _ in 0..2 {
        for k in 0..found.len() {
            if found[k].confidence >= 0.5 {
                continue;
            }
            let mut best: f32 = 0.0;
            if k > 0 && listed(&found[k - 1], &found[k]) {
                best = best.max(found[k - 1].confidence);
            }
            if k + 1 < found.len() && listed(&found[k], &found[k + 1]) {
                best = best.max(found[k + 1].confidence);
            }
            // next to a name, or two name-like words (a surname-like word and a
            // common-word name) together
            let own = found[k].confidence;
            if best >= 0.5 || (own >= 0.3 && best >= 0.3 && own + best >= 0.75) {
                found[k].confidence = 0.55;
            }
        }
    }
}

/// Score the run `tokens[i..j]`.
fn score(
    text: &str,
    lex: &Lexicon,
    tokens: &[Token],
    (mut i, j): (usize, usize),
    dialogue: bool,
) -> Option<Candidate> {
    let prev = i.checked_sub(1).map(|p| &tokens[p]);
    let honorific = prev
        .is_some_and(|p| p.role == Role::Honorific && &text[p.full_end..tokens[i].start] == " ");
    // part of a longer proper noun ("Jackson Street", "Morgan Bank")
    if let Some(n) = tokens.get(j) {
        let next = &text[n.start..n.end];
        let gap = &text[tokens[j - 1].full_end..n.start];
        if !honorific
            && gap == " "
            && is_title(next)
            && lex.suffix_words.contains(next.to_lowercase().as_str())
        {
            return None;
        }
    }
    // after a number ("221 Dallas Court"); after "the" ("the Wilson report") only a
    // full name counts
    let mut after_the = false;
    if let Some(p) = prev.filter(|p| &text[p.full_end..tokens[i].start] == " ") {
        let pw = &text[p.start..p.full_end];
        if pw.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        after_the = pw.eq_ignore_ascii_case("the");
    }
    let mut cue_text = before(text, tokens[i].start);
    let mut initial = sentence_initial(text, tokens[i].start);
    let surname_end = j - i >= 2
        && tokens[i].gazetteer()
        && (tokens[j - 1].surname_like() || tokens[j - 1].unknown());
    let middle_initial = j - i >= 3 && tokens[i + 1..j - 1].iter().any(|t| t.role == Role::Initial);
    let line_alone = j - i >= 2 && alone_on_line(text, tokens[i].start, tokens[j - 1].end);
    if j - i >= 2 && tokens[i].is_word() && !honorific {
        let head = text[tokens[i].start..tokens[i].end].to_lowercase();
        // a cue word written with a capital ("Patient Anna Novak"), or an English
        // word starting a sentence ("Yesterday", "Thanks"): not part of the name; a
        // word no list knows stays ("Salambek Melikov", "Crisólogo López")
        let cue_word = lex.role_nouns.contains(head.as_str());
        let strip = cue_word
            || (initial
                && super::strict::is_known_word(&head)
                && !tokens[i].strong_first()
                && !has_cue(&cue_text, &lex.strong_cues)
                && !surname_end
                && !middle_initial
                && !line_alone);
        if strip {
            i += 1;
            cue_text = before(text, tokens[i].start);
            initial = false;
        }
    }
    let strong_cue = honorific || has_cue(&cue_text, &lex.strong_cues);
    let ctx = Context {
        honorific,
        strong_cue,
        weak_cue: strong_cue || has_cue(&cue_text, &lex.weak_cues),
        initial,
        line_alone,
    };
    let names: Vec<&Token> = tokens[i..j]
        .iter()
        .filter(|t| t.role != Role::Particle)
        .collect();
    let (first, last) = match (names.first(), names.last()) {
        (Some(f), Some(l)) if names.len() <= 4 => (*f, *l),
        _ => return None,
    };
    let confidence = if names.len() == 1 {
        let after = &text[first.full_end..];
        let lower = text[first.start..first.end].to_lowercase();
        let verb_word = lex
            .verbs_after
            .contains(word_after(text, first.full_end).as_str());
        let lone = Lone {
            place_before: has_cue(&cue_text, &lex.place_prepositions),
            verb_after: after.starts_with([',', ':']) || first.possessive() || verb_word,
            unknown_in_context: first.unknown()
                && (verb_word
                    || (first.possessive() && !initial)
                    || (initial && after.starts_with(','))),
            owner: first.owner(&lower, initial),
            // a speaker in a dialogue ("Anna: Who are you?\nPetr: ...")
            speaker: dialogue
                && alone_before(text, first.start)
                && speech_follows(after)
                && !lex.role_nouns.contains(lower.as_str()),
            // a vocative ("Remember me, Anna?")
            vocative: cue_text.ends_with(',') && after.starts_with(['?', '!']),
            person_verb: has_cue(&cue_text, &lex.person_verbs),
        };
        lone_confidence(first, &ctx, &lone)
    } else {
        run_confidence(&names, &ctx, middle_initial)
    };
    if after_the && !(names.len() >= 2 && last.surname_like()) {
        return None;
    }
    Some(Candidate {
        start: first.start,
        end: last.end,
        confidence,
        single: names.len() == 1,
    })
}

#[path = "names_score.rs"]
mod score;
use score::{lone_confidence, run_confidence, Context, Lone};

#[cfg(test)]
#[path = "names_tests.rs"]
mod tests;
