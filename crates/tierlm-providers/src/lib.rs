//! Cloud LLM providers: wire formats, SSE parsing, HTTP clients, retries, fallbacks
//! and circuit breakers. The gateway talks OpenAI Chat Completions internally; this
//! crate translates to and from each provider (OpenAI, Anthropic, Gemini, and any
//! OpenAI-compatible server such as vLLM, llama.cpp's server or Ollama).

pub mod client;
pub mod cloud;
mod direct;
pub mod egress;
pub mod pricing;
pub mod reliability;
mod roots;
pub mod sse;
mod transport;
pub mod wire;

pub use client::{
    ChunkStream, Provider, ProviderError, ProviderKind, ProviderSettings, Secret, StreamItem,
};
pub use cloud::{CloudModel, Served, Target};
pub use egress::{Egress, EgressGate, EgressNotes};
pub use roots::ExtraRoots;
