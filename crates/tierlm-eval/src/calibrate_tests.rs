//! Tests of threshold calibration (kept apart to keep `calibrate.rs` short).

use super::*;
use crate::testutil::{cascaded, to_cloud};
use proptest::prelude::*;

/// "easy": local is right above 0.5 confidence, wrong below.
/// "hard": local is always wrong.
fn workload() -> Vec<Scored> {
    vec![
        cascaded("e1", "easy", 0.95, 1.0, 1.0, 0.01, true),
        cascaded("e2", "easy", 0.80, 1.0, 1.0, 0.01, true),
        cascaded("e3", "easy", 0.62, 1.0, 1.0, 0.01, true),
        cascaded("e4", "easy", 0.41, 0.0, 1.0, 0.01, false),
        cascaded("e5", "easy", 0.20, 0.0, 1.0, 0.01, false),
        cascaded("h1", "hard", 0.90, 0.0, 1.0, 0.01, true),
        cascaded("h2", "hard", 0.30, 0.0, 1.0, 0.01, false),
        to_cloud("c1", "math", 1.0, 0.02),
    ]
}

#[test]
fn keeps_full_quality_at_floor_one() {
    let cal = calibrate(&workload(), 1.0);
    assert!(cal.feasible);
    let easy = cal.thresholds["easy"];
    assert!(easy > 0.41 && easy <= 0.62, "{easy}");
    assert!((easy - 0.515).abs() < 1e-12, "midpoint: {easy}");
    assert!(cal.thresholds["hard"] > 0.90);
    assert!((cal.thresholds["hard"] - 1.0).abs() < 1e-12);
    let s = &cal.summary;
    assert!((s.overall.quality_vs_cloud - 1.0).abs() < 1e-12);
    assert!((s.overall.local_share - 3.0 / 8.0).abs() < 1e-12);
    // 4 escalations and the complex item.
    assert!((s.overall.cost_usd - 0.06).abs() < 1e-12);
}

#[test]
fn a_low_floor_sends_everything_local() {
    let cal = calibrate(&workload(), 0.0);
    // Any threshold at or below the lowest confidence is the same decision.
    assert!(cal.thresholds["easy"] <= 0.20, "{:?}", cal.thresholds);
    assert!(cal.thresholds["hard"] <= 0.30, "{:?}", cal.thresholds);
    assert!((cal.summary.overall.local_share - 7.0 / 8.0).abs() < 1e-12);
    assert!((cal.summary.overall.cost_usd - 0.02).abs() < 1e-12);
}

#[test]
fn spends_the_quality_budget_on_the_cheapest_losses() {
    // Floor 7/8: one wrong local answer is allowed (quality 7 of 8).
    let cal = calibrate(&workload(), 7.0 / 8.0);
    let s = &cal.summary;
    assert!(s.overall.quality_vs_cloud >= 7.0 / 8.0 - 1e-12);
    assert!((s.overall.quality_vs_cloud - 7.0 / 8.0).abs() < 1e-12);
    assert!((s.overall.local_share - 4.0 / 8.0).abs() < 1e-12);
    // Each lost point saves one escalation: either profile is as good;
    // the tie goes to the larger saving, then the profile name.
    assert!(cal.thresholds["easy"] <= 0.41 && cal.thresholds["easy"] > 0.20);
    assert!(cal.thresholds["hard"] > 0.90);
}

#[test]
fn an_unreachable_floor_escalates_everything() {
    let cal = calibrate(&workload(), 1.5);
    assert!(!cal.feasible);
    assert_eq!(cal.summary.overall.local_share, 0.0);
    let toml = thresholds_toml(&cal, "calibrated");
    assert!(toml.contains("floor not reachable"), "{toml}");
}

#[test]
fn never_local_stays_above_an_observed_one() {
    let w = vec![
        cascaded("a", "p", 1.0, 0.0, 1.0, 0.01, true),
        cascaded("b", "p", 0.5, 0.0, 1.0, 0.01, false),
    ];
    let cal = calibrate(&w, 1.0);
    assert!(cal.thresholds["p"] > 1.0, "{}", cal.thresholds["p"]);
    assert_eq!(cal.summary.overall.local_share, 0.0);
}

#[test]
fn rounding_stays_inside_the_interval() {
    assert_eq!(round_into(0.515, 0.62, Some(0.41)), 0.515);
    assert_eq!(
        round_into(0.621_349_9, 0.621_35, Some(0.621_349_8)),
        0.621_35
    );
    let v = round_into(0.621_300_05, 0.621_300_1, Some(0.621_3));
    assert!(v > 0.621_3 && v <= 0.621_300_1, "{v}");
    assert_eq!(round_into(NEVER_LOCAL, NEVER_LOCAL, Some(0.9)), 1.0);
    assert_eq!(round_into(NEVER_LOCAL, NEVER_LOCAL, Some(1.0)), NEVER_LOCAL);
    assert_eq!(round_into(0.0, 0.0, None), 0.0);
}

#[test]
fn writes_a_toml_snippet() {
    let cal = calibrate(&workload(), 1.0);
    let toml = thresholds_toml(&cal, "tierlm eval --calibrate\n\nfloor 100%");
    let lines: Vec<&str> = toml.lines().collect();
    assert_eq!(lines[0], "# tierlm eval --calibrate");
    assert_eq!(lines[1], "#");
    assert_eq!(lines[2], "# floor 100%");
    assert!(lines[3].starts_with("# quality vs cloud 100.0%"), "{toml}");
    assert_eq!(lines[4], "[router.thresholds]");
    assert_eq!(lines[5], "easy = 0.515");
    assert_eq!(lines[6], "hard = 1.0");
    assert_eq!(toml_key("a b\"c"), "\"a b\\\"c\"");
    assert_eq!(toml_key("sms_spam-2"), "sms_spam-2");
    assert_eq!(toml_float(0.0), "0.0");
}

fn arb_item() -> impl Strategy<Value = (usize, u32, bool, bool, u32)> {
    (0usize..3, 0u32..=100, any::<bool>(), any::<bool>(), 1u32..5)
}

proptest! {
    #[test]
    fn calibration_respects_the_floor_and_never_costs_more(
        items in proptest::collection::vec(arb_item(), 1..40),
        floor in 0.5f64..1.0,
    ) {
        let w: Vec<Scored> = items
            .iter()
            .enumerate()
            .map(|(i, &(p, conf, lq, cq, cost))| {
                cascaded(
                    &format!("i{i}"),
                    ["p0", "p1", "p2"][p],
                    f64::from(conf) / 100.0,
                    f64::from(u8::from(lq)),
                    f64::from(u8::from(cq)),
                    f64::from(cost) / 1000.0,
                    false,
                )
            })
            .collect();
        let cal = calibrate(&w, floor);
        let never = simulate(&w, &Thresholds::global(NEVER_LOCAL));
        prop_assert!(cal.summary.overall.cost_usd <= never.overall.cost_usd + 1e-12);
        if cal.feasible {
            prop_assert!(cal.summary.overall.quality_vs_cloud >= floor - 1e-9);
        } else {
            prop_assert_eq!(cal.summary.overall.local_share, 0.0);
        }
        // The TOML values parse back to the thresholds used.
        let toml = thresholds_toml(&cal, "x");
        for (p, t) in &cal.thresholds {
            let line = toml.lines().find(|l| l.starts_with(&format!("{p} = "))).unwrap();
            let v: f64 = line.split(" = ").nth(1).unwrap().parse().unwrap();
            prop_assert_eq!(v, *t);
        }
    }
}

#[test]
fn tiers_get_a_gate_each() {
    use crate::testutil::two_tiers;
    // The small tier is right when it is sure (>= 0.7); the big one is right from 0.6;
    // below that both are wrong.
    let w = vec![
        two_tiers("a", "t", (0.9, 1.0), (0.9, 1.0), 1.0, 0.01, Some(0)),
        two_tiers("b", "t", (0.75, 1.0), (0.9, 1.0), 1.0, 0.01, Some(0)),
        two_tiers("c", "t", (0.5, 0.0), (0.8, 1.0), 1.0, 0.01, Some(1)),
        two_tiers("d", "t", (0.4, 0.0), (0.65, 1.0), 1.0, 0.01, Some(1)),
        two_tiers("e", "t", (0.3, 0.0), (0.2, 0.0), 1.0, 0.01, None),
    ];
    let cal = calibrate(&w, 1.0);
    assert!(cal.feasible);
    let small = cal.thresholds["t/small"];
    let big = cal.thresholds["t/big"];
    assert!(small > 0.5 && small <= 0.75, "{small}");
    assert!(big > 0.2 && big <= 0.65, "{big}");
    assert!(!cal.thresholds.contains_key("t"));
    let s = &cal.summary;
    assert!((s.overall.quality_vs_cloud - 1.0).abs() < 1e-12);
    assert!((s.overall.local_share - 0.8).abs() < 1e-12);
    assert!((s.overall.local_by_tier["small"] - 0.4).abs() < 1e-12);
    // A floor of 0.8 lets one wrong answer stay local (the cheapest: no tier).
    let loose = calibrate(&w, 0.8);
    assert!((loose.summary.overall.local_share - 1.0).abs() < 1e-12);
    assert!(loose.summary.overall.quality_vs_cloud >= 0.8 - 1e-12);
}
