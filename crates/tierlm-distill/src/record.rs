//! A training record: one request the teacher (the frontier model) answered, with the
//! task the router picked and, for label tasks, the answer mapped onto the task's
//! label set.
//!
//! Records are built **after** the guard has redacted the request: message texts keep
//! the placeholders the cloud saw (`<PERSON_1>`), never the values they stand for, so
//! no raw PII is ever at rest in the distillation store. The teacher's answer is
//! stored as the teacher wrote it, i.e. before placeholders are restored for the
//! client.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One chat message (role `system`, `user` or `assistant`), already redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// Where a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordSource {
    /// A real escalated request and the teacher's answer to it.
    Captured,
    /// An example the teacher wrote when asked for more (`synth`).
    Synthetic,
}

impl RecordSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordSource::Captured => "captured",
            RecordSource::Synthetic => "synthetic",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "captured" => Some(RecordSource::Captured),
            "synthetic" => Some(RecordSource::Synthetic),
            _ => None,
        }
    }
}

/// One example for a student: the (redacted) request and the teacher's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// Unique id; the request id for captured records.
    pub id: String,
    pub time_ms: i64,
    pub tenant: Option<String>,
    /// The task profile's name.
    pub task: String,
    /// How the request was served (`escalated`, `cloud`, …).
    pub route: String,
    /// The request's messages, redacted; the teacher's answer is not among them.
    pub messages: Vec<Message>,
    /// The teacher's answer text.
    pub answer: String,
    /// The model that answered (`openai/gpt-4o-mini`).
    pub teacher_model: String,
    /// For label tasks: the answer mapped onto the label set (see
    /// [`normalise_label`]); `None` for generative tasks or an answer that names no
    /// label.
    pub label: Option<String>,
    pub source: RecordSource,
}

impl TrainingRecord {
    /// The text a student reads: the last user message (what the router embeds too).
    pub fn input_text(&self) -> &str {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(|m| m.content.as_str())
            .unwrap_or("")
    }

    /// Hash of the normalised input text, for deduplication.
    pub fn input_hash(&self) -> String {
        text_hash(self.input_text())
    }
}

/// The texts and labels of the labelled records among `records`, for a label
/// student: embed `texts` (with the same embedder and word limit at training and
/// serving time) and pass them with `labels` to [`crate::LabelStudent::train`].
pub fn label_examples(records: &[TrainingRecord]) -> (Vec<String>, Vec<String>) {
    records
        .iter()
        .filter_map(|r| {
            r.label
                .as_ref()
                .map(|l| (r.input_text().to_string(), l.clone()))
        })
        .unzip()
}

/// Lower case, letters and digits only, single spaces: two texts that differ only in
/// case, punctuation or spacing normalise alike.
pub fn normalise_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_alphanumeric() || c == '<' || c == '>' || c == '_' {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(c.to_lowercase());
        } else {
            pending_space = true;
        }
    }
    out
}

/// Hex SHA-256 (first 16 bytes) of [`normalise_text`]`(text)`.
pub fn text_hash(text: &str) -> String {
    let digest = Sha256::digest(normalise_text(text).as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The label of `labels` that `answer` names, in the label set's own spelling:
/// an exact match ignoring case, surrounding quotes, punctuation and whitespace;
/// else the answer's first word; else the only label that occurs as a whole word in
/// the answer. `None` when no label or several labels are named.
pub fn normalise_label(answer: &str, labels: &[String]) -> Option<String> {
    let answer = normalise_text(answer);
    let keyed: Vec<(String, &String)> = labels.iter().map(|l| (normalise_text(l), l)).collect();
    if let Some((_, l)) = keyed.iter().find(|(k, _)| !k.is_empty() && *k == answer) {
        return Some((*l).clone());
    }
    let words: Vec<&str> = answer.split(' ').collect();
    // A multi-word label at the start ("not spam, because ...").
    let mut starts: Vec<&(String, &String)> = keyed
        .iter()
        .filter(|(k, _)| {
            let n = k.split(' ').count();
            !k.is_empty() && words.len() >= n && words[..n].join(" ") == *k
        })
        .collect();
    starts.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    if let Some((_, l)) = starts.first() {
        return Some((*l).clone());
    }
    let padded = format!(" {answer} ");
    let found: Vec<&String> = keyed
        .iter()
        .filter(|(k, _)| !k.is_empty() && padded.contains(&format!(" {k} ")))
        .map(|(_, l)| *l)
        .collect();
    match found.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn labels_normalise_onto_the_set() {
        let set = labels(&["urgent", "routine", "Not Spam"]);
        assert_eq!(normalise_label("Urgent.", &set).as_deref(), Some("urgent"));
        assert_eq!(
            normalise_label(" \"routine\" ", &set).as_deref(),
            Some("routine")
        );
        assert_eq!(
            normalise_label("not spam, clearly a receipt", &set).as_deref(),
            Some("Not Spam")
        );
        assert_eq!(
            normalise_label("This ticket is urgent: checkout is down", &set).as_deref(),
            Some("urgent")
        );
        assert_eq!(
            normalise_label("urgent or routine, hard to say", &set).as_deref(),
            Some("urgent")
        );
        assert_eq!(normalise_label("either routine or urgent", &set), None);
        assert_eq!(normalise_label("no idea", &set), None);
        assert_eq!(normalise_label("", &set), None);
    }

    #[test]
    fn texts_normalise_and_hash() {
        assert_eq!(
            normalise_text("  Hello,   WORLD!! <PERSON_1> "),
            "hello world <person_1>"
        );
        assert_eq!(text_hash("Hello world"), text_hash("hello,  world!"));
        assert_ne!(text_hash("hello world"), text_hash("hello there"));
        assert_eq!(text_hash("x").len(), 32);
    }

    #[test]
    fn input_text_is_the_last_user_message() {
        let r = TrainingRecord {
            id: "r".into(),
            time_ms: 0,
            tenant: None,
            task: "t".into(),
            route: "escalated".into(),
            messages: vec![
                Message::new("system", "be brief"),
                Message::new("user", "first"),
                Message::new("assistant", "ok"),
                Message::new("user", "second"),
            ],
            answer: "a".into(),
            teacher_model: "m".into(),
            label: None,
            source: RecordSource::Captured,
        };
        assert_eq!(r.input_text(), "second");
        let mut labelled = r.clone();
        labelled.label = Some("urgent".into());
        let (texts, labels) = label_examples(&[r.clone(), labelled]);
        assert_eq!(
            (texts, labels),
            (vec!["second".to_string()], vec!["urgent".to_string()])
        );
        assert_eq!(RecordSource::parse(r.source.as_str()), Some(r.source));
    }

    proptest! {
        #[test]
        fn normalising_is_idempotent(s in "\\PC{0,60}") {
            let once = normalise_text(&s);
            prop_assert_eq!(normalise_text(&once), once.clone());
            prop_assert!(!once.starts_with(' ') && !once.ends_with(' '));
        }

        #[test]
        fn a_found_label_is_in_the_set(answer in "\\PC{0,40}", set in proptest::collection::vec("[a-zA-Z ]{0,12}", 0..5)) {
            if let Some(l) = normalise_label(&answer, &set) {
                prop_assert!(set.contains(&l));
            }
        }
    }
}
