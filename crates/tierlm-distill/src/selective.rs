//! Selective agreement: the confidence gate at which a student may answer.
//!
//! A student need not be right on everything to be useful; it must be right on what
//! it answers. Every shadow sample keeps the student's calibrated confidence beside
//! whether it agreed with the teacher. Sorted from most to least confident, each cut
//! between two distinct confidences is a candidate gate: the student would answer the
//! samples above it (its *coverage*) and agree with the teacher on a share of them
//! (its *selective agreement*). The gate chosen is the one with the largest coverage
//! whose selective agreement still reaches `min_agreement` and whose coverage reaches
//! `min_coverage`. A classifier right 99% of the time on the 80% it is sure of takes
//! that 80% even when it is right 93% of the time overall; one that is right on
//! everything gets a gate at its lowest observed confidence, which is plain agreement.
//!
//! Samples without a confidence (a generative student's, judged by similarity alone)
//! count as equally sure, so the only candidate cut is "all of them": plain agreement.
//!
//! The search looks at every cut, which picks the best of several hypotheses on the
//! same samples; the reason logged with a promotion therefore also gives the Wilson
//! 95% lower bound of the chosen set's agreement, so an operator sees the margin.

use serde::{Deserialize, Serialize};

/// One shadow comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShadowSample {
    /// The student's calibrated confidence, when it has one.
    pub confidence: Option<f64>,
    pub agreed: bool,
}

/// A chosen gate and the evidence for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectiveGate {
    /// The student answers at or above this confidence (`None`: every request, for a
    /// student without confidences).
    pub min_confidence: Option<f64>,
    /// Samples at or above the gate, and how many of them agreed.
    pub covered: u64,
    pub agreed: u64,
    /// All samples judged.
    pub samples: u64,
}

impl SelectiveGate {
    /// Share of the samples the student would answer.
    pub fn coverage(&self) -> f64 {
        self.covered as f64 / self.samples.max(1) as f64
    }

    /// Agreement with the teacher on the samples it would answer.
    pub fn agreement(&self) -> f64 {
        self.agreed as f64 / self.covered.max(1) as f64
    }
}

/// The widest gate over `samples` whose selective agreement is at least
/// `min_agreement` and whose coverage is at least `min_coverage` (and at least one
/// sample); `None` when no cut qualifies.
pub fn selective_gate(
    samples: &[ShadowSample],
    min_agreement: f64,
    min_coverage: f64,
) -> Option<SelectiveGate> {
    let mut sorted: Vec<(f64, bool)> = samples
        .iter()
        .map(|s| (s.confidence.unwrap_or(f64::INFINITY), s.agreed))
        .filter(|(c, _)| !c.is_nan())
        .collect();
    let n = sorted.len() as u64;
    if n == 0 {
        return None;
    }
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut best = None;
    let mut agreed = 0u64;
    for (i, &(confidence, ok)) in sorted.iter().enumerate() {
        agreed += u64::from(ok);
        // A cut only between distinct confidences: a gate cannot split equals.
        if sorted.get(i + 1).is_some_and(|next| next.0 == confidence) {
            continue;
        }
        let covered = i as u64 + 1;
        let gate = SelectiveGate {
            min_confidence: confidence.is_finite().then_some(confidence),
            covered,
            agreed,
            samples: n,
        };
        if gate.agreement() >= min_agreement && gate.coverage() >= min_coverage {
            best = Some(gate);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(confidence: f64, agreed: bool) -> ShadowSample {
        ShadowSample {
            confidence: Some(confidence),
            agreed,
        }
    }

    #[test]
    fn the_issue_example_takes_the_confident_eighty_percent() {
        // 80 confident samples, 1 wrong (98.75%); 20 unsure ones, 6 wrong: 93% overall.
        let mut v: Vec<ShadowSample> = (0..80).map(|i| s(0.9 + i as f64 * 1e-3, i != 5)).collect();
        v.extend((0..20).map(|i| s(0.5 + i as f64 * 1e-3, i >= 6)));
        let all = v.iter().filter(|x| x.agreed).count();
        assert_eq!(all, 93);
        let g = selective_gate(&v, 0.95, 0.25).unwrap();
        assert!(g.covered >= 80, "{g:?}");
        assert!(g.agreement() >= 0.95, "{g:?}");
        assert!(
            g.min_confidence.unwrap() <= 0.9 && g.min_confidence.unwrap() > 0.5,
            "{g:?}"
        );
        // Plain agreement over everything would not promote it.
        assert!(selective_gate(&v, 0.95, 1.0).is_none());
    }

    #[test]
    fn equal_confidences_are_not_split() {
        let v = [s(0.9, true), s(0.9, false), s(0.9, true), s(0.5, true)];
        // The cut after the first 0.9 would be 100%, but it cannot be made.
        assert!(selective_gate(&v, 0.9, 0.0).is_none());
        let g = selective_gate(&v, 0.6, 0.0).unwrap();
        assert_eq!((g.covered, g.agreed), (4, 3));
    }

    #[test]
    fn samples_without_confidence_are_plain_agreement() {
        let v: Vec<ShadowSample> = (0..20)
            .map(|i| ShadowSample {
                confidence: None,
                agreed: i != 0,
            })
            .collect();
        let g = selective_gate(&v, 0.95, 0.5).unwrap();
        assert_eq!((g.covered, g.agreed, g.min_confidence), (20, 19, None));
        assert!(selective_gate(&v, 0.96, 0.0).is_none());
    }

    #[test]
    fn coverage_below_the_floor_does_not_promote() {
        let mut v: Vec<ShadowSample> = (0..10).map(|i| s(0.99 - i as f64 * 1e-3, true)).collect();
        v.extend((0..90).map(|i| s(0.3 + i as f64 * 1e-3, i % 2 == 0)));
        assert!(selective_gate(&v, 0.95, 0.2).is_none());
        let g = selective_gate(&v, 0.95, 0.1).unwrap();
        assert_eq!(g.covered, 10);
    }

    proptest! {
        #[test]
        fn the_gate_keeps_its_promises(
            raw in proptest::collection::vec((0u8..20, any::<bool>()), 0..300),
            min_agreement in 0.5f64..1.0,
            min_coverage in 0.0f64..1.0,
        ) {
            let v: Vec<ShadowSample> = raw.iter().map(|&(c, a)| s(f64::from(c) / 20.0, a)).collect();
            match selective_gate(&v, min_agreement, min_coverage) {
                Some(g) => {
                    let t = g.min_confidence.unwrap();
                    let above: Vec<_> = v.iter().filter(|x| x.confidence.unwrap() >= t).collect();
                    prop_assert_eq!(above.len() as u64, g.covered);
                    prop_assert_eq!(above.iter().filter(|x| x.agreed).count() as u64, g.agreed);
                    prop_assert!(g.agreement() >= min_agreement);
                    prop_assert!(g.coverage() >= min_coverage);
                    // No wider gate also qualifies.
                    for lower in v.iter().filter_map(|x| x.confidence).filter(|&c| c < t) {
                        let wider: Vec<_> = v.iter().filter(|x| x.confidence.unwrap() >= lower).collect();
                        let share = wider.iter().filter(|x| x.agreed).count() as f64 / wider.len() as f64;
                        prop_assert!(share < min_agreement || (wider.len() as f64 / v.len() as f64) < min_coverage);
                    }
                }
                None => {
                    for c in v.iter().filter_map(|x| x.confidence) {
                        let set: Vec<_> = v.iter().filter(|x| x.confidence.unwrap() >= c).collect();
                        let share = set.iter().filter(|x| x.agreed).count() as f64 / set.len() as f64;
                        prop_assert!(share < min_agreement || (set.len() as f64 / v.len() as f64) < min_coverage);
                    }
                }
            }
        }
    }
}
