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
//!   (for instance cut off by `max_tokens`), otherwise the token confidence.
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

/// Confidence of a JSON answer: 0 unless it parses.
pub fn json_confidence(text: &str, tokens: &[TokenLogprob]) -> f64 {
    if serde_json::from_str::<serde_json::Value>(text).is_ok() {
        token_confidence(tokens)
    } else {
        0.0
    }
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
