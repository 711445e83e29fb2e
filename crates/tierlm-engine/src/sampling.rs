//! Per-sequence samplers and log-probabilities.
//!
//! Each sequence gets its own llama.cpp sampler chain (grammar, penalties, top-k,
//! top-p, min-p, temperature, then a seeded draw or greedy), so requests in one batch
//! never share random state. Log-probabilities are computed from the raw logits (the
//! model's own distribution, before temperature), as OpenAI and vLLM report them.

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::logit_bias::LlamaLogitBias;
use llama_cpp_2::token::LlamaToken;
use tierlm_api::logprobs::{TokenLogprob, TopLogprob};
use tierlm_api::ApiError;

use crate::request::{Grammar, SamplingParams};

/// How many recent tokens the penalties look at (llama.cpp's default).
const PENALTY_LAST_N: i32 = 64;

/// Build the sampler chain for one sequence.
pub fn build_sampler(
    model: &LlamaModel,
    params: &SamplingParams,
    grammar: Option<&Grammar>,
    choice: u32,
) -> Result<LlamaSampler, ApiError> {
    let mut chain = Vec::new();
    if !params.logit_bias.is_empty() {
        let biases: Vec<LlamaLogitBias> = params
            .logit_bias
            .iter()
            .map(|(t, b)| LlamaLogitBias::new(LlamaToken(*t), *b))
            .collect();
        chain.push(LlamaSampler::logit_bias(model.n_vocab(), &biases));
    }
    if let Some(g) = grammar {
        let sampler = match &g.trigger {
            None => LlamaSampler::grammar(model, &g.gbnf, "root"),
            Some(trigger) => LlamaSampler::grammar_lazy(model, &g.gbnf, "root", [trigger], &[]),
        };
        chain.push(sampler.map_err(|e| {
            ApiError::new(
                tierlm_api::ErrorCode::InvalidJsonSchema,
                format!("the output constraint could not be compiled into a grammar: {e}"),
            )
            .with_param("response_format")
        })?);
    }
    if params.presence_penalty != 0.0
        || params.frequency_penalty != 0.0
        || params.repetition_penalty != 1.0
    {
        chain.push(LlamaSampler::penalties(
            model.n_vocab(),
            PENALTY_LAST_N,
            params.repetition_penalty,
            params.frequency_penalty,
            params.presence_penalty,
        ));
    }
    if params.temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        if params.top_k > 0 {
            chain.push(LlamaSampler::top_k(params.top_k));
        }
        if params.top_p < 1.0 {
            chain.push(LlamaSampler::top_p(params.top_p, 1));
        }
        if params.min_p > 0.0 {
            chain.push(LlamaSampler::min_p(params.min_p, 1));
        }
        chain.push(LlamaSampler::temp(params.temperature));
        chain.push(LlamaSampler::dist(seed_for(params.seed, choice)));
    }
    Ok(LlamaSampler::chain_simple(chain))
}

/// The seed of one choice: the request seed offset by the choice index, so `n > 1`
/// gives distinct but reproducible choices. Without a seed, a fresh random one.
pub fn seed_for(seed: Option<u64>, choice: u32) -> u32 {
    match seed {
        Some(s) => {
            let mixed = s.wrapping_add(u64::from(choice).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            (mixed ^ (mixed >> 32)) as u32
        }
        None => {
            let id = tierlm_api::ids::new_id("seed");
            id.bytes().fold(2_166_136_261u32, |h, b| {
                (h ^ u32::from(b)).wrapping_mul(16_777_619)
            })
        }
    }
}

/// The chosen token's log-probability and the `top` most likely alternatives.
pub fn logprob_of(
    logits: &[f32],
    chosen: i32,
    top: u32,
    piece: &dyn Fn(i32) -> Vec<u8>,
) -> TokenLogprob {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    let log_z = f64::from(max) + sum.ln();
    let lp = |t: usize| (f64::from(logits[t]) - log_z) as f32;

    let mut top_ids: Vec<usize> = Vec::new();
    if top > 0 {
        let k = (top as usize).min(logits.len());
        let mut idx: Vec<usize> = (0..logits.len()).collect();
        idx.select_nth_unstable_by(k.saturating_sub(1), |a, b| {
            logits[*b].total_cmp(&logits[*a])
        });
        idx.truncate(k);
        idx.sort_by(|a, b| logits[*b].total_cmp(&logits[*a]).then(a.cmp(b)));
        top_ids = idx;
    }
    let chosen_idx = usize::try_from(chosen).unwrap_or(0).min(logits.len() - 1);
    let bytes = piece(chosen);
    TokenLogprob {
        token: String::from_utf8_lossy(&bytes).into_owned(),
        logprob: lp(chosen_idx),
        bytes,
        top_logprobs: top_ids
            .into_iter()
            .map(|t| {
                let b = piece(t as i32);
                TopLogprob {
                    token: String::from_utf8_lossy(&b).into_owned(),
                    logprob: lp(t),
                    bytes: b,
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(t: i32) -> Vec<u8> {
        format!("t{t}").into_bytes()
    }

    #[test]
    fn logprobs_are_normalised_and_sorted() {
        let logits = vec![1.0, 3.0, 2.0, -1.0];
        let lp = logprob_of(&logits, 1, 3, &piece);
        let total: f32 = logits
            .iter()
            .map(|l| {
                let m = 3.0f32;
                (l - m).exp()
            })
            .sum::<f32>();
        assert!((lp.logprob - (-(total.ln()))).abs() < 1e-5);
        let tops: Vec<_> = lp.top_logprobs.iter().map(|t| t.token.clone()).collect();
        assert_eq!(tops, vec!["t1", "t2", "t0"]);
        assert!(lp
            .top_logprobs
            .windows(2)
            .all(|w| w[0].logprob >= w[1].logprob));
        assert_eq!(lp.token, "t1");
    }

    #[test]
    fn seeds_differ_per_choice_and_repeat() {
        assert_eq!(seed_for(Some(7), 0), seed_for(Some(7), 0));
        assert_ne!(seed_for(Some(7), 0), seed_for(Some(7), 1));
    }
}
