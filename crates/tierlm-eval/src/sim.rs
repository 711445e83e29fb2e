//! Routing simulation: given scored observations and a set of cascade
//! thresholds, the outcome the router *would* have produced, summed into a
//! [`Summary`] (overall and per task), and a threshold sweep ([`curve`]).
//!
//! Only cascaded items (routed `x-tierlm-reason` starts with `cascade_`)
//! depend on thresholds: such an item is served local iff the forced-local
//! pass's confidence is at least the threshold of its profile (the routed
//! `x-tierlm-profile`), scoring the local answer at the local cost; otherwise
//! it escalates, scoring the cloud answer at local + cloud cost. A cascaded
//! item whose profile has no threshold follows the routed run. Every other
//! item (classifier or hint decisions) keeps its routed answer, score and
//! cost. The all-cloud and all-local baselines are the forced passes.
//!
//! Ratios (`quality_vs_cloud`, `cost_vs_cloud`) are `a / b`; when `b` is 0
//! they are 1 if `a` is 0 too, else infinite. A quality mean over no scored
//! items is NaN. Both serialise to JSON `null`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::score::Scored;

/// Default number of steps of [`curve`] (21 points).
pub const DEFAULT_CURVE_STEPS: usize = 20;

/// Cascade thresholds: one per profile, or one `global` value for all
/// cascaded items (it overrides `per_profile` when set).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    #[serde(default)]
    pub per_profile: BTreeMap<String, f64>,
    #[serde(default)]
    pub global: Option<f64>,
}

impl Thresholds {
    /// Per-profile thresholds (e.g. the server's `[router.thresholds]`).
    pub fn per_profile(map: BTreeMap<String, f64>) -> Self {
        Self {
            per_profile: map,
            global: None,
        }
    }

    /// One threshold for every cascaded item.
    pub fn global(threshold: f64) -> Self {
        Self {
            per_profile: BTreeMap::new(),
            global: Some(threshold),
        }
    }

    /// The threshold applying to `profile`, if any.
    pub fn for_profile(&self, profile: Option<&str>) -> Option<f64> {
        self.global
            .or_else(|| profile.and_then(|p| self.per_profile.get(p).copied()))
    }
}

/// What the router would have done with one item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// Served by the local model.
    pub local: bool,
    /// Whether the item went through the confidence cascade.
    pub cascaded: bool,
    /// Score of the answer served (`None`: not scorable).
    pub quality: Option<f64>,
    pub cost_usd: f64,
}

/// The simulated outcome of one scored observation under `thresholds`.
pub fn outcome(s: &Scored, thresholds: &Thresholds) -> Outcome {
    let routed = &s.obs.routed;
    if !routed.is_cascaded() {
        return Outcome {
            local: routed.is_local(),
            cascaded: false,
            quality: s.routed,
            cost_usd: routed.cost_usd,
        };
    }
    let local_pass = &s.obs.local;
    let local = match thresholds.for_profile(routed.profile.as_deref()) {
        Some(t) => local_pass.error.is_none() && local_pass.confidence.is_some_and(|c| c >= t),
        None => routed.is_local(),
    };
    if local {
        Outcome {
            local: true,
            cascaded: true,
            quality: s.local,
            cost_usd: local_pass.cost_usd,
        }
    } else {
        Outcome {
            local: false,
            cascaded: true,
            quality: s.cloud,
            cost_usd: local_pass.cost_usd + s.obs.cloud.cost_usd,
        }
    }
}

/// The figures of a simulated group of items (the whole workload or one
/// task).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Items simulated.
    pub requests: usize,
    /// Share of items served by the local model.
    pub local_share: f64,
    /// Mean score of the answers served (scored items only).
    pub quality: f64,
    /// Mean score of the forced-cloud answers.
    pub quality_cloud: f64,
    /// Mean score of the forced-local answers.
    pub quality_local: f64,
    /// `quality / quality_cloud`.
    pub quality_vs_cloud: f64,
    /// Total cost of the answers served.
    pub cost_usd: f64,
    /// Total cost of the forced-cloud pass.
    pub cost_cloud_usd: f64,
    /// Total cost of the forced-local pass.
    pub cost_local_usd: f64,
    /// `cost_usd / cost_cloud_usd`.
    pub cost_vs_cloud: f64,
    /// Share of items whose routed `x-tierlm-class` equals the item's class
    /// (a missing class counts as wrong).
    pub routing_accuracy: f64,
    /// Items whose routed call failed.
    pub errors: usize,
    /// Items left out of quality means (some answer not scorable, e.g.
    /// pass@1 without `python3`).
    pub unscored: usize,
    /// Items decided by the confidence cascade.
    pub cascaded: usize,
    /// Cascaded, non-failed items whose simulated route differs from the
    /// routed run. With the thresholds the server ran with this should be 0;
    /// with other thresholds it counts the changed decisions.
    pub consistency_mismatches: usize,
}

/// One task's share of a [`Summary`]: its metric and its [`Figures`]
/// (serialised side by side in one object).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskSummary {
    pub metric: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// The simulated workload under one set of thresholds: the [`Figures`] of
/// all items (serialised at top level) and those of each task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub overall: Figures,
    pub per_task: BTreeMap<String, TaskSummary>,
}

/// Running totals for one group of items.
#[derive(Debug, Default, Clone)]
struct Acc {
    requests: usize,
    local: usize,
    scored: usize,
    quality: f64,
    quality_cloud: f64,
    quality_local: f64,
    cost: f64,
    cost_cloud: f64,
    cost_local: f64,
    class_ok: usize,
    errors: usize,
    unscored: usize,
    cascaded: usize,
    mismatches: usize,
}

/// `a / b` with the zero-denominator rule of the module docs.
pub fn ratio(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if b > 0.0 {
        a / b
    } else if a <= 0.0 {
        1.0
    } else {
        f64::INFINITY
    }
}

fn share(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 / of as f64
    }
}

/// `sum / n`, NaN for no items.
pub fn mean(sum: f64, n: usize) -> f64 {
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

impl Acc {
    fn add(&mut self, s: &Scored, out: &Outcome) {
        let obs = &s.obs;
        self.requests += 1;
        self.local += usize::from(out.local);
        self.cost += out.cost_usd;
        self.cost_cloud += obs.cloud.cost_usd;
        self.cost_local += obs.local.cost_usd;
        self.class_ok += usize::from(obs.routed.class.as_deref() == Some(obs.item.class.as_str()));
        self.errors += usize::from(obs.routed.error.is_some());
        self.cascaded += usize::from(out.cascaded);
        let changed = out.local != obs.routed.is_local();
        self.mismatches += usize::from(out.cascaded && obs.routed.error.is_none() && changed);
        match (out.quality, s.cloud, s.local) {
            (Some(q), Some(c), Some(l)) if !s.is_unscored() => {
                self.scored += 1;
                self.quality += q;
                self.quality_cloud += c;
                self.quality_local += l;
            }
            _ => self.unscored += 1,
        }
    }

    fn figures(&self) -> Figures {
        let quality = mean(self.quality, self.scored);
        let quality_cloud = mean(self.quality_cloud, self.scored);
        Figures {
            requests: self.requests,
            local_share: share(self.local, self.requests),
            quality,
            quality_cloud,
            quality_local: mean(self.quality_local, self.scored),
            quality_vs_cloud: ratio(quality, quality_cloud),
            cost_usd: self.cost,
            cost_cloud_usd: self.cost_cloud,
            cost_local_usd: self.cost_local,
            cost_vs_cloud: ratio(self.cost, self.cost_cloud),
            routing_accuracy: share(self.class_ok, self.requests),
            errors: self.errors,
            unscored: self.unscored,
            cascaded: self.cascaded,
            consistency_mismatches: self.mismatches,
        }
    }
}

/// Simulates every item under `thresholds`.
pub fn simulate(scored: &[Scored], thresholds: &Thresholds) -> Summary {
    let mut all = Acc::default();
    let mut tasks: BTreeMap<String, (String, Acc)> = BTreeMap::new();
    for s in scored {
        let out = outcome(s, thresholds);
        all.add(s, &out);
        let item = &s.obs.item;
        tasks
            .entry(item.task.clone())
            .or_insert_with(|| (item.metric.as_str().to_string(), Acc::default()))
            .1
            .add(s, &out);
    }
    Summary {
        overall: all.figures(),
        per_task: tasks
            .into_iter()
            .map(|(task, (metric, acc))| {
                (
                    task,
                    TaskSummary {
                        metric,
                        figures: acc.figures(),
                    },
                )
            })
            .collect(),
    }
}

/// One point of the global-threshold sweep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub threshold: f64,
    pub local_share: f64,
    pub quality_vs_cloud: f64,
    pub cost_vs_cloud: f64,
}

/// Sweeps one global threshold over all cascaded items from 0.0 to 1.0 in
/// `steps` equal steps (`steps + 1` points; 0 is treated as 1).
pub fn curve(scored: &[Scored], steps: usize) -> Vec<CurvePoint> {
    let steps = steps.max(1);
    (0..=steps)
        .map(|i| {
            let threshold = i as f64 / steps as f64;
            let s = simulate(scored, &Thresholds::global(threshold));
            CurvePoint {
                threshold,
                local_share: s.overall.local_share,
                quality_vs_cloud: s.overall.quality_vs_cloud,
                cost_vs_cloud: s.overall.cost_vs_cloud,
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "sim_tests.rs"]
mod tests;
