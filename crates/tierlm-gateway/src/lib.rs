//! The tierlm gateway core: one request and its caller in; the facts its headers
//! carry, the answer (whole or as a stream of events) and one [`outcome::Outcome`]
//! out. It knows no HTTP: the server translates each API dialect to these calls and
//! back.
//!
//! - [`chat`]: the chat entry point — guard, routing across tiers, the cascade,
//!   students, cloud calls with redaction and restoration, local fallbacks;
//! - [`completions`], [`embeddings`]: the local-only endpoints;
//! - [`outcome`]: the outcome value, its route and reason enums, the one pricing
//!   function; [`record`]: writing it (ledger row, metrics, trace span, budgets);
//! - [`keys`]: virtual keys, rate limits, budgets and their reservations;
//!   [`key_state`]: the caller and the per-key state kept in memory;
//! - [`screen`]: the data guard on the request path and the egress audit;
//! - [`distill`]: the flywheel on the request path (capture, students, shadow, drift);
//! - [`gateway`]: the gateway value (configuration, loaded models, metrics, tasks);
//!   [`load`]: loading what the configuration names; [`config`]: the TOML file;
//! - [`tasks`]: the tracked task set every background write goes through;
//! - [`tiers`]: the local tiers' measured speed, for deadlines.

pub mod answer;
pub mod assemble;
pub mod chat;
pub mod cloud_config;
pub mod completions;
pub mod config;
pub mod count;
pub mod distill;
pub mod embeddings;
pub mod gateway;
pub mod key_state;
pub mod keys;
pub mod load;
pub mod metrics;
pub mod otlp;
pub mod outcome;
pub mod record;
pub mod screen;
pub mod tasks;
pub mod tiers;

pub use answer::{Answer, AnswerEvent, Body};
pub use chat::{ChatAnswer, ChatCall, ChatEvent};
pub use config::Config;
pub use gateway::{Gateway, Registry};
pub use outcome::{Endpoint, Facts, Outcome, Reason, RequestMeta, Route};
