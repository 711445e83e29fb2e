//! What a label student reads about a request.
//!
//! Always the router's embedding of the request (the vector the router has already
//! computed to pick the task, so it costs nothing more): static MiniLM token vectors
//! by default, which carry the topic words well. Students trained since format 2 also
//! read the sentence encoder's (the `[embeddings]` model's) embedding of the request
//! **without the text every request of the task begins with** — the task's
//! instructions ("Is the following SMS message spam or ham? … SMS: "). That opening is
//! the same for every request, so it tells nothing about one of them, and in a
//! mean-pooled vector it outweighs a short input; the encoder, unlike static vectors,
//! sees word order, which is what separates "Who …" from "How many …" questions.
//! Measured on the development workload (docs/BENCHMARKS.md, "Distillation
//! flywheel"), 400 examples per task: shadow agreement of the BBC topic student rose
//! from 93.2% to 97.5% (past the default gate) and of the TREC question-type student
//! from 63.6% to 73.2%.
//!
//! The opening is learnt at training time as the longest common prefix of the
//! training inputs, ending at a word boundary, and stored in the student file, so the
//! gateway cuts exactly what training cut.

use serde::{Deserialize, Serialize};

use crate::error::DistillError;

/// The inputs of a label student beyond the router's embedding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudentFeatures {
    /// The sentence encoder (the `[embeddings]` model's name) whose vector of the
    /// request follows the router's embedding; `None`: the router's embedding alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<String>,
    /// Dimensions of the encoder's vector (0 without an encoder).
    #[serde(default)]
    pub encoder_dims: usize,
    /// The opening every training input shared, cut from a request before encoding.
    #[serde(default)]
    pub prefix: String,
    /// Words of the rest that the encoder reads.
    #[serde(default)]
    pub words: usize,
}

impl StudentFeatures {
    /// Features with the sentence `encoder` (`dims` wide) reading the first `words`
    /// words of each text after the opening that all of `texts` share.
    pub fn with_encoder(encoder: &str, dims: usize, texts: &[String], words: usize) -> Self {
        Self {
            encoder: Some(encoder.to_string()),
            encoder_dims: dims,
            prefix: shared_opening(texts),
            words: words.max(1),
        }
    }

    /// The text the encoder reads for a request text (empty without an encoder).
    pub fn encoder_text(&self, text: &str) -> String {
        if self.encoder.is_none() {
            return String::new();
        }
        let rest = text.strip_prefix(self.prefix.as_str()).unwrap_or(text);
        rest.split_whitespace()
            .take(self.words)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The student's input: the router's embedding, then the encoder's vector when
    /// the student reads one.
    pub fn input(&self, router: &[f32], encoded: Option<&[f32]>) -> Result<Vec<f32>, DistillError> {
        let mut x = router.to_vec();
        match (&self.encoder, encoded) {
            (None, _) => {}
            (Some(_), Some(e)) if e.len() == self.encoder_dims => x.extend_from_slice(e),
            (Some(name), Some(e)) => {
                return Err(DistillError::Invalid(format!(
                    "the {name} vector has {} dimensions, the student expects {}",
                    e.len(),
                    self.encoder_dims
                )))
            }
            (Some(name), None) => {
                return Err(DistillError::Invalid(format!(
                    "the student reads the {name} embedding of the request, and none was given"
                )))
            }
        }
        Ok(x)
    }
}

/// The longest opening every text shares, ending at a word boundary (just after
/// whitespace), and short enough to leave every text some words. Empty for fewer
/// than two texts.
pub fn shared_opening(texts: &[String]) -> String {
    let Some((first, rest)) = texts.split_first() else {
        return String::new();
    };
    if rest.is_empty() {
        return String::new();
    }
    let mut len = first.len();
    for t in rest {
        len = first
            .char_indices()
            .zip(t.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, a), _)| i + a.len_utf8())
            .min(len);
    }
    let common = &first[..len];
    // Back to just after the last whitespace, so no word is cut, and never the whole
    // of a text: each keeps at least one word to encode.
    let mut end = after_last_space(common);
    while end > 0 && texts.iter().any(|t| t[end..].trim().is_empty()) {
        end = after_last_space(common[..end].trim_end());
    }
    common[..end].to_string()
}

/// The byte offset just after the last whitespace character of `s` (0 without one).
fn after_last_space(s: &str) -> usize {
    s.char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_shared_opening_ends_at_a_word_boundary() {
        let texts = s(&[
            "Spam or ham? Answer with one word.\n\nSMS: Win a prize now",
            "Spam or ham? Answer with one word.\n\nSMS: Winter is coming",
        ]);
        // "Win" and "Winter" share "Win", which is not a word of the opening.
        assert_eq!(
            shared_opening(&texts),
            "Spam or ham? Answer with one word.\n\nSMS: "
        );
    }

    #[test]
    fn every_text_keeps_a_word() {
        // One text is all opening: the opening stops a word earlier.
        let texts = s(&[
            "Question: what is it",
            "Question: what is it ",
            "Question: what",
        ]);
        let p = shared_opening(&texts);
        assert_eq!(p, "Question: ");
        assert!(texts.iter().all(|t| !t[p.len()..].trim().is_empty()));
        assert_eq!(shared_opening(&s(&["same", "same"])), "");
        assert_eq!(shared_opening(&s(&["only one"])), "");
        assert_eq!(shared_opening(&[]), "");
        assert_eq!(shared_opening(&s(&["abc", "xyz"])), "");
    }

    #[test]
    fn multibyte_text_is_cut_on_char_boundaries() {
        let texts = s(&["Résumé: é a", "Résumé: é b", "Résumé: è c"]);
        assert_eq!(shared_opening(&texts), "Résumé: ");
    }

    #[test]
    fn the_encoder_reads_the_rest_up_to_the_word_limit() {
        let f = StudentFeatures::with_encoder("minilm", 3, &s(&["Task: a b c d", "Task: e f"]), 2);
        assert_eq!(f.prefix, "Task: ");
        assert_eq!(f.encoder_text("Task: one two three"), "one two");
        // A text without the opening is read from its start.
        assert_eq!(f.encoder_text("other  words here"), "other words");
        assert_eq!(StudentFeatures::default().encoder_text("Task: x"), "");
    }

    #[test]
    fn the_input_is_the_router_vector_then_the_encoder_vector() {
        let f = StudentFeatures::with_encoder("minilm", 2, &s(&["a x", "a y"]), 8);
        assert_eq!(
            f.input(&[1.0], Some(&[2.0, 3.0])).unwrap(),
            vec![1.0, 2.0, 3.0]
        );
        assert!(f.input(&[1.0], None).is_err());
        assert!(f.input(&[1.0], Some(&[2.0])).is_err());
        let plain = StudentFeatures::default();
        assert_eq!(plain.input(&[1.0, 2.0], None).unwrap(), vec![1.0, 2.0]);
    }
}
