//! SLM-first routing for tierlm: for each request to a routed model (`auto`), decide
//! whether the local small model answers, a cloud model answers, or the local model
//! answers first and the answer is checked before it is trusted (the cascade).
//!
//! - [`config`]: the `[router]` TOML section (profiles, rules, thresholds);
//! - [`classify`]: the embedding classifier over task profiles (semantic routing);
//! - [`features`]: complexity cues (code, math, multi-step, length);
//! - [`router`]: the decision in order of precedence, and shaping of the local request;
//! - [`confidence`]: the local answer's confidence (label-set logprobs, JSON validity).
//!
//! The router decides and explains; executing the decision (calling the engine or a
//! provider, streaming) is the server's job.

pub mod classify;
pub mod confidence;
pub mod config;
pub mod features;
pub mod reason;
pub mod router;

pub use classify::Embedder;
pub use config::{Class, RouterConfig};
pub use reason::Reason;
pub use router::{
    Decision, Hint, Profile, Route, RouteContext, Router, Sensitivity, TierPlan, STUDENT_TIER,
};
