//! Local inference for tierlm: GGUF models on llama.cpp, driven by one worker thread
//! per model with continuous batching, prefix reuse, grammars and log-probabilities,
//! plus in-process sentence embeddings. This is the only crate that touches FFI.

pub mod embeddings;
pub mod lora;
pub mod metrics;
pub mod model;
pub mod prepare;
pub mod prompt_cache;
pub mod request;
pub mod sampling;
pub mod static_embeddings;
pub mod template;
pub mod text;
pub mod tools;
mod worker;

pub use embeddings::{EmbeddingConfig, EmbeddingModel};
pub use metrics::EngineMetrics;
pub use model::{AdapterConfig, LocalModel, ModelConfig, ModelInfo};
pub use request::{Event, Finish, Generation, SamplingParams};
pub use static_embeddings::StaticEmbeddings;
