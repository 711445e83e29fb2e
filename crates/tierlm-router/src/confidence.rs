//! How sure the local model is of its answer, from what the engine reports.
//!
//! - **Label answers** (the profile has a label set and the output was constrained to
//!   it): the probability of the chosen label *renormalised over the label set*. The
//!   chosen label's probability is the product of its tokens' probabilities; each
//!   other label's is estimated from the first-token alternatives (`top_logprobs`)
//!   that begin it. A 135M model often puts most raw mass on tokens outside the label
//!   set ("The", "I"), so raw probabilities would understate every answer alike;
//!   renormalising asks the useful question: among the allowed answers, how clear was
//!   the winner?
//! - **Structured answers** (`response_format` JSON): 0 when the text does not parse
//!   (for instance cut off by `max_tokens`), otherwise the confidence of the least
//!   sure field (the geometric mean of its value's token probabilities).
//! - **Free text**: the geometric mean of the token probabilities.
//!
//! Tokens with no text (the end-of-sequence token) are left out: when a grammar ends
//! the answer, the model is forced to stop where it might have gone on, and that
//! forced token says nothing about the answer itself.

use tierlm_api::logprobs::TokenLogprob;

fn with_text(tokens: &[TokenLogprob]) -> Vec<&TokenLogprob> {
    tokens.iter().filter(|t| !t.token.is_empty()).collect()
}

/// Confidence of a label answer `chosen` over `labels`, in [0, 1].
pub fn label_confidence(tokens: &[TokenLogprob], chosen: &str, labels: &[String]) -> f64 {
    let tokens = with_text(tokens);
    if tokens.is_empty() || !labels.iter().any(|l| l == chosen) {
        return 0.0;
    }
    let chosen_p: f64 = tokens
        .iter()
        .map(|t| f64::from(t.logprob))
        .sum::<f64>()
        .exp();
    let first = &tokens[0];
    let mut others = 0.0f64;
    for label in labels.iter().filter(|l| l.as_str() != chosen) {
        // Alternatives that spell the start of this label but not of the chosen one
        // (a shared prefix says nothing about which label wins).
        let mass: f64 = first
            .top_logprobs
            .iter()
            .filter(|t| {
                let text = t.token.trim_start();
                !text.is_empty()
                    && t.token != first.token
                    && label.starts_with(text)
                    && !chosen.starts_with(text)
            })
            .map(|t| f64::from(t.logprob).exp())
            .sum();
        others += mass;
    }
    let total = chosen_p + others;
    if total <= 0.0 {
        0.0
    } else {
        (chosen_p / total).clamp(0.0, 1.0)
    }
}

/// Geometric mean of the token probabilities, in [0, 1] (0 for no tokens).
pub fn token_confidence(tokens: &[TokenLogprob]) -> f64 {
    let tokens = with_text(tokens);
    if tokens.is_empty() {
        return 0.0;
    }
    let mean = tokens.iter().map(|t| f64::from(t.logprob)).sum::<f64>() / tokens.len() as f64;
    mean.exp().clamp(0.0, 1.0)
}

/// Confidence of a JSON answer: 0 unless it parses; otherwise the confidence of its
/// least sure field. A field's confidence is the geometric mean of the probabilities of
/// the tokens that spell its value (keys and punctuation are the schema's, not the
/// model's choice). An extraction is as good as its worst field: one guessed phone
/// number spoils the record however sure the rest is. A document with no values, or
/// tokens that do not spell the text, falls back to the token confidence.
pub fn json_confidence(text: &str, tokens: &[TokenLogprob]) -> f64 {
    if serde_json::from_str::<serde_json::Value>(text).is_err() {
        return 0.0;
    }
    let spans = value_spans(text);
    let spelled: usize = tokens.iter().map(|t| t.token.len()).sum();
    if spans.is_empty() || spelled != text.len() {
        return token_confidence(tokens);
    }
    let mut at = 0usize;
    let placed: Vec<(usize, usize, f64)> = tokens
        .iter()
        .map(|t| {
            let start = at;
            at += t.token.len();
            (start, at, f64::from(t.logprob))
        })
        .collect();
    spans
        .iter()
        .map(|&(from, to)| {
            let inside: Vec<f64> = placed
                .iter()
                .filter(|(s, e, _)| *s < to && *e > from)
                .map(|(_, _, lp)| *lp)
                .collect();
            match inside.len() {
                0 => 1.0,
                n => (inside.iter().sum::<f64>() / n as f64).exp(),
            }
        })
        .fold(1.0f64, f64::min)
        .clamp(0.0, 1.0)
}

/// Byte ranges of a JSON text's leaf values (strings that are not keys, numbers,
/// `true`, `false`, `null`). The text is known to parse.
fn value_spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                let end = i.min(bytes.len());
                let next = bytes[end..].iter().find(|b| !b.is_ascii_whitespace());
                if next != Some(&b':') {
                    spans.push((start, end));
                }
            }
            b'{' | b'}' | b'[' | b']' | b',' | b':' => i += 1,
            b if b.is_ascii_whitespace() => i += 1,
            _ => {
                let start = i;
                while i < bytes.len() && !b"{}[],: \t\r\n\"".contains(&bytes[i]) {
                    i += 1;
                }
                spans.push((start, i));
            }
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tierlm_api::logprobs::TopLogprob;

    fn tok(text: &str, p: f64, tops: &[(&str, f64)]) -> TokenLogprob {
        TokenLogprob {
            token: text.into(),
            logprob: p.ln() as f32,
            bytes: text.as_bytes().to_vec(),
            top_logprobs: tops
                .iter()
                .map(|(t, p)| TopLogprob {
                    token: (*t).into(),
                    logprob: p.ln() as f32,
                    bytes: t.as_bytes().to_vec(),
                })
                .collect(),
        }
    }

    fn labels(ls: &[&str]) -> Vec<String> {
        ls.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn renormalises_over_the_label_set() {
        // Raw: "The" 0.6, "spam" 0.3, "ham" 0.1 → 0.3 / (0.3 + 0.1) = 0.75.
        let t = [tok(
            "spam",
            0.3,
            &[("The", 0.6), ("spam", 0.3), ("ham", 0.1)],
        )];
        let c = label_confidence(&t, "spam", &labels(&["ham", "spam"]));
        assert!((c - 0.75).abs() < 1e-4, "{c}");
    }

    #[test]
    fn multi_token_labels_multiply_and_shared_prefixes_are_ignored() {
        // "sport" = "sp" (0.5) + "ort" (0.8) = 0.4; "spam" shares "sp" so only "ham"
        // (0.2) competes: 0.4 / 0.6.
        let t = [
            tok("sp", 0.5, &[("sp", 0.5), (" ham", 0.2), ("s", 0.1)]),
            tok("ort", 0.8, &[]),
        ];
        let c = label_confidence(&t, "sport", &labels(&["sport", "spam", "ham"]));
        assert!((c - 0.4 / 0.6).abs() < 1e-4, "{c}");
    }

    #[test]
    fn a_forced_end_of_sequence_is_ignored() {
        let t = [
            tok("ham", 0.7, &[("ham", 0.7), ("spam", 0.2)]),
            tok("", 0.000_001, &[]),
        ];
        let c = label_confidence(&t, "ham", &labels(&["ham", "spam"]));
        assert!((c - 0.7 / 0.9).abs() < 1e-4, "{c}");
        assert!((token_confidence(&t) - 0.7).abs() < 1e-4);
    }

    #[test]
    fn an_answer_outside_the_labels_has_no_confidence() {
        let t = [tok("maybe", 0.9, &[])];
        assert_eq!(label_confidence(&t, "maybe", &labels(&["yes", "no"])), 0.0);
        assert_eq!(label_confidence(&[], "yes", &labels(&["yes"])), 0.0);
    }

    #[test]
    fn json_must_parse() {
        let t = [tok("{", 0.9, &[])];
        assert_eq!(json_confidence("{\"a\":", &t), 0.0);
        assert!(json_confidence("{}", &t) > 0.89);
    }

    #[test]
    fn a_json_answer_is_as_sure_as_its_least_sure_field() {
        // {"name": "Ann", "phone": "555", "n": 3}: keys and punctuation are certain,
        // "Ann" is sure (0.9), "555" is a guess (0.2 and 0.8 → 0.4), 3 is sure (0.95).
        let t = [
            tok("{\"name\": ", 1.0, &[]),
            tok("\"Ann\"", 0.9, &[]),
            tok(", \"phone\": \"", 1.0, &[]),
            tok("55", 0.2, &[]),
            tok("5\"", 0.8, &[]),
            tok(", \"n\": ", 1.0, &[]),
            tok("3", 0.95, &[]),
            tok("}", 1.0, &[]),
        ];
        let text: String = t.iter().map(|x| x.token.as_str()).collect();
        assert_eq!(value_spans(&text).len(), 3);
        let c = json_confidence(&text, &t);
        // The phone's span also covers the certain `", "phone": "` token's quote.
        let phone = ((1.0f64.ln() + 0.2f64.ln() + 0.8f64.ln()) / 3.0).exp();
        assert!((c - phone).abs() < 1e-4, "{c} vs {phone}");
        assert!(
            c < token_confidence(&t),
            "a mean over all tokens hides the guess"
        );
    }

    #[test]
    fn json_spans_are_leaf_values_not_keys() {
        let text = r#"{"a": ["x\"y", true, null], "b": {"c": -1.5e3}, "d": ""}"#;
        let values: Vec<&str> = value_spans(text)
            .iter()
            .map(|&(s, e)| &text[s..e])
            .collect();
        assert_eq!(values, [r#""x\"y""#, "true", "null", "-1.5e3", r#""""#]);
    }

    proptest! {
        #[test]
        fn confidences_are_probabilities(ps in proptest::collection::vec(0.0001f64..1.0, 1..6), alt in 0.0001f64..1.0) {
            let toks: Vec<_> = ps.iter().map(|p| tok("a", *p, &[("b", alt)])).collect();
            let c = label_confidence(&toks, "a", &labels(&["a", "b"]));
            prop_assert!((0.0..=1.0).contains(&c));
            let g = token_confidence(&toks);
            prop_assert!((0.0..=1.0).contains(&g));
        }
    }
}
