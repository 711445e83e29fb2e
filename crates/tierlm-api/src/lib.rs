//! OpenAI and Anthropic wire types (and the Anthropic dialect's translation to the
//! neutral chat request), the tierlm error type and its codes, and the small shared
//! primitives (ids, timestamps, metric histograms) every other crate uses.
//! Depends on serde only, so every crate can share it.

pub mod anthropic;
pub mod chat;
pub mod completions;
pub mod embeddings;
pub mod error;
pub mod ids;
pub mod logprobs;
pub mod metrics;
pub mod models;
pub mod responses;
pub mod string_or;
pub mod usage;

pub use error::{ApiError, ErrorCode};
pub use usage::Usage;
