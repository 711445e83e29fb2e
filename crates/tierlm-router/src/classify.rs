//! The task classifier, as in semantic routing: each profile's example prompts are
//! embedded once at start-up; a request's text is embedded and compared (cosine) with
//! them. A profile's score is the mean of its `top_k` most similar examples, which is
//! steadier than the single nearest example and cheaper than a trained head.
//!
//! Only the first `route_words` words are embedded: the task is almost always clear
//! from the instruction at the top, and the encoder's cost grows with length, so this
//! bounds the router's own latency whatever the prompt size.

use std::path::Path;
use std::sync::Arc;

use tierlm_engine::embeddings::EmbedInput;
use tierlm_engine::{EmbeddingModel, StaticEmbeddings};

use crate::config::ClassifierKind;

/// Turns texts into unit vectors. [`EmbeddingModel`] is the real one; tests use a
/// deterministic stand-in.
pub trait Embedder: Send + Sync {
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String>;
}

impl Embedder for EmbeddingModel {
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        let inputs: Vec<EmbedInput> = texts.iter().cloned().map(EmbedInput::Text).collect();
        EmbeddingModel::embed(self, &inputs)
            .map(|(v, _)| v)
            .map_err(|e| e.message)
    }
}

impl Embedder for StaticEmbeddings {
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        texts
            .iter()
            .map(|t| StaticEmbeddings::embed(self, t))
            .collect()
    }
}

/// The embedder the classifier uses: static vectors read from the embedding model's
/// folder, or the loaded sentence encoder itself.
pub fn embedder(
    kind: ClassifierKind,
    dir: &Path,
    encoder: Option<&EmbeddingModel>,
) -> Result<Arc<dyn Embedder>, String> {
    match (kind, encoder) {
        (ClassifierKind::Static, _) => Ok(Arc::new(StaticEmbeddings::load(dir)?)),
        (ClassifierKind::Contextual, Some(e)) => Ok(Arc::new(e.clone())),
        (ClassifierKind::Contextual, None) => {
            Err("router.classifier = \"contextual\" needs the embedding model loaded".into())
        }
    }
}

/// The first `n` words of `text`, joined by single spaces.
pub fn head_words(text: &str, n: usize) -> String {
    text.split_whitespace()
        .take(n)
        .collect::<Vec<_>>()
        .join(" ")
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The classifier's answer for one text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Index of the best profile.
    pub profile: usize,
    /// Its score (mean cosine of its top-k examples).
    pub similarity: f32,
    /// Best score among profiles of the other class (−1 when there is none): the
    /// margin `similarity − other_class` says how clear the call was.
    pub other_class: f32,
}

pub struct Classifier {
    /// Per profile: its example vectors, and whether it is complex.
    profiles: Vec<(Vec<Vec<f32>>, bool)>,
    route_words: usize,
    top_k: usize,
}

impl Classifier {
    /// Embed every profile's examples. `profiles` gives (examples, is_complex).
    pub fn build(
        embedder: &dyn Embedder,
        profiles: &[(Vec<String>, bool)],
        route_words: usize,
        top_k: usize,
    ) -> Result<Self, String> {
        let mut out = Vec::with_capacity(profiles.len());
        for (examples, complex) in profiles {
            let texts: Vec<String> = examples
                .iter()
                .map(|e| head_words(e, route_words))
                .filter(|e| !e.is_empty())
                .collect();
            out.push((embedder.embed(&texts)?, *complex));
        }
        Ok(Self {
            profiles: out,
            route_words,
            top_k: top_k.max(1),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    /// The vector the request text is compared with.
    pub fn embed_request(&self, embedder: &dyn Embedder, text: &str) -> Result<Vec<f32>, String> {
        let head = head_words(text, self.route_words);
        let mut v = embedder.embed(&[head])?;
        v.pop()
            .ok_or_else(|| "the embedder returned no vector".to_string())
    }

    /// Score every profile against an embedded request; `None` without profiles.
    pub fn classify(&self, query: &[f32]) -> Option<Verdict> {
        let mut scores: Vec<(f32, bool)> = Vec::with_capacity(self.profiles.len());
        for (examples, complex) in &self.profiles {
            let mut sims: Vec<f32> = examples.iter().map(|e| dot(e, query)).collect();
            sims.sort_by(|a, b| b.total_cmp(a));
            let k = self.top_k.min(sims.len()).max(1);
            let score = if sims.is_empty() {
                -1.0
            } else {
                sims[..k].iter().sum::<f32>() / k as f32
            };
            scores.push((score, *complex));
        }
        let (best, &(similarity, complex)) = scores
            .iter()
            .enumerate()
            .max_by(|a, b| a.1 .0.total_cmp(&b.1 .0))?;
        let other_class = scores
            .iter()
            .filter(|(_, c)| *c != complex)
            .map(|(s, _)| *s)
            .fold(-1.0f32, f32::max);
        Some(Verdict {
            profile: best,
            similarity,
            other_class,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A bag-of-words embedder over a fixed vocabulary: enough to test the routing
    /// logic deterministically without loading a model.
    pub struct WordsEmbedder;

    const VOCAB: &[&str] = &[
        "spam", "sms", "win", "prize", "topic", "news", "sport", "python", "function", "def",
        "math", "eggs", "how", "many", "solve", "number", "question",
    ];

    impl Embedder for WordsEmbedder {
        fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
            Ok(texts
                .iter()
                .map(|t| {
                    let lower = t.to_lowercase();
                    let mut v: Vec<f32> = VOCAB
                        .iter()
                        .map(|w| lower.matches(w).count() as f32)
                        .collect();
                    v.push(0.1);
                    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    v.iter().map(|x| x / n).collect()
                })
                .collect())
        }
    }

    #[test]
    fn picks_the_closest_profile_with_a_margin() {
        let c = Classifier::build(
            &WordsEmbedder,
            &[
                (
                    vec!["is this sms spam".into(), "win a prize sms".into()],
                    false,
                ),
                (vec!["write a python function def".into()], true),
            ],
            48,
            3,
        )
        .unwrap();
        let q = c
            .embed_request(&WordsEmbedder, "SMS: you win a prize")
            .unwrap();
        let v = c.classify(&q).unwrap();
        assert_eq!(v.profile, 0);
        assert!(v.similarity > v.other_class);
        let q = c
            .embed_request(&WordsEmbedder, "def f(): a python function")
            .unwrap();
        assert_eq!(c.classify(&q).unwrap().profile, 1);
    }

    #[test]
    fn only_the_head_of_a_long_text_counts() {
        assert_eq!(head_words("a  b\nc d", 3), "a b c");
        let c = Classifier::build(&WordsEmbedder, &[(vec!["spam".into()], false)], 2, 3).unwrap();
        let long = format!("spam sms {}", "python ".repeat(1000));
        let q = c.embed_request(&WordsEmbedder, &long).unwrap();
        assert!(c.classify(&q).unwrap().similarity > 0.6);
    }

    #[test]
    fn no_profiles_no_verdict() {
        let c = Classifier::build(&WordsEmbedder, &[], 48, 3).unwrap();
        assert!(c.is_empty());
        assert!(c.classify(&[1.0]).is_none());
    }
}
