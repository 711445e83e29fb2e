//! Evaluation of tierlm's router on a replayed workload: pure logic, no HTTP
//! and no engine. The `tierlm eval` command drives it:
//!
//! 1. **Workload** ([`read_workload`]): JSONL items, each a chat request, its
//!    expected class (routine/complex), a metric and a target answer.
//! 2. **Replay** (done by the caller): every item is sent three times to the
//!    gateway (routed via `auto`, forced local, forced cloud) and recorded as
//!    an [`Observation`] with the routing headers of each [`Answer`].
//!    Observations can be saved and re-read ([`write_observations`],
//!    [`read_observations`]) to report again without replaying.
//! 3. **Score** ([`score_observations`]): each answer scored once by its
//!    item's metric (label match, ROUGE-L, final number, pass@1) into
//!    [`Scored`] observations.
//! 4. **Simulate** ([`simulate`], [`curve`]): what the router would have
//!    produced under given cascade thresholds; a [`Summary`] with local share,
//!    quality and cost against the all-cloud and all-local baselines, routing
//!    accuracy, and a consistency check against the routed run; and a sweep
//!    of one global threshold.
//! 5. **Calibrate** ([`calibrate`], [`thresholds_toml`]): per-profile
//!    thresholds minimising cost above a quality floor, written as a
//!    `[router.thresholds]` TOML snippet.
//! 6. **Report** ([`table`], [`json`], [`svg`]): a text table, one JSON
//!    object and an SVG chart of the quality/cost curve.

pub mod calibrate;
mod calibrate_tiers;
pub mod error;
pub mod number;
pub mod observe;
pub mod passk;
pub mod plot;
pub mod report;
pub mod score;
pub mod sim;
pub mod workload;

#[cfg(test)]
mod testutil;

pub use calibrate::{calibrate, thresholds_toml, Calibration, NEVER_LOCAL};
pub use error::EvalError;
pub use number::extract_number;
pub use observe::{
    observations_to_jsonl, parse_observations, read_observations, write_observations, Answer,
    Observation,
};
pub use passk::{pass_at_1, python_available, PASS_AT_1_TIMEOUT};
pub use plot::{svg, OperatingPoint};
pub use report::{change, change_table, json, table};
pub use score::{score, score_answer, score_observations, Scored};
pub use sim::{
    bootstrap_ratio_ci, curve, outcome, quantile, simulate, CurvePoint, Figures, Outcome, Summary,
    TaskSummary, Thresholds, DEFAULT_CURVE_STEPS,
};
pub use workload::{
    parse_workload, parse_workload_from, read_workload, Class, CodeSpec, Item, Message, Metric,
};
