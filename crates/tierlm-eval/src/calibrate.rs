//! Threshold calibration: per-profile cascade thresholds that minimise total
//! cost while the simulated `quality_vs_cloud` stays at or above a floor.
//!
//! For each profile with cascaded items the candidate thresholds are the
//! distinct observed local confidences, plus 0 (always local) and
//! [`NEVER_LOCAL`]. The greedy starts with every profile at "never local"
//! (everything escalates: the highest quality) and repeatedly applies the
//! move (one profile to a lower candidate) that saves the most cost per unit
//! of quality lost (a move losing nothing counts as infinitely efficient)
//! while quality stays at or above the floor; ties go to the larger saving,
//! then the larger gain in local items, then the profile name, then the
//! higher threshold. It stops when no move is feasible. Each profile's table
//! of (quality, cost) per candidate is built once, so a move costs O(1).
//!
//! Requests the data policy keeps on the premises (they climb the local tiers with
//! no cloud at the end) are not the router's to send out: their profile gets the
//! gates with the best quality on them, and the floor applies to the other
//! requests (the ones the router decides), so a policy cannot make the floor
//! unreachable for the rest.
//!
//! A profile whose items climb several local tiers gets one threshold per tier
//! (`"PROFILE/MODEL"`, as the router reads them), from a grid search over the
//! tiers' candidates ([`crate::calibrate_tiers`]); its frontier joins the same
//! greedy.
//!
//! Output thresholds are rounded without changing any decision on the
//! observed data: the midpoint between the chosen confidence and the next
//! lower candidate, written with the fewest decimals (at least 4) that stay
//! strictly above the lower candidate and at most the chosen one. "Never
//! local" is written as 1.0 unless a confidence of exactly 1.0 was observed.

use std::collections::BTreeMap;

use crate::calibrate_tiers::{tier_table, TierTable};
use crate::score::Scored;
use crate::sim::{outcome, ratio, simulate, Summary, Thresholds};

/// The candidate meaning "never serve this profile locally".
pub const NEVER_LOCAL: f64 = 1.000_000_1;

/// The calibrated thresholds and the simulated workload under them.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// Per profile, rounded (see the module docs).
    pub thresholds: BTreeMap<String, f64>,
    /// [`simulate`] under `thresholds`.
    pub summary: Summary,
    /// The floor the calibration was asked to keep.
    pub quality_floor: f64,
    /// False when even "everything escalates" is below the floor (the
    /// thresholds are then all "never local").
    pub feasible: bool,
    /// Requests kept on the premises by policy, left out of the floor.
    pub kept: usize,
    /// `quality_vs_cloud` of the other requests (what the floor is kept on).
    pub routed_quality_vs_cloud: f64,
}

/// One candidate threshold of a profile and what the profile contributes
/// with it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    /// The threshold (NaN for a multi-tier step: see [`TierTable`]).
    pub threshold: f64,
    pub quality: f64,
    pub cost: f64,
    pub local: usize,
}

/// The contributions of one item served local and escalated.
struct Sides {
    conf: Option<f64>,
    scored: bool,
    local_q: f64,
    local_cost: f64,
    esc_q: f64,
    esc_cost: f64,
}

/// Candidate steps of one profile, from "never local" down to 0.
fn steps_of(items: &[&Scored]) -> Vec<Step> {
    let always = Thresholds::global(f64::NEG_INFINITY);
    let never = Thresholds::global(f64::INFINITY);
    let mut sides: Vec<Sides> = items
        .iter()
        .map(|s| {
            let loc = outcome(s, &always);
            let esc = outcome(s, &never);
            Sides {
                conf: if loc.local {
                    s.obs.local.confidence
                } else {
                    None
                },
                scored: !s.is_unscored(),
                local_q: loc.quality.unwrap_or(0.0),
                local_cost: loc.cost_usd,
                esc_q: esc.quality.unwrap_or(0.0),
                esc_cost: esc.cost_usd,
            }
        })
        .collect();
    sides.sort_by(|a, b| b.conf.unwrap_or(-1.0).total_cmp(&a.conf.unwrap_or(-1.0)));
    let mut candidates: Vec<f64> = sides.iter().filter_map(|s| s.conf).collect();
    candidates.push(0.0);
    candidates.retain(|c| *c < NEVER_LOCAL);
    candidates.dedup();
    let q = |s: &Sides, v: f64| if s.scored { v } else { 0.0 };
    let mut step = Step {
        threshold: NEVER_LOCAL,
        quality: sides.iter().map(|s| q(s, s.esc_q)).sum(),
        cost: sides.iter().map(|s| s.esc_cost).sum(),
        local: 0,
    };
    let mut out = vec![step];
    let mut next = 0;
    for c in candidates {
        while let Some(s) = sides.get(next).filter(|s| s.conf.is_some_and(|x| x >= c)) {
            step.quality += q(s, s.local_q) - q(s, s.esc_q);
            step.cost += s.local_cost - s.esc_cost;
            step.local += 1;
            next += 1;
        }
        step.threshold = c;
        out.push(step);
    }
    out
}

/// The fewest-decimals value in `(below, chosen]` near `target`.
fn round_into(target: f64, chosen: f64, below: Option<f64>) -> f64 {
    let fits = |v: f64| v <= chosen && below.is_none_or(|b| v > b);
    for decimals in 4..=16 {
        let scale = 10f64.powi(decimals);
        for v in [
            (target * scale).round() / scale,
            (chosen * scale).floor() / scale,
        ] {
            let text = format!("{v:.prec$}", prec = decimals as usize);
            if let Ok(parsed) = text.parse::<f64>() {
                if fits(parsed) {
                    return parsed;
                }
            }
        }
    }
    chosen
}

/// The output threshold for `steps[index]` (see the module docs).
fn output_threshold(steps: &[Step], index: usize) -> f64 {
    rounded_gate(
        steps[index].threshold,
        steps.get(index + 1).map(|s| s.threshold),
    )
}

/// A chosen gate written out: the midpoint between it and the next lower candidate
/// `below`, rounded without crossing either (see the module docs).
pub(crate) fn rounded_gate(chosen: f64, below: Option<f64>) -> f64 {
    let target = match below {
        Some(b) if chosen < NEVER_LOCAL => (chosen + b) / 2.0,
        _ => chosen,
    };
    round_into(target, chosen, below)
}

/// The best feasible move `(table, step)` from the current steps `at` (see
/// the module docs for the order), or `None` when no move is feasible.
fn best_move(
    tables: &[(String, Vec<Step>)],
    at: &[usize],
    quality: f64,
    ok: &dyn Fn(f64) -> bool,
) -> Option<(usize, usize)> {
    // (efficiency, saving, local gain, table, step)
    let mut best: Option<(f64, f64, usize, usize, usize)> = None;
    for (ti, (_, table)) in tables.iter().enumerate() {
        let cur = table[at[ti]];
        for (k, step) in table.iter().enumerate().skip(at[ti] + 1) {
            let new_q = quality - cur.quality + step.quality;
            let saving = cur.cost - step.cost;
            let gain = step.local.saturating_sub(cur.local);
            if gain == 0 || saving < 0.0 || !ok(new_q) {
                continue;
            }
            let loss = quality - new_q;
            let eff = if loss <= 1e-12 {
                f64::INFINITY
            } else {
                saving / loss
            };
            let better = best.is_none_or(|(be, bs, bg, _, _)| {
                eff.total_cmp(&be)
                    .then(saving.total_cmp(&bs))
                    .then(gain.cmp(&bg))
                    .is_gt()
            });
            if better {
                best = Some((eff, saving, gain, ti, k));
            }
        }
    }
    best.map(|(_, _, _, ti, k)| (ti, k))
}

/// Calibrates per-profile thresholds; `quality_floor` is the minimum
/// `quality_vs_cloud` (e.g. 0.95).
pub fn calibrate(scored: &[Scored], quality_floor: f64) -> Calibration {
    let mut groups: BTreeMap<String, Vec<&Scored>> = BTreeMap::new();
    let mut kept: BTreeMap<String, Vec<&Scored>> = BTreeMap::new();
    let mut fixed_q = 0.0;
    let mut cloud_q = 0.0;
    let mut n_scored = 0usize;
    let follow = Thresholds::default();
    for s in scored {
        // Requests kept on the premises by policy are not the router's to send out:
        // their gates are the most accurate ones, and the floor is kept on the rest.
        if let (Some(p), true) = (&s.obs.routed.profile, s.obs.kept() && s.obs.climbs()) {
            kept.entry(p.clone()).or_default().push(s);
            continue;
        }
        if !s.is_unscored() {
            n_scored += 1;
            cloud_q += s.cloud.unwrap_or(0.0);
        }
        match (&s.obs.routed.profile, s.obs.climbs()) {
            (Some(p), true) => groups.entry(p.clone()).or_default().push(s),
            _ => {
                let out = outcome(s, &follow);
                if !s.is_unscored() {
                    fixed_q += out.quality.unwrap_or(0.0);
                }
            }
        }
    }
    let mut grids: BTreeMap<String, TierTable> = BTreeMap::new();
    let tables: Vec<(String, Vec<Step>)> = groups
        .into_iter()
        .map(|(p, items)| {
            let k = items
                .iter()
                .map(|s| s.obs.tier_answers().len())
                .max()
                .unwrap_or(1);
            if k == 1 {
                return (p, steps_of(&items));
            }
            let table = tier_table(&items, k);
            let steps = table.steps.clone();
            grids.insert(p.clone(), table);
            (p, steps)
        })
        .collect();
    let n = n_scored as f64;
    let vs_cloud = |q: f64| {
        if n_scored == 0 {
            f64::NAN
        } else {
            ratio(q / n, cloud_q / n)
        }
    };
    let ok = |q: f64| vs_cloud(q) >= quality_floor - 1e-12;
    let mut at = vec![0usize; tables.len()];
    let mut quality = fixed_q + tables.iter().map(|(_, t)| t[0].quality).sum::<f64>();
    let feasible = ok(quality);
    if feasible {
        while let Some((ti, k)) = best_move(&tables, &at, quality, &ok) {
            quality += tables[ti].1[k].quality - tables[ti].1[at[ti]].quality;
            at[ti] = k;
        }
    }
    let mut thresholds: BTreeMap<String, f64> = BTreeMap::new();
    for (p, items) in &kept {
        let k = items
            .iter()
            .map(|s| s.obs.tier_answers().len())
            .max()
            .unwrap_or(1);
        let table = tier_table(items, k);
        // The best quality, then the fewest tiers climbed (the table's order).
        let best = (0..table.steps.len()).fold(0, |b, i| {
            if table.steps[i].quality > table.steps[b].quality + 1e-12 {
                i
            } else {
                b
            }
        });
        thresholds.extend(table.thresholds(p, best));
    }
    thresholds.extend(
        tables
            .iter()
            .zip(&at)
            .flat_map(|((p, table), &i)| match grids.get(p) {
                Some(grid) => grid.thresholds(p, i),
                None => vec![(p.clone(), output_threshold(table, i))],
            }),
    );
    let chosen = Thresholds::per_profile(thresholds.clone());
    let summary = simulate(scored, &chosen);
    let routed: Vec<Scored> = scored
        .iter()
        .filter(|s| !(s.obs.kept() && s.obs.climbs()))
        .cloned()
        .collect();
    Calibration {
        thresholds,
        quality_floor,
        feasible,
        kept: scored.len() - routed.len(),
        routed_quality_vs_cloud: simulate(&routed, &chosen).overall.quality_vs_cloud,
        summary,
    }
}

fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_string()
    } else {
        format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn toml_float(v: f64) -> String {
    let text = format!("{v}");
    if text.contains('.') || !v.is_finite() {
        text
    } else {
        format!("{text}.0")
    }
}

/// The calibrated thresholds as a TOML snippet: `note` (one `# ` comment per
/// line), the resulting operating point, then `[router.thresholds]`.
pub fn thresholds_toml(cal: &Calibration, note: &str) -> String {
    let mut out = String::new();
    for line in note.lines() {
        out.push_str(&format!("# {line}\n").replace("# \n", "#\n"));
    }
    let s = &cal.summary;
    if cal.kept > 0 {
        out.push_str(&format!(
            "# {} requests kept local by policy; on the others quality vs cloud {:.1}% (floor {:.1}%)\n",
            cal.kept,
            cal.routed_quality_vs_cloud * 100.0,
            cal.quality_floor * 100.0,
        ));
    }
    out.push_str(&format!(
        "# quality vs cloud {:.1}% (floor {:.1}%), cost vs cloud {:.1}%, local share {:.1}%{}\n",
        s.overall.quality_vs_cloud * 100.0,
        cal.quality_floor * 100.0,
        s.overall.cost_vs_cloud * 100.0,
        s.overall.local_share * 100.0,
        if cal.feasible {
            ""
        } else {
            " (floor not reachable: all escalate)"
        }
    ));
    out.push_str("[router.thresholds]\n");
    for (profile, t) in &cal.thresholds {
        out.push_str(&format!("{} = {}\n", toml_key(profile), toml_float(*t)));
    }
    out
}

#[cfg(test)]
#[path = "calibrate_tests.rs"]
mod tests;
