//! Command-line interface definitions (clap). Defaults live in the config module;
//! flags here only override, and each can also come from a `TIERLM_*` variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tierlm",
    version,
    about = "The SLM-first AI gateway: an OpenAI-compatible API answered by local models"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the OpenAI-compatible server.
    Serve(ServeArgs),
    /// List or download models.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Measure prefill and decode speed of a GGUF model (compare with llama-bench).
    Bench {
        /// The GGUF file.
        #[arg(long)]
        model: PathBuf,
        /// CPU threads.
        #[arg(long, default_value_t = 2)]
        threads: u32,
        /// Prompt length for the prefill test (llama-bench `-p`).
        #[arg(long, default_value_t = 512)]
        prompt_tokens: u32,
        /// Tokens for the decode test (llama-bench `-n`).
        #[arg(long, default_value_t = 128)]
        gen_tokens: u32,
        /// Measured repetitions (after one warm-up).
        #[arg(long, default_value_t = 3)]
        repetitions: u32,
    },
    /// Replay a labelled workload through the router and report local share, quality
    /// and cost against all-cloud and all-local (the mock cloud is the teacher). Runs
    /// the `tierlm-eval` binary installed beside this one (`tierlm eval --help`).
    #[command(disable_help_flag = true)]
    Eval {
        /// Arguments for `tierlm-eval`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Check or export the egress audit chain (every request sent to a cloud provider).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Spend, local vs cloud, what all-frontier would have cost, and the savings, from
    /// the ledger.
    Report(ReportArgs),
    /// Create, list or revoke virtual keys (kept in the ledger database).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Create the ledger database or bring its schema up to date (the gateway also
    /// does this at start-up), then print the schema version.
    Migrate(DatabaseArgs),
    /// The distillation flywheel: captured examples, students, promotion.
    Distill(DistillArgs),
}

#[derive(Debug, Args, Clone)]
pub struct DistillArgs {
    /// The gateway configuration (its `[distill]` and `[router]` sections).
    #[arg(long, env = "TIERLM_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: DistillCommand,
}

/// Settings of a LoRA student (generative tasks only).
#[derive(Debug, Args, Clone)]
pub struct LoraArgs {
    /// Passes over the records.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Rank of the adapter's matrices.
    #[arg(long, default_value_t = 8)]
    pub rank: usize,
    /// Scale numerator: the update is `alpha / rank · B A`.
    #[arg(long, default_value_t = 16.0)]
    pub alpha: f32,
    /// AdamW step size.
    #[arg(long, default_value_t = 1e-3)]
    pub learning_rate: f64,
    /// Records per optimiser step.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Train on at most this many records (the newest are kept).
    #[arg(long)]
    pub max_examples: Option<usize>,
    /// Share of records held out to report the loss before and after training.
    #[arg(long, default_value_t = 0.1)]
    pub validation: f64,
    /// Records longer than this many tokens (prompt + answer) are skipped.
    #[arg(long, default_value_t = 1024)]
    pub max_tokens: usize,
    /// Seed of the initialisation, the shuffling and the validation split.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, Subcommand, Clone)]
pub enum DistillCommand {
    /// Records per task, each task's route state and student.
    Status,
    /// Write a task's records as fine-tuning JSONL: TASK.train.jsonl and
    /// TASK.validation.jsonl.
    Export {
        #[arg(long)]
        task: String,
        /// `openai` (chat messages) or `chatml` (chat-template text).
        #[arg(long, default_value = "openai", value_parser = ["openai", "chatml"])]
        format: String,
        /// Share of records held out for validation.
        #[arg(long, default_value_t = 0.1)]
        validation: f64,
        /// Seed of the train/validation split.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Folder to write into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Train the task's student on its records and put the task in shadow: a label
    /// task gets a classifier on the router's embedding and the sentence encoder's
    /// vector of the request after the task's instructions, a generative task a LoRA
    /// adapter for the local model (`STUDENTS_DIR/TASK.lora.gguf`).
    Train {
        #[arg(long)]
        task: String,
        /// Label tasks: read the router's embedding alone, without the sentence
        /// encoder's vector of the request (students of format 1).
        #[arg(long)]
        no_encoder: bool,
        #[command(flatten)]
        lora: LoraArgs,
    },
    /// Ask the teacher (through a running gateway) for new labelled examples.
    Synthesize {
        #[arg(long)]
        task: String,
        /// How many to ask for.
        #[arg(long, default_value_t = 20)]
        n: usize,
        /// The gateway's OpenAI-compatible base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080/v1")]
        base_url: String,
        /// The teacher model (default: the router's cloud model).
        #[arg(long)]
        model: Option<String>,
        /// Environment variable holding the gateway key to send, if any.
        #[arg(long, default_value = "TIERLM_API_KEY")]
        api_key_env: String,
    },
    /// Hand the task's route to its student.
    Promote {
        #[arg(long)]
        task: String,
        #[arg(long, default_value = "manual promotion")]
        reason: String,
    },
    /// Hand the task's route back to the teacher.
    Demote {
        #[arg(long)]
        task: String,
        #[arg(long, default_value = "manual demotion")]
        reason: String,
    },
    /// The route-state log (JSON lines): who promoted or demoted what, when and why.
    Events {
        #[arg(long)]
        task: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key: its secret goes to standard output, once (it is not stored), and
    /// its id and settings to standard error.
    Create(KeyCreateArgs),
    /// List keys, revoked ones included (never their secrets).
    List {
        #[command(flatten)]
        db: DatabaseArgs,
        /// Only this tenant's keys.
        #[arg(long)]
        tenant: Option<String>,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by its id (`key_…`); it is refused from then on.
    Revoke {
        #[command(flatten)]
        db: DatabaseArgs,
        /// The key's id, as `keys create` and `keys list` show it.
        key_id: String,
    },
}

/// Which ledger database (rows and keys): `--database`, else the configuration's
/// `[ledger] database_url`, else `sqlite://data/tierlm.db`.
#[derive(Debug, Args, Clone)]
pub struct DatabaseArgs {
    /// The gateway configuration (its `[ledger]` names the database).
    #[arg(long, env = "TIERLM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Use this database instead (`sqlite://PATH` or `postgres://USER@HOST/DB`).
    #[arg(long)]
    pub database: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct KeyCreateArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// The tenant the key's requests are billed to.
    #[arg(long)]
    pub tenant: String,
    /// A label for people.
    #[arg(long)]
    pub name: Option<String>,
    /// Most the key may spend per --period, in USD (an exact decimal, e.g. 12.50).
    #[arg(long, value_name = "USD")]
    pub budget_usd: Option<String>,
    /// The budget's period (UTC calendar day, week from Monday, month, or ever).
    #[arg(long, default_value = "month", value_parser = ["day", "week", "month", "total"])]
    pub period: String,
    /// Requests per minute.
    #[arg(long)]
    pub rpm: Option<u32>,
    /// Tokens per minute.
    #[arg(long)]
    pub tpm: Option<u32>,
    /// The only models the key may use, comma-separated (default: all).
    #[arg(long, value_name = "MODEL,…")]
    pub models: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain of the audit file.
    ///
    /// Prints `audit chain ok: N entries` (exit 0), or the first broken line and why
    /// (exit 1); exit 2 when the file cannot be read.
    Verify {
        /// The audit file (JSON lines) [default: audit.jsonl in $TIERLM_DATA_DIR, else data/audit.jsonl]
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Export the entries in a time range as JSON lines.
    ///
    /// Entries are written byte for byte as stored, only from an intact chain (else exit
    /// 1, naming the broken line); the count goes to standard error.
    Export {
        /// The audit file (JSON lines) [default: audit.jsonl in $TIERLM_DATA_DIR, else data/audit.jsonl]
        #[arg(long)]
        file: Option<PathBuf>,
        /// First time included: RFC 3339 (2024-05-01T12:00:00Z) or YYYY-MM-DD (UTC).
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// First time excluded: RFC 3339 or YYYY-MM-DD (UTC midnight).
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// Write here instead of standard output (replaced only once complete).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// The gateway configuration (its `[ledger]` names the database).
    #[arg(long, env = "TIERLM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Read this database instead (`sqlite://PATH` or `postgres://USER@HOST/DB`).
    #[arg(long)]
    pub database: Option<String>,
    /// A calendar month, `YYYY-MM` (UTC); default: everything.
    #[arg(long)]
    pub month: Option<String>,
    /// Output format.
    #[arg(long, default_value = "table", value_parser = ["table", "csv", "json"])]
    pub format: String,
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// TOML configuration file (see docs/CONFIGURATION.md).
    #[arg(long, env = "TIERLM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Serve a GGUF model as NAME (repeatable); replaces the models of the config file.
    #[arg(long = "model", value_name = "NAME=PATH.gguf", value_parser = parse_named_path)]
    pub models: Vec<(String, PathBuf)>,
    /// Serve a sentence-transformers folder for /v1/embeddings as NAME.
    #[arg(long, value_name = "NAME=DIR", value_parser = parse_named_path)]
    pub embedding_model: Option<(String, PathBuf)>,
    /// Do not load an embedding model.
    #[arg(long)]
    pub no_embeddings: bool,
    /// Address to listen on.
    #[arg(long, env = "TIERLM_HOST")]
    pub host: Option<String>,
    /// Port to listen on (0 picks a free one and prints it).
    #[arg(long, env = "TIERLM_PORT")]
    pub port: Option<u16>,
    /// Tokens per sequence for every model.
    #[arg(long, env = "TIERLM_CONTEXT_SIZE")]
    pub context_size: Option<u32>,
    /// Sequences decoded together, for every model.
    #[arg(long, env = "TIERLM_PARALLEL")]
    pub parallel: Option<u32>,
    /// CPU threads per model.
    #[arg(long, env = "TIERLM_THREADS")]
    pub threads: Option<u32>,
    /// Folder default model paths are taken from.
    #[arg(long, env = "TIERLM_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,
    /// Folder for the ledger database and egress audit when the config does not place
    /// them [default: data]
    #[arg(long, env = "TIERLM_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Validate the configuration (and that model files exist), then exit.
    #[arg(long)]
    pub check_config: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Show the configured models, their files, and what a running server has loaded.
    List {
        #[arg(long, env = "TIERLM_CONFIG")]
        config: Option<PathBuf>,
        /// A running server to ask which models are loaded, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        server: Option<String>,
    },
    /// Download a GGUF file: a URL, or OWNER/REPO/FILE from the Hugging Face Hub.
    Pull {
        source: String,
        /// Destination folder.
        #[arg(long, default_value = "models")]
        dir: PathBuf,
        /// Expected sha256 of the file; the download fails on a mismatch.
        #[arg(long)]
        sha256: Option<String>,
        /// Revision for Hub sources.
        #[arg(long, default_value = "main")]
        revision: String,
        /// Hub endpoint for OWNER/REPO/FILE sources.
        #[arg(
            long,
            env = "TIERLM_HF_ENDPOINT",
            default_value = "https://huggingface.co"
        )]
        hub: String,
    },
}

fn parse_named_path(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_string(), PathBuf::from(path)))
        }
        _ => Err(format!("expected NAME=PATH, got `{s}`")),
    }
}
