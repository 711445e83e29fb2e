//! LoRA students: fine-tuning an adapter for a local llama-architecture GGUF model on
//! CPU with candle, and writing it in llama.cpp's GGUF adapter format so the engine
//! serves it (see [`crate::model::AdapterConfig`]).
//!
//! `llama` is the trainable forward pass over the dequantized GGUF weights, `train`
//! the tokenisation and optimisation loop, `adapter_file` the GGUF adapter writer.

pub mod adapter_file;
pub mod llama;
pub mod train;

pub use adapter_file::{read_provenance, write_adapter, AdapterProvenance};
pub use llama::{AdapterShape, LoraLlama, LINEAR_TARGETS};
pub use train::{
    example_loss, mean_loss, tokenize_examples, train_lora, ChatExample, LoraTrainOptions,
    LoraTrainReport, TokenExample,
};
