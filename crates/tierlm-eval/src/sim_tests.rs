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

fn tiered() -> Vec<Scored> {
    use crate::testutil::two_tiers;
    vec![
        // The small tier is sure and right; the big one is never asked.
        two_tiers("a", "t", (0.9, 1.0), (0.95, 1.0), 1.0, 0.01, Some(0)),
        // The small tier is unsure (and wrong); the big one is sure and right.
        two_tiers("b", "t", (0.3, 0.0), (0.8, 1.0), 1.0, 0.01, Some(1)),
        // Both unsure: the cloud answers.
        two_tiers("c", "t", (0.2, 0.0), (0.4, 0.0), 1.0, 0.01, None),
    ]
}

#[test]
fn items_climb_the_tiers_in_order_with_a_gate_each() {
    let gates = |small: f64, big: f64| {
        Thresholds::per_profile(
            [("t/small".to_string(), small), ("t/big".to_string(), big)]
                .into_iter()
                .collect(),
        )
    };
    let s = simulate(&tiered(), &gates(0.5, 0.5));
    assert_eq!(s.overall.consistency_mismatches, 0);
    assert!((s.overall.local_share - 2.0 / 3.0).abs() < 1e-12);
    assert!((s.overall.local_by_tier["small"] - 1.0 / 3.0).abs() < 1e-12);
    assert!((s.overall.local_by_tier["big"] - 1.0 / 3.0).abs() < 1e-12);
    assert!((s.overall.quality_vs_cloud - 1.0).abs() < 1e-12);
    assert!((s.overall.cost_usd - 0.01).abs() < 1e-12);
    // Latency sums what each item tried: 10; 10 + 100; 10 + 100 + 1000.
    assert!((s.overall.latency_mean_ms - (10.0 + 110.0 + 1110.0) / 3.0).abs() < 1e-9);
    assert!((s.overall.latency_p99_ms - 1110.0).abs() < 1e-9);
    // Each tier's own quality, asked alone.
    assert!((s.overall.quality_tiers["small"] - 1.0 / 3.0).abs() < 1e-12);
    assert!((s.overall.quality_tiers["big"] - 2.0 / 3.0).abs() < 1e-12);
    // A closed big tier sends b to the cloud; an open small one serves b wrongly.
    let s = simulate(&tiered(), &gates(0.5, 1.01));
    assert_eq!(s.overall.consistency_mismatches, 1);
    assert!((s.overall.local_share - 1.0 / 3.0).abs() < 1e-12);
    let s = simulate(&tiered(), &gates(0.0, 1.01));
    assert!((s.overall.quality - 1.0 / 3.0).abs() < 1e-12);
    // No gates: follow the routed run.
    let s = simulate(&tiered(), &Thresholds::default());
    assert_eq!(s.overall.consistency_mismatches, 0);
    assert!((s.overall.local_share - 2.0 / 3.0).abs() < 1e-12);
}

#[test]
fn the_bootstrap_interval_holds_the_ratio() {
    let pairs: Vec<(f64, f64)> = (0..50).map(|i| (f64::from(i % 2), 1.0)).collect();
    let [lo, hi] = bootstrap_ratio_ci(&pairs);
    assert!(lo < 0.5 && 0.5 < hi && hi - lo < 0.4, "{lo} {hi}");
    assert_eq!(bootstrap_ratio_ci(&[(1.0, 1.0); 10]), [1.0, 1.0]);
    assert!(bootstrap_ratio_ci(&[])[0].is_nan());
    assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), 2.0);
    assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.99), 3.0);
}

#[test]
fn a_kept_item_climbs_and_never_reaches_the_cloud() {
    use crate::testutil::two_tiers;
    let kept = |mut s: Scored| {
        s.obs.routed.reason = "guard_local_only".into();
        s.obs.routed.route = "local".into();
        s
    };
    // Neither tier passes 0.9: the more confident (big, right) answers, locally.
    let w = vec![kept(two_tiers(
        "k",
        "t",
        (0.3, 0.0),
        (0.6, 1.0),
        1.0,
        0.01,
        Some(1),
    ))];
    let s = simulate(&w, &Thresholds::global(0.9));
    assert_eq!(s.overall.local_share, 1.0);
    assert_eq!(s.overall.local_by_tier["big"], 1.0);
    assert_eq!(s.overall.cost_usd, 0.0);
    assert_eq!(s.overall.quality, 1.0);
    // The small tier passing 0.2 answers first (wrongly).
    let s = simulate(&w, &Thresholds::global(0.2));
    assert_eq!(s.overall.quality, 0.0);
    assert_eq!(s.overall.consistency_mismatches, 1);
    // Calibration keeps it local and picks the gates that make it right.
    let cal = crate::calibrate(&w, 1.0);
    assert_eq!(cal.kept, 1);
    assert_eq!(cal.summary.overall.local_share, 1.0);
    assert_eq!(cal.summary.overall.quality, 1.0);
}
