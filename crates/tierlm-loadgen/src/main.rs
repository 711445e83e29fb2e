//! `tierlm-loadgen`: an open-loop load generator for OpenAI-compatible
//! `/v1/chat/completions` endpoints. It sends `--rate` requests per second on a fixed
//! schedule for `--warmup` then `--duration` seconds, never waiting for earlier answers,
//! and measures each request's latency from its scheduled time, so a server that falls
//! behind shows its queueing as latency (no coordinated omission). It writes one JSON
//! report (success rate, outcome counts with the first error bodies, latency and
//! time-to-first-byte percentiles, achieved rate, and the CPU time and memory of the
//! processes named with `--watch`) and prints a one-line summary.

mod client;
mod procstat;
mod run;
mod schedule;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use crate::client::{Dialect, Target};
use crate::run::Report;
use crate::schedule::Schedule;

const DEFAULT_PROMPT: &str =
    "Summarise this support ticket in one line. Customer jane.doe@example.com writes: \
     the invoice for October was charged twice and the second charge has not been \
     refunded yet, please check the billing history and tell me when the refund will \
     arrive, thank you";

/// Open-loop load generator for OpenAI-compatible chat completions.
#[derive(Debug, Parser)]
#[command(name = "tierlm-loadgen", version)]
struct Args {
    /// Full URL, e.g. http://127.0.0.1:8080/v1/chat/completions
    #[arg(long)]
    url: String,
    /// The API the body speaks (and the answer is judged by)
    #[arg(long, value_enum, default_value = "chat")]
    dialect: Dialect,
    /// Requests per second
    #[arg(long)]
    rate: f64,
    /// Measured seconds (after the warm-up)
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Warm-up seconds at the same rate, left out of every figure
    #[arg(long, default_value_t = 5.0)]
    warmup: f64,
    /// Send `stream: true` and read every SSE chunk
    #[arg(long)]
    stream: bool,
    /// The `model` field
    #[arg(long, default_value = "bench-model")]
    model: String,
    /// The user message
    #[arg(long, default_value = DEFAULT_PROMPT)]
    prompt: String,
    /// `max_tokens`
    #[arg(long, default_value_t = 32)]
    max_tokens: u32,
    /// A whole JSON request body instead of the generated one (`stream` is still set by --stream)
    #[arg(long, value_name = "FILE.json")]
    body_file: Option<PathBuf>,
    /// Bearer token for the Authorization header
    #[arg(long, env = "LOADGEN_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// A request without a complete answer after this long is a `timeout` failure
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Requests in flight beyond this are not sent and count as `client_overload`
    #[arg(long, default_value_t = 4096)]
    max_in_flight: u64,
    /// Runtime worker threads (1: a single-threaded runtime, lightest on a small machine)
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Watch a process tree's CPU and memory: NAME=PID (repeatable)
    #[arg(long, value_name = "NAME=PID")]
    watch: Vec<String>,
    /// Label stored in the report
    #[arg(long, default_value = "")]
    label: String,
    /// Write the JSON report here (otherwise to stdout)
    #[arg(long, value_name = "FILE.json")]
    out: Option<PathBuf>,
    /// Error bodies kept in the report
    #[arg(long, default_value_t = 5)]
    keep_errors: usize,
}

/// `NAME=PID`.
fn parse_watch(s: &str) -> Result<(String, u32), String> {
    let (name, pid) = s
        .split_once('=')
        .ok_or_else(|| format!("--watch wants NAME=PID, got `{s}`"))?;
    let pid = pid
        .trim()
        .parse::<u32>()
        .map_err(|_| format!("--watch: `{pid}` is not a process id"))?;
    if name.is_empty() {
        return Err(format!("--watch: empty name in `{s}`"));
    }
    Ok((name.to_string(), pid))
}

/// The request body, with `stream` set as asked.
fn build_body(args: &Args) -> Result<Vec<u8>, String> {
    let mut v: serde_json::Value = match &args.body_file {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("--body-file {}: {e}", p.display()))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("--body-file {}: not JSON: {e}", p.display()))?
        }
        None => match args.dialect {
            Dialect::Chat | Dialect::Messages => serde_json::json!({
                "model": args.model,
                "messages": [{"role": "user", "content": args.prompt}],
                "max_tokens": args.max_tokens,
            }),
            Dialect::Responses => serde_json::json!({
                "model": args.model,
                "input": args.prompt,
                "max_output_tokens": args.max_tokens,
            }),
        },
    };
    let obj = v
        .as_object_mut()
        .ok_or("the request body must be a JSON object")?;
    obj.insert("stream".into(), serde_json::Value::Bool(args.stream));
    serde_json::to_vec(&v).map_err(|e| e.to_string())
}

fn summary_line(r: &Report) -> String {
    let lat = r
        .latency
        .as_ref()
        .map(|l| {
            format!(
                "p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
                l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
            )
        })
        .unwrap_or_else(|| "no successful request".into());
    let errors: Vec<String> = r
        .counts
        .iter()
        .filter(|(k, _)| k.as_str() != "ok")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!(
        "{} {} {:.0} rps: {}/{} ok ({:.2}%), {}, achieved {:.1} rps{}",
        r.label,
        if r.stream { "stream" } else { "json" },
        r.rate,
        r.ok,
        r.requests,
        r.success_rate * 100.0,
        lat,
        r.achieved_rps,
        if errors.is_empty() {
            String::new()
        } else {
            format!("; errors: {}", errors.join(" "))
        }
    )
}

fn real_main() -> Result<(), String> {
    let args = Args::parse();
    let schedule = Schedule::new(args.rate, args.warmup, args.duration)?;
    let watch = args
        .watch
        .iter()
        .map(|w| parse_watch(w))
        .collect::<Result<Vec<_>, _>>()?;
    let body = build_body(&args)?;
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let target = Arc::new(Target {
        dialect: args.dialect,
        client,
        url: args.url.clone(),
        auth: args.api_key.as_ref().map(|k| format!("Bearer {k}")),
        body,
        stream: args.stream,
        timeout,
        max_in_flight: args.max_in_flight.max(1),
        in_flight: AtomicU64::new(0),
    });
    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
    .map_err(|e| format!("runtime: {e}"))?;
    let template = Report::template(
        &args.label,
        &args.url,
        args.stream,
        args.rate,
        args.warmup,
        args.duration,
        args.timeout_ms,
    );
    let report = run::execute(&rt, target, schedule, watch, template, args.keep_errors);
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    match &args.out {
        Some(p) => std::fs::write(p, json + "\n").map_err(|e| format!("{}: {e}", p.display()))?,
        None => println!("{json}"),
    }
    eprintln!("{}", summary_line(&report));
    Ok(())
}

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tierlm-loadgen: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_specs() {
        assert_eq!(parse_watch("gw=123"), Ok(("gw".into(), 123)));
        assert!(parse_watch("gw").is_err());
        assert!(parse_watch("=1").is_err());
        assert!(parse_watch("gw=x").is_err());
    }

    #[test]
    fn body_gets_the_stream_flag() {
        let args = Args::parse_from([
            "tierlm-loadgen",
            "--url",
            "http://x/v1/chat/completions",
            "--rate",
            "10",
            "--stream",
            "--model",
            "m",
            "--max-tokens",
            "7",
        ]);
        let v: serde_json::Value = serde_json::from_slice(&build_body(&args).unwrap()).unwrap();
        assert_eq!(v["stream"], true);
        assert_eq!(v["model"], "m");
        assert_eq!(v["max_tokens"], 7);
        assert_eq!(v["messages"][0]["role"], "user");
    }
}
