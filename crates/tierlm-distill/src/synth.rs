//! Synthetic data for label tasks: the teacher is shown captured examples and the
//! label set and asked for `n` new labelled examples as JSON; its reply is parsed,
//! validated (every label in the set, every text non-empty) and deduplicated against
//! the records already stored and within itself (by [`text_hash`] of the normalised
//! text). The HTTP call to the teacher is the caller's: this module only writes the
//! prompt and reads the reply.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::DistillError;
use crate::record::{normalise_label, text_hash, Message, RecordSource, TrainingRecord};

/// Longest example text accepted from the teacher, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;

/// A labelled example: the user message and its label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynthExample {
    pub text: String,
    pub label: String,
}

/// What came of a teacher reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SynthOutcome {
    /// New, valid examples, labels in the label set's spelling.
    pub accepted: Vec<SynthExample>,
    /// Items left out, each with why (for a log line or a count).
    pub rejected: Vec<String>,
}

/// The chat messages that ask the teacher for `n` new examples of task `task` in the
/// style of `examples`, labelled with `labels`. Examples are shown round-robin over
/// the labels so every label is represented, at most `max_shown` in all.
pub fn synth_prompt(
    task: &str,
    instructions: Option<&str>,
    labels: &[String],
    examples: &[SynthExample],
    n: usize,
    max_shown: usize,
) -> Result<Vec<Message>, DistillError> {
    if labels.is_empty() {
        return Err(DistillError::Invalid(format!(
            "task {task} has no label set to synthesise for"
        )));
    }
    if n == 0 {
        return Err(DistillError::Invalid("asked for 0 examples".into()));
    }
    let mut shown: Vec<&SynthExample> = Vec::new();
    let by_label: Vec<Vec<&SynthExample>> = labels
        .iter()
        .map(|l| examples.iter().filter(|e| &e.label == l).collect())
        .collect();
    let mut round = 0;
    while shown.len() < max_shown && by_label.iter().any(|v| v.len() > round) {
        for v in &by_label {
            if let Some(e) = v.get(round) {
                if shown.len() < max_shown {
                    shown.push(e);
                }
            }
        }
        round += 1;
    }
    let label_list = labels
        .iter()
        .map(|l| format!("\"{}\"", l.replace('"', "\\\"")))
        .collect::<Vec<_>>()
        .join(", ");
    let mut user = format!(
        "Task \"{task}\": each input below is a user request, and its label is the correct \
         answer, one of [{label_list}].\n"
    );
    if let Some(i) = instructions.filter(|i| !i.trim().is_empty()) {
        user.push_str(&format!(
            "The assistant answering these requests is told: {i}\n"
        ));
    }
    user.push_str("\nExamples:\n");
    for e in &shown {
        let line = serde_json::json!({ "text": e.text, "label": e.label });
        user.push_str(&line.to_string());
        user.push('\n');
    }
    user.push_str(&format!(
        "\nWrite {n} NEW examples in the same style and of the same length: realistic, varied \
         in wording and topic, none copying an example above, with the labels spread over \
         the label set. Keep placeholders such as <PERSON_1> as placeholders; never invent \
         real personal data. Reply with JSON only, no prose: \
         {{\"examples\": [{{\"text\": \"...\", \"label\": \"...\"}}]}}"
    ));
    Ok(vec![
        Message::new(
            "system",
            "You write labelled training data for a text classifier. You reply with JSON only.",
        ),
        Message::new("user", user),
    ])
}

/// The JSON inside a reply that may wrap it in a code fence or prose.
fn json_part(reply: &str) -> Option<Value> {
    let t = reply.trim();
    if let Ok(v) = serde_json::from_str(t) {
        return Some(v);
    }
    // ```json ... ``` or text around an object/array: try the outermost brackets.
    for (open, close) in [('{', '}'), ('[', ']')] {
        if let (Some(a), Some(b)) = (t.find(open), t.rfind(close)) {
            if a < b {
                if let Ok(v) = serde_json::from_str(&t[a..=b]) {
                    return Some(v);
                }
            }
        }
    }
    None
}

/// Parses a teacher reply: `{"examples":[{"text","label"}…]}` or a bare array of
/// such objects, optionally in a code fence. Each item is kept when its text is
/// non-empty (and at most [`MAX_TEXT_CHARS`]), its label names one of `labels`
/// ([`normalise_label`]), and its normalised text is neither in `existing` (hashes
/// from [`crate::DistillStore::input_hashes`]) nor earlier in the reply.
pub fn parse_synth_reply(
    reply: &str,
    labels: &[String],
    existing: &HashSet<String>,
) -> Result<SynthOutcome, DistillError> {
    let value = json_part(reply).ok_or_else(|| DistillError::Parse {
        what: "the teacher's synthetic examples",
        detail: "no JSON object or array in the reply".into(),
    })?;
    let items = match &value {
        Value::Array(a) => a,
        Value::Object(o) => match o.get("examples") {
            Some(Value::Array(a)) => a,
            _ => {
                return Err(DistillError::Parse {
                    what: "the teacher's synthetic examples",
                    detail: "no \"examples\" array".into(),
                })
            }
        },
        _ => {
            return Err(DistillError::Parse {
                what: "the teacher's synthetic examples",
                detail: "neither an object nor an array".into(),
            })
        }
    };
    let mut out = SynthOutcome::default();
    let mut seen: HashSet<String> = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let text = item.get("text").and_then(Value::as_str).map(str::trim);
        let label = item.get("label").and_then(Value::as_str);
        let (Some(text), Some(label)) = (text, label) else {
            out.rejected
                .push(format!("item {i}: needs string \"text\" and \"label\""));
            continue;
        };
        if text.is_empty() {
            out.rejected.push(format!("item {i}: empty text"));
            continue;
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            out.rejected.push(format!(
                "item {i}: text longer than {MAX_TEXT_CHARS} characters"
            ));
            continue;
        }
        let Some(label) = labels
            .iter()
            .find(|l| l.as_str() == label)
            .cloned()
            .or_else(|| normalise_label(label, labels))
        else {
            out.rejected
                .push(format!("item {i}: label {label:?} is not in the label set"));
            continue;
        };
        let hash = text_hash(text);
        if existing.contains(&hash) || !seen.insert(hash) {
            out.rejected.push(format!("item {i}: duplicate text"));
            continue;
        }
        out.accepted.push(SynthExample {
            text: text.to_string(),
            label,
        });
    }
    Ok(out)
}

/// A synthetic example as a training record: `instructions` (if any) as the system
/// message, the text as the user message, the label as the teacher's answer.
pub fn synth_record(
    task: &str,
    example: &SynthExample,
    instructions: Option<&str>,
    teacher_model: &str,
    time_ms: i64,
) -> TrainingRecord {
    let mut messages = Vec::new();
    if let Some(i) = instructions.filter(|i| !i.trim().is_empty()) {
        messages.push(Message::new("system", i));
    }
    messages.push(Message::new("user", example.text.clone()));
    TrainingRecord {
        id: format!("synth-{task}-{}", text_hash(&example.text)),
        time_ms,
        tenant: None,
        task: task.to_string(),
        route: "synthetic".into(),
        messages,
        answer: example.label.clone(),
        teacher_model: teacher_model.to_string(),
        label: Some(example.label.clone()),
        source: RecordSource::Synthetic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set() -> Vec<String> {
        vec!["urgent".into(), "routine".into()]
    }

    fn ex(text: &str, label: &str) -> SynthExample {
        SynthExample {
            text: text.into(),
            label: label.into(),
        }
    }

    #[test]
    fn the_prompt_shows_every_label_and_asks_for_json() {
        let examples = vec![
            ex("checkout is down", "urgent"),
            ex("site is on fire", "urgent"),
            ex("payments fail", "urgent"),
            ex("change my avatar", "routine"),
        ];
        let msgs = synth_prompt(
            "priority",
            Some("Answer urgent or routine."),
            &set(),
            &examples,
            20,
            2,
        )
        .unwrap();
        assert_eq!(msgs.len(), 2);
        let user = &msgs[1].content;
        assert!(user.contains("\"urgent\", \"routine\""));
        assert!(user.contains("checkout is down"));
        assert!(
            user.contains("change my avatar"),
            "round-robin shows both labels"
        );
        assert!(!user.contains("site is on fire"), "at most max_shown");
        assert!(user.contains("Write 20 NEW examples"));
        assert!(user.contains("Answer urgent or routine."));
        assert!(synth_prompt("t", None, &[], &examples, 5, 5).is_err());
        assert!(synth_prompt("t", None, &set(), &examples, 0, 5).is_err());
    }

    #[test]
    fn replies_are_validated_and_deduplicated() {
        let existing: HashSet<String> = [text_hash("Checkout is down!")].into_iter().collect();
        let reply = r#"Sure! Here they are:
```json
{"examples": [
  {"text": "Database is unreachable", "label": "urgent"},
  {"text": "checkout is DOWN", "label": "urgent"},
  {"text": "Please update my invoice address", "label": "Routine"},
  {"text": "please update my invoice address.", "label": "routine"},
  {"text": "   ", "label": "urgent"},
  {"text": "Printer jam", "label": "low"},
  {"text": 5, "label": "urgent"}
]}
```"#;
        let out = parse_synth_reply(reply, &set(), &existing).unwrap();
        assert_eq!(
            out.accepted,
            vec![
                ex("Database is unreachable", "urgent"),
                ex("Please update my invoice address", "routine"),
            ]
        );
        assert_eq!(out.rejected.len(), 5);
        let bare = r#"[{"text":"Server room flooding","label":"urgent"}]"#;
        assert_eq!(
            parse_synth_reply(bare, &set(), &HashSet::new())
                .unwrap()
                .accepted
                .len(),
            1
        );
        assert!(parse_synth_reply("no json here", &set(), &HashSet::new()).is_err());
        assert!(parse_synth_reply(r#"{"items":[]}"#, &set(), &HashSet::new()).is_err());
    }

    #[test]
    fn synthetic_records_carry_the_label() {
        let r = synth_record(
            "priority",
            &ex("Disk full", "urgent"),
            Some("Label it."),
            "openai/x",
            5,
        );
        assert_eq!(r.input_text(), "Disk full");
        assert_eq!(r.label.as_deref(), Some("urgent"));
        assert_eq!(r.source, RecordSource::Synthetic);
        assert_eq!(r.messages[0].role, "system");
        assert_eq!(
            r.id,
            synth_record("priority", &ex("disk full.", "urgent"), None, "m", 0).id
        );
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_accepts_only_valid_items(reply in "\\PC{0,200}") {
            if let Ok(out) = parse_synth_reply(&reply, &set(), &HashSet::new()) {
                for e in out.accepted {
                    prop_assert!(set().contains(&e.label));
                    prop_assert!(!e.text.trim().is_empty());
                }
            }
        }
    }
}
