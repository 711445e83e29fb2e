//! Why a request went where it went: one enum for every reason the router or the
//! gateway gives, with the stable machine name that headers, logs, metrics and the
//! ledger carry (`x-tierlm-reason: cascade_confident`).

use std::fmt;

/// A routing or serving reason. The names are part of the API (headers, ledger rows,
/// metric labels): add variants, never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// The classifier matched a routine profile.
    ClassifierRoutine,
    /// The classifier matched a complex profile.
    ClassifierComplex,
    /// The request could not be embedded; the default route applied.
    ClassifierUnavailable,
    /// No profile was close and no complexity cue fired: the default route.
    NoProfile,
    ComplexityCode,
    ComplexityMath,
    ComplexityMultiStep,
    ComplexityLong,
    /// A `[[router.rules]]` entry decided.
    PolicyRule,
    /// The client asked for this route (`x-tierlm-route`).
    HintLocal,
    HintCloud,
    /// The data guard keeps the request on the premises.
    GuardLocalOnly,
    /// The key's budget is spent: answered locally, or refused.
    OverBudgetLocal,
    OverBudgetRefused,
    /// A local tier answered and its confidence passed the gate.
    CascadeConfident,
    /// Every local tier was unsure: escalated.
    CascadeLowConfidence,
    /// A local answer was not well-formed (not a label, not JSON): escalated.
    CascadeInvalidOutput,
    /// The local attempt failed: escalated.
    CascadeLocalFailed,
    /// No local tier could answer before the profile's deadline: escalated.
    LocalTooSlow,
    /// A promoted student answered.
    Student,
    /// Every local tier was unsure and there is no cloud (or the data may not leave):
    /// the most confident local answer.
    TiersExhausted,
    /// Every cloud target failed; the model's local fallback answered.
    CloudFailedLocalFallback,
    /// The client hung up before the answer was complete.
    ClientClosed,
}

impl Reason {
    pub const ALL: [Reason; 23] = [
        Reason::ClassifierRoutine,
        Reason::ClassifierComplex,
        Reason::ClassifierUnavailable,
        Reason::NoProfile,
        Reason::ComplexityCode,
        Reason::ComplexityMath,
        Reason::ComplexityMultiStep,
        Reason::ComplexityLong,
        Reason::PolicyRule,
        Reason::HintLocal,
        Reason::HintCloud,
        Reason::GuardLocalOnly,
        Reason::OverBudgetLocal,
        Reason::OverBudgetRefused,
        Reason::CascadeConfident,
        Reason::CascadeLowConfidence,
        Reason::CascadeInvalidOutput,
        Reason::CascadeLocalFailed,
        Reason::LocalTooSlow,
        Reason::Student,
        Reason::TiersExhausted,
        Reason::CloudFailedLocalFallback,
        Reason::ClientClosed,
    ];

    /// The stable machine name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ClassifierRoutine => "classifier_routine",
            Reason::ClassifierComplex => "classifier_complex",
            Reason::ClassifierUnavailable => "classifier_unavailable",
            Reason::NoProfile => "no_profile",
            Reason::ComplexityCode => "complexity_code",
            Reason::ComplexityMath => "complexity_math",
            Reason::ComplexityMultiStep => "complexity_multi_step",
            Reason::ComplexityLong => "complexity_long",
            Reason::PolicyRule => "policy_rule",
            Reason::HintLocal => "hint_local",
            Reason::HintCloud => "hint_cloud",
            Reason::GuardLocalOnly => "guard_local_only",
            Reason::OverBudgetLocal => "over_budget_local",
            Reason::OverBudgetRefused => "over_budget_refused",
            Reason::CascadeConfident => "cascade_confident",
            Reason::CascadeLowConfidence => "cascade_low_confidence",
            Reason::CascadeInvalidOutput => "cascade_invalid_output",
            Reason::CascadeLocalFailed => "cascade_local_failed",
            Reason::LocalTooSlow => "local_too_slow",
            Reason::Student => "student",
            Reason::TiersExhausted => "tiers_exhausted",
            Reason::CloudFailedLocalFallback => "cloud_failed_local_fallback",
            Reason::ClientClosed => "client_closed",
        }
    }

    /// The reason with this machine name.
    pub fn parse(name: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_unique_and_parses_back() {
        let names: std::collections::BTreeSet<&str> =
            Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), Reason::ALL.len());
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
        assert_eq!(Reason::parse("nope"), None);
    }
}
