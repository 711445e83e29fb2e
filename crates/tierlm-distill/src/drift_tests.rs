//! Drift tests: a synthetic workload whose topic shifts halfway.

use super::*;
use crate::rng::SplitMix64;
use crate::student::tests::{unit, Clusters};

const D: usize = 384;

/// Training embeddings of topic A, and a generator for topic A and a shifted topic.
fn setup(rng: &mut SplitMix64) -> (TrainingDistribution, Clusters, Clusters) {
    let a = Clusters::new(rng, D, 3, 0.15, 0.04);
    let train: Vec<Vec<f32>> = (0..1500).map(|i| a.sample(rng, i % 3)).collect();
    let reference = TrainingDistribution::of(&train).unwrap();
    // Topic B: a new direction, partly shared with A (a neighbouring topic, not
    // an unrelated one).
    let other = crate::student::tests::random_unit(rng, D);
    let b_base = unit(
        a.base
            .iter()
            .zip(&other)
            .map(|(x, y)| 0.8 * x + 0.6 * y)
            .collect(),
    );
    let b = Clusters {
        means: a
            .means
            .iter()
            .map(|m| {
                m.iter()
                    .zip(&a.base)
                    .zip(&b_base)
                    .map(|((m, x), y)| m - x + y)
                    .collect()
            })
            .collect(),
        base: b_base,
        sigma: a.sigma,
    };
    (reference, a, b)
}

#[test]
fn a_topic_shift_raises_one_alarm_soon_after_it() {
    let mut rng = SplitMix64::new(11);
    let (reference, a, b) = setup(&mut rng);
    let mut m = DriftMonitor::new("ticket", reference, DriftConfig::default());
    let mut alarms = Vec::new();
    for i in 0..2000 {
        let topic = if i < 1000 { &a } else { &b };
        let e = topic.sample(&mut rng, i % 3);
        if let Some(alarm) = m.observe(Observation {
            embedding: Some(&e),
            ..Observation::default()
        }) {
            alarms.push((i, alarm));
        }
        if i == 999 {
            let s = m.status();
            println!("before the shift: {s:?}");
            assert!(s.far_share < 0.15, "{s:?}");
            assert!(s.alarmed.is_empty());
        }
    }
    println!("alarms: {alarms:?}");
    let (first, alarm) = alarms.first().expect("no alarm after the shift");
    assert!(
        *first >= 1000,
        "false alarm before the shift at {first}: {alarm}"
    );
    assert!(*first < 1000 + 80, "alarm too late: request {first}");
    assert!(alarm.to_string().contains("drift on ticket"));
    // At most one alarm per signal: the shift persists, so none re-fires.
    assert!(alarms.len() <= DriftSignal::ALL.len(), "{alarms:?}");
    assert!(!m.status().alarmed.is_empty());
}

#[test]
fn confidence_and_shadow_agreement_alarm_on_their_own() {
    let mut rng = SplitMix64::new(12);
    let (reference, _, _) = setup(&mut rng);
    let cfg = DriftConfig {
        window: 100,
        min_observations: 30,
        ..DriftConfig::default()
    };
    let mut m = DriftMonitor::new("t", reference.clone(), cfg.clone());
    let mut first = None;
    for i in 0..400 {
        // Confidence high (10% low) in the first half, 50% low after.
        let low_rate = if i < 200 { 0.1 } else { 0.5 };
        let c = if rng.next_f64() < low_rate { 0.3 } else { 0.9 };
        if let Some(a) = m.observe(Observation {
            confidence: Some(c),
            ..Observation::default()
        }) {
            assert_eq!(a.signal, DriftSignal::LowConfidence);
            first.get_or_insert(i);
        }
    }
    let first = first.expect("no low-confidence alarm");
    assert!((200..260).contains(&first), "{first}");

    let mut m = DriftMonitor::new("t", reference, cfg);
    let mut first = None;
    for i in 0..400 {
        let agree_rate = if i < 200 { 0.98 } else { 0.7 };
        if let Some(a) = m.observe(Observation {
            shadow_agreed: Some(rng.next_f64() < agree_rate),
            ..Observation::default()
        }) {
            assert_eq!(a.signal, DriftSignal::ShadowAgreement);
            first.get_or_insert(i);
        }
    }
    let first = first.expect("no agreement alarm");
    assert!((200..280).contains(&first), "{first}");
    assert!(m.status().shadow_agreement < 0.9);
}

#[test]
fn a_recovered_signal_can_alarm_again_and_reset_forgets() {
    let mut rng = SplitMix64::new(13);
    let (reference, _, _) = setup(&mut rng);
    let cfg = DriftConfig {
        window: 20,
        min_observations: 20,
        ..DriftConfig::default()
    };
    let mut m = DriftMonitor::new("t", reference, cfg);
    let mut fired = 0;
    for phase in [true, false, true] {
        for _ in 0..40 {
            let agreed = !phase;
            fired += usize::from(
                m.observe(Observation {
                    shadow_agreed: Some(agreed),
                    ..Observation::default()
                })
                .is_some(),
            );
        }
    }
    assert_eq!(fired, 2);
    m.reset();
    assert_eq!(m.status().observations, 0);
    assert!(m.status().shadow_agreement.is_nan());
}

#[test]
fn disabled_signals_never_alarm() {
    let mut rng = SplitMix64::new(14);
    let (reference, _, b) = setup(&mut rng);
    let cfg = DriftConfig {
        max_far_share: None,
        max_distance_ratio: None,
        ..DriftConfig::default()
    };
    let mut m = DriftMonitor::new("t", reference, cfg);
    for i in 0..500 {
        let e = b.sample(&mut rng, i % 3);
        assert!(m
            .observe(Observation {
                embedding: Some(&e),
                ..Observation::default()
            })
            .is_none());
    }
}
