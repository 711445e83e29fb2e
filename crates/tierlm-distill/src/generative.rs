//! What the gateway needs to know about a generative task's student besides its model:
//! the adapter it was trained as, on what, and the drift reference — the training
//! inputs' embeddings summarised as a [`TrainingDistribution`] — so live traffic can
//! be compared with what the student learned.
//!
//! Saved as JSON next to the adapter (`STUDENTS_DIR/TASK.lora.json`) by
//! `tierlm distill train`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::drift::TrainingDistribution;
use crate::error::DistillError;

pub const FORMAT_VERSION: u32 = 1;

/// A generative student's card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerativeStudent {
    pub format_version: u32,
    pub task: String,
    /// The LoRA adapter file.
    pub adapter: PathBuf,
    /// The base model file the adapter was trained for.
    pub base_model: String,
    /// The router embedder the drift reference was computed with.
    pub embedding_model: String,
    pub train_examples: usize,
    pub trained_ms: i64,
    pub distribution: TrainingDistribution,
}

impl GenerativeStudent {
    /// The card's path for `task` in `students_dir`.
    pub fn path_in(students_dir: &Path, task: &str) -> PathBuf {
        students_dir.join(format!("{task}.lora.json"))
    }

    pub fn save(&self, path: &Path) -> Result<(), DistillError> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| DistillError::Invalid(format!("student card: {e}")))?;
        crate::student::write_atomically(path, &text)
    }

    pub fn load(path: &Path) -> Result<Self, DistillError> {
        let text = crate::student::read_text(path)?;
        let card: Self = serde_json::from_str(&text)
            .map_err(|e| DistillError::Invalid(format!("{}: {e}", path.display())))?;
        if card.format_version != FORMAT_VERSION {
            return Err(DistillError::Invalid(format!(
                "{}: format version {} (this build reads {FORMAT_VERSION})",
                path.display(),
                card.format_version
            )));
        }
        if card.distribution.centroid.is_empty() {
            return Err(DistillError::Invalid(format!(
                "{}: empty drift reference",
                path.display()
            )));
        }
        Ok(card)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_card_round_trips_and_bad_ones_are_errors_that_name_the_file() {
        let dir = std::env::temp_dir().join(format!("gen-card-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = GenerativeStudent::path_in(&dir, "summary");
        let card = GenerativeStudent {
            format_version: FORMAT_VERSION,
            task: "summary".into(),
            adapter: dir.join("summary.lora.gguf"),
            base_model: "base.gguf".into(),
            embedding_model: "static:minilm:64".into(),
            train_examples: 3,
            trained_ms: 1,
            distribution: TrainingDistribution::of(&[vec![1.0, 0.0], vec![0.8, 0.6]]).unwrap(),
        };
        card.save(&path).unwrap();
        assert_eq!(GenerativeStudent::load(&path).unwrap(), card);
        std::fs::write(&path, "{").unwrap();
        let err = GenerativeStudent::load(&path).unwrap_err().to_string();
        assert!(err.contains("summary.lora.json"), "{err}");
        let mut newer = card.clone();
        newer.format_version = 99;
        newer.save(&path).unwrap();
        assert!(GenerativeStudent::load(&path).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
