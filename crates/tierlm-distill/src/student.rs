//! The label student: multinomial logistic regression over sentence embeddings
//! (the router's 384-d MiniLM vector of the request, then the sentence encoder's
//! vector of its text after the task's opening: [`crate::features`]), with
//! calibrated confidence.
//!
//! - **Model**: features standardised per dimension (mean and scale of the training
//!   split), then `softmax((W·x + b) / T)` mixed with a uniform noise floor.
//! - **Training**: full-batch Adam on the mean cross-entropy plus an L2 penalty on
//!   `W`, in plain Rust; the L2 strength is picked from a small grid by the
//!   calibration split's NLL (high-dimensional embeddings overfit a few hundred
//!   examples without it). A linear model over a few thousand 384-d vectors is a few
//!   million multiply-adds per epoch; plain loops train it in about a second, are
//!   deterministic to the bit, and keep a tensor framework out of this crate (candle
//!   would add nothing here but a dependency and an allocation per step).
//! - **Calibration**: a held-out calibration split (hashed from the example index
//!   and the seed) fits the temperature `T` and a noise floor `ε` by minimising its
//!   negative log-likelihood: `p = (1 − ε)·softmax(z/T) + ε/k`. Temperature
//!   scaling alone assumes the labels are right; teacher answers are sometimes
//!   wrong, which caps how sure any answer can be, and the floor models that.
//!   The cascade compares the student's confidence with the profile's
//!   `min_confidence`, so a confidence of 0.9 must mean right nine times in ten;
//!   [`expected_calibration_error`] measures how far it is from that.
//! - **Drift reference**: the centroid of the (unit) training embeddings and the
//!   quantiles of their cosine distance to it, which [`crate::drift`] compares
//!   live traffic with.
//!
//! Saved as JSON: labels, standardisation, weights, bias, temperature, the embedding
//! model's name, the features and the drift reference (on the router's part).

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::drift::TrainingDistribution;
use crate::error::DistillError;
use crate::export::is_validation;
use crate::features::StudentFeatures;

/// The student file's format version. Version 2 added `features` (the sentence
/// encoder's vector after the router's); version 1 files read the router's embedding
/// alone and still load.
pub const FORMAT_VERSION: u32 = 2;

/// How to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainOptions {
    /// Most full-batch epochs.
    pub epochs: usize,
    /// Adam's step size.
    pub learning_rate: f32,
    /// L2 penalty on the weights (on standardised features) when there is no
    /// calibration split to choose one from `l2_grid`.
    pub l2: f32,
    /// L2 strengths tried; the best on the calibration split's NLL wins.
    pub l2_grid: Vec<f32>,
    /// Share of examples held out to fit the temperature.
    pub calibration_fraction: f64,
    /// Seed of the calibration split.
    pub seed: u64,
    /// Stop when the loss improved by less than this over the last 10 epochs.
    pub tolerance: f32,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            epochs: 300,
            learning_rate: 0.05,
            l2: 1e-2,
            l2_grid: vec![1e-3, 1e-2, 1e-1, 0.3, 1.0],
            calibration_fraction: 0.2,
            seed: 0,
            tolerance: 1e-5,
        }
    }
}

/// What training did, for logs and `tierlm distill train`'s output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub train_examples: usize,
    pub calibration_examples: usize,
    /// Examples whose label was not in the label set (left out).
    pub skipped: usize,
    pub epochs: usize,
    pub final_loss: f32,
    /// The L2 strength used (picked from the grid on the calibration split).
    pub l2: f32,
    pub train_accuracy: f64,
    /// On the calibration split (NaN without one; `null` in JSON).
    #[serde(with = "nan_as_null")]
    pub calibration_accuracy: f64,
    /// Calibration-split ECE before and after temperature scaling (NaN without one).
    #[serde(with = "nan_as_null")]
    pub ece_before: f64,
    #[serde(with = "nan_as_null")]
    pub ece_after: f64,
    pub temperature: f32,
    pub noise_floor: f32,
    pub millis: u128,
}

/// JSON has no NaN: a missing figure is written as `null` and read back as NaN (a
/// student trained without a calibration split must still load).
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// A student's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub label: String,
    pub index: usize,
    /// Calibrated probability of the label, in [0, 1].
    pub confidence: f64,
    /// Cosine distance of the input to the training centroid (for drift).
    pub distance: f32,
}

/// A trained label student.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelStudent {
    pub format_version: u32,
    pub task: String,
    /// The router embedding the inputs begin with (`static:all-minilm-l6-v2:128`).
    pub embedding_model: String,
    /// What follows the router's embedding in an input.
    #[serde(default)]
    pub features: StudentFeatures,
    /// Dimensions of an input: the router's embedding and the encoder's vector.
    pub dims: usize,
    pub labels: Vec<String>,
    /// Per-dimension standardisation: `(x − mean) / scale`.
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    /// `labels.len()` rows of `dims` weights.
    pub weights: Vec<Vec<f32>>,
    pub bias: Vec<f32>,
    pub temperature: f32,
    /// Share of probability spread evenly over the labels after the temperature
    /// (the teacher's own error rate, as the calibration split sees it).
    #[serde(default)]
    pub noise_floor: f32,
    pub distribution: TrainingDistribution,
    pub trained_ms: i64,
    pub report: TrainReport,
}

/// Softmax of `logits / t` into `out`.
fn softmax_into(logits: &[f32], t: f32, out: &mut [f32]) {
    let max = logits
        .iter()
        .map(|z| z / t)
        .fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for (o, z) in out.iter_mut().zip(logits) {
        *o = (z / t - max).exp();
        sum += *o;
    }
    out.iter_mut().for_each(|o| *o /= sum);
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
        .unwrap_or(0)
}

/// Expected calibration error over 15 equal-width confidence bins: the
/// example-weighted mean gap between a bin's accuracy and its mean confidence.
/// `(confidence, correct)` pairs; 0 for none.
pub fn expected_calibration_error(pairs: &[(f64, bool)]) -> f64 {
    const BINS: usize = 15;
    if pairs.is_empty() {
        return 0.0;
    }
    let mut conf = [0.0f64; BINS];
    let mut acc = [0.0f64; BINS];
    let mut n = [0usize; BINS];
    for &(c, ok) in pairs {
        let b = ((c.clamp(0.0, 1.0) * BINS as f64) as usize).min(BINS - 1);
        conf[b] += c;
        acc[b] += f64::from(u8::from(ok));
        n[b] += 1;
    }
    (0..BINS)
        .filter(|&b| n[b] > 0)
        .map(|b| (acc[b] - conf[b]).abs())
        .sum::<f64>()
        / pairs.len() as f64
}

/// How raw logits become calibrated probabilities:
/// `(1 − noise_floor) · softmax(z / temperature) + noise_floor / k`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Calibration {
    temperature: f32,
    noise_floor: f32,
}

impl Calibration {
    const IDENTITY: Calibration = Calibration {
        temperature: 1.0,
        noise_floor: 0.0,
    };

    fn apply(self, logits: &[f32], out: &mut [f32]) {
        softmax_into(logits, self.temperature, out);
        let k = out.len().max(1) as f32;
        let e = self.noise_floor;
        out.iter_mut().for_each(|p| *p = (1.0 - e) * *p + e / k);
    }
}

/// Mean NLL and (confidence, correct) pairs of logits `z` (rows of `k`).
fn score(z: &[f32], y: &[usize], k: usize, cal: Calibration) -> (f64, Vec<(f64, bool)>) {
    let mut p = vec![0.0f32; k];
    let mut nll = 0.0f64;
    let mut pairs = Vec::with_capacity(y.len());
    for (row, &yi) in z.chunks_exact(k).zip(y) {
        cal.apply(row, &mut p);
        nll -= f64::from(p[yi].max(1e-12)).ln();
        let best = argmax(&p);
        pairs.push((f64::from(p[best]), best == yi));
    }
    (nll / y.len().max(1) as f64, pairs)
}

/// The temperature minimising the NLL of `z` at a given noise floor
/// (golden-section search over 1/T, where NLL is convex at floor 0), within
/// [0.25, 50]: on a calibration split the model gets all right, NLL keeps falling
/// as T → 0, and a near-zero temperature would make every answer, even one far
/// from the training data, look certain.
fn fit_temperature(z: &[f32], y: &[usize], k: usize, noise_floor: f32) -> (f32, f64) {
    let nll = |beta: f64| {
        let cal = Calibration {
            temperature: (1.0 / beta) as f32,
            noise_floor,
        };
        score(z, y, k, cal).0
    };
    let (mut a, mut b) = (0.02f64, 4.0f64);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - g * (b - a);
    let mut d = a + g * (b - a);
    let (mut fc, mut fd) = (nll(c), nll(d));
    for _ in 0..40 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = nll(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = nll(d);
        }
    }
    let beta = (a + b) / 2.0;
    ((1.0 / beta) as f32, nll(beta))
}

/// Temperature and noise floor (0 to 0.3 in steps of 0.01) with the lowest NLL.
/// The floor models a teacher that is sometimes wrong: no answer can then be
/// trusted beyond `1 − floor·(k−1)/k`, which a temperature alone cannot express
/// (it would make far-from-the-boundary answers look certain).
fn fit_calibration(z: &[f32], y: &[usize], k: usize) -> Calibration {
    let mut best = (f64::INFINITY, Calibration::IDENTITY);
    for step in 0..=30u8 {
        let noise_floor = f32::from(step) / 100.0;
        let (temperature, nll) = fit_temperature(z, y, k, noise_floor);
        if nll < best.0 {
            best = (
                nll,
                Calibration {
                    temperature,
                    noise_floor,
                },
            );
        }
    }
    best.1
}

impl LabelStudent {
    /// Trains a student for `task` on `embeddings` labelled `targets` over `labels`.
    /// Each input is the router's embedding followed by what `features` adds
    /// ([`StudentFeatures::input`]). Targets outside `labels` are skipped (counted in
    /// the report).
    pub fn train(
        task: &str,
        embedding_model: &str,
        features: &StudentFeatures,
        labels: &[String],
        embeddings: &[Vec<f32>],
        targets: &[String],
        opts: &TrainOptions,
    ) -> Result<(Self, TrainReport), DistillError> {
        let started = Instant::now();
        let k = labels.len();
        if k < 2 {
            return Err(DistillError::Invalid(format!(
                "task {task}: a label student needs at least two labels"
            )));
        }
        if embeddings.len() != targets.len() {
            return Err(DistillError::Invalid(
                "embeddings and targets differ in number".into(),
            ));
        }
        let dims = embeddings.first().map(Vec::len).unwrap_or(0);
        if dims == 0 || embeddings.iter().any(|e| e.len() != dims) {
            return Err(DistillError::Invalid(
                "embeddings must be non-empty and of one length".into(),
            ));
        }
        if embeddings.iter().flatten().any(|x| !x.is_finite()) {
            return Err(DistillError::Invalid("an embedding is not finite".into()));
        }
        if dims <= features.encoder_dims {
            return Err(DistillError::Invalid(format!(
                "inputs of {dims} dimensions leave nothing for the router's embedding \
                 after the encoder's {}",
                features.encoder_dims
            )));
        }
        let mut train: Vec<(usize, usize)> = Vec::new(); // (example, class)
        let mut calib: Vec<(usize, usize)> = Vec::new();
        let mut skipped = 0;
        let use_calibration = embeddings.len() >= 50 && opts.calibration_fraction > 0.0;
        for (i, t) in targets.iter().enumerate() {
            let Some(c) = labels.iter().position(|l| l == t) else {
                skipped += 1;
                continue;
            };
            if use_calibration
                && is_validation(&i.to_string(), opts.calibration_fraction, opts.seed)
            {
                calib.push((i, c));
            } else {
                train.push((i, c));
            }
        }
        if train.is_empty() {
            return Err(DistillError::Invalid(format!(
                "task {task}: no examples with a label in the label set"
            )));
        }
        // Standardisation from the training split.
        let n = train.len();
        let mut mean = vec![0.0f32; dims];
        for &(i, _) in &train {
            mean.iter_mut()
                .zip(&embeddings[i])
                .for_each(|(m, x)| *m += x);
        }
        mean.iter_mut().for_each(|m| *m /= n as f32);
        let mut scale = vec![0.0f32; dims];
        for &(i, _) in &train {
            for ((s, x), m) in scale.iter_mut().zip(&embeddings[i]).zip(&mean) {
                *s += (x - m) * (x - m);
            }
        }
        scale
            .iter_mut()
            .for_each(|s| *s = (*s / n as f32).sqrt().max(1e-4));
        let standardise = |e: &[f32], out: &mut Vec<f32>| {
            out.extend(
                e.iter()
                    .zip(&mean)
                    .zip(&scale)
                    .map(|((x, m), s)| (x - m) / s),
            );
        };
        let mut x = Vec::with_capacity(n * dims);
        for &(i, _) in &train {
            standardise(&embeddings[i], &mut x);
        }
        let y: Vec<usize> = train.iter().map(|&(_, c)| c).collect();

        let cy: Vec<usize> = calib.iter().map(|&(_, c)| c).collect();
        let mut cx = Vec::with_capacity(calib.len() * dims);
        for &(i, _) in &calib {
            standardise(&embeddings[i], &mut cx);
        }
        // The L2 strength: the one whose model, at its best temperature, has the
        // lowest NLL on the calibration split (the fixed `l2` without one).
        let candidates: Vec<f32> = if calib.is_empty() || opts.l2_grid.is_empty() {
            vec![opts.l2]
        } else {
            opts.l2_grid.clone()
        };
        let mut best: Option<(f64, f32, Fit)> = None;
        for &l2 in &candidates {
            let fit = fit(&x, &y, dims, k, l2, opts);
            let nll = if calib.is_empty() {
                0.0
            } else {
                let cz = fit.logits(&cx, dims);
                score(&cz, &cy, k, fit_calibration(&cz, &cy, k)).0
            };
            if best.as_ref().is_none_or(|(b, _, _)| nll < *b) {
                best = Some((nll, l2, fit));
            }
        }
        let Some((_, l2, Fit { w, b, epochs, loss })) = best else {
            return Err(DistillError::Invalid(
                "no L2 candidate to train with".into(),
            ));
        };
        let weights: Vec<Vec<f32>> = w.chunks_exact(dims).map(<[f32]>::to_vec).collect();
        let mut student = LabelStudent {
            format_version: FORMAT_VERSION,
            task: task.to_string(),
            embedding_model: embedding_model.to_string(),
            features: features.clone(),
            dims,
            labels: labels.to_vec(),
            mean,
            scale,
            weights,
            bias: b,
            temperature: 1.0,
            noise_floor: 0.0,
            // Drift is watched on the router's embedding, which every request has.
            distribution: TrainingDistribution::of(
                &embeddings
                    .iter()
                    .map(|e| e[..dims - features.encoder_dims].to_vec())
                    .collect::<Vec<_>>(),
            )?,
            trained_ms: crate::now_ms(),
            report: TrainReport {
                train_examples: n,
                calibration_examples: calib.len(),
                skipped,
                epochs,
                final_loss: loss,
                l2,
                train_accuracy: 0.0,
                calibration_accuracy: f64::NAN,
                ece_before: f64::NAN,
                ece_after: f64::NAN,
                temperature: 1.0,
                noise_floor: 0.0,
                millis: 0,
            },
        };
        let logits_of = |s: &LabelStudent, set: &[(usize, usize)]| -> Vec<f32> {
            set.iter()
                .flat_map(|&(i, _)| s.logits(&embeddings[i]))
                .collect()
        };
        let train_z = logits_of(&student, &train);
        let (_, pairs) = score(&train_z, &y, k, Calibration::IDENTITY);
        student.report.train_accuracy = accuracy(&pairs);
        if !calib.is_empty() {
            let cz = logits_of(&student, &calib);
            let (_, before) = score(&cz, &cy, k, Calibration::IDENTITY);
            let cal = fit_calibration(&cz, &cy, k);
            let (_, after) = score(&cz, &cy, k, cal);
            student.temperature = cal.temperature;
            student.noise_floor = cal.noise_floor;
            student.report.temperature = cal.temperature;
            student.report.noise_floor = cal.noise_floor;
            student.report.calibration_accuracy = accuracy(&after);
            student.report.ece_before = expected_calibration_error(&before);
            student.report.ece_after = expected_calibration_error(&after);
        }
        student.report.millis = started.elapsed().as_millis();
        let report = student.report.clone();
        Ok((student, report))
    }

    /// Raw logits (temperature 1) of an embedding of the right length.
    fn logits(&self, embedding: &[f32]) -> Vec<f32> {
        let x: Vec<f32> = embedding
            .iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .map(|((x, m), s)| (x - m) / s)
            .collect();
        self.weights
            .iter()
            .zip(&self.bias)
            .map(|(w, b)| b + dot(w, &x))
            .collect()
    }

    /// Calibrated probabilities over `labels`.
    pub fn probabilities(&self, embedding: &[f32]) -> Result<Vec<f32>, DistillError> {
        if embedding.len() != self.dims {
            return Err(DistillError::Invalid(format!(
                "student {}: embedding has {} dimensions, expected {} ({})",
                self.task,
                embedding.len(),
                self.dims,
                self.embedding_model
            )));
        }
        if embedding.iter().any(|x| !x.is_finite()) {
            return Err(DistillError::Invalid("the embedding is not finite".into()));
        }
        let z = self.logits(embedding);
        let mut p = vec![0.0f32; z.len()];
        Calibration {
            temperature: self.temperature,
            noise_floor: self.noise_floor,
        }
        .apply(&z, &mut p);
        Ok(p)
    }

    /// The most likely label and its calibrated confidence.
    pub fn predict(&self, embedding: &[f32]) -> Result<Prediction, DistillError> {
        let p = self.probabilities(embedding)?;
        let index = argmax(&p);
        Ok(Prediction {
            label: self.labels.get(index).cloned().unwrap_or_default(),
            index,
            confidence: f64::from(p[index]).clamp(0.0, 1.0),
            distance: self.distribution.distance(self.router_part(embedding)),
        })
    }

    /// The router's embedding at the start of an input.
    pub fn router_part<'a>(&self, input: &'a [f32]) -> &'a [f32] {
        &input[..self.router_dims().min(input.len())]
    }

    fn router_dims(&self) -> usize {
        self.dims.saturating_sub(self.features.encoder_dims)
    }

    pub fn to_json(&self) -> Result<String, DistillError> {
        serde_json::to_string(self).map_err(|e| DistillError::Invalid(format!("student: {e}")))
    }

    /// Parses and checks a student file's contents.
    pub fn from_json(text: &str) -> Result<Self, DistillError> {
        let s: LabelStudent = serde_json::from_str(text).map_err(|e| DistillError::Parse {
            what: "a label student",
            detail: e.to_string(),
        })?;
        let bad = |detail: &str| {
            Err(DistillError::Parse {
                what: "a label student",
                detail: detail.to_string(),
            })
        };
        match s.format_version {
            FORMAT_VERSION => {}
            1 if s.features == StudentFeatures::default() => {}
            _ => return bad("unknown format_version"),
        }
        if s.features.encoder.is_none() != (s.features.encoder_dims == 0)
            || s.dims <= s.features.encoder_dims
        {
            return bad("features and dims disagree");
        }
        let k = s.labels.len();
        if k < 2 || s.weights.len() != k || s.bias.len() != k {
            return bad("labels, weights and bias disagree");
        }
        if s.dims == 0
            || s.mean.len() != s.dims
            || s.scale.len() != s.dims
            || s.distribution.centroid.len() != s.router_dims()
            || s.weights.iter().any(|w| w.len() != s.dims)
        {
            return bad("a vector has the wrong number of dimensions");
        }
        if !(s.temperature.is_finite() && s.temperature > 0.0) || s.scale.iter().any(|x| *x <= 0.0)
        {
            return bad("temperature and scales must be positive");
        }
        if !(0.0..0.5).contains(&s.noise_floor) {
            return bad("noise_floor must be in [0, 0.5)");
        }
        Ok(s)
    }

    /// Writes the student as JSON to `path` (atomically: a temporary file, then a
    /// rename), creating the directory.
    pub fn save(&self, path: &Path) -> Result<(), DistillError> {
        write_atomically(path, &self.to_json()?)
    }

    pub fn load(path: &Path) -> Result<Self, DistillError> {
        Self::from_json(&read_text(path)?)
    }
}

/// Weights and bias of a trained linear model.
struct Fit {
    /// `k × dims`, row-major.
    w: Vec<f32>,
    b: Vec<f32>,
    epochs: usize,
    loss: f32,
}

impl Fit {
    /// Logits of standardised rows `x`.
    fn logits(&self, x: &[f32], dims: usize) -> Vec<f32> {
        x.chunks_exact(dims)
            .flat_map(|xi| {
                self.w
                    .chunks_exact(dims)
                    .zip(&self.b)
                    .map(move |(w, b)| b + dot(w, xi))
            })
            .collect()
    }
}

/// Full-batch Adam on mean cross-entropy + `l2`/2·‖W‖² over standardised rows `x`
/// with classes `y`.
fn fit(x: &[f32], y: &[usize], dims: usize, k: usize, l2: f32, opts: &TrainOptions) -> Fit {
    let n = y.len().max(1);
    let mut w = vec![0.0f32; k * dims];
    let mut b = vec![0.0f32; k];
    let (mut mw, mut vw) = (vec![0.0f32; k * dims], vec![0.0f32; k * dims]);
    let (mut mb, mut vb) = (vec![0.0f32; k], vec![0.0f32; k]);
    let (beta1, beta2, eps) = (0.9f32, 0.999f32, 1e-8f32);
    let mut gw = vec![0.0f32; k * dims];
    let mut gb = vec![0.0f32; k];
    let mut logits = vec![0.0f32; k];
    let mut p = vec![0.0f32; k];
    let mut history: Vec<f32> = Vec::new();
    let mut epochs = 0;
    for epoch in 1..=opts.epochs.max(1) {
        epochs = epoch;
        gw.iter_mut().for_each(|g| *g = 0.0);
        gb.iter_mut().for_each(|g| *g = 0.0);
        let mut loss = 0.0f32;
        for (xi, &yi) in x.chunks_exact(dims).zip(y) {
            for (c, z) in logits.iter_mut().enumerate() {
                *z = b[c] + dot(&w[c * dims..(c + 1) * dims], xi);
            }
            softmax_into(&logits, 1.0, &mut p);
            loss -= p[yi].max(1e-12).ln();
            for c in 0..k {
                let err = p[c] - if c == yi { 1.0 } else { 0.0 };
                gb[c] += err;
                gw[c * dims..(c + 1) * dims]
                    .iter_mut()
                    .zip(xi)
                    .for_each(|(g, v)| *g += err * v);
            }
        }
        let inv = 1.0 / n as f32;
        loss *= inv;
        loss += 0.5 * l2 * w.iter().map(|v| v * v).sum::<f32>();
        let t = i32::try_from(epoch).unwrap_or(i32::MAX);
        let (c1, c2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
        let lr = opts.learning_rate;
        for j in 0..k * dims {
            let g = gw[j] * inv + l2 * w[j];
            mw[j] = beta1 * mw[j] + (1.0 - beta1) * g;
            vw[j] = beta2 * vw[j] + (1.0 - beta2) * g * g;
            w[j] -= lr * (mw[j] / c1) / ((vw[j] / c2).sqrt() + eps);
        }
        for c in 0..k {
            let g = gb[c] * inv;
            mb[c] = beta1 * mb[c] + (1.0 - beta1) * g;
            vb[c] = beta2 * vb[c] + (1.0 - beta2) * g * g;
            b[c] -= lr * (mb[c] / c1) / ((vb[c] / c2).sqrt() + eps);
        }
        history.push(loss);
        if history.len() > 10 && history[history.len() - 11] - loss < opts.tolerance {
            break;
        }
    }
    Fit {
        w,
        b,
        epochs,
        loss: history.last().copied().unwrap_or(f32::NAN),
    }
}

/// Dot product with eight partial sums, which the compiler turns into SIMD (a single
/// running sum must stay sequential, as float addition is not associative).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

fn accuracy(pairs: &[(f64, bool)]) -> f64 {
    pairs.iter().filter(|p| p.1).count() as f64 / pairs.len().max(1) as f64
}

/// A student file's text, or an error that names it.
pub(crate) fn read_text(path: &Path) -> Result<String, DistillError> {
    std::fs::read_to_string(path).map_err(|source| DistillError::Io {
        op: "read",
        path: path.to_path_buf(),
        source,
    })
}

/// Write `text` to `path` through a temporary file renamed into place (creating the
/// folder), so a reader never sees half a file.
pub(crate) fn write_atomically(path: &Path, text: &str) -> Result<(), DistillError> {
    let io = |op, source| DistillError::Io {
        op,
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io("create the directory of", e))?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|e| io("write", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("rename into", e))
}

#[cfg(test)]
#[path = "student_tests.rs"]
pub(crate) mod tests;
