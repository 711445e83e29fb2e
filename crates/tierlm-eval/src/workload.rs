//! The workload: one JSON object per line (JSONL), each a chat request plus
//! what a correct answer looks like. [`parse_workload`] and [`read_workload`]
//! check every rule the replay and the scorer rely on and name the file and
//! line of the first broken one:
//!
//! - every line parses into an [`Item`] (unknown fields are rejected);
//! - ids are unique, and so are the last user texts (the mock teacher finds
//!   its answer by the exact last user message);
//! - a `label` item's target is one of its `labels`, a `number` item's
//!   target holds a number, a `pass_at_1` item carries its `code`, a
//!   `field_f1` item's target is a JSON object;
//! - the workload is not empty.
//!
//! Blank lines are skipped; line numbers count them.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::EvalError;
use crate::score::{extract_number, normalize_label};

/// The class of an item: whether the router should keep it local.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Routine,
    Complex,
}

impl Class {
    /// The wire name, as the `x-tierlm-class` header spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Routine => "routine",
            Class::Complex => "complex",
        }
    }
}

/// How an answer is scored (see [`crate::score::score`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Metric {
    #[serde(rename = "label")]
    Label,
    #[serde(rename = "rouge_l")]
    RougeL,
    #[serde(rename = "number")]
    Number,
    #[serde(rename = "pass_at_1")]
    PassAt1,
    #[serde(rename = "field_f1")]
    FieldF1,
}

impl Metric {
    /// The wire name, as the workload spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Label => "label",
            Metric::RougeL => "rouge_l",
            Metric::Number => "number",
            Metric::PassAt1 => "pass_at_1",
            Metric::FieldF1 => "field_f1",
        }
    }
}

/// One chat message. `content` is plain text; any role may appear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// A HumanEval-style program test for `pass_at_1` items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeSpec {
    /// The function signature and docstring the model was asked to complete.
    pub prompt: String,
    /// Python source defining `check(candidate)`.
    pub test: String,
    /// The name of the function under test.
    pub entry_point: String,
}

/// One workload line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub id: String,
    pub task: String,
    pub class: Class,
    pub messages: Vec<Message>,
    pub metric: Metric,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// The gold answer; `null` means "score against `reference`".
    #[serde(default)]
    pub expected: Option<String>,
    /// The teacher's answer text (what the mock cloud model replies).
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeSpec>,
    /// The request's `response_format` (structured output), sent as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<serde_json::Value>,
    /// The tenant the application sends as (its key's data policy applies to the
    /// routed and tier passes; the all-cloud baseline is asked without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

impl Item {
    /// What answers are scored against: `expected` when given, else `reference`.
    pub fn target(&self) -> &str {
        self.expected.as_deref().unwrap_or(&self.reference)
    }

    /// The content of the last `user` message, if any.
    pub fn last_user_text(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(|m| m.content.as_str())
    }

    /// The per-item rules (everything but the cross-item uniqueness checks).
    pub fn validate(&self) -> Result<(), String> {
        if self.id.trim().is_empty() {
            return Err("empty id".into());
        }
        if self.task.trim().is_empty() {
            return Err(format!("item {}: empty task", self.id));
        }
        if self.last_user_text().is_none() {
            return Err(format!("item {}: no user message", self.id));
        }
        match self.metric {
            Metric::Label => {
                if let Some(labels) = &self.labels {
                    let target = normalize_label(self.target());
                    if !labels.iter().any(|l| normalize_label(l) == target) {
                        return Err(format!(
                            "item {}: expected {:?} is not one of the labels {:?}",
                            self.id,
                            self.target(),
                            labels
                        ));
                    }
                }
            }
            Metric::Number => {
                if extract_number(self.target()).is_none() {
                    return Err(format!(
                        "item {}: expected {:?} holds no number",
                        self.id,
                        self.target()
                    ));
                }
            }
            Metric::PassAt1 => match &self.code {
                None => return Err(format!("item {}: pass_at_1 needs `code`", self.id)),
                Some(code) if code.entry_point.trim().is_empty() => {
                    return Err(format!("item {}: empty code.entry_point", self.id))
                }
                Some(_) => {}
            },
            Metric::FieldF1 => {
                let target = serde_json::from_str::<serde_json::Value>(self.target());
                if !target.is_ok_and(|v| v.is_object()) {
                    return Err(format!(
                        "item {}: a field_f1 target must be a JSON object, not {:?}",
                        self.id,
                        self.target()
                    ));
                }
            }
            Metric::RougeL => {}
        }
        Ok(())
    }
}

/// Parses a JSONL workload held in memory (errors say `<workload>:LINE`).
pub fn parse_workload(text: &str) -> Result<Vec<Item>, EvalError> {
    parse_workload_from(text, "<workload>")
}

/// Reads and parses a JSONL workload file (errors say `PATH:LINE`).
pub fn read_workload(path: impl AsRef<Path>) -> Result<Vec<Item>, EvalError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    parse_workload_from(&text, &path.display().to_string())
}

/// Parses a JSONL workload; `origin` names it in error messages.
pub fn parse_workload_from(text: &str, origin: &str) -> Result<Vec<Item>, EvalError> {
    let mut items = Vec::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut user_texts: HashMap<String, usize> = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let item: Item = serde_json::from_str(raw)
            .map_err(|e| EvalError::line(origin, line, format!("invalid workload item: {e}")))?;
        item.validate()
            .map_err(|message| EvalError::line(origin, line, message))?;
        if let Some(first) = ids.insert(item.id.clone(), line) {
            return Err(EvalError::line(
                origin,
                line,
                format!("duplicate id {:?} (first on line {first})", item.id),
            ));
        }
        let user = item.last_user_text().unwrap_or_default().to_string();
        if let Some(first) = user_texts.insert(user, line) {
            return Err(EvalError::line(
                origin,
                line,
                format!(
                    "item {}: same last user text as line {first} (the mock teacher matches answers by it)",
                    item.id
                ),
            ));
        }
        items.push(item);
    }
    if items.is_empty() {
        return Err(EvalError::file(origin, "empty workload"));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, user: &str) -> String {
        format!(
            r#"{{"id":"{id}","task":"sms_spam","class":"routine","messages":[{{"role":"system","content":"s"}},{{"role":"user","content":"{user}"}}],"metric":"label","labels":["ham","spam"],"expected":"spam","reference":"spam","max_tokens":8}}"#
        )
    }

    #[test]
    fn parses_a_valid_workload() {
        let text = format!("{}\n\n{}\n", line("a", "one"), line("b", "two"));
        let items = parse_workload(&text).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].class, Class::Routine);
        assert_eq!(items[0].metric, Metric::Label);
        assert_eq!(items[1].last_user_text(), Some("two"));
        assert_eq!(items[0].max_tokens, Some(8));
        assert_eq!(items[0].target(), "spam");
    }

    #[test]
    fn round_trips_through_serde() {
        let items = parse_workload(&line("a", "one")).unwrap();
        let json = serde_json::to_string(&items[0]).unwrap();
        let again = parse_workload(&json).unwrap();
        assert_eq!(items, again);
    }

    #[test]
    fn rejects_duplicate_ids_with_line_numbers() {
        let text = format!("{}\n{}\n", line("a", "one"), line("a", "two"));
        let err = parse_workload(&text).unwrap_err().to_string();
        assert!(err.contains("<workload>:2"), "{err}");
        assert!(err.contains("duplicate id"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn rejects_duplicate_last_user_texts() {
        let text = format!("{}\n\n{}\n", line("a", "same"), line("b", "same"));
        let err = parse_workload(&text).unwrap_err().to_string();
        assert!(err.contains("<workload>:3"), "{err}");
        assert!(err.contains("last user text"), "{err}");
    }

    #[test]
    fn rejects_empty_workloads() {
        let err = parse_workload("\n  \n").unwrap_err().to_string();
        assert!(err.contains("empty workload"), "{err}");
    }

    #[test]
    fn rejects_unknown_fields_and_bad_json() {
        let bad = line("a", "x").replace("\"max_tokens\"", "\"max_tokenz\"");
        let err = parse_workload(&bad).unwrap_err().to_string();
        assert!(
            err.contains("<workload>:1") && err.contains("max_tokenz"),
            "{err}"
        );
        let err = parse_workload("{not json").unwrap_err().to_string();
        assert!(err.contains("<workload>:1"), "{err}");
    }

    #[test]
    fn rejects_label_not_in_labels() {
        let bad = line("a", "x").replace("\"expected\":\"spam\"", "\"expected\":\"eggs\"");
        let err = parse_workload(&bad).unwrap_err().to_string();
        assert!(err.contains("not one of the labels"), "{err}");
        // Normalisation is applied to both sides.
        let ok = line("a", "x").replace("\"expected\":\"spam\"", "\"expected\":\" Spam. \"");
        assert!(parse_workload(&ok).is_ok());
    }

    #[test]
    fn expected_may_be_null_and_then_reference_is_the_target() {
        let text = r#"{"id":"s1","task":"xsum","class":"complex","messages":[{"role":"user","content":"sum"}],"metric":"rouge_l","expected":null,"reference":"a short summary"}"#;
        let items = parse_workload(text).unwrap();
        assert_eq!(items[0].target(), "a short summary");
        assert_eq!(items[0].class.as_str(), "complex");
        assert_eq!(items[0].metric.as_str(), "rouge_l");
    }

    #[test]
    fn checks_number_and_code_items() {
        let num = r#"{"id":"g","task":"gsm8k","class":"complex","messages":[{"role":"user","content":"q"}],"metric":"number","expected":"no digits","reference":"r"}"#;
        let err = parse_workload(num).unwrap_err().to_string();
        assert!(err.contains("holds no number"), "{err}");
        let code = r#"{"id":"h","task":"humaneval","class":"complex","messages":[{"role":"user","content":"q"}],"metric":"pass_at_1","expected":null,"reference":"r"}"#;
        let err = parse_workload(code).unwrap_err().to_string();
        assert!(err.contains("needs `code`"), "{err}");
        let code_ok = r#"{"id":"h","task":"humaneval","class":"complex","messages":[{"role":"user","content":"q"}],"metric":"pass_at_1","expected":null,"reference":"r","code":{"prompt":"def f():\n","test":"def check(c): pass","entry_point":"f"}}"#;
        assert!(parse_workload(code_ok).is_ok());
    }

    #[test]
    fn rejects_items_without_a_user_message() {
        let text = r#"{"id":"a","task":"t","class":"routine","messages":[{"role":"system","content":"s"}],"metric":"rouge_l","expected":"x","reference":"x"}"#;
        let err = parse_workload(text).unwrap_err().to_string();
        assert!(err.contains("no user message"), "{err}");
    }

    #[test]
    fn read_workload_names_the_file() {
        let dir = std::env::temp_dir().join(format!("tierlm-eval-wl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.jsonl");
        std::fs::write(&path, format!("{}\n{}\n", line("a", "1"), line("a", "2"))).unwrap();
        let err = read_workload(&path).unwrap_err().to_string();
        assert!(err.contains("w.jsonl:2"), "{err}");
        let missing = read_workload(dir.join("missing.jsonl")).unwrap_err();
        assert!(matches!(missing, EvalError::Io { .. }));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
