//! `tierlm eval`: replay a labelled workload through the router with the mock cloud as
//! the teacher, then report what the router achieved against all-cloud and all-local
//! (local share, quality, cost, routing accuracy, a cost/quality curve over
//! thresholds), and optionally calibrate the thresholds.
//!
//! The scoring, simulation and calibration live in the `tierlm-eval` crate; this module
//! starts the servers, replays, and writes the outputs.

mod config;
mod latency;
mod replay;
mod routed;

use std::process::ExitCode;

use tierlm_eval::{Observation, OperatingPoint, Thresholds};

use crate::EvalArgs;

pub fn eval(args: EvalArgs) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: EvalArgs) -> Result<(), String> {
    let mut items = tierlm_eval::read_workload(&args.workload).map_err(|e| e.to_string())?;
    if let Some(n) = args.limit {
        items.truncate(n);
    }
    let cfg = config::load(
        &args.config,
        args.profiles.as_deref(),
        args.thresholds.as_deref(),
    )?;
    if args.decision_latency {
        let cfg2 = cfg.clone();
        let its = items.clone();
        let json = args.json;
        return tokio::task::spawn_blocking(move || latency::run(&cfg2, &its, 5, json).map(|_| ()))
            .await
            .map_err(|e| e.to_string())?;
    }
    let has = |p: &str| args.passes.iter().any(|x| x == p);
    let passes = replay::Passes {
        routed: has("routed"),
        local: has("local"),
        cloud: has("cloud"),
    };
    if !passes.all() && (args.calibrate || args.plot.is_some()) {
        return Err("--calibrate and --plot need all three passes (routed,local,cloud)".into());
    }
    let configured = config::effective_thresholds(&cfg);
    let observations: Vec<Observation> = match &args.from_observations {
        Some(p) => tierlm_eval::read_observations(p).map_err(|e| e.to_string())?,
        None => {
            let servers = replay::start(cfg, &items).await?;
            let obs = replay::replay(&servers, &items, args.concurrency, passes).await;
            servers.drain().await;
            drop(servers);
            obs
        }
    };
    if let Some(p) = &args.save_observations {
        tierlm_eval::write_observations(p, &observations).map_err(|e| e.to_string())?;
    }
    let partial = observations.iter().any(|o| {
        [&o.routed, &o.local, &o.cloud]
            .iter()
            .any(|a| a.route == replay::SKIPPED)
    });
    if partial {
        return report_routed(&args, &observations);
    }
    let scored = tierlm_eval::score_observations(&observations);
    let summary = tierlm_eval::simulate(&scored, &Thresholds::per_profile(configured.clone()));
    let curve = tierlm_eval::curve(&scored, tierlm_eval::DEFAULT_CURVE_STEPS);
    let calibration = args
        .calibrate
        .then(|| tierlm_eval::calibrate(&scored, args.quality_floor));
    if let Some(p) = &args.plot {
        let title = format!("tierlm router: {}", args.workload.display());
        let mut points = vec![OperatingPoint::from_summary("configured", &summary)];
        if let Some(c) = &calibration {
            points.push(OperatingPoint::from_summary("calibrated", &c.summary));
        }
        let svg = tierlm_eval::svg(&curve, &title, &points);
        std::fs::write(p, svg).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    let previous = match &args.previous {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not a --json report: {e}", p.display()))?;
            Some(tierlm_eval::change(&tierlm_eval::json(&summary, &[]), &v))
        }
        None => None,
    };
    if args.json {
        let mut v = tierlm_eval::json(&summary, &curve);
        v["thresholds"] = serde_json::json!(configured);
        if let Some(c) = &previous {
            v["change"] = c.clone();
        }
        if let Some(c) = &calibration {
            v["calibrated"] = serde_json::json!({
                "quality_floor": args.quality_floor,
                "thresholds": c.thresholds,
                "kept_by_policy": c.kept,
                "routed_quality_vs_cloud": c.routed_quality_vs_cloud,
                "summary": tierlm_eval::json(&c.summary, &[]),
            });
        }
        println!("{v}");
    } else {
        println!("{}", tierlm_eval::table(&summary, &curve));
        if let Some(c) = &previous {
            println!("{}", tierlm_eval::change_table(c));
        }
    }
    if let Some(c) = &calibration {
        let note = format!(
            "tierlm eval --calibrate --quality-floor {} on {} ({} requests): local share {:.1}%, quality vs cloud {:.1}%, cost vs cloud {:.1}%",
            args.quality_floor,
            args.workload.display(),
            c.summary.overall.requests,
            c.summary.overall.local_share * 100.0,
            c.summary.overall.quality_vs_cloud * 100.0,
            c.summary.overall.cost_vs_cloud * 100.0
        );
        let snippet = tierlm_eval::thresholds_toml(c, &note);
        match &args.snippet {
            Some(p) => std::fs::write(p, &snippet)
                .map_err(|e| format!("cannot write {}: {e}", p.display()))?,
            None if !args.json => println!("{snippet}"),
            None => {}
        }
    }
    no_failed_requests(&observations)
}

/// The report of a replay that skipped a pass (`--passes`): what `auto` served.
fn report_routed(args: &EvalArgs, observations: &[Observation]) -> Result<(), String> {
    let skipped = |f: fn(&Observation) -> &tierlm_eval::Answer| {
        !observations.is_empty() && observations.iter().all(|o| f(o).route == replay::SKIPPED)
    };
    if skipped(|o| &o.routed) && !skipped(|o| &o.local) {
        let v = routed::local_summary(observations);
        if args.json {
            println!("{v}");
        } else {
            println!("{}", routed::local_table(&v));
        }
    } else if skipped(|o| &o.routed) {
        eprintln!("eval: the routed pass was not run; nothing to report");
    } else {
        let v = routed::summary(observations);
        if args.json {
            println!("{v}");
        } else {
            println!("{}", routed::table(&v));
        }
    }
    no_failed_requests(observations)
}

/// An error when any request of the replay failed: no figure comes from a broken run.
fn no_failed_requests(observations: &[Observation]) -> Result<(), String> {
    let failed = observations
        .iter()
        .filter(|o| o.routed.error.is_some() || o.local.error.is_some() || o.cloud.error.is_some())
        .count();
    if failed > 0 {
        return Err(format!(
            "{failed} item(s) had failed requests; the figures above are not trustworthy"
        ));
    }
    Ok(())
}
