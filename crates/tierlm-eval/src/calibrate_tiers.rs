//! Calibration of a profile that climbs several local tiers: one threshold per tier.
//!
//! With one tier the candidate thresholds form a line (see [`crate::calibrate`]);
//! with several they form a grid. Every combination of candidate thresholds (each
//! tier's distinct observed confidences, thinned to at most [`MAX_CANDIDATES`] by
//! even spacing, plus 0 and "never") is evaluated on the profile's items: an item is
//! served by the first tier whose confidence reaches its threshold, else by the
//! cloud. For each number of locally served items the combination with the highest
//! quality (then the lowest cost, then the fewest tiers climbed: the fastest) is kept; that frontier, ordered by local count, is
//! the profile's table of steps for the same greedy that calibrates single tiers.
//! Each chosen threshold is rounded like a single tier's: the midpoint between it and
//! the tier's next lower observed confidence, so no decision on the observed data
//! changes.

use std::collections::BTreeMap;

use crate::calibrate::{rounded_gate, Step, NEVER_LOCAL};
use crate::score::Scored;

/// At most this many candidate thresholds per tier (the grid grows as its power).
pub const MAX_CANDIDATES: usize = 48;

/// One item's answers as the grid search needs them.
struct Row {
    /// Per tier: the confidence when the tier answered without error.
    conf: Vec<Option<f64>>,
    /// Per tier: the score of its answer (0 when unscored).
    quality: Vec<f64>,
    /// Per tier: the cost of climbing up to and including it.
    cost: Vec<f64>,
    /// Per tier: how deep the climb went (its index), the latency tie-break.
    depth: Vec<usize>,
    cloud_q: f64,
    cloud_cost: f64,
    /// Kept on the premises: when no tier passes, the most confident one answers
    /// (`fallback`) instead of the cloud.
    fallback: Option<usize>,
}

/// The frontier of one multi-tier profile.
pub(crate) struct TierTable {
    /// The tiers' models, cheapest first.
    pub models: Vec<String>,
    pub steps: Vec<Step>,
    /// Per step, one threshold per tier.
    pub vectors: Vec<Vec<f64>>,
    /// Per tier, the distinct observed confidences, highest first.
    observed: Vec<Vec<f64>>,
}

fn candidates(observed: &[f64]) -> Vec<f64> {
    let mut out = vec![NEVER_LOCAL];
    let stride = observed.len().div_ceil(MAX_CANDIDATES).max(1);
    out.extend(observed.iter().step_by(stride).copied());
    out.push(0.0);
    out.dedup();
    out
}

/// The frontier table of a profile whose items climb `k` tiers.
pub(crate) fn tier_table(items: &[&Scored], k: usize) -> TierTable {
    let rows: Vec<Row> = items
        .iter()
        .map(|s| {
            let answers = s.obs.tier_answers();
            let scored = !s.is_unscored();
            let mut cost = 0.0;
            let mut row = Row {
                conf: Vec::with_capacity(k),
                quality: Vec::with_capacity(k),
                cost: Vec::with_capacity(k),
                depth: (0..k).collect(),
                cloud_q: if scored { s.cloud.unwrap_or(0.0) } else { 0.0 },
                cloud_cost: s.obs.cloud.cost_usd,
                fallback: None,
            };
            for i in 0..k {
                let a = answers.get(i);
                cost += a.map_or(0.0, |a| a.cost_usd);
                row.conf
                    .push(a.filter(|a| a.error.is_none()).and_then(|a| a.confidence));
                let q = s.tiers.get(i).copied().flatten().unwrap_or(0.0);
                row.quality.push(if scored { q } else { 0.0 });
                row.cost.push(cost);
            }
            row.cloud_cost += cost;
            if s.obs.kept() {
                if let Some(i) = s.obs.most_confident_tier().filter(|&i| i < k) {
                    row.fallback = Some(i);
                    row.cloud_q = row.quality[i];
                    row.cloud_cost = cost;
                }
            }
            row
        })
        .collect();
    let models: Vec<String> = (0..k)
        .map(|i| {
            items
                .iter()
                .find_map(|s| s.obs.tier_answers().get(i).and_then(|a| a.model.clone()))
                .unwrap_or_else(|| format!("tier{i}"))
        })
        .collect();
    let observed: Vec<Vec<f64>> = (0..k)
        .map(|i| {
            let mut v: Vec<f64> = rows.iter().filter_map(|r| r.conf[i]).collect();
            v.sort_by(|a, b| b.total_cmp(a));
            v.dedup();
            v
        })
        .collect();
    let grids: Vec<Vec<f64>> = observed.iter().map(|o| candidates(o)).collect();
    // For each local count: (quality, cost, depth, thresholds).
    let mut best: BTreeMap<usize, (f64, f64, usize, Vec<f64>)> = BTreeMap::new();
    let mut at = vec![0usize; k];
    loop {
        let t: Vec<f64> = at.iter().zip(&grids).map(|(&j, g)| g[j]).collect();
        let (mut quality, mut cost, mut local, mut depth) = (0.0, 0.0, 0usize, 0usize);
        for r in &rows {
            match (0..k).find(|&i| r.conf[i].is_some_and(|c| c >= t[i])) {
                Some(i) => {
                    quality += r.quality[i];
                    cost += r.cost[i];
                    local += 1;
                    depth += r.depth[i];
                }
                None => {
                    quality += r.cloud_q;
                    cost += r.cloud_cost;
                    if r.fallback.is_some() {
                        local += 1;
                        depth += k;
                    }
                }
            }
        }
        let better = best.get(&local).is_none_or(|(q, c, d, _)| {
            quality
                .total_cmp(q)
                .then(c.total_cmp(&cost))
                .then(d.cmp(&depth))
                .is_gt()
        });
        if better {
            best.insert(local, (quality, cost, depth, t));
        }
        // The next combination (an odometer over the grids).
        let mut d = 0;
        while d < k {
            at[d] += 1;
            if at[d] < grids[d].len() {
                break;
            }
            at[d] = 0;
            d += 1;
        }
        if d == k {
            break;
        }
    }
    let mut steps = Vec::with_capacity(best.len());
    let mut vectors = Vec::with_capacity(best.len());
    for (local, (quality, cost, _, t)) in best {
        steps.push(Step {
            threshold: f64::NAN,
            quality,
            cost,
            local,
        });
        vectors.push(t);
    }
    TierTable {
        models,
        steps,
        vectors,
        observed,
    }
}

impl TierTable {
    /// `PROFILE/MODEL = threshold` for every tier at step `index`, rounded.
    pub fn thresholds(&self, profile: &str, index: usize) -> Vec<(String, f64)> {
        self.vectors[index]
            .iter()
            .enumerate()
            .map(|(i, &chosen)| {
                let below = self.observed[i].iter().copied().find(|&c| c < chosen);
                let key = format!("{profile}/{}", self.models[i]);
                (key, rounded_gate(chosen, below))
            })
            .collect()
    }
}
