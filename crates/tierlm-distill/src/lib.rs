//! The distillation flywheel's library: escalated requests and the frontier model's
//! answers become training records ([`record`], [`store`], [`capture`]); records
//! become fine-tuning files ([`export`]) and, for label tasks, more records through
//! the teacher ([`synth`]); a calibrated classifier head over sentence embeddings
//! learns label tasks in seconds ([`student`]), and a generative task's LoRA student is
//! described for the gateway ([`generative`]); a route moves from the teacher to
//! the student through shadow mode, gated by selective agreement ([`promotion`],
//! [`selective`]) and the traffic is watched for
//! drift away from what the student learned ([`drift`]).
//!
//! Nothing here talks HTTP or runs a model: the server embeds texts, calls the
//! teacher and serves the student; this crate decides, stores and computes.

pub mod capture;
pub mod config;
pub mod drift;
pub mod error;
pub mod export;
pub mod features;
pub mod generative;
pub mod promotion;
pub mod record;
#[cfg(test)]
mod rng;
pub mod selective;
pub mod store;
pub mod student;
pub mod synth;

pub use capture::{CaptureQueue, CaptureStats, RecordSink};
pub use config::{CaptureConfig, DistillConfig, PromotionConfig};
pub use drift::{
    DriftAlarm, DriftConfig, DriftMonitor, DriftSignal, DriftStatus, Observation,
    TrainingDistribution,
};
pub use error::DistillError;
pub use export::{export_records, Export, ExportFormat};
pub use features::StudentFeatures;
pub use generative::GenerativeStudent;
pub use promotion::{wilson_lower_bound, PromotionPolicy, RouteEvent, RouteState};
pub use record::{
    label_examples, normalise_label, normalise_text, text_hash, Message, RecordSource,
    TrainingRecord,
};
pub use selective::{selective_gate, SelectiveGate, ShadowSample};
pub use store::{DistillStore, DEFAULT_PATH};
pub use student::{
    expected_calibration_error, LabelStudent, Prediction, TrainOptions, TrainReport,
};
pub use synth::{parse_synth_reply, synth_prompt, synth_record, SynthExample, SynthOutcome};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
