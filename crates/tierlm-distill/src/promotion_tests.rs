//! Tests of the route state machine and its event log.

use super::*;
use proptest::prelude::*;

fn store() -> DistillStore {
    DistillStore::open_in_memory().unwrap()
}

/// A sample of a student that has no confidence (plain agreement).
fn plain(agreed: bool) -> ShadowSample {
    ShadowSample {
        confidence: None,
        agreed,
    }
}

fn sure(confidence: f64, agreed: bool) -> ShadowSample {
    ShadowSample {
        confidence: Some(confidence),
        agreed,
    }
}

#[test]
fn a_new_task_is_on_the_teacher() {
    let s = store();
    assert_eq!(s.route_state("t").unwrap(), RouteState::Teacher);
    assert!(s.route_states().unwrap().is_empty());
    assert!(s.route_events(None).unwrap().is_empty());
}

#[test]
fn shadow_agreement_promotes_automatically() {
    let s = store();
    let policy = PromotionPolicy::default();
    // 199 samples, 190 agreeing: not enough samples yet.
    for i in 0..199 {
        let st = s
            .record_shadow("t", plain(i % 20 != 0 || i >= 190), &policy)
            .unwrap();
        assert!(st.is_shadow(), "sample {i}: {st:?}");
    }
    let RouteState::Shadow { agree, total, .. } = s.route_state("t").unwrap() else {
        panic!("not in shadow");
    };
    assert_eq!((agree, total), (189, 199));
    // The 200th (agreeing) makes 190/200 = 95%.
    let st = s.record_shadow("t", plain(true), &policy).unwrap();
    let RouteState::Student { by, reason, .. } = &st else {
        panic!("not promoted: {st:?}");
    };
    assert_eq!(by, "auto");
    assert!(reason.contains("190/200"), "{reason}");
    assert_eq!(st.student_gate(), None);
    assert!(reason.contains("91.0%"), "{reason}");
    assert!(st.student_serves());
    // Further shadow samples leave a student alone.
    assert_eq!(s.record_shadow("t", plain(false), &policy).unwrap(), st);
    let events = s.route_events(Some("t")).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[0].from.as_str(), events[0].to.as_str()),
        ("teacher", "shadow")
    );
    assert_eq!(
        (events[1].from.as_str(), events[1].to.as_str()),
        ("shadow", "student")
    );
    assert_eq!((events[1].agree, events[1].total), (Some(190), Some(200)));
}

#[test]
fn low_agreement_keeps_the_teacher_answering() {
    let s = store();
    let policy = PromotionPolicy {
        min_samples: 50,
        ..PromotionPolicy::default()
    };
    for i in 0..500 {
        s.record_shadow("t", plain(i % 10 != 0), &policy).unwrap(); // 90%
    }
    assert!(s.route_state("t").unwrap().is_shadow());
    let manual = PromotionPolicy {
        auto_promote: false,
        min_samples: 1,
        min_agreement: 0.0,
        min_coverage: 0.0,
    };
    s.start_shadow("u", "ops", "student v2 trained").unwrap();
    s.record_shadow("u", plain(true), &manual).unwrap();
    assert!(s.route_state("u").unwrap().is_shadow());
}

#[test]
fn a_student_sure_of_most_requests_is_promoted_with_a_gate() {
    let s = store();
    let policy = PromotionPolicy::default();
    // 93% overall; on the 160 samples at confidence >= 0.9, 158 agree (98.75%).
    let mut st = RouteState::Teacher;
    for i in 0..200u32 {
        let sample = if i % 5 == 4 {
            sure(0.5 + f64::from(i) * 1e-4, i % 20 >= 12)
        } else {
            sure(0.9 + f64::from(i) * 1e-4, i != 8 && i != 16)
        };
        st = s.record_shadow("t", sample, &policy).unwrap();
    }
    let RouteState::Student { by, reason, .. } = &st else {
        panic!("not promoted: {st:?}");
    };
    assert_eq!(by, "auto");
    let gate = st.student_gate().unwrap();
    assert!((0.5..0.91).contains(&gate), "{gate} ({reason})");
    assert!(reason.contains("selective agreement"), "{reason}");
    assert_eq!(s.shadow_samples("t").unwrap().len(), 200);
    // The plain share would not have promoted it.
    let overall = s
        .shadow_samples("t")
        .unwrap()
        .iter()
        .filter(|x| x.agreed)
        .count();
    assert!(overall < 190, "{overall}");
    // The gate survives a read back, and a new shadow phase starts with no samples.
    assert_eq!(s.route_state("t").unwrap().student_gate(), Some(gate));
    s.start_shadow("t", "ops", "retrained").unwrap();
    assert!(s.shadow_samples("t").unwrap().is_empty());
}

#[test]
fn a_gate_covering_too_little_does_not_promote() {
    let s = store();
    let policy = PromotionPolicy::default();
    // Sure and right on 20% of the samples, a coin toss on the rest.
    for i in 0..300u32 {
        let sample = if i % 5 == 0 {
            sure(0.99, true)
        } else {
            sure(0.6, i % 2 == 0)
        };
        s.record_shadow("t", sample, &policy).unwrap();
    }
    assert!(s.route_state("t").unwrap().is_shadow());
}

#[test]
fn demote_and_promote_are_manual_and_logged() {
    let s = store();
    let st = s.promote("t", "alice", "offline eval 97%").unwrap();
    assert!(st.student_serves());
    let st = s.demote("t", "bob", "customer complaint").unwrap();
    assert_eq!(st, RouteState::Teacher);
    s.promote("t", "bob", "fixed labels").unwrap();
    s.start_shadow("u", "ops", "new student").unwrap();
    let events = s.route_events(Some("t")).unwrap();
    let summary: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| (e.to.as_str(), e.by.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("student", "alice", "offline eval 97%"),
            ("teacher", "bob", "customer complaint"),
            ("student", "bob", "fixed labels"),
        ]
    );
    assert_eq!(s.route_events(None).unwrap().len(), 4);
    let states = s.route_states().unwrap();
    assert_eq!(states.len(), 2);
    assert!(states[0].1.student_serves());
    assert!(states[1].1.is_shadow());
}

#[test]
fn state_survives_a_reopen() {
    let dir = std::env::temp_dir().join(format!("tierlm-distill-promo-{}", std::process::id()));
    let path = dir.join("distill.db");
    {
        let s = DistillStore::open(&path).unwrap();
        s.promote("t", "alice", "why not").unwrap();
    }
    let s = DistillStore::open(&path).unwrap();
    assert!(s.route_state("t").unwrap().student_serves());
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn wilson_bounds_match_the_documented_figures() {
    assert!((wilson_lower_bound(190, 200, 1.96) - 0.910).abs() < 0.001);
    assert!((wilson_lower_bound(95, 100, 1.96) - 0.888).abs() < 0.001);
    assert_eq!(wilson_lower_bound(0, 0, 1.96), 0.0);
}

proptest! {
    #[test]
    fn wilson_bound_is_below_the_observed_share(k in 0u64..1000, extra in 0u64..1000) {
        let n = k + extra;
        let lb = wilson_lower_bound(k, n, 1.96);
        prop_assert!((0.0..=1.0).contains(&lb));
        if n > 0 {
            prop_assert!(lb <= k as f64 / n as f64 + 1e-12);
        }
    }
}
