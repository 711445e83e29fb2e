//! Routing simulation: given scored observations and a set of cascade
//! thresholds, the outcome the router *would* have produced, summed into a
//! [`Summary`] (overall and per task), and a threshold sweep ([`curve`]).
//!
//! Only items that climbed (see [`crate::Observation::climbs`]: cascades, and
//! requests kept on the premises that climb several tiers) depend on thresholds:
//! such an item climbs its forced tier answers cheapest first and is served by the
//! first whose confidence reaches that tier's threshold ([`Thresholds::for_tier`];
//! the routed `x-tierlm-profile` picks the profile), scoring that tier's answer at
//! the cost of the tiers tried; when none does it escalates, scoring the cloud
//! answer at the tiers' cost plus the cloud's (a kept item takes its most confident
//! tier's answer instead, as the gateway does). Its latency is the sum of the
//! latencies of what it tried. A tier with no threshold follows the routed run.
//! Every other item (classifier, policy or hint decisions) keeps its routed
//! answer, score, cost and latency. The all-cloud and all-local baselines are the
//! forced passes (all-local: the cheapest tier). Deadlines are not simulated: a
//! tier the routed run skipped for time is still climbed here.
//!
//! Ratios (`quality_vs_cloud`, `cost_vs_cloud`) are `a / b`; when `b` is 0
//! they are 1 if `a` is 0 too, else infinite. A quality mean over no scored
//! items is NaN. Both serialise to JSON `null`. `quality_vs_cloud_ci95` is a
//! percentile bootstrap over the items (1,000 resamples, a fixed seed).

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

    /// The gate of one tier, as the router reads `[router.thresholds]`: the
    /// `global` value, else `"PROFILE/MODEL"`, else `"PROFILE"`.
    pub fn for_tier(&self, profile: Option<&str>, model: Option<&str>) -> Option<f64> {
        let own = match (profile, model) {
            (Some(p), Some(m)) => self.per_profile.get(&format!("{p}/{m}")).copied(),
            _ => None,
        };
        self.global.or(own).or_else(|| self.for_profile(profile))
    }
}

/// What the router would have done with one item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// Served locally (by a tier).
    pub local: bool,
    /// Decided by the cascade (depends on thresholds).
    pub cascaded: bool,
    /// The served answer's score (`None` = not scorable).
    pub quality: Option<f64>,
    /// What the route cost: the tiers tried, plus the cloud on escalation.
    pub cost_usd: f64,
    /// The tier that answered (index in [`crate::Observation::tier_answers`]).
    pub tier: Option<usize>,
    /// End to end: the tiers tried, plus the cloud on escalation.
    pub latency_ms: f64,
}

/// The outcome of one scored observation under `thresholds`.
pub fn outcome(s: &Scored, thresholds: &Thresholds) -> Outcome {
    let routed = &s.obs.routed;
    if !s.obs.climbs() {
        return Outcome {
            local: routed.is_local(),
            cascaded: false,
            quality: s.routed,
            cost_usd: routed.cost_usd,
            tier: s.obs.routed_tier(),
            latency_ms: routed.latency_ms,
        };
    }
    let profile = routed.profile.as_deref();
    let followed = s.obs.routed_tier();
    let mut cost = 0.0;
    let mut latency = 0.0;
    let answers = s.obs.tier_answers();
    let served_by = |i: usize, cost_usd: f64, latency_ms: f64| Outcome {
        local: true,
        cascaded: true,
        quality: s.tiers.get(i).copied().flatten(),
        cost_usd,
        tier: Some(i),
        latency_ms,
    };
    for (i, a) in answers.iter().enumerate() {
        cost += a.cost_usd;
        latency += a.latency_ms;
        let answers = match thresholds.for_tier(profile, a.model.as_deref()) {
            Some(t) => a.error.is_none() && a.confidence.is_some_and(|c| c >= t),
            None => followed == Some(i),
        };
        if answers {
            return served_by(i, cost, latency);
        }
    }
    if s.obs.kept() {
        // No cloud to go to: the most confident tier's answer.
        if let Some(i) = s.obs.most_confident_tier() {
            return served_by(i, cost, latency);
        }
    }
    Outcome {
        local: false,
        cascaded: true,
        quality: s.cloud,
        cost_usd: cost + s.obs.cloud.cost_usd,
        tier: None,
        latency_ms: latency + s.obs.cloud.latency_ms,
    }
}

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
    /// Share of items served by each local tier (by model).
    pub local_by_tier: BTreeMap<String, f64>,
    /// Mean score of each tier's forced answers (scored items only).
    pub quality_tiers: BTreeMap<String, f64>,
    /// 95% bootstrap interval of `quality_vs_cloud`.
    pub quality_vs_cloud_ci95: [f64; 2],
    /// Mean and 99th-percentile end-to-end latency of the simulated routes.
    pub latency_mean_ms: f64,
    pub latency_p99_ms: f64,
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
    /// The local tiers, cheapest first.
    pub tiers: Vec<String>,
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
    by_tier: BTreeMap<String, usize>,
    tier_quality: BTreeMap<String, (f64, usize)>,
    /// (served, all-cloud) score per scored item, for the bootstrap.
    pairs: Vec<(f64, f64)>,
    latencies: Vec<f64>,
}

/// A tier's name in reports: its model, or `local` when the answer does not say.
fn tier_name(a: &crate::observe::Answer) -> String {
    a.model.clone().unwrap_or_else(|| "local".to_string())
}

/// The 95% percentile-bootstrap interval of `sum(served) / sum(cloud)`.
pub fn bootstrap_ratio_ci(pairs: &[(f64, f64)]) -> [f64; 2] {
    const RESAMPLES: usize = 1_000;
    if pairs.is_empty() {
        return [f64::NAN, f64::NAN];
    }
    // splitmix64: a fixed seed, so a report is reproducible.
    let mut state = 0x5EED_2026_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let n = pairs.len();
    let mut ratios: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let (mut a, mut b) = (0.0, 0.0);
            for _ in 0..n {
                let (x, y) = pairs[(next() % n as u64) as usize];
                a += x;
                b += y;
            }
            ratio(a, b)
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    [
        ratios[RESAMPLES * 25 / 1000],
        ratios[RESAMPLES * 975 / 1000 - 1],
    ]
}

/// The `q`-quantile (nearest rank) of unsorted values; NaN when empty.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
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
        let changed = out.tier != obs.routed_tier();
        let answers = obs.tier_answers();
        if let Some(a) = out.tier.and_then(|i| answers.get(i)) {
            *self.by_tier.entry(tier_name(a)).or_default() += 1;
        }
        self.latencies.push(out.latency_ms);
        self.mismatches += usize::from(out.cascaded && obs.routed.error.is_none() && changed);
        match (out.quality, s.cloud, s.local) {
            (Some(q), Some(c), Some(l)) if !s.is_unscored() => {
                self.scored += 1;
                self.quality += q;
                self.quality_cloud += c;
                self.quality_local += l;
                self.pairs.push((q, c));
                for (a, q) in answers.iter().zip(&s.tiers) {
                    let t = self.tier_quality.entry(tier_name(a)).or_default();
                    t.0 += q.unwrap_or(0.0);
                    t.1 += 1;
                }
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
            local_by_tier: self
                .by_tier
                .iter()
                .map(|(t, n)| (t.clone(), share(*n, self.requests)))
                .collect(),
            quality_tiers: self
                .tier_quality
                .iter()
                .map(|(t, (sum, n))| (t.clone(), mean(*sum, *n)))
                .collect(),
            quality_vs_cloud_ci95: bootstrap_ratio_ci(&self.pairs),
            latency_mean_ms: mean(self.latencies.iter().sum(), self.latencies.len()),
            latency_p99_ms: quantile(&self.latencies, 0.99),
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
    let tiers = scored
        .iter()
        .map(|s| s.obs.tier_answers())
        .max_by_key(Vec::len)
        .map(|a| a.into_iter().map(tier_name).collect())
        .unwrap_or_default();
    Summary {
        tiers,
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
