//! Tests of the routing simulation (kept apart to keep `sim.rs` short).

use super::*;
use crate::testutil::{cascaded, to_cloud};

fn workload() -> Vec<Scored> {
    vec![
        // Server threshold for "spam" was 0.5.
        cascaded("s1", "spam", 0.9, 1.0, 1.0, 0.01, true),
        cascaded("s2", "spam", 0.6, 1.0, 1.0, 0.01, true),
        cascaded("s3", "spam", 0.4, 0.0, 1.0, 0.01, false),
        cascaded("s4", "spam", 0.1, 0.0, 1.0, 0.01, false),
        to_cloud("c1", "math", 1.0, 0.02),
    ]
}

fn server() -> Thresholds {
    Thresholds::per_profile([("spam".to_string(), 0.5)].into_iter().collect())
}

#[test]
fn the_served_thresholds_reproduce_the_routed_run() {
    let s = simulate(&workload(), &server());
    assert_eq!(s.overall.requests, 5);
    assert_eq!(s.overall.consistency_mismatches, 0);
    assert_eq!(s.overall.cascaded, 4);
    assert!((s.overall.local_share - 0.4).abs() < 1e-12);
    assert!((s.overall.quality - 1.0).abs() < 1e-12);
    assert!((s.overall.quality_vs_cloud - 1.0).abs() < 1e-12);
    // Escalations pay local (0) + cloud; the complex item pays cloud.
    assert!((s.overall.cost_usd - 0.04).abs() < 1e-12);
    assert!((s.overall.cost_cloud_usd - 0.06).abs() < 1e-12);
    assert!((s.overall.cost_vs_cloud - 4.0 / 6.0).abs() < 1e-12);
    assert!((s.overall.routing_accuracy - 1.0).abs() < 1e-12);
    assert_eq!(s.overall.errors, 0);
    let spam = &s.per_task["spam"];
    assert_eq!(spam.figures.requests, 4);
    assert_eq!(spam.metric, "label");
    assert!((spam.figures.local_share - 0.5).abs() < 1e-12);
    assert!((spam.figures.quality_local - 0.5).abs() < 1e-12);
    assert!((s.per_task["math"].figures.quality_local - 0.5).abs() < 1e-12);
}

#[test]
fn missing_profiles_follow_the_routed_run() {
    let s = simulate(&workload(), &Thresholds::default());
    assert_eq!(s.overall.consistency_mismatches, 0);
    assert!((s.overall.local_share - 0.4).abs() < 1e-12);
}

#[test]
fn other_thresholds_change_decisions_and_count_mismatches() {
    let all_local = simulate(&workload(), &Thresholds::global(0.0));
    assert!((all_local.overall.local_share - 0.8).abs() < 1e-12);
    assert_eq!(all_local.overall.consistency_mismatches, 2);
    assert!((all_local.overall.quality - 0.6).abs() < 1e-12);
    assert!((all_local.overall.cost_usd - 0.02).abs() < 1e-12);
    let none_local = simulate(&workload(), &Thresholds::global(1.01));
    assert_eq!(none_local.overall.local_share, 0.0);
    assert_eq!(none_local.overall.consistency_mismatches, 2);
    assert!((none_local.overall.cost_usd - 0.06).abs() < 1e-12);
    // The global value overrides per-profile entries.
    let mut t = server();
    t.global = Some(0.0);
    assert_eq!(simulate(&workload(), &t), all_local);
}

#[test]
fn routing_accuracy_counts_missing_classes_as_wrong() {
    let mut w = workload();
    w[0].obs.routed.class = None;
    w[1].obs.routed.class = Some("complex".into());
    let s = simulate(&w, &server());
    assert!((s.overall.routing_accuracy - 0.6).abs() < 1e-12);
}

#[test]
fn unscored_items_leave_quality_means_but_not_costs() {
    let mut w = workload();
    w[2].local = None;
    let s = simulate(&w, &server());
    assert_eq!(s.overall.unscored, 1);
    assert!((s.overall.quality - 1.0).abs() < 1e-12);
    assert!((s.overall.cost_usd - 0.04).abs() < 1e-12);
    // A task with no scored items has NaN quality, null in JSON.
    let one = simulate(&w[2..3], &server());
    assert!(one.overall.quality.is_nan() && one.overall.quality_vs_cloud.is_nan());
    let json = serde_json::to_value(&one).unwrap();
    assert!(json["quality"].is_null());
}

#[test]
fn failed_local_passes_escalate_and_failed_routes_are_errors() {
    let mut w = workload();
    w[0].obs.local.error = Some("timeout".into());
    w[3].obs.routed.error = Some("HTTP 502".into());
    let s = simulate(&w, &server());
    assert_eq!(s.overall.errors, 1);
    // s1 now escalates (a mismatch); s4's failed route is not compared.
    assert_eq!(s.overall.consistency_mismatches, 1);
    assert!((s.overall.local_share - 0.2).abs() < 1e-12);
}

#[test]
fn ratios_guard_zero() {
    assert_eq!(ratio(0.0, 0.0), 1.0);
    assert_eq!(ratio(1.0, 0.0), f64::INFINITY);
    assert_eq!(ratio(1.0, 2.0), 0.5);
    assert!(ratio(f64::NAN, 1.0).is_nan());
}

#[test]
fn curve_sweeps_from_all_local_to_all_cloud() {
    let c = curve(&workload(), DEFAULT_CURVE_STEPS);
    assert_eq!(c.len(), 21);
    assert_eq!(c[0].threshold, 0.0);
    assert_eq!(c[20].threshold, 1.0);
    assert!((c[0].local_share - 0.8).abs() < 1e-12);
    assert_eq!(c[20].local_share, 0.0);
    for pair in c.windows(2) {
        assert!(pair[1].local_share <= pair[0].local_share);
        assert!(pair[1].cost_vs_cloud >= pair[0].cost_vs_cloud);
    }
    assert_eq!(curve(&workload(), 0).len(), 2);
}
