//! The `[distill]` section of the configuration, for the server to embed: where the
//! store and the students live, what is captured (off by default), and the
//! promotion and drift policies. Strict like the rest of the file: an unknown key is
//! an error.
//!
//! ```toml
//! [distill]
//! path = "data/distill.db"
//! students_dir = "data/students"
//!
//! [distill.capture]
//! enabled = true
//! tenants = ["marketing"]        # empty: every tenant
//! tasks = ["ticket_priority"]    # empty: every task
//!
//! [distill.promotion]
//! min_agreement = 0.95          # on the shadow samples above the student's gate
//! min_samples = 200
//! min_coverage = 0.25           # the gate covers at least this share of them
//! shadow_sample_rate = 0.2
//!
//! [distill.drift]
//! window = 200
//! max_far_share = 0.25
//!
//! [distill.generative_students]   # task = local model (a LoRA adapter)
//! ticket_reply = "smollm2-135m-ticket_reply"
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::drift::DriftConfig;
use crate::error::DistillError;
use crate::promotion::PromotionPolicy;

/// What is captured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptureConfig {
    /// Nothing is captured unless this is set.
    pub enabled: bool,
    /// Tenants whose requests are captured; empty: all.
    pub tenants: Vec<String>,
    /// Task profiles whose requests are captured; empty: all.
    pub tasks: Vec<String>,
    /// Routes (`x-tierlm-route`) whose requests are captured: the teacher's answers.
    pub routes: Vec<String>,
    /// Records that may wait for the writer before new ones are dropped.
    pub queue: usize,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            tenants: Vec::new(),
            tasks: Vec::new(),
            routes: vec!["escalated".into(), "cloud".into()],
            queue: 1024,
        }
    }
}

impl CaptureConfig {
    /// Whether a request of `tenant`, classified as `task`, served on `route`, is
    /// captured. Requests with no task are never captured (nothing to train).
    pub fn should_capture(&self, tenant: Option<&str>, task: Option<&str>, route: &str) -> bool {
        let Some(task) = task else {
            return false;
        };
        let listed = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
        self.enabled
            && listed(&self.tasks, task)
            && self.routes.iter().any(|r| r == route)
            && (self.tenants.is_empty() || tenant.is_some_and(|t| listed(&self.tenants, t)))
    }
}

/// The whole `[distill]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistillConfig {
    /// The store's SQLite file.
    pub path: PathBuf,
    /// Where trained students are saved, one `<task>.json` each.
    pub students_dir: PathBuf,
    /// A promoted student answers only at or above this (calibrated) confidence;
    /// below it the route falls back to the local model's cascade.
    pub student_min_confidence: f64,
    pub capture: CaptureConfig,
    pub promotion: PromotionConfig,
    pub drift: DriftConfig,
    /// Generative tasks' students: task → the local model (a LoRA adapter from
    /// `tierlm distill train`, declared under `[[models.adapters]]`) that shadows the
    /// teacher and, once promoted, answers the task's local requests.
    pub generative_students: BTreeMap<String, String>,
}

impl Default for DistillConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from(crate::store::DEFAULT_PATH),
            students_dir: PathBuf::from("data/students"),
            student_min_confidence: 0.8,
            capture: CaptureConfig::default(),
            promotion: PromotionConfig::default(),
            drift: DriftConfig::default(),
            generative_students: BTreeMap::new(),
        }
    }
}

/// Promotion thresholds plus how much traffic the shadow sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromotionConfig {
    pub min_agreement: f64,
    pub min_samples: u64,
    /// Least share of the shadow samples a student's confidence gate must cover.
    pub min_coverage: f64,
    pub auto_promote: bool,
    /// Share of a shadow route's requests on which the student also runs.
    pub shadow_sample_rate: f64,
    /// A generative student agrees with the teacher when the ROUGE-L F1 of its answer
    /// against the teacher's reaches this.
    pub min_similarity: f64,
}

impl Default for PromotionConfig {
    fn default() -> Self {
        let p = PromotionPolicy::default();
        Self {
            min_agreement: p.min_agreement,
            min_samples: p.min_samples,
            min_coverage: p.min_coverage,
            auto_promote: p.auto_promote,
            shadow_sample_rate: 1.0,
            min_similarity: 0.5,
        }
    }
}

impl PromotionConfig {
    pub fn policy(&self) -> PromotionPolicy {
        PromotionPolicy {
            min_agreement: self.min_agreement,
            min_samples: self.min_samples,
            min_coverage: self.min_coverage,
            auto_promote: self.auto_promote,
        }
    }
}

impl DistillConfig {
    /// Checks ranges, naming the offending key.
    pub fn validate(&self) -> Result<(), DistillError> {
        let bad = |key: &str, why: &str| Err(DistillError::Invalid(format!("distill.{key} {why}")));
        let unit = |v: f64| (0.0..=1.0).contains(&v);
        if !unit(self.student_min_confidence) {
            return bad("student_min_confidence", "must be in [0, 1]");
        }
        if self.capture.queue == 0 {
            return bad("capture.queue", "must be at least 1");
        }
        if !unit(self.promotion.min_similarity) {
            return bad("promotion.min_similarity", "must be in [0, 1]");
        }
        if !unit(self.promotion.min_agreement) {
            return bad("promotion.min_agreement", "must be in [0, 1]");
        }
        if !unit(self.promotion.min_coverage) {
            return bad("promotion.min_coverage", "must be in [0, 1]");
        }
        if self.promotion.min_samples == 0 {
            return bad("promotion.min_samples", "must be at least 1");
        }
        if !unit(self.promotion.shadow_sample_rate) {
            return bad("promotion.shadow_sample_rate", "must be in [0, 1]");
        }
        let d = &self.drift;
        if d.window == 0 || d.min_observations > d.window {
            return bad(
                "drift.window",
                "must be at least 1 and at least drift.min_observations",
            );
        }
        for (key, v) in [
            ("drift.max_far_share", d.max_far_share),
            ("drift.max_low_confidence_share", d.max_low_confidence_share),
            ("drift.min_shadow_agreement", d.min_shadow_agreement),
            ("drift.low_confidence", Some(d.low_confidence)),
        ] {
            if v.is_some_and(|v| !unit(v)) {
                return bad(key, "must be in [0, 1]");
            }
        }
        if d.max_distance_ratio
            .is_some_and(|r| !(r.is_finite() && r > 0.0))
        {
            return bad("drift.max_distance_ratio", "must be positive");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_is_off_by_default_and_filters_when_on() {
        let mut c = CaptureConfig::default();
        assert!(!c.should_capture(Some("a"), Some("t"), "escalated"));
        c.enabled = true;
        assert!(c.should_capture(Some("a"), Some("t"), "escalated"));
        assert!(c.should_capture(None, Some("t"), "cloud"));
        assert!(!c.should_capture(Some("a"), Some("t"), "local"));
        assert!(!c.should_capture(Some("a"), None, "escalated"));
        c.tenants = vec!["a".into()];
        c.tasks = vec!["t".into()];
        assert!(c.should_capture(Some("a"), Some("t"), "escalated"));
        assert!(!c.should_capture(Some("b"), Some("t"), "escalated"));
        assert!(!c.should_capture(None, Some("t"), "escalated"));
        assert!(!c.should_capture(Some("a"), Some("u"), "escalated"));
    }

    #[test]
    fn defaults_validate_and_bad_values_name_their_key() {
        assert!(DistillConfig::default().validate().is_ok());
        let mut c = DistillConfig::default();
        c.promotion.min_agreement = 1.5;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("distill.promotion.min_agreement"), "{e}");
        let mut c = DistillConfig::default();
        c.drift.max_far_share = Some(-0.1);
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("max_far_share"));
        let mut c = DistillConfig::default();
        c.drift.min_observations = 500;
        assert!(c.validate().is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let ok: DistillConfig =
            serde_json::from_str(r#"{"capture":{"enabled":true},"promotion":{"min_samples":50}}"#)
                .unwrap();
        assert!(ok.capture.enabled);
        assert_eq!(ok.promotion.min_samples, 50);
        assert_eq!(ok.promotion.min_agreement, 0.95);
        assert!(serde_json::from_str::<DistillConfig>(r#"{"captur":{}}"#).is_err());
        assert!(serde_json::from_str::<DistillConfig>(r#"{"drift":{"windw":5}}"#).is_err());
    }
}
