//! Scoring one answer against one workload item, by the item's metric:
//!
//! - `label`: exact match after [`normalize_label`] (trim, lowercase, strip
//!   surrounding quotes, punctuation and whitespace), or the answer's first
//!   word normalises to the target ("Spam. This message ..." scores 1);
//! - `rouge_l`: ROUGE-L F1 (β = 1) on lowercase alphanumeric word tokens,
//!   longest common subsequence by dynamic programming, at most
//!   [`MAX_ROUGE_TOKENS`] tokens per side;
//! - `number`: the final number ([`extract_number`]) equals the target's
//!   within 1e-6;
//! - `pass_at_1`: the answer's program passes the item's test
//!   ([`crate::passk`]);
//! - `field_f1`: the answer and the target are JSON objects of fields; F1 over
//!   the non-null fields, a field counting as found when its value matches after
//!   [`field_value`] (case, spacing and surrounding punctuation ignored; phone
//!   numbers compared by their digits). An answer that is not a JSON object
//!   scores 0; both sides with no fields score 1.
//!
//! The target is `expected`, or `reference` when `expected` is null.
//! [`score`] returns `None` only when the item cannot be scored here: pass@1
//! when `python3` cannot be started (or the item has no `code`). Such items
//! are left out of quality means and counted as `unscored` in reports.
//!
//! [`score_observations`] scores the three answers of every observation once
//! (in parallel, since pass@1 runs programs) so that simulation and
//! calibration can re-decide routes many times without re-scoring.

use serde::{Deserialize, Serialize};

pub use crate::number::extract_number;
use crate::observe::{Answer, Observation};
use crate::passk::pass_at_1;
use crate::workload::{Item, Metric};

/// Token cap per side for ROUGE-L.
pub const MAX_ROUGE_TOKENS: usize = 2_000;

/// The score of `answer_text` for `item`, in `[0, 1]`; `None` = not scorable
/// here (see the module docs).
pub fn score(item: &Item, answer_text: &str) -> Option<f64> {
    let target = item.target();
    match item.metric {
        Metric::Label => Some(label_score(answer_text, target)),
        Metric::RougeL => Some(rouge_l(answer_text, target)),
        Metric::Number => Some(number_score(answer_text, target)),
        Metric::PassAt1 => item
            .code
            .as_ref()
            .and_then(|code| pass_at_1(answer_text, code)),
        Metric::FieldF1 => Some(field_f1(answer_text, target)),
    }
}

/// A field's value as compared: lowercase words, surrounding punctuation and
/// spacing ignored; a phone (`phone` field) by its digits only.
pub fn field_value(field: &str, value: &serde_json::Value) -> Option<String> {
    let text = match value {
        serde_json::Value::Null => return None,
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let norm = if field == "phone" {
        text.chars().filter(char::is_ascii_digit).collect()
    } else {
        normalize_label(&text)
    };
    (!norm.is_empty()).then_some(norm)
}

/// Field-level F1 of a JSON answer against a JSON target (see the module docs).
pub fn field_f1(answer: &str, target: &str) -> f64 {
    let fields = |text: &str| -> Option<Vec<(String, String)>> {
        let v: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
        let map = v.as_object()?;
        Some(
            map.iter()
                .filter_map(|(k, v)| field_value(k, v).map(|n| (k.clone(), n)))
                .collect(),
        )
    };
    let (Some(got), Some(want)) = (fields(answer), fields(target)) else {
        return 0.0;
    };
    if got.is_empty() && want.is_empty() {
        return 1.0;
    }
    let found = got.iter().filter(|f| want.contains(f)).count();
    2.0 * found as f64 / (got.len() + want.len()) as f64
}

/// The score of a gateway answer: 0 when the call failed, else [`score`].
pub fn score_answer(item: &Item, answer: &Answer) -> Option<f64> {
    if answer.error.is_some() {
        Some(0.0)
    } else {
        score(item, &answer.text)
    }
}

fn is_trimmed(c: char) -> bool {
    c.is_whitespace() || c.is_ascii_punctuation() || "“”‘’«»„‚`´".contains(c)
}

/// Label normalisation: lowercase, inner whitespace collapsed, surrounding
/// whitespace, quotes and punctuation stripped.
pub fn normalize_label(text: &str) -> String {
    let lowered = text.trim_matches(is_trimmed).to_lowercase();
    lowered.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// 1.0 when the answer (or its first word) normalises to the target label.
pub fn label_score(answer: &str, target: &str) -> f64 {
    let want = normalize_label(target);
    if want.is_empty() {
        return 0.0;
    }
    let whole = normalize_label(answer) == want;
    let first = answer
        .split_whitespace()
        .next()
        .is_some_and(|w| normalize_label(w) == want);
    if whole || first {
        1.0
    } else {
        0.0
    }
}

/// Lowercase alphanumeric word tokens, at most [`MAX_ROUGE_TOKENS`].
pub fn rouge_tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .take(MAX_ROUGE_TOKENS)
        .map(str::to_lowercase)
        .collect()
}

/// Length of the longest common subsequence (two-row DP, O(n·m)).
fn lcs_len(a: &[String], b: &[String]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    let mut row = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            row[j + 1] = if x == y {
                prev[j] + 1
            } else {
                row[j].max(prev[j + 1])
            };
        }
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

/// ROUGE-L F1 of token lists; 0 when either side is empty.
pub fn rouge_l_tokens(candidate: &[String], reference: &[String]) -> f64 {
    if candidate.is_empty() || reference.is_empty() {
        return 0.0;
    }
    let lcs = lcs_len(candidate, reference) as f64;
    if lcs == 0.0 {
        return 0.0;
    }
    let precision = lcs / candidate.len() as f64;
    let recall = lcs / reference.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// ROUGE-L F1 (β = 1) of `answer` against `reference`.
pub fn rouge_l(answer: &str, reference: &str) -> f64 {
    rouge_l_tokens(&rouge_tokens(answer), &rouge_tokens(reference))
}

/// 1.0 when the final numbers of answer and target agree within 1e-6.
pub fn number_score(answer: &str, target: &str) -> f64 {
    match (extract_number(answer), extract_number(target)) {
        (Some(a), Some(b)) if (a - b).abs() < 1e-6 => 1.0,
        _ => 0.0,
    }
}

/// An observation with the scores of its answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub obs: Observation,
    pub routed: Option<f64>,
    /// The cheapest tier's score (`tiers[0]`).
    pub local: Option<f64>,
    pub cloud: Option<f64>,
    /// One score per forced tier answer ([`Observation::tier_answers`]).
    #[serde(default)]
    pub tiers: Vec<Option<f64>>,
}

impl Scored {
    /// Scores one observation (an identical answer text is scored once).
    pub fn new(obs: &Observation) -> Self {
        let item = &obs.item;
        let answers = obs.tier_answers();
        let mut tiers: Vec<Option<f64>> = Vec::with_capacity(answers.len());
        for (i, a) in answers.iter().enumerate() {
            let earlier = answers[..i]
                .iter()
                .position(|b| b.error.is_none() && a.error.is_none() && b.text == a.text);
            tiers.push(match earlier {
                Some(j) => tiers[j],
                None => score_answer(item, a),
            });
        }
        let local = tiers.first().copied().flatten();
        let cloud = score_answer(item, &obs.cloud);
        let same = |a: &Answer| {
            obs.routed.error.is_none() && a.error.is_none() && a.text == obs.routed.text
        };
        let routed = if let Some(i) = answers.iter().position(|a| same(a)) {
            tiers[i]
        } else if same(&obs.cloud) {
            cloud
        } else {
            score_answer(item, &obs.routed)
        };
        Self {
            obs: obs.clone(),
            routed,
            local,
            cloud,
            tiers,
        }
    }

    /// Whether any score is missing; such items are left out of every quality mean
    /// (but still count for cost and routing).
    pub fn is_unscored(&self) -> bool {
        self.routed.is_none()
            || self.local.is_none()
            || self.cloud.is_none()
            || self.tiers.iter().any(Option::is_none)
    }
}

/// Scores every observation, in order, on up to 8 threads.
pub fn score_observations(observations: &[Observation]) -> Vec<Scored> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
        .min(observations.len().max(1));
    if workers <= 1 {
        return observations.iter().map(Scored::new).collect();
    }
    let mut indexed: Vec<(usize, Scored)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                scope.spawn(move || {
                    observations
                        .iter()
                        .enumerate()
                        .skip(w)
                        .step_by(workers)
                        .map(|(i, obs)| (i, Scored::new(obs)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    indexed.sort_by_key(|(i, _)| *i);
    indexed.into_iter().map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::parse_workload;
    use proptest::prelude::*;

    fn item(metric: &str, expected: &str) -> Item {
        let text = format!(
            r#"{{"id":"x","task":"t","class":"routine","messages":[{{"role":"user","content":"q"}}],"metric":"{metric}","expected":{expected},"reference":"the reference answer"}}"#
        );
        parse_workload(&text).unwrap().remove(0)
    }

    #[test]
    fn label_matching() {
        let it = item("label", r#""spam""#);
        assert_eq!(score(&it, "spam"), Some(1.0));
        assert_eq!(score(&it, "  \"SPAM\".\n"), Some(1.0));
        assert_eq!(score(&it, "Spam. This message is an advert."), Some(1.0));
        assert_eq!(score(&it, "“spam”"), Some(1.0));
        assert_eq!(score(&it, "ham"), Some(0.0));
        assert_eq!(score(&it, "This is spam"), Some(0.0));
        assert_eq!(score(&it, ""), Some(0.0));
        assert_eq!(label_score("x", "  "), 0.0);
        assert_eq!(normalize_label("  'Not   Entailment!' "), "not entailment");
        assert_eq!(label_score("not  entailment", "Not entailment"), 1.0);
    }

    #[test]
    fn rouge_l_values() {
        assert!((rouge_l("the cat sat", "The cat sat!") - 1.0).abs() < 1e-12);
        assert_eq!(rouge_l("", "a b"), 0.0);
        assert_eq!(rouge_l("a b", "..."), 0.0);
        assert_eq!(rouge_l("x y", "a b"), 0.0);
        // LCS("a b c d", "a c d e") = 3; P = 3/4, R = 3/4.
        assert!((rouge_l("a b c d", "a c d e") - 0.75).abs() < 1e-12);
        // P = 2/2, R = 2/4 -> F1 = 2/3.
        assert!((rouge_l("a c", "a b c d") - 2.0 / 3.0).abs() < 1e-12);
        let it = item("rouge_l", "null");
        assert_eq!(score(&it, "The reference answer."), Some(1.0));
        let long = "w ".repeat(5_000);
        assert_eq!(rouge_tokens(&long).len(), MAX_ROUGE_TOKENS);
    }

    #[test]
    fn field_f1_counts_matching_non_null_fields() {
        let want = r#"{"name": "Ann Lee", "phone": "+1 (555) 010-2000", "email": null}"#;
        assert_eq!(field_f1(want, want), 1.0);
        let same = r#"{"name": "ann  lee.", "phone": "15550102000", "email": null}"#;
        assert_eq!(field_f1(same, want), 1.0);
        // One of two right, one extra field: P = 1/3... F1 = 2·1 / (3 + 2).
        let extra = r#"{"name": "Ann Lee", "phone": "555", "email": "a@b.c"}"#;
        assert!((field_f1(extra, want) - 0.4).abs() < 1e-12);
        assert_eq!(field_f1("not json", want), 0.0);
        assert_eq!(field_f1("[1]", want), 0.0);
        assert_eq!(field_f1(r#"{"name": null}"#, r#"{"email": null}"#), 1.0);
        assert_eq!(field_f1(r#"{"name": null}"#, want), 0.0);
        let it = item("field_f1", &serde_json::to_string(want).unwrap());
        assert_eq!(score(&it, want), Some(1.0));
    }

    #[test]
    fn number_matching() {
        let it = item("number", r#""1,234""#);
        assert_eq!(score(&it, "so the total is $1,234."), Some(1.0));
        assert_eq!(score(&it, "#### 1234\n(check: 12)"), Some(1.0));
        assert_eq!(score(&it, "1234.0000001"), Some(1.0));
        assert_eq!(score(&it, "1235"), Some(0.0));
        assert_eq!(score(&it, "no idea"), Some(0.0));
    }

    #[test]
    fn failed_calls_score_zero() {
        let it = item("label", r#""spam""#);
        let answer = Answer {
            text: "spam".into(),
            error: Some("HTTP 500".into()),
            ..Answer::default()
        };
        assert_eq!(score_answer(&it, &answer), Some(0.0));
    }

    #[test]
    fn pass_at_1_without_code_is_unscorable() {
        let mut it = item("rouge_l", r#""x""#);
        it.metric = Metric::PassAt1;
        assert_eq!(score(&it, "def f(): pass"), None);
    }

    #[test]
    fn scores_observations_in_order() {
        let obs: Vec<Observation> = (0..13)
            .map(|i| {
                let mut it = item("number", &format!(r#""{i}""#));
                it.id = format!("n{i}");
                let ans = |t: String| Answer {
                    text: t,
                    ..Answer::default()
                };
                Observation {
                    item: it,
                    routed: ans(format!("{i}")),
                    local: ans(format!("{i}")),
                    cloud: ans("-1".into()),
                    tiers: Vec::new(),
                }
            })
            .collect();
        let scored = score_observations(&obs);
        assert_eq!(scored.len(), 13);
        for (i, s) in scored.iter().enumerate() {
            assert_eq!(s.obs.item.id, format!("n{i}"));
            assert_eq!(
                (s.routed, s.local, s.cloud),
                (Some(1.0), Some(1.0), Some(0.0))
            );
            assert!(!s.is_unscored());
        }
        assert!(score_observations(&[]).is_empty());
    }

    fn token_list() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec("[a-e]{1,2}", 0..30)
    }

    proptest! {
        #[test]
        fn rouge_l_of_itself_is_one(tokens in proptest::collection::vec("[a-z0-9]{1,6}", 1..60)) {
            let text = tokens.join(" ");
            prop_assert!((rouge_l(&text, &text) - 1.0).abs() < 1e-12);
        }

        #[test]
        fn rouge_l_is_symmetric_and_bounded(a in token_list(), b in token_list()) {
            let ab = rouge_l_tokens(&a, &b);
            let ba = rouge_l_tokens(&b, &a);
            prop_assert!((ab - ba).abs() < 1e-12);
            prop_assert!((0.0..=1.0).contains(&ab));
        }

        #[test]
        fn lcs_is_at_most_the_shorter_length(a in token_list(), b in token_list()) {
            prop_assert!(lcs_len(&a, &b) <= a.len().min(b.len()));
        }
    }
}
