//! Records as fine-tuning files, one JSON object per line:
//!
//! - [`ExportFormat::OpenAi`]: OpenAI's chat fine-tuning format,
//!   `{"messages":[{"role":"system",…},{"role":"user",…},{"role":"assistant",…}]}`,
//!   which OpenAI, Axolotl, TRL (`SFTTrainer`), Unsloth and LLaMA-Factory accept;
//! - [`ExportFormat::ChatMl`]: the conversation rendered as ChatML text,
//!   `{"text":"<|im_start|>user\n…<|im_end|>\n<|im_start|>assistant\n…<|im_end|>\n"}`,
//!   the template SmolLM2 and Qwen were trained with, for tools that take plain text.
//!
//! The train/validation split is decided per record by hashing its id with the seed,
//! so a record stays on its side however many records are added or removed, and the
//! same seed always gives the same split.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::DistillError;
use crate::record::{Message, TrainingRecord};

/// The file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    #[serde(rename = "openai")]
    OpenAi,
    #[serde(rename = "chatml")]
    ChatMl,
}

impl std::str::FromStr for ExportFormat {
    type Err = DistillError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "openai" => Ok(ExportFormat::OpenAi),
            "chatml" => Ok(ExportFormat::ChatMl),
            other => Err(DistillError::Invalid(format!(
                "unknown export format {other:?} (openai or chatml)"
            ))),
        }
    }
}

/// The two JSONL files of an export.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Export {
    /// Train lines, each ending in `\n`.
    pub train: String,
    pub validation: String,
    pub train_count: usize,
    pub validation_count: usize,
}

/// Whether the record with `id` goes to validation: the first 8 bytes of
/// SHA-256(seed ‖ id), as a fraction of 2⁶⁴, fall below `fraction`.
pub fn is_validation(id: &str, fraction: f64, seed: u64) -> bool {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(id.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    let x = u64::from_le_bytes(b) as f64 / 18_446_744_073_709_551_616.0;
    x < fraction
}

/// The conversation of a record: its messages, then the teacher's answer.
fn conversation(r: &TrainingRecord) -> Vec<Message> {
    let mut m = r.messages.clone();
    m.push(Message::new("assistant", r.answer.clone()));
    m
}

/// ChatML text of a conversation.
pub fn chatml(messages: &[Message]) -> String {
    let mut s = String::new();
    for m in messages {
        s.push_str("<|im_start|>");
        s.push_str(&m.role);
        s.push('\n');
        s.push_str(&m.content);
        s.push_str("<|im_end|>\n");
    }
    s
}

/// One line (without its newline) for `r` in `format`.
pub fn line(r: &TrainingRecord, format: ExportFormat) -> Result<String, DistillError> {
    let conv = conversation(r);
    let value = match format {
        ExportFormat::OpenAi => json!({ "messages": conv }),
        ExportFormat::ChatMl => json!({ "text": chatml(&conv) }),
    };
    serde_json::to_string(&value)
        .map_err(|e| DistillError::Invalid(format!("record {}: {e}", r.id)))
}

/// Writes `records` as train and validation JSONL. `validation_fraction` is in
/// [0, 1]; records with an empty answer are left out (nothing to learn).
pub fn export_records(
    records: &[TrainingRecord],
    format: ExportFormat,
    validation_fraction: f64,
    seed: u64,
) -> Result<Export, DistillError> {
    if !(0.0..=1.0).contains(&validation_fraction) {
        return Err(DistillError::Invalid(format!(
            "validation fraction {validation_fraction} is not in [0, 1]"
        )));
    }
    let mut out = Export::default();
    for r in records.iter().filter(|r| !r.answer.trim().is_empty()) {
        let l = line(r, format)?;
        if is_validation(&r.id, validation_fraction, seed) {
            out.validation.push_str(&l);
            out.validation.push('\n');
            out.validation_count += 1;
        } else {
            out.train.push_str(&l);
            out.train.push('\n');
            out.train_count += 1;
        }
    }
    Ok(out)
}

impl crate::store::DistillStore {
    /// [`export_records`] over every record of `task`.
    pub fn export(
        &self,
        task: &str,
        format: ExportFormat,
        validation_fraction: f64,
        seed: u64,
    ) -> Result<Export, DistillError> {
        export_records(&self.records(task)?, format, validation_fraction, seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::record;
    use crate::store::DistillStore;
    use proptest::prelude::*;
    use serde_json::Value;

    fn records(n: usize) -> Vec<TrainingRecord> {
        (0..n)
            .map(|i| {
                record(
                    &format!("req-{i}"),
                    "t",
                    &format!("ticket \"{i}\"\nline two"),
                    Some("urgent"),
                )
            })
            .collect()
    }

    #[test]
    fn openai_lines_parse_and_end_with_the_answer() {
        let e = export_records(&records(50), ExportFormat::OpenAi, 0.2, 1).unwrap();
        assert_eq!(e.train_count + e.validation_count, 50);
        for l in e.train.lines().chain(e.validation.lines()) {
            let v: Value = serde_json::from_str(l).unwrap();
            let msgs = v["messages"].as_array().unwrap();
            assert_eq!(msgs.len(), 3);
            assert_eq!(msgs[0]["role"], "system");
            assert_eq!(msgs[1]["role"], "user");
            assert_eq!(msgs[2]["role"], "assistant");
            assert_eq!(msgs[2]["content"], "urgent");
        }
    }

    #[test]
    fn chatml_lines_parse_and_carry_the_template() {
        let e = export_records(&records(10), ExportFormat::ChatMl, 0.0, 1).unwrap();
        assert_eq!(e.validation_count, 0);
        let first = e.train.lines().next().unwrap();
        let v: Value = serde_json::from_str(first).unwrap();
        assert_eq!(
            v["text"],
            "<|im_start|>system\nAnswer with one label.<|im_end|>\n\
             <|im_start|>user\nticket \"0\"\nline two<|im_end|>\n\
             <|im_start|>assistant\nurgent<|im_end|>\n"
        );
    }

    #[test]
    fn the_split_is_stable_and_near_the_fraction() {
        let all = records(2000);
        let a = export_records(&all, ExportFormat::OpenAi, 0.1, 42).unwrap();
        let b = export_records(&all, ExportFormat::OpenAi, 0.1, 42).unwrap();
        assert_eq!(a, b);
        assert!(
            (150..=250).contains(&a.validation_count),
            "{}",
            a.validation_count
        );
        // A record keeps its side when others are added or removed.
        let half = export_records(&all[..1000], ExportFormat::OpenAi, 0.1, 42).unwrap();
        for l in half.validation.lines() {
            assert!(a.validation.contains(l));
        }
        // Another seed gives another split.
        let c = export_records(&all, ExportFormat::OpenAi, 0.1, 43).unwrap();
        assert_ne!(a.validation, c.validation);
        assert!(export_records(&all, ExportFormat::OpenAi, 1.5, 0).is_err());
    }

    #[test]
    fn the_store_exports_a_task() {
        let store = DistillStore::open_in_memory().unwrap();
        store.insert_records(&records(20)).unwrap();
        let e = store.export("t", ExportFormat::ChatMl, 0.5, 7).unwrap();
        assert_eq!(e.train_count + e.validation_count, 20);
        assert_eq!(
            "chatml".parse::<ExportFormat>().unwrap(),
            ExportFormat::ChatMl
        );
        assert!("csv".parse::<ExportFormat>().is_err());
    }

    proptest! {
        #[test]
        fn any_text_exports_to_parseable_lines(texts in proptest::collection::vec("\\PC{0,40}", 1..8), answer in "\\PC{1,20}") {
            let rs: Vec<TrainingRecord> = texts.iter().enumerate().map(|(i, t)| {
                let mut r = record(&i.to_string(), "t", t, None);
                r.answer = format!("x{answer}");
                r
            }).collect();
            for f in [ExportFormat::OpenAi, ExportFormat::ChatMl] {
                let e = export_records(&rs, f, 0.3, 9).unwrap();
                prop_assert_eq!(e.train_count + e.validation_count, rs.len());
                for l in e.train.lines().chain(e.validation.lines()) {
                    prop_assert!(serde_json::from_str::<Value>(l).is_ok());
                }
            }
        }
    }
}
