//! tierlm-mockcloud: a fast, deterministic mock of the OpenAI, Anthropic and Gemini HTTP
//! APIs, with fault injection (latency, error rates, forced statuses, cut streams), a
//! request recorder and token accounting. tierlm's tests and benchmarks point their cloud
//! providers at it instead of the real services.
//!
//! The library exposes [`app`] (an axum `Router` for in-process tests) and [`serve`] (what
//! the `tierlm-mockcloud` binary runs, [`serve_with_tls`] for HTTPS). Token usage follows one documented rule: see
//! [`tokens`].

mod answer;
mod anthropic;
mod config;
mod faults;
mod gemini;
mod openai;
mod record;
mod schema;
mod server;
mod sse;
mod stats;
mod text;
pub mod tls;

pub use config::{load_fixtures, Config, Fixture};
pub use server::{app, serve, serve_with_tls};
pub use text::tokens;
