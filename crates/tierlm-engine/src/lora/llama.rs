//! A trainable llama-architecture forward pass (SmolLM2, Llama 3.x) on candle, with
//! LoRA adapters on the linear layers.
//!
//! The base weights are read from the same GGUF file llama.cpp serves and dequantized
//! to f32, so the function trained here is the one the engine runs (same quantized
//! values, same rotary layout). Everything is written with candle's differentiable
//! primitives: its fused RMSNorm, softmax and RoPE kernels have no backward pass.
//!
//! Rotary embeddings follow llama.cpp's `LLAMA_ROPE_TYPE_NORM`: dimensions are rotated
//! in adjacent pairs `(x[2i], x[2i+1])`, which is what the GGUF converter's permutation
//! of the Q and K weights expects. Grouped-query heads map as llama.cpp maps them: head
//! `h` reads key/value head `h / (heads / kv_heads)`.

use std::fs::File;
use std::path::Path;

use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Tensor, Var, D};

/// The linear layers an adapter may attach to, by their GGUF tensor names.
pub const LINEAR_TARGETS: &[&str] = &[
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_output",
    "ffn_gate",
    "ffn_up",
    "ffn_down",
];

/// Shape of the network, read from the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaShape {
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub rope_base: f32,
    pub rms_eps: f64,
    pub vocab: usize,
}

/// One LoRA pair: `W x + scale · B (A x)`, `A` is `[rank, in]`, `B` is `[out, rank]`.
pub struct LoraPair {
    /// The base tensor's GGUF name, e.g. `blk.3.attn_q.weight`.
    pub tensor: String,
    pub a: Var,
    pub b: Var,
}

struct Linear {
    weight: Tensor,
    lora: Option<usize>,
}

struct Block {
    attn_norm: Tensor,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ffn_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// The base model (frozen) and its trainable adapter.
pub struct LoraLlama {
    pub shape: LlamaShape,
    embed: Tensor,
    blocks: Vec<Block>,
    out_norm: Tensor,
    lm_head: Tensor,
    pub pairs: Vec<LoraPair>,
    pub scale: f64,
    device: Device,
}

fn meta_u32(c: &gguf_file::Content, key: &str) -> candle_core::Result<u32> {
    c.metadata
        .get(key)
        .ok_or_else(|| candle_core::Error::Msg(format!("GGUF metadata has no `{key}`")))?
        .to_u32()
}

fn meta_f32(c: &gguf_file::Content, key: &str) -> Option<f32> {
    c.metadata.get(key).and_then(|v| v.to_f32().ok())
}

/// Hyper-parameters of the adapter itself.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterShape {
    pub rank: usize,
    pub alpha: f32,
    /// Entries of [`LINEAR_TARGETS`].
    pub targets: Vec<String>,
    pub seed: u64,
}

impl LoraLlama {
    /// Read the base model from `path` and attach a fresh adapter (`B` = 0, so the
    /// adapted model starts equal to the base).
    pub fn load(path: &Path, adapter: &AdapterShape) -> candle_core::Result<Self> {
        let device = Device::Cpu;
        let mut file = File::open(path)?;
        let content = gguf_file::Content::read(&mut file)?;
        let arch = content
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if arch != "llama" {
            candle_core::bail!(
                "LoRA training supports llama-architecture models (SmolLM2, Llama 3.x); `{}` is `{arch}`",
                path.display()
            );
        }
        let hidden = meta_u32(&content, "llama.embedding_length")? as usize;
        let heads = meta_u32(&content, "llama.attention.head_count")? as usize;
        let kv_heads = meta_u32(&content, "llama.attention.head_count_kv")
            .map(|v| v as usize)
            .unwrap_or(heads);
        let layers = meta_u32(&content, "llama.block_count")? as usize;
        let mut tensor = |name: &str| -> candle_core::Result<Tensor> {
            content
                .tensor(&mut file, name, &device)?
                .dequantize(&device)
        };
        let embed = tensor("token_embd.weight")?;
        let out_norm = tensor("output_norm.weight")?;
        let lm_head = match tensor("output.weight") {
            Ok(t) => t,
            Err(_) => embed.clone(),
        };
        let mut seed = adapter.seed.max(1);
        let mut pairs = Vec::new();
        let mut blocks = Vec::with_capacity(layers);
        for i in 0..layers {
            let mut linear = |kind: &str| -> candle_core::Result<Linear> {
                let name = format!("blk.{i}.{kind}.weight");
                let weight = tensor(&name)?;
                let lora = if adapter.targets.iter().any(|t| t == kind) {
                    let (out, inp) = weight.dims2()?;
                    // Kaiming-uniform-like A (as PEFT does), zero B.
                    let bound = 1.0 / (inp as f64).sqrt();
                    let a_vals: Vec<f32> = (0..adapter.rank * inp)
                        .map(|_| ((uniform(&mut seed) * 2.0 - 1.0) * bound) as f32)
                        .collect();
                    let a =
                        Var::from_tensor(&Tensor::from_vec(a_vals, (adapter.rank, inp), &device)?)?;
                    let b = Var::zeros((out, adapter.rank), DType::F32, &device)?;
                    pairs.push(LoraPair { tensor: name, a, b });
                    Some(pairs.len() - 1)
                } else {
                    None
                };
                Ok(Linear { weight, lora })
            };
            let block = Block {
                q: linear("attn_q")?,
                k: linear("attn_k")?,
                v: linear("attn_v")?,
                o: linear("attn_output")?,
                gate: linear("ffn_gate")?,
                up: linear("ffn_up")?,
                down: linear("ffn_down")?,
                attn_norm: tensor(&format!("blk.{i}.attn_norm.weight"))?,
                ffn_norm: tensor(&format!("blk.{i}.ffn_norm.weight"))?,
            };
            blocks.push(block);
        }
        let vocab = embed.dims2()?.0;
        let head_dim = hidden / heads;
        let shape = LlamaShape {
            layers,
            hidden,
            heads,
            kv_heads,
            head_dim,
            rope_base: meta_f32(&content, "llama.rope.freq_base").unwrap_or(10_000.0),
            rms_eps: meta_f32(&content, "llama.attention.layer_norm_rms_epsilon").unwrap_or(1e-5)
                as f64,
            vocab,
        };
        Ok(Self {
            shape,
            embed,
            blocks,
            out_norm,
            lm_head,
            pairs,
            scale: adapter.alpha as f64 / adapter.rank.max(1) as f64,
            device,
        })
    }

    pub fn vars(&self) -> Vec<&Var> {
        self.pairs.iter().flat_map(|p| [&p.a, &p.b]).collect()
    }

    fn linear(&self, l: &Linear, x: &Tensor) -> candle_core::Result<Tensor> {
        let base = x.matmul(&l.weight.t()?)?;
        match l.lora {
            None => Ok(base),
            Some(i) => {
                let p = &self.pairs[i];
                let low = x.matmul(&p.a.as_tensor().t()?)?;
                let delta = low.matmul(&p.b.as_tensor().t()?)?;
                base + delta.affine(self.scale, 0.0)?
            }
        }
    }

    fn rms_norm(&self, x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
        let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
        let inv = (ms + self.shape.rms_eps)?.sqrt()?.recip()?;
        x.broadcast_mul(&inv)?.broadcast_mul(w)
    }

    /// cos and sin tables `[T, head_dim/2]` for positions `0..t`.
    fn rope_tables(&self, t: usize) -> candle_core::Result<(Tensor, Tensor)> {
        let half = self.shape.head_dim / 2;
        let inv: Vec<f32> = (0..half)
            .map(|i| {
                1.0 / self
                    .shape
                    .rope_base
                    .powf(2.0 * i as f32 / self.shape.head_dim as f32)
            })
            .collect();
        let mut angles = Vec::with_capacity(t * half);
        for pos in 0..t {
            angles.extend(inv.iter().map(|f| pos as f32 * f));
        }
        let a = Tensor::from_vec(angles, (t, half), &self.device)?;
        Ok((a.cos()?, a.sin()?))
    }

    /// Rotate `x` `[heads, T, head_dim]` in adjacent pairs.
    fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
        let (h, t, d) = x.dims3()?;
        let pairs = x.reshape((h, t, d / 2, 2))?;
        let x0 = pairs.narrow(3, 0, 1)?.squeeze(3)?;
        let x1 = pairs.narrow(3, 1, 1)?.squeeze(3)?;
        let r0 = (x0.broadcast_mul(cos)? - x1.broadcast_mul(sin)?)?;
        let r1 = (x0.broadcast_mul(sin)? + x1.broadcast_mul(cos)?)?;
        Tensor::stack(&[r0, r1], 3)?.reshape((h, t, d))
    }

    fn attention(
        &self,
        b: &Block,
        x: &Tensor,
        tables: &(Tensor, Tensor),
        mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let s = &self.shape;
        let t = x.dims2()?.0;
        let split = |y: Tensor, n: usize| -> candle_core::Result<Tensor> {
            y.reshape((t, n, s.head_dim))?.transpose(0, 1)?.contiguous()
        };
        let q = split(self.linear(&b.q, x)?, s.heads)?;
        let k = split(self.linear(&b.k, x)?, s.kv_heads)?;
        let v = split(self.linear(&b.v, x)?, s.kv_heads)?;
        let q = Self::rope(&q, &tables.0, &tables.1)?;
        let k = Self::rope(&k, &tables.0, &tables.1)?;
        let rep = s.heads / s.kv_heads.max(1);
        let expand = |y: Tensor| -> candle_core::Result<Tensor> {
            if rep == 1 {
                return Ok(y);
            }
            y.unsqueeze(1)?
                .broadcast_as((s.kv_heads, rep, t, s.head_dim))?
                .reshape((s.heads, t, s.head_dim))
        };
        let k = expand(k)?;
        let v = expand(v)?;
        let scores = (q.matmul(&k.t()?)? / (s.head_dim as f64).sqrt())?.broadcast_add(mask)?;
        let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let out = probs
            .matmul(&v)?
            .transpose(0, 1)?
            .reshape((t, s.heads * s.head_dim))?;
        self.linear(&b.o, &out)
    }

    /// Logits `[positions.len(), vocab]` at the given positions of one sequence.
    pub fn logits_at(&self, tokens: &[u32], positions: &[u32]) -> candle_core::Result<Tensor> {
        let t = tokens.len();
        let ids = Tensor::new(tokens, &self.device)?;
        let mut x = self.embed.index_select(&ids, 0)?;
        let tables = self.rope_tables(t)?;
        let mask: Vec<f32> = (0..t * t)
            .map(|i| {
                if i % t > i / t {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let mask = Tensor::from_vec(mask, (t, t), &self.device)?;
        for b in &self.blocks {
            let h = self.rms_norm(&x, &b.attn_norm)?;
            x = (x + self.attention(b, &h, &tables, &mask)?)?;
            let h = self.rms_norm(&x, &b.ffn_norm)?;
            let gate = self.linear(&b.gate, &h)?.silu()?;
            let up = self.linear(&b.up, &h)?;
            x = (x + self.linear(&b.down, &(gate * up)?)?)?;
        }
        let pos = Tensor::new(positions, &self.device)?;
        let picked = x.index_select(&pos, 0)?;
        let h = self.rms_norm(&picked, &self.out_norm)?;
        h.matmul(&self.lm_head.t()?)
    }
}

/// A uniform number in [0, 1) from a xorshift state.
pub(crate) fn uniform(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 11) as f64 / (1u64 << 53) as f64
}
