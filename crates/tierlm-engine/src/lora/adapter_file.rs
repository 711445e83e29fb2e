//! LoRA adapters in llama.cpp's GGUF adapter format.
//!
//! The file llama.cpp's `llama_adapter_lora_init` loads: metadata
//! `general.type = "adapter"`, `adapter.type = "lora"`, `general.architecture` equal to
//! the base model's, `adapter.lora.alpha`; for each adapted weight `W` named `N`
//! (`blk.3.attn_q.weight`), tensors `N.lora_a` (`[rank, in]`, GGUF `ne = [in, rank]`)
//! and `N.lora_b` (`[out, rank]`, `ne = [rank, out]`), in f32. llama.cpp computes
//! `W x + (alpha / rank) · B (A x)`, the same function the trainer optimised.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};

use super::llama::LoraLlama;

/// Extra provenance stored in the adapter (ignored by llama.cpp).
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterProvenance {
    /// The base model file's name, to catch an adapter paired with the wrong base.
    pub base_model: String,
    /// What it was trained for (the distillation task).
    pub task: String,
    pub examples: usize,
}

/// Write the adapter of `model` to `path` (through a temporary file, renamed into
/// place, so a reader never sees half a file).
pub fn write_adapter(
    model: &LoraLlama,
    alpha: f32,
    provenance: &AdapterProvenance,
    path: &Path,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(model.pairs.len() * 2);
    for p in &model.pairs {
        for (suffix, var) in [("lora_a", &p.a), ("lora_b", &p.b)] {
            let q = QTensor::quantize(var.as_tensor(), GgmlDType::F32).map_err(|e| err(&e))?;
            tensors.push((format!("{}.{suffix}", p.tensor), q));
        }
    }
    let meta = [
        (
            "general.architecture",
            gguf_file::Value::String("llama".into()),
        ),
        ("general.type", gguf_file::Value::String("adapter".into())),
        (
            "general.name",
            gguf_file::Value::String(format!("tierlm student: {}", provenance.task)),
        ),
        ("adapter.type", gguf_file::Value::String("lora".into())),
        ("adapter.lora.alpha", gguf_file::Value::F32(alpha)),
        (
            "tierlm.base_model",
            gguf_file::Value::String(provenance.base_model.clone()),
        ),
        (
            "tierlm.task",
            gguf_file::Value::String(provenance.task.clone()),
        ),
        (
            "tierlm.examples",
            gguf_file::Value::U64(provenance.examples as u64),
        ),
    ];
    let meta_refs: Vec<(&str, &gguf_file::Value)> = meta.iter().map(|(k, v)| (*k, v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tmp = path.with_extension("gguf.tmp");
    {
        let file = File::create(&tmp).map_err(|e| err(&e))?;
        let mut w = BufWriter::new(file);
        gguf_file::write(&mut w, &meta_refs, &tensor_refs).map_err(|e| err(&e))?;
        let file = w.into_inner().map_err(|e| err(&e))?;
        file.sync_all().map_err(|e| err(&e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| err(&e))
}

/// The provenance a tierlm adapter file carries, if it is one.
pub fn read_provenance(path: &Path) -> Result<AdapterProvenance, String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let mut file = File::open(path).map_err(|e| err(&e))?;
    let content = gguf_file::Content::read(&mut file).map_err(|e| err(&e))?;
    let text = |k: &str| {
        content
            .metadata
            .get(k)
            .and_then(|v| v.to_string().ok())
            .cloned()
    };
    if text("general.type").as_deref() != Some("adapter") {
        return Err(format!("{} is not a GGUF adapter", path.display()));
    }
    Ok(AdapterProvenance {
        base_model: text("tierlm.base_model").unwrap_or_default(),
        task: text("tierlm.task").unwrap_or_default(),
        examples: content
            .metadata
            .get("tierlm.examples")
            .and_then(|v| v.to_u64().ok())
            .unwrap_or(0) as usize,
    })
}
