//! Drift: is a student still seeing the traffic it learned from? Per task, over
//! rolling windows of recent requests, three signals are compared with thresholds:
//!
//! - **distance**: the cosine distance of each request's embedding to the training
//!   centroid, against the training set's own distances. Two views: the share of
//!   requests beyond the training p95 distance (5–10% when nothing moved: the p95
//!   is measured on the training set, which sits a little closer to its own
//!   centroid than fresh requests do; the alarm default is 25%), and the rolling mean distance over the training mean (alarm
//!   at 1.5×).
//! - **low confidence**: the share of student answers below the profile's
//!   threshold (the cascade escalates them; a rising share means the student is
//!   lost even when the topic words look alike).
//! - **shadow agreement**: the rolling share of sampled requests where student and
//!   teacher agreed, once the route is the student's.
//!
//! [`DriftMonitor::observe`] returns an alarm when a signal crosses its threshold
//! with at least `min_observations` in its window; a signal then stays quiet until
//! it has come back within its threshold, so one shift raises one alarm, not one
//! per request. What to do with an alarm (a metric, a log line, a demotion when
//! [`DriftConfig::demote`] is set) is the caller's.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::error::DistillError;

/// The training embeddings' spread around their centroid, for drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingDistribution {
    /// Unit-length mean direction of the training embeddings.
    pub centroid: Vec<f32>,
    pub count: usize,
    /// Cosine distance (1 − cos) of the training embeddings to the centroid.
    pub mean_distance: f32,
    pub p50_distance: f32,
    pub p95_distance: f32,
    pub p99_distance: f32,
}

/// Cosine distance `1 − cos(a, b)` (1 when either is zero).
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa <= 0.0 || bb <= 0.0 {
        return 1.0;
    }
    1.0 - ab / (aa.sqrt() * bb.sqrt())
}

fn quantile(sorted: &[f32], q: f64) -> f32 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

impl TrainingDistribution {
    /// The reference of a set of embeddings (non-empty, equal lengths).
    pub fn of(embeddings: &[Vec<f32>]) -> Result<Self, DistillError> {
        let dims = embeddings.first().map(Vec::len).unwrap_or(0);
        if dims == 0 {
            return Err(DistillError::Invalid("no embeddings to describe".into()));
        }
        let mut centroid = vec![0.0f32; dims];
        for e in embeddings {
            let norm = e.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            for (c, x) in centroid.iter_mut().zip(e) {
                *c += x / norm;
            }
        }
        let norm = centroid
            .iter()
            .map(|x| x * x)
            .sum::<f32>()
            .sqrt()
            .max(1e-12);
        centroid.iter_mut().for_each(|c| *c /= norm);
        let mut d: Vec<f32> = embeddings
            .iter()
            .map(|e| cosine_distance(e, &centroid))
            .collect();
        d.sort_by(f32::total_cmp);
        Ok(Self {
            count: d.len(),
            mean_distance: d.iter().sum::<f32>() / d.len() as f32,
            p50_distance: quantile(&d, 0.50),
            p95_distance: quantile(&d, 0.95),
            p99_distance: quantile(&d, 0.99),
            centroid,
        })
    }

    /// Cosine distance of `embedding` to the centroid.
    pub fn distance(&self, embedding: &[f32]) -> f32 {
        cosine_distance(embedding, &self.centroid)
    }
}

/// Thresholds and windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriftConfig {
    /// Requests in each rolling window.
    pub window: usize,
    /// Least observations in a window before it can alarm.
    pub min_observations: usize,
    /// Alarm when more than this share of requests lies beyond the training p95
    /// distance.
    pub max_far_share: Option<f64>,
    /// Alarm when the rolling mean distance exceeds the training mean by this factor.
    pub max_distance_ratio: Option<f64>,
    /// A student answer below this confidence counts as low.
    pub low_confidence: f64,
    /// Alarm when more than this share of answers is low-confidence.
    pub max_low_confidence_share: Option<f64>,
    /// Alarm when shadow agreement falls below this.
    pub min_shadow_agreement: Option<f64>,
    /// Whether an alarm should hand the route back to the teacher.
    pub demote: bool,
}

impl Default for DriftConfig {
    fn default() -> Self {
        Self {
            window: 200,
            min_observations: 50,
            max_far_share: Some(0.25),
            max_distance_ratio: Some(1.5),
            low_confidence: 0.6,
            max_low_confidence_share: Some(0.3),
            min_shadow_agreement: Some(0.9),
            demote: true,
        }
    }
}

/// Which signal crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftSignal {
    FarShare,
    DistanceRatio,
    LowConfidence,
    ShadowAgreement,
}

impl DriftSignal {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftSignal::FarShare => "far_share",
            DriftSignal::DistanceRatio => "distance_ratio",
            DriftSignal::LowConfidence => "low_confidence",
            DriftSignal::ShadowAgreement => "shadow_agreement",
        }
    }

    const ALL: [DriftSignal; 4] = [
        DriftSignal::FarShare,
        DriftSignal::DistanceRatio,
        DriftSignal::LowConfidence,
        DriftSignal::ShadowAgreement,
    ];
}

/// A signal crossed its threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftAlarm {
    pub task: String,
    pub signal: DriftSignal,
    pub value: f64,
    pub threshold: f64,
    /// Observations in the window.
    pub observations: usize,
}

impl std::fmt::Display for DriftAlarm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dir = if self.signal == DriftSignal::ShadowAgreement {
            "below"
        } else {
            "above"
        };
        write!(
            f,
            "drift on {}: {} {:.3} {dir} {:.3} over the last {} requests",
            self.task,
            self.signal.as_str(),
            self.value,
            self.threshold,
            self.observations
        )
    }
}

/// What one request says about drift; every part is optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observation<'a> {
    /// The request's embedding (same model as the student's).
    pub embedding: Option<&'a [f32]>,
    /// The student's confidence, when it answered.
    pub confidence: Option<f64>,
    /// Whether student and teacher agreed, on a shadow-sampled request.
    pub shadow_agreed: Option<bool>,
}

/// The current values, for metrics (NaN while a window is empty).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftStatus {
    pub mean_distance: f64,
    pub distance_ratio: f64,
    pub far_share: f64,
    pub low_confidence_share: f64,
    pub shadow_agreement: f64,
    pub observations: usize,
    /// Signals currently over their threshold.
    pub alarmed: Vec<DriftSignal>,
}

/// A window's values and their running sum.
#[derive(Debug, Clone)]
struct Rolling {
    values: VecDeque<f64>,
    sum: f64,
    cap: usize,
}

impl Rolling {
    fn new(cap: usize) -> Self {
        Self {
            values: VecDeque::with_capacity(cap),
            sum: 0.0,
            cap: cap.max(1),
        }
    }

    fn push(&mut self, v: f64) {
        if self.values.len() == self.cap {
            if let Some(old) = self.values.pop_front() {
                self.sum -= old;
            }
        }
        self.values.push_back(v);
        self.sum += v;
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    fn mean(&self) -> f64 {
        if self.values.is_empty() {
            f64::NAN
        } else {
            // Recomputed rather than the running sum's, which drifts over millions
            // of pushes; a window is a few hundred values.
            self.values.iter().sum::<f64>() / self.values.len() as f64
        }
    }
}

/// The drift monitor of one task's student.
#[derive(Debug, Clone)]
pub struct DriftMonitor {
    task: String,
    reference: TrainingDistribution,
    config: DriftConfig,
    distance: Rolling,
    far: Rolling,
    low: Rolling,
    shadow: Rolling,
    alarmed: [bool; 4],
    observations: u64,
}

impl DriftMonitor {
    pub fn new(task: &str, reference: TrainingDistribution, config: DriftConfig) -> Self {
        let w = config.window;
        Self {
            task: task.to_string(),
            reference,
            distance: Rolling::new(w),
            far: Rolling::new(w),
            low: Rolling::new(w),
            shadow: Rolling::new(w),
            config,
            alarmed: [false; 4],
            observations: 0,
        }
    }

    /// The monitor of a trained student, against its training distribution.
    pub fn for_student(student: &crate::student::LabelStudent, config: DriftConfig) -> Self {
        Self::new(&student.task, student.distribution.clone(), config)
    }

    pub fn task(&self) -> &str {
        &self.task
    }

    pub fn config(&self) -> &DriftConfig {
        &self.config
    }

    /// Counts one request; returns an alarm when a signal has just crossed.
    pub fn observe(&mut self, obs: Observation<'_>) -> Option<DriftAlarm> {
        self.observations += 1;
        if let Some(e) = obs.embedding {
            let d = self.reference.distance(e);
            if d.is_finite() {
                self.distance.push(f64::from(d));
                self.far
                    .push(f64::from(u8::from(d > self.reference.p95_distance)));
            }
        }
        if let Some(c) = obs.confidence.filter(|c| c.is_finite()) {
            self.low
                .push(f64::from(u8::from(c < self.config.low_confidence)));
        }
        if let Some(a) = obs.shadow_agreed {
            self.shadow.push(f64::from(u8::from(a)));
        }
        let mut fired = None;
        for (i, signal) in DriftSignal::ALL.into_iter().enumerate() {
            let Some((value, threshold, n, over)) = self.check(signal) else {
                self.alarmed[i] = false;
                continue;
            };
            if !over {
                self.alarmed[i] = false;
            } else if !self.alarmed[i] && fired.is_none() {
                self.alarmed[i] = true;
                let alarm = DriftAlarm {
                    task: self.task.clone(),
                    signal,
                    value,
                    threshold,
                    observations: n,
                };
                tracing::warn!(task = %self.task, signal = signal.as_str(), value, threshold, "{alarm}");
                fired = Some(alarm);
            }
        }
        fired
    }

    /// (value, threshold, observations, crossed) for a configured signal whose
    /// window is full enough.
    fn check(&self, signal: DriftSignal) -> Option<(f64, f64, usize, bool)> {
        let min = self.config.min_observations.max(1);
        let (window, threshold) = match signal {
            DriftSignal::FarShare => (&self.far, self.config.max_far_share?),
            DriftSignal::DistanceRatio => (&self.distance, self.config.max_distance_ratio?),
            DriftSignal::LowConfidence => (&self.low, self.config.max_low_confidence_share?),
            DriftSignal::ShadowAgreement => (&self.shadow, self.config.min_shadow_agreement?),
        };
        if window.len() < min {
            return None;
        }
        let value = match signal {
            DriftSignal::DistanceRatio => self.distance_ratio(),
            _ => window.mean(),
        };
        let over = match signal {
            DriftSignal::ShadowAgreement => value < threshold,
            _ => value > threshold,
        };
        Some((value, threshold, window.len(), over))
    }

    fn distance_ratio(&self) -> f64 {
        let base = f64::from(self.reference.mean_distance).max(1e-6);
        self.distance.mean() / base
    }

    /// The current values, for metrics.
    pub fn status(&self) -> DriftStatus {
        DriftStatus {
            mean_distance: self.distance.mean(),
            distance_ratio: self.distance_ratio(),
            far_share: self.far.mean(),
            low_confidence_share: self.low.mean(),
            shadow_agreement: self.shadow.mean(),
            observations: usize::try_from(self.observations).unwrap_or(usize::MAX),
            alarmed: DriftSignal::ALL
                .into_iter()
                .zip(self.alarmed)
                .filter(|(_, a)| *a)
                .map(|(s, _)| s)
                .collect(),
        }
    }

    /// Forgets the windows (after the student is retrained or demoted).
    pub fn reset(&mut self) {
        *self = Self::new(&self.task, self.reference.clone(), self.config.clone());
    }
}

#[cfg(test)]
#[path = "drift_tests.rs"]
mod tests;
