//! How confident the name detector is that a run of words, or a lone word, is a
//! person's name, from what the words are (listed, unknown, surname-like) and what
//! surrounds them (an honorific, a cue, a verb after, the start of a sentence).

use super::{Role, Token};

/// What surrounds a run of words.
pub(super) struct Context {
    /// `Mr`, `Dr`, ... just before.
    pub(super) honorific: bool,
    pub(super) strong_cue: bool,
    pub(super) weak_cue: bool,
    /// The run starts a sentence.
    pub(super) initial: bool,
    /// The run is alone on its line.
    pub(super) line_alone: bool,
}

/// What surrounds a lone word.
pub(super) struct Lone {
    pub(super) place_before: bool,
    pub(super) verb_after: bool,
    /// A word no list knows, followed by a verb ("Tadanori is", "Korgay began"), in
    /// the possessive inside a sentence ("Zama's address") or before a comma at the
    /// start of one ("Alik, can I ...").
    pub(super) unknown_in_context: bool,
    /// A listed name that is no place, in the possessive inside a sentence ("Frank's
    /// kid"), even one that is also a word.
    pub(super) owner: bool,
    pub(super) speaker: bool,
    pub(super) vocative: bool,
    pub(super) person_verb: bool,
}

/// Confidence that a lone word is a name (below 0.5: only as part of a list).
pub(super) fn lone_confidence(t: &Token, ctx: &Context, lone: &Lone) -> f32 {
    let name_like = t.gazetteer() || t.surname_like();
    if !t.is_word() || (lone.place_before && !ctx.honorific) {
        0.0
    } else if ctx.honorific {
        0.85
    } else if t.strong() && ctx.weak_cue {
        0.75
    } else if (t.strong() && (!ctx.initial || lone.verb_after))
        || ((name_like || t.unknown()) && ctx.weak_cue)
        || ctx.strong_cue
    {
        0.6
    } else if (t.surname_like() && lone.verb_after)
        || lone.unknown_in_context
        || lone.owner
        || lone.speaker
        || lone.vocative
        || lone.person_verb
    {
        0.55
    } else if t.strong() || (t.surname_like() && !ctx.initial) {
        0.45
    } else if t.gazetteer() {
        // a name that is also a common word or a place
        0.3
    } else {
        0.0
    }
}

/// Confidence that two to four words (and initials) are a name.
pub(super) fn run_confidence(names: &[&Token], ctx: &Context, middle_initial: bool) -> f32 {
    let (Some(first), Some(last)) = (names.first(), names.last()) else {
        return 0.0;
    };
    let name_like = names.iter().any(|t| t.gazetteer() || t.surname_like());
    if first.role == Role::Initial {
        if last.strong_last() || ctx.honorific || (last.surname_like() && ctx.weak_cue) {
            0.8
        } else if ctx.weak_cue && last.gazetteer() {
            0.7
        } else {
            0.0
        }
    } else if ctx.honorific || (first.strong_first() && last.strong_last()) {
        0.9
    } else if middle_initial && last.is_word() {
        0.85
    } else if first.strong_first() && (last.gazetteer() || last.surname_like() || ctx.strong_cue) {
        0.8
    } else if first.strong_first()
        || (first.gazetteer() && last.strong_last())
        || (last.surname_like() && (ctx.strong_cue || ctx.line_alone))
    {
        0.75
    } else if ctx.strong_cue || (ctx.line_alone && name_like) {
        0.7
    } else if last.surname_like()
        || names.iter().all(|t| t.unknown())
        || (first.gazetteer() && last.unknown())
    {
        // two to four words no list knows ("Khasbulat Shishani", "Brankica Vučan")
        0.6
    } else if last.possessive() && !ctx.initial {
        0.55
    } else {
        0.0
    }
}
