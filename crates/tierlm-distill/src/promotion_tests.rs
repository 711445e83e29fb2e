//! Tests of the route state machine and its event log.

use super::*;
use proptest::prelude::*;

fn store() -> DistillStore {
    DistillStore::open_in_memory().unwrap()
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
            .record_shadow("t", i % 20 != 0 || i >= 190, &policy)
            .unwrap();
        assert!(st.is_shadow(), "sample {i}: {st:?}");
    }
    let RouteState::Shadow { agree, total, .. } = s.route_state("t").unwrap() else {
        panic!("not in shadow");
    };
    assert_eq!((agree, total), (189, 199));
    // The 200th (agreeing) makes 190/200 = 95%.
    let st = s.record_shadow("t", true, &policy).unwrap();
    let RouteState::Student { by, reason, .. } = &st else {
        panic!("not promoted: {st:?}");
    };
    assert_eq!(by, "auto");
    assert!(reason.contains("190/200"), "{reason}");
    assert!(reason.contains("91.0%"), "{reason}");
    assert!(st.student_serves());
    // Further shadow samples leave a student alone.
    assert_eq!(s.record_shadow("t", false, &policy).unwrap(), st);
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
        s.record_shadow("t", i % 10 != 0, &policy).unwrap(); // 90%
    }
    assert!(s.route_state("t").unwrap().is_shadow());
    let manual = PromotionPolicy {
        auto_promote: false,
        min_samples: 1,
        min_agreement: 0.0,
    };
    s.start_shadow("u", "ops", "student v2 trained").unwrap();
    s.record_shadow("u", true, &manual).unwrap();
    assert!(s.route_state("u").unwrap().is_shadow());
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
