//! Sentence embeddings in-process: a BERT encoder (all-MiniLM-L6-v2 and its kin) on
//! candle, on the CPU.
//!
//! The output matches sentence-transformers: WordPiece tokens truncated to the
//! model's maximum sequence length (256 for MiniLM, from `sentence_bert_config.json`;
//! the tokenizer file's own 128-token truncation and fixed padding are overridden),
//! padding to the longest input of the batch, mean pooling over the attention mask,
//! then L2 normalisation. Inputs are encoded in batches of `batch_size`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use tierlm_api::ApiError;

#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingConfig {
    pub name: String,
    /// A folder with config.json, model.safetensors and tokenizer.json.
    pub path: PathBuf,
    /// Sentences per forward pass.
    pub batch_size: usize,
    /// Most inputs in one request.
    pub max_inputs: usize,
}

struct Inner {
    name: String,
    model: BertModel,
    tokenizer: Tokenizer,
    dims: usize,
    max_tokens: usize,
    batch_size: usize,
    max_inputs: usize,
}

/// Token ids padded to the longest input, and their attention masks.
type Encoded = (Vec<Vec<u32>>, Vec<Vec<u32>>);

/// A loaded embedding model; cheap to clone, safe to share.
#[derive(Clone)]
pub struct EmbeddingModel {
    inner: Arc<Inner>,
}

/// An input: text, or token ids of this model's tokenizer.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbedInput {
    Text(String),
    Tokens(Vec<u32>),
}

fn read_max_seq_length(dir: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(dir.join("sentence_bert_config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("max_seq_length")?.as_u64().map(|n| n as usize)
}

impl EmbeddingModel {
    /// Load from a sentence-transformers folder. Blocking.
    pub fn load(cfg: &EmbeddingConfig) -> Result<Self, String> {
        let dir = &cfg.path;
        let read = |f: &str| {
            std::fs::read_to_string(dir.join(f))
                .map_err(|e| format!("cannot read {}: {e}", dir.join(f).display()))
        };
        let config: Config = serde_json::from_str(&read("config.json")?)
            .map_err(|e| format!("{}: {e}", dir.join("config.json").display()))?;
        let max_tokens = read_max_seq_length(dir)
            .unwrap_or(config.max_position_embeddings)
            .min(config.max_position_embeddings);
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| format!("{}: {e}", dir.join("tokenizer.json").display()))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| format!("tokenizer truncation: {e}"))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        let weights = dir.join("model.safetensors");
        let device = Device::Cpu;
        // Safety is not involved: the weights are read into memory, not mapped.
        let bytes = std::fs::read(&weights)
            .map_err(|e| format!("cannot read {}: {e}", weights.display()))?;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &device)
            .map_err(|e| format!("{}: {e}", weights.display()))?;
        let model =
            BertModel::load(vb, &config).map_err(|e| format!("{}: {e}", weights.display()))?;
        tracing::info!(model = %cfg.name, dims = config.hidden_size, max_tokens, "embedding model loaded");
        Ok(Self {
            inner: Arc::new(Inner {
                name: cfg.name.clone(),
                model,
                tokenizer,
                dims: config.hidden_size,
                max_tokens,
                batch_size: cfg.batch_size.max(1),
                max_inputs: cfg.max_inputs,
            }),
        })
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn dims(&self) -> usize {
        self.inner.dims
    }

    pub fn max_tokens(&self) -> usize {
        self.inner.max_tokens
    }

    pub fn max_inputs(&self) -> usize {
        self.inner.max_inputs
    }

    /// Embed the inputs; returns unit vectors and the number of tokens used.
    /// Blocking and CPU-heavy: call it from a blocking thread.
    pub fn embed(&self, inputs: &[EmbedInput]) -> Result<(Vec<Vec<f32>>, u32), ApiError> {
        let mut out = Vec::with_capacity(inputs.len());
        let mut tokens = 0u32;
        for chunk in inputs.chunks(self.inner.batch_size) {
            let (vecs, used) = self.embed_batch(chunk)?;
            out.extend(vecs);
            tokens += used;
        }
        Ok((out, tokens))
    }

    fn encode(&self, inputs: &[EmbedInput]) -> Result<Encoded, ApiError> {
        let tk = &self.inner.tokenizer;
        let texts: Vec<&str> = inputs
            .iter()
            .filter_map(|i| match i {
                EmbedInput::Text(t) => Some(t.as_str()),
                EmbedInput::Tokens(_) => None,
            })
            .collect();
        let mut encoded = tk
            .encode_batch(texts, true)
            .map_err(|e| ApiError::internal(format!("tokenizer failed: {e}")))?
            .into_iter();
        let mut ids = Vec::new();
        for i in inputs {
            match i {
                EmbedInput::Text(_) => match encoded.next() {
                    Some(e) => ids.push(
                        e.get_ids()
                            .iter()
                            .zip(e.get_attention_mask())
                            .filter(|(_, m)| **m == 1)
                            .map(|(t, _)| *t)
                            .collect::<Vec<u32>>(),
                    ),
                    None => return Err(ApiError::internal("tokenizer returned too few encodings")),
                },
                EmbedInput::Tokens(t) => {
                    ids.push(t.iter().copied().take(self.inner.max_tokens).collect())
                }
            }
        }
        // Pad to the longest (pad id 0, mask 0).
        let longest = ids.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let masks = ids
            .iter()
            .map(|v| (0..longest).map(|i| u32::from(i < v.len())).collect())
            .collect();
        let padded = ids
            .into_iter()
            .map(|mut v| {
                v.resize(longest, 0);
                v
            })
            .collect();
        Ok((padded, masks))
    }

    fn embed_batch(&self, inputs: &[EmbedInput]) -> Result<(Vec<Vec<f32>>, u32), ApiError> {
        let (ids, masks) = self.encode(inputs)?;
        let used: u32 = masks.iter().map(|m| m.iter().sum::<u32>()).sum();
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let device = &self.inner.model.device;
            let ids_t = Tensor::new(ids.clone(), device)?;
            let mask_t = Tensor::new(masks.clone(), device)?;
            let types = ids_t.zeros_like()?;
            let hidden = self.inner.model.forward(&ids_t, &types, Some(&mask_t))?;
            let mask_f = mask_t.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&mask_f)?.sum(1)?;
            let counts = mask_f.sum(1)?.clamp(1e-9, f64::MAX)?;
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        };
        let vecs = run().map_err(|e| ApiError::internal(format!("embedding failed: {e}")))?;
        Ok((vecs, used))
    }
}
