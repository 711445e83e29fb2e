//! The `tierlm` binary: parses the command line and wires the crates together.

mod audit;
mod bench;
mod cli;
mod distill;
mod distill_lora;
mod keys;
mod pull;
mod report;

use std::process::ExitCode;

use clap::Parser;
use tierlm_gateway::config::{self, Overrides, UninitializedConfig};

use cli::{AuditCommand, Cli, Command, KeysCommand, ModelsCommand, ServeArgs};

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TIERLM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn load_config(args: &ServeArgs) -> Result<tierlm_gateway::Config, config::ConfigError> {
    let raw = match &args.config {
        Some(p) => config::parse_file(p)?,
        None => UninitializedConfig::default(),
    };
    raw.load(&Overrides {
        host: args.host.clone(),
        port: args.port,
        models: args.models.clone(),
        embedding_model: args.embedding_model.clone(),
        no_embeddings: args.no_embeddings,
        context_size: args.context_size,
        parallel: args.parallel,
        threads: args.threads,
        models_dir: args.models_dir.clone(),
        data_dir: args.data_dir.clone(),
    })
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
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

fn serve(args: ServeArgs) -> ExitCode {
    let cfg = match load_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        return match cfg.check_files() {
            Ok(()) => {
                println!(
                    "configuration ok: {} model(s){}",
                    cfg.models.len(),
                    if cfg.embeddings.is_some() {
                        " + embeddings"
                    } else {
                        ""
                    }
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    let runtime = match runtime(true) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let result = runtime.block_on(tierlm_server::serve(
        cfg,
        |addr| {
            use std::io::Write;
            println!("tierlm listening on http://{addr}");
            let _ = std::io::stdout().flush();
        },
        shutdown_signal(),
    ));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A tokio runtime (multi-threaded for the server, current-thread for one-off
/// commands); on failure the error is printed and the exit code returned.
pub(crate) fn runtime(multi_thread: bool) -> Result<tokio::runtime::Runtime, ExitCode> {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        ExitCode::FAILURE
    })
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Bench {
            model,
            threads,
            prompt_tokens,
            gen_tokens,
            repetitions,
        } => bench::bench(bench::BenchArgs {
            model,
            threads,
            prompt_tokens,
            gen_tokens,
            repetitions: repetitions.max(1),
        }),
        Command::Eval { args } => run_eval(args),
        Command::Audit(AuditCommand::Verify { file }) => audit::verify(&audit_file(file)),
        Command::Report(args) => report::report(&args),
        Command::Keys(KeysCommand::Create(args)) => keys::create(&args),
        Command::Keys(KeysCommand::List { db, tenant, json }) => {
            keys::list(&db, tenant.as_deref(), json)
        }
        Command::Keys(KeysCommand::Revoke { db, key_id }) => keys::revoke(&db, &key_id),
        Command::Migrate(db) => keys::migrate(&db),
        Command::Distill(args) => distill::run(&args),
        Command::Audit(AuditCommand::Export {
            file,
            from,
            to,
            out,
        }) => audit::export(
            &audit_file(file),
            from.as_deref(),
            to.as_deref(),
            out.as_deref(),
        ),
        Command::Models(ModelsCommand::List { config, server }) => pull::list(config, server),
        Command::Models(ModelsCommand::Pull {
            source,
            dir,
            sha256,
            revision,
            hub,
        }) => pull::pull(&source, &dir, sha256.as_deref(), &revision, &hub),
    }
}

/// The audit file a command reads: `--file`, else `audit.jsonl` in `TIERLM_DATA_DIR`,
/// else in `data` (where `tierlm serve` writes it unless configured otherwise).
fn audit_file(file: Option<std::path::PathBuf>) -> std::path::PathBuf {
    file.unwrap_or_else(|| {
        let dir = keys::env_data_dir()
            .unwrap_or_else(|| std::path::PathBuf::from(tierlm_gateway::config::DEFAULT_DATA_DIR));
        tierlm_gateway::config::audit_path_in(&dir)
    })
}

/// `tierlm eval …`: run the `tierlm-eval` binary beside this one (the evaluation
/// starts the mock cloud, which the production binary does not link).
fn run_eval(args: Vec<std::ffi::OsString>) -> ExitCode {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("tierlm-eval")))
        .filter(|p| p.exists());
    let program = beside.unwrap_or_else(|| std::path::PathBuf::from("tierlm-eval"));
    match std::process::Command::new(&program).args(args).status() {
        Ok(status) => match status.code() {
            Some(0) => ExitCode::SUCCESS,
            Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
            None => ExitCode::FAILURE,
        },
        Err(e) => {
            eprintln!(
                "error: cannot run `{}` ({e}); build it with `cargo build --release -p tierlm-eval-cli`",
                program.display()
            );
            ExitCode::FAILURE
        }
    }
}
