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
