//! Fine-tuning a LoRA adapter on chat examples: tokenisation with the model's own
//! vocabulary and chat template, answer-only cross-entropy, AdamW with a clipped
//! global gradient norm.
//!
//! Each example is rendered exactly as the engine will render the request at serving
//! time (the same template, the assistant turn opened), so the adapter learns the
//! continuation the engine will ask it for. Only the answer's tokens, up to and
//! including the end-of-turn token, carry loss. Examples longer than `max_tokens` are
//! skipped and counted, not truncated (a cut prompt would teach the wrong task).

use std::path::Path;
use std::time::Instant;

use candle_core::{Tensor, Var};
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;

use super::llama::{uniform, AdapterShape, LoraLlama};
use crate::model::backend;
use crate::template::{ChatTemplate, TurnText};

/// One training conversation and the answer the student should give.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatExample {
    pub turns: Vec<TurnText>,
    pub answer: String,
}

/// A tokenised example: the prompt, then the answer (ending in end-of-turn).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenExample {
    pub prompt: Vec<u32>,
    pub answer: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoraTrainOptions {
    pub adapter: AdapterShape,
    pub epochs: usize,
    pub learning_rate: f64,
    /// Examples per optimiser step (gradients are averaged over them).
    pub batch: usize,
    /// Examples with more tokens than this are skipped.
    pub max_tokens: usize,
    /// Global gradient-norm clip.
    pub clip_norm: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoraTrainReport {
    pub examples: usize,
    pub skipped: usize,
    pub answer_tokens: usize,
    pub total_tokens: usize,
    pub steps: usize,
    /// Mean answer-token loss (nats) of each epoch, in order.
    pub epoch_losses: Vec<f64>,
    /// Mean answer-token loss on the validation examples before and after training
    /// (`None` without validation examples).
    pub validation_before: Option<f64>,
    pub validation_after: Option<f64>,
    pub seconds: f64,
    pub trainable_params: usize,
}

fn cerr(e: candle_core::Error) -> String {
    e.to_string()
}

/// Tokenise chat examples with the model's vocabulary and chat template.
pub fn tokenize_examples(
    model_path: &Path,
    chat_template: Option<&str>,
    examples: &[ChatExample],
) -> Result<Vec<TokenExample>, String> {
    let params = LlamaModelParams::default().with_vocab_only(true);
    let llama =
        LlamaModel::load_from_file(backend().map_err(|e| e.to_string())?, model_path, &params)
            .map_err(|e| format!("{}: {e}", model_path.display()))?;
    let template = ChatTemplate::select(&llama, chat_template)?;
    let vocab = llama.vocab();
    let ids = |text: &str, bos: bool| -> Vec<u32> {
        vocab
            .tokenize(text.as_bytes(), bos, true)
            .into_iter()
            .map(|t| t.0 as u32)
            .collect()
    };
    let mut out = Vec::with_capacity(examples.len());
    for ex in examples {
        let prompt_text = template.render(&llama, &ex.turns).map_err(|e| e.message)?;
        let mut full_turns = ex.turns.clone();
        full_turns.push(TurnText {
            role: "assistant",
            content: ex.answer.clone(),
        });
        // The full conversation with the answer closed: what follows the prompt is
        // the answer text and the template's end-of-turn marker.
        let closed = template
            .render_closed(&llama, &full_turns)
            .map_err(|e| e.message)?;
        let suffix = closed
            .strip_prefix(&prompt_text)
            .map(str::to_string)
            .unwrap_or_else(|| ex.answer.clone());
        let prompt = ids(&prompt_text, vocab.should_add_bos());
        let mut answer = Vec::new();
        for t in ids(&suffix, false) {
            answer.push(t);
            if vocab.is_eog(llama_cpp_2::token::LlamaToken(t as i32)) {
                break;
            }
        }
        if !answer
            .last()
            .is_some_and(|t| vocab.is_eog(llama_cpp_2::token::LlamaToken(*t as i32)))
        {
            answer.push(vocab.eos().0 as u32);
        }
        out.push(TokenExample { prompt, answer });
    }
    Ok(out)
}

/// Mean answer-token cross-entropy of one example, as a graph node.
pub fn example_loss(model: &LoraLlama, ex: &TokenExample) -> candle_core::Result<Tensor> {
    let mut tokens = ex.prompt.clone();
    tokens.extend_from_slice(&ex.answer);
    // Logits at position p predict token p + 1.
    let first = ex.prompt.len() as u32 - 1;
    let positions: Vec<u32> = (first..first + ex.answer.len() as u32).collect();
    let logits = model.logits_at(&tokens, &positions)?;
    let targets = Tensor::new(ex.answer.as_slice(), logits.device())?;
    candle_nn::loss::cross_entropy(&logits, &targets)
}

struct AdamW {
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    step: i32,
    lr: f64,
}

impl AdamW {
    fn new(vars: &[&Var], lr: f64) -> candle_core::Result<Self> {
        let zeros = |v: &&Var| v.as_tensor().zeros_like();
        Ok(Self {
            m: vars.iter().map(zeros).collect::<candle_core::Result<_>>()?,
            v: vars.iter().map(zeros).collect::<candle_core::Result<_>>()?,
            step: 0,
            lr,
        })
    }

    fn apply(&mut self, vars: &[&Var], grads: &[Tensor]) -> candle_core::Result<()> {
        const B1: f64 = 0.9;
        const B2: f64 = 0.999;
        const EPS: f64 = 1e-8;
        self.step += 1;
        let c1 = 1.0 - B1.powi(self.step);
        let c2 = 1.0 - B2.powi(self.step);
        for (i, (var, g)) in vars.iter().zip(grads).enumerate() {
            self.m[i] = ((&self.m[i] * B1)? + (g * (1.0 - B1))?)?;
            self.v[i] = ((&self.v[i] * B2)? + (g.sqr()? * (1.0 - B2))?)?;
            let m_hat = (&self.m[i] / c1)?;
            let v_hat = (&self.v[i] / c2)?;
            let update = (m_hat / (v_hat.sqrt()? + EPS)?)?;
            var.set(&(var.as_tensor() - (update * self.lr)?)?)?;
        }
        Ok(())
    }
}

/// Mean answer-token loss over `examples` (`None` when there are none).
pub fn mean_loss(model: &LoraLlama, examples: &[&TokenExample]) -> Result<Option<f64>, String> {
    if examples.is_empty() {
        return Ok(None);
    }
    let mut sum = 0.0;
    for ex in examples {
        sum += example_loss(model, ex)
            .and_then(|l| l.to_scalar::<f32>())
            .map_err(cerr)? as f64;
    }
    Ok(Some(sum / examples.len() as f64))
}

/// Train a fresh adapter on `examples` (already tokenised); `validation` examples are
/// only scored, before and after. `progress` gets (step, total steps, loss so far
/// this epoch).
pub fn train_lora(
    model_path: &Path,
    examples: &[TokenExample],
    validation: &[TokenExample],
    opts: &LoraTrainOptions,
    mut progress: impl FnMut(usize, usize, f64),
) -> Result<(LoraLlama, LoraTrainReport), String> {
    let started = Instant::now();
    let model = LoraLlama::load(model_path, &opts.adapter).map_err(cerr)?;
    let fits = |e: &&TokenExample| {
        !e.prompt.is_empty()
            && !e.answer.is_empty()
            && e.prompt.len() + e.answer.len() <= opts.max_tokens
    };
    let usable: Vec<&TokenExample> = examples.iter().filter(fits).collect();
    if usable.is_empty() {
        return Err(format!(
            "no usable examples ({} given; each needs a prompt and an answer within {} tokens)",
            examples.len(),
            opts.max_tokens
        ));
    }
    let held: Vec<&TokenExample> = validation.iter().filter(fits).collect();
    let validation_before = mean_loss(&model, &held)?;
    let vars = model.vars();
    let trainable_params = vars.iter().map(|v| v.as_tensor().elem_count()).sum();
    let mut adam = AdamW::new(&vars, opts.learning_rate).map_err(cerr)?;
    let mut order: Vec<usize> = (0..usable.len()).collect();
    let mut seed = opts.adapter.seed.wrapping_add(7).max(1);
    let batch = opts.batch.max(1);
    let total_steps = opts.epochs * usable.len().div_ceil(batch);
    let mut steps = 0;
    let mut epoch_losses = Vec::with_capacity(opts.epochs);
    for _ in 0..opts.epochs {
        // Fisher–Yates with the seeded generator: a run is reproducible.
        for i in (1..order.len()).rev() {
            let j = (uniform(&mut seed) * (i + 1) as f64) as usize;
            order.swap(i, j.min(i));
        }
        let mut epoch_sum = 0.0;
        for chunk in order.chunks(batch) {
            let mut acc: Option<Vec<Tensor>> = None;
            for &i in chunk {
                let loss = example_loss(&model, usable[i]).map_err(cerr)?;
                epoch_sum += loss.to_scalar::<f32>().map_err(cerr)? as f64;
                let grads = (loss / chunk.len() as f64)
                    .map_err(cerr)?
                    .backward()
                    .map_err(cerr)?;
                let g: Vec<Tensor> = vars
                    .iter()
                    .map(|v| match grads.get(v.as_tensor()) {
                        Some(g) => Ok(g.clone()),
                        None => v.as_tensor().zeros_like(),
                    })
                    .collect::<candle_core::Result<_>>()
                    .map_err(cerr)?;
                acc = Some(match acc {
                    None => g,
                    Some(prev) => prev
                        .iter()
                        .zip(&g)
                        .map(|(a, b)| a + b)
                        .collect::<candle_core::Result<_>>()
                        .map_err(cerr)?,
                });
            }
            let Some(mut g) = acc else { continue };
            let norm_sq: f64 = g
                .iter()
                .map(|t| t.sqr()?.sum_all()?.to_scalar::<f32>())
                .collect::<candle_core::Result<Vec<f32>>>()
                .map_err(cerr)?
                .iter()
                .map(|x| *x as f64)
                .sum();
            let norm = norm_sq.sqrt();
            if norm.is_finite() && norm > opts.clip_norm {
                let k = opts.clip_norm / norm;
                g = g
                    .iter()
                    .map(|t| t * k)
                    .collect::<candle_core::Result<_>>()
                    .map_err(cerr)?;
            }
            adam.apply(&vars, &g).map_err(cerr)?;
            steps += 1;
            progress(steps, total_steps, epoch_sum);
        }
        epoch_losses.push(epoch_sum / usable.len() as f64);
    }
    let validation_after = mean_loss(&model, &held)?;
    let report = LoraTrainReport {
        examples: usable.len(),
        skipped: examples.len() - usable.len(),
        answer_tokens: usable.iter().map(|e| e.answer.len()).sum(),
        total_tokens: usable.iter().map(|e| e.prompt.len() + e.answer.len()).sum(),
        steps,
        epoch_losses,
        validation_before,
        validation_after,
        seconds: started.elapsed().as_secs_f64(),
        trainable_params,
    };
    Ok((model, report))
}
