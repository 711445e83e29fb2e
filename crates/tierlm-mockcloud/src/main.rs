//! `tierlm-mockcloud`: command-line wrapper over the library. Parses the flags, binds the
//! port, prints `tierlm-mockcloud listening on http://HOST:PORT` (`https://` with
//! `--tls-cert`) once bound, and serves until SIGTERM or SIGINT.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tierlm_mockcloud::{load_fixtures, serve_with_tls, tls, Config};

/// A fast, deterministic mock of the OpenAI, Anthropic and Gemini HTTP APIs, with fault
/// injection. Per-request `x-mock-*` headers override the fault flags.
#[derive(Debug, Parser)]
#[command(name = "tierlm-mockcloud", version)]
struct Args {
    /// Port to listen on (0 picks a free one)
    #[arg(long)]
    port: u16,
    /// Address to bind
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Append one JSON line per received provider request to this file
    #[arg(long, value_name = "FILE.jsonl")]
    record: Option<PathBuf>,
    /// Canned answers: JSON lines {"prompt", "answer", "model"?} matched against the last user message
    #[arg(long, value_name = "FILE.jsonl")]
    fixtures: Option<PathBuf>,
    /// Delay before answering, in milliseconds (header x-mock-latency-ms)
    #[arg(long, value_name = "N", default_value_t = 0)]
    latency_ms: u64,
    /// Delay before the first streamed chunk, in milliseconds (header x-mock-first-token-ms)
    #[arg(long, value_name = "N", default_value_t = 0)]
    first_token_ms: u64,
    /// Delay between streamed chunks, in milliseconds (header x-mock-token-interval-ms)
    #[arg(long, value_name = "N", default_value_t = 0)]
    token_interval_ms: u64,
    /// Fraction of requests answered with an injected error, 0..1 (header x-mock-error-rate)
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = parse_rate)]
    error_rate: f64,
    /// Statuses of injected errors, used in turn (header x-mock-error-status)
    #[arg(
        long,
        value_name = "LIST",
        default_value = "500,429,503",
        value_delimiter = ','
    )]
    error_statuses: Vec<u16>,
    /// Retry-After seconds sent with 429 answers (header x-mock-retry-after)
    #[arg(long, value_name = "SECS", default_value_t = 1)]
    retry_after: u64,
    /// Cut streamed answers after N chunks, without a proper end (header x-mock-reset-after-chunks)
    #[arg(long, value_name = "N")]
    reset_after_chunks: Option<u64>,
    /// Answer 401 to requests without this API key
    #[arg(long, value_name = "KEY")]
    require_key: Option<String>,
    /// Seed of the deterministic error injection
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key)
    #[arg(long, value_name = "FILE.pem", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert
    #[arg(long, value_name = "FILE.pem", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("'{s}' is not a number between 0 and 1")),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    let fixtures = match &args.fixtures {
        Some(path) => match load_fixtures(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("tierlm-mockcloud: fixtures: {e}");
                return ExitCode::from(2);
            }
        },
        None => Vec::new(),
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match tls::server_config(cert, key) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("tierlm-mockcloud: TLS: {e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let config = Config {
        record: args.record,
        fixtures,
        latency_ms: args.latency_ms,
        first_token_ms: args.first_token_ms,
        token_interval_ms: args.token_interval_ms,
        error_rate: args.error_rate,
        error_statuses: args.error_statuses,
        retry_after: args.retry_after,
        reset_after_chunks: args.reset_after_chunks,
        require_key: args.require_key,
        seed: args.seed,
    };
    let listener = match tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "tierlm-mockcloud: cannot bind {}:{}: {e}",
                args.host, args.port
            );
            return ExitCode::from(1);
        }
    };
    match listener.local_addr() {
        Ok(addr) => {
            let mut out = std::io::stdout();
            let _ = writeln!(out, "tierlm-mockcloud listening on {scheme}://{addr}");
            let _ = out.flush();
        }
        Err(e) => {
            eprintln!("tierlm-mockcloud: {e}");
            return ExitCode::from(1);
        }
    }
    match serve_with_tls(config, listener, tls, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tierlm-mockcloud: {e}");
            ExitCode::from(1)
        }
    }
}
