//! `tierlm-eval`: replay a labelled workload through the router with the mock cloud as
//! the teacher, and report local share, quality and cost against all-cloud and
//! all-local (see eval/README.md). A measurement tool of its own, so the production
//! binary never links the mock cloud; `tierlm eval …` runs it.

mod eval;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser};

/// Replay a labelled workload through the router and report local share, quality and
/// cost against all-cloud and all-local (the mock cloud is the teacher).
#[derive(Debug, Parser)]
#[command(name = "tierlm eval", version)]
struct Cli {
    #[command(flatten)]
    args: EvalArgs,
}

#[derive(Debug, Args, Clone)]
pub struct EvalArgs {
    /// The workload (JSON lines; see eval/README.md).
    #[arg(long)]
    pub workload: PathBuf,
    /// The gateway configuration to evaluate (needs a [router] section).
    #[arg(long, default_value = "eval/tierlm-eval.toml")]
    pub config: PathBuf,
    /// A file of `[[router.profiles]]` added to the configuration's router.
    #[arg(long)]
    pub profiles: Option<PathBuf>,
    /// A file with `[router.thresholds]` (what --calibrate writes) laid over the router's.
    #[arg(long)]
    pub thresholds: Option<PathBuf>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Choose per-profile thresholds that minimise cost at the quality floor and write
    /// them as a config snippet (to --snippet, else standard output).
    #[arg(long)]
    pub calibrate: bool,
    /// Quality floor for --calibrate, as a fraction of all-cloud quality.
    #[arg(long, default_value_t = 0.95)]
    pub quality_floor: f64,
    /// Where --calibrate writes its snippet.
    #[arg(long)]
    pub snippet: Option<PathBuf>,
    /// Write the cost/quality curve as an SVG plot here.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Save every answer (JSON lines) to re-report later with --from-observations.
    #[arg(long)]
    pub save_observations: Option<PathBuf>,
    /// Report from saved observations instead of replaying.
    #[arg(long)]
    pub from_observations: Option<PathBuf>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// A previous `--json` report: print the change since it.
    #[arg(long)]
    pub previous: Option<PathBuf>,
    /// Only the first N workload items.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Instead of replaying, time the router's own decision for every workload request
    /// (embedding model only, no language model) and print percentiles.
    #[arg(long)]
    pub decision_latency: bool,
    /// Which passes to send (comma-separated: `routed`, `local`, `cloud`). Without
    /// `local` there is no threshold simulation: the report is what `auto` served
    /// (students included) against the forced-cloud pass.
    #[arg(long, value_delimiter = ',', default_value = "routed,local,cloud",
          value_parser = ["routed", "local", "cloud"])]
    pub passes: Vec<String>,
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TIERLM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    eval::eval(Cli::parse().args)
}
