//! The TOML configuration, in two stages.
//!
//! Stage one parses into plain `Uninitialized*` structs with `deny_unknown_fields`,
//! so a misspelt key is an error that names it and lists the expected ones. Stage two
//! applies overrides (CLI flags and `TIERLM_*` variables, resolved by the binary) and
//! validates into the runtime [`Config`]. Every default lives in this file, once.
//! Relative paths are resolved against the working directory the server starts in.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tierlm_engine::model::serves;
use tierlm_engine::{EmbeddingConfig, ModelConfig};

pub const DEFAULT_HOST: &str = "127.0.0.1";
pub const DEFAULT_PORT: u16 = 8080;
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
pub const DEFAULT_CONTEXT_SIZE: u32 = 4096;
pub const DEFAULT_PARALLEL: u32 = 4;
pub const DEFAULT_BATCH_SIZE: u32 = 512;
pub const DEFAULT_MAX_QUEUE: usize = 64;
pub const DEFAULT_PROMPT_CACHE_MB: usize = 1024;
pub const DEFAULT_EMBED_BATCH: usize = 32;
pub const DEFAULT_EMBED_MAX_INPUTS: usize = 2048;
/// The model served when no config file names one.
pub const DEFAULT_MODEL_NAME: &str = "smollm2-135m";
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const DEFAULT_EMBED_NAME: &str = "all-minilm-l6-v2";
/// The second local tier of the embedded defaults, served when its file is present.
pub const DEFAULT_TIER2_NAME: &str = "qwen2.5-coder-0.5b";
pub const DEFAULT_TIER2_FILE: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";
/// The routed model of the embedded defaults.
pub const DEFAULT_ROUTED_NAME: &str = "auto";
/// The embedded defaults' gate on a SmolLM2 answer's mean token probability: below it,
/// `auto` asks the next tier (see docs/CONFIGURATION.md for how it was chosen).
pub const DEFAULT_TIER_CONFIDENCE: f64 = 0.6;
pub const DEFAULT_EMBED_DIR: &str = "all-MiniLM-L6-v2";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UninitializedConfig {
    #[serde(default)]
    pub server: UninitializedServer,
    #[serde(default)]
    pub models: Option<Vec<UninitializedModel>>,
    #[serde(default)]
    pub embeddings: Option<UninitializedEmbeddings>,
    #[serde(default)]
    pub providers: Option<Vec<crate::cloud_config::UninitializedProvider>>,
    #[serde(default)]
    pub cloud_models: Option<Vec<crate::cloud_config::UninitializedCloudModel>>,
    /// USD per million tokens by model id, over the built-in catalog.
    #[serde(default)]
    pub pricing:
        Option<std::collections::BTreeMap<String, crate::cloud_config::UninitializedPrice>>,
    /// Routed models (`auto`): see `tierlm_router::RouterConfig`.
    #[serde(default)]
    pub router: Option<tierlm_router::RouterConfig>,
    /// Sensitive-data detection and policies: see `tierlm_guard::policy::GuardConfig`.
    #[serde(default)]
    pub guard: Option<tierlm_guard::policy::GuardConfig>,
    #[serde(default)]
    pub ledger: Option<UninitializedLedger>,
    #[serde(default)]
    pub auth: Option<UninitializedAuth>,
    /// OTLP trace export: see [`crate::otlp::UninitializedTelemetry`].
    #[serde(default)]
    pub telemetry: Option<crate::otlp::UninitializedTelemetry>,
    #[serde(default)]
    pub metrics: Option<UninitializedMetrics>,
    /// The distillation flywheel: see `tierlm_distill::DistillConfig`.
    #[serde(default)]
    pub distill: Option<tierlm_distill::DistillConfig>,
}

/// `[metrics]`: bounds on the Prometheus labels.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UninitializedMetrics {
    /// Distinct `tenant` label values before the rest are reported as `other`.
    pub max_tenants: Option<usize>,
}

pub const DEFAULT_MAX_TENANTS: usize = 64;

/// Validated `[metrics]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSettings {
    pub max_tenants: usize,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            max_tenants: DEFAULT_MAX_TENANTS,
        }
    }
}

/// `[auth]`: virtual keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UninitializedAuth {
    pub require_keys: Option<bool>,
    /// `env::NAME`: the key for `/admin/keys`.
    pub admin_key: Option<String>,
}

/// Validated `[auth]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuthSettings {
    pub require_keys: bool,
    pub admin_key: Option<tierlm_providers::Secret>,
}

/// `[ledger]`: where request rows go and how they are priced.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UninitializedLedger {
    pub enabled: Option<bool>,
    pub database_url: Option<String>,
    pub baseline_model: Option<String>,
    pub local_cost_per_mtok: Option<crate::cloud_config::PriceText>,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/tierlm.db";

/// Where the gateway keeps its own files unless `[server] data_dir`, `--data-dir` or
/// `TIERLM_DATA_DIR` says otherwise.
pub const DEFAULT_DATA_DIR: &str = "data";

/// The ledger database in `data_dir` (the default `database_url`).
pub fn database_url_in(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("tierlm.db").display())
}

/// The egress audit file in `data_dir` (the default `audit_path`).
pub fn audit_path_in(data_dir: &Path) -> PathBuf {
    data_dir.join("audit.jsonl")
}
pub const DEFAULT_BASELINE_MODEL: &str = "gpt-4o";

/// The ledger settings when `[ledger]` does not change them.
pub fn default_ledger() -> crate::outcome::LedgerSettings {
    crate::outcome::LedgerSettings {
        database_url: DEFAULT_DATABASE_URL.to_string(),
        baseline_model: DEFAULT_BASELINE_MODEL.to_string(),
        local_price: tierlm_providers::pricing::Price {
            input_per_mtok: tierlm_providers::pricing::Usd::ZERO,
            output_per_mtok: tierlm_providers::pricing::Usd::ZERO,
        },
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UninitializedServer {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub max_body_bytes: Option<usize>,
    /// Folder that default model paths are taken from.
    pub models_dir: Option<PathBuf>,
    /// Folder for the gateway's own files when their paths are not set: the ledger
    /// database and the egress audit (default `data`).
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UninitializedModel {
    pub name: String,
    pub path: PathBuf,
    pub context_size: Option<u32>,
    pub parallel: Option<u32>,
    pub threads: Option<u32>,
    pub batch_size: Option<u32>,
    pub max_queue: Option<usize>,
    pub chat_template: Option<String>,
    pub gpu_layers: Option<u32>,
    pub prompt_cache_mb: Option<usize>,
    /// LoRA adapters over this model, each served under its own name.
    #[serde(default)]
    pub adapters: Vec<UninitializedAdapter>,
}

/// `[[models.adapters]]`: a LoRA adapter (llama.cpp GGUF format, e.g. a student from
/// `tierlm distill train`) served as a model of its own over the base weights.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UninitializedAdapter {
    pub name: String,
    pub path: PathBuf,
    pub scale: Option<f32>,
}

impl UninitializedModel {
    /// A model with every setting left to the defaults.
    fn at(name: &str, path: PathBuf) -> Self {
        Self {
            name: name.to_string(),
            path,
            context_size: None,
            parallel: None,
            threads: None,
            batch_size: None,
            max_queue: None,
            chat_template: None,
            gpu_layers: None,
            prompt_cache_mb: None,
            adapters: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UninitializedEmbeddings {
    pub name: String,
    pub path: PathBuf,
    pub batch_size: Option<usize>,
    pub max_inputs: Option<usize>,
}

/// Values from the command line and environment; `None` leaves the file's value.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub host: Option<String>,
    pub port: Option<u16>,
    /// `NAME=PATH` pairs; when given they replace the file's model list.
    pub models: Vec<(String, PathBuf)>,
    pub embedding_model: Option<(String, PathBuf)>,
    pub no_embeddings: bool,
    pub context_size: Option<u32>,
    pub parallel: Option<u32>,
    pub threads: Option<u32>,
    pub models_dir: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub max_body_bytes: usize,
    pub models: Vec<ModelConfig>,
    pub embeddings: Option<EmbeddingConfig>,
    pub cloud: crate::cloud_config::CloudConfig,
    pub router: Option<tierlm_router::RouterConfig>,
    pub guard: Option<tierlm_guard::policy::GuardConfig>,
    /// The egress audit file (the guard's `audit_path`, else `{data_dir}/audit.jsonl`).
    pub audit_path: PathBuf,
    /// `None` when `[ledger] enabled = false`.
    pub ledger: Option<crate::outcome::LedgerSettings>,
    pub auth: AuthSettings,
    /// `None` unless `[telemetry] otlp_endpoint` is set.
    pub telemetry: Option<crate::otlp::TelemetrySettings>,
    pub metrics: MetricsSettings,
    /// `None` without a `[distill]` section.
    pub distill: Option<tierlm_distill::DistillConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Parse a config file (stage one).
pub fn parse_file(path: &Path) -> Result<UninitializedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_str(&text).map_err(|message| ConfigError::Parse {
        path: path.to_path_buf(),
        message,
    })
}

pub fn parse_str(text: &str) -> Result<UninitializedConfig, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
}

fn default_threads() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(2)
}

fn positive(what: &str, v: u32) -> Result<u32, ConfigError> {
    if v == 0 {
        Err(ConfigError::Invalid(format!(
            "{what} must be at least 1, got 0"
        )))
    } else {
        Ok(v)
    }
}

impl UninitializedConfig {
    /// Stage two: apply overrides, fill defaults, validate.
    pub fn load(self, o: &Overrides) -> Result<Config, ConfigError> {
        let host_text = o
            .host
            .clone()
            .or(self.server.host)
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        let host: IpAddr = host_text.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "`server.host` must be an IP address, got `{host_text}`"
            ))
        })?;
        let models_dir = o
            .models_dir
            .clone()
            .or(self.server.models_dir)
            .unwrap_or_else(|| PathBuf::from("models"));
        let raw_models: Vec<UninitializedModel> = if !o.models.is_empty() {
            o.models
                .iter()
                .map(|(name, path)| UninitializedModel::at(name, path.clone()))
                .collect()
        } else {
            self.models.clone().unwrap_or_else(|| {
                let mut defaults = vec![UninitializedModel::at(
                    DEFAULT_MODEL_NAME,
                    models_dir.join(DEFAULT_MODEL_FILE),
                )];
                let tier2 = models_dir.join(DEFAULT_TIER2_FILE);
                if tier2.is_file() {
                    defaults.push(UninitializedModel::at(DEFAULT_TIER2_NAME, tier2));
                }
                defaults
            })
        };
        let mut models = Vec::new();
        for m in raw_models {
            let what = |k: &str| format!("`{k}` of model `{}`", m.name);
            if m.name.trim().is_empty() {
                return Err(ConfigError::Invalid("a model has an empty `name`".into()));
            }
            if serves(&models, &m.name) {
                return Err(ConfigError::Invalid(format!(
                    "model name `{}` is used twice",
                    m.name
                )));
            }
            let mut adapters: Vec<tierlm_engine::AdapterConfig> = Vec::new();
            for a in &m.adapters {
                let scale = a.scale.unwrap_or(1.0);
                if a.name.trim().is_empty()
                    || a.name == m.name
                    || serves(&models, &a.name)
                    || adapters.iter().any(|x| x.name == a.name)
                {
                    return Err(ConfigError::Invalid(format!(
                        "adapter name `{}` of model `{}` is empty or already used",
                        a.name, m.name
                    )));
                }
                if !(scale.is_finite() && scale > 0.0 && scale <= 4.0) {
                    return Err(ConfigError::Invalid(format!(
                        "`scale` of adapter `{}` must be in (0, 4], got {scale}",
                        a.name
                    )));
                }
                adapters.push(tierlm_engine::AdapterConfig {
                    name: a.name.clone(),
                    path: a.path.clone(),
                    scale,
                });
            }
            if let Some(t) = &m.chat_template {
                if !tierlm_engine::template::BUILTIN_TEMPLATES.contains(&t.as_str()) {
                    return Err(ConfigError::Invalid(format!(
                        "{} is `{t}`; expected one of {}",
                        what("chat_template"),
                        tierlm_engine::template::BUILTIN_TEMPLATES.join(", ")
                    )));
                }
            }
            let context_size = positive(
                &what("context_size"),
                o.context_size
                    .or(m.context_size)
                    .unwrap_or(DEFAULT_CONTEXT_SIZE),
            )?;
            let parallel = positive(
                &what("parallel"),
                o.parallel.or(m.parallel).unwrap_or(DEFAULT_PARALLEL),
            )?;
            if parallel > 64 {
                return Err(ConfigError::Invalid(format!(
                    "{} must be at most 64, got {parallel}",
                    what("parallel")
                )));
            }
            let batch_size = positive(
                &what("batch_size"),
                m.batch_size.unwrap_or(DEFAULT_BATCH_SIZE),
            )?;
            if batch_size < parallel {
                return Err(ConfigError::Invalid(format!(
                    "{} ({batch_size}) must be at least `parallel` ({parallel})",
                    what("batch_size")
                )));
            }
            models.push(ModelConfig {
                name: m.name.clone(),
                path: m.path,
                context_size,
                parallel,
                threads: positive(
                    &what("threads"),
                    o.threads.or(m.threads).unwrap_or_else(default_threads),
                )?,
                batch_size,
                max_queue: m.max_queue.unwrap_or(DEFAULT_MAX_QUEUE),
                chat_template: m.chat_template,
                gpu_layers: m.gpu_layers.unwrap_or(0),
                prompt_cache_bytes: m.prompt_cache_mb.unwrap_or(DEFAULT_PROMPT_CACHE_MB)
                    * 1024
                    * 1024,
                adapters,
            });
        }
        let raw_embed = match (&o.embedding_model, o.no_embeddings) {
            (_, true) => None,
            (Some((name, path)), false) => Some(UninitializedEmbeddings {
                name: name.clone(),
                path: path.clone(),
                batch_size: None,
                max_inputs: None,
            }),
            (None, false) => match self.embeddings {
                Some(e) => Some(e),
                // With no config file, the default embedding model is served if present.
                None if o.models.is_empty() && models_dir.join(DEFAULT_EMBED_DIR).is_dir() => {
                    Some(UninitializedEmbeddings {
                        name: DEFAULT_EMBED_NAME.into(),
                        path: models_dir.join(DEFAULT_EMBED_DIR),
                        batch_size: None,
                        max_inputs: None,
                    })
                }
                None => None,
            },
        };
        let embeddings = raw_embed.map(|e| EmbeddingConfig {
            name: e.name,
            path: e.path,
            batch_size: e.batch_size.unwrap_or(DEFAULT_EMBED_BATCH).max(1),
            max_inputs: e.max_inputs.unwrap_or(DEFAULT_EMBED_MAX_INPUTS).max(1),
        });
        if let Some(e) = &embeddings {
            if models.iter().any(|m| m.name == e.name) {
                return Err(ConfigError::Invalid(format!(
                    "embedding model name `{}` is also a chat model name",
                    e.name
                )));
            }
        }
        let mut names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
        if let Some(e) = &embeddings {
            names.push(e.name.clone());
        }
        let mut cloud = crate::cloud_config::validate(
            self.providers.unwrap_or_default(),
            self.cloud_models.unwrap_or_default(),
            &names,
            &|k| std::env::var(k).ok(),
        )?;
        cloud.pricing = crate::cloud_config::pricing(self.pricing.unwrap_or_default())?;
        // The embedded defaults (no models named anywhere) route `auto` across the
        // local tiers they serve, cheapest first, with no cloud.
        let router = match self.router {
            None if self.models.is_none() && o.models.is_empty() => Some(default_router(&models)),
            r => r,
        };
        if let Some(r) = &router {
            check_router(r, &models, embeddings.as_ref(), &cloud)?;
        }
        let data_dir = o
            .data_dir
            .clone()
            .or(self.server.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let mut ledger = ledger_settings(self.ledger.unwrap_or_default(), &cloud)?;
        if let Some(l) = ledger
            .as_mut()
            .filter(|l| l.database_url == DEFAULT_DATABASE_URL)
        {
            l.database_url = database_url_in(&data_dir);
        }
        // The audit file: the guard's `audit_path` when it sets one, else in data_dir.
        let mut guard = self.guard;
        let builtin = tierlm_guard::policy::GuardConfig::default();
        let builtin_audit = builtin.audit_path;
        if let Some(g) = guard
            .as_mut()
            .filter(|g| g.pseudonym_key_path == builtin.pseudonym_key_path)
        {
            g.pseudonym_key_path = data_dir.join("guard.key");
        }
        let audit_path = match guard.as_mut() {
            Some(g) if g.audit_path != builtin_audit => g.audit_path.clone(),
            Some(g) => {
                g.audit_path = audit_path_in(&data_dir);
                g.audit_path.clone()
            }
            None => audit_path_in(&data_dir),
        };
        let auth = auth_settings(self.auth.unwrap_or_default(), ledger.is_some())?;
        let telemetry = crate::otlp::settings(self.telemetry.unwrap_or_default(), &|k| {
            std::env::var(k).ok()
        })
        .map_err(ConfigError::Invalid)?;
        let metrics = MetricsSettings {
            max_tenants: self
                .metrics
                .and_then(|m| m.max_tenants)
                .unwrap_or(DEFAULT_MAX_TENANTS),
        };
        let mut distill = self.distill;
        if let Some(d) = distill.as_mut() {
            d.validate()
                .map_err(|e| ConfigError::Invalid(e.to_string()))?;
            let builtin = tierlm_distill::DistillConfig::default();
            if d.path == builtin.path {
                d.path = data_dir.join("distill.db");
            }
            if d.students_dir == builtin.students_dir {
                d.students_dir = data_dir.join("students");
            }
            let Some(router) = &router else {
                return Err(ConfigError::Invalid(
                    "distill: students learn routed tasks; add a [router] with profiles".into(),
                ));
            };
            for (task, model) in &d.generative_students {
                let profile = router.profiles.iter().find(|p| &p.name == task);
                if !serves(&models, model) || profile.is_none_or(|p| p.labels.is_some()) {
                    return Err(ConfigError::Invalid(format!(
                        "distill.generative_students.{task}: needs a profile `{task}` without \
                         labels and a configured local model or adapter `{model}`"
                    )));
                }
            }
        }
        Ok(Config {
            distill,
            telemetry,
            metrics,
            router,
            guard,
            audit_path,
            ledger,
            auth,
            cloud,
            host,
            port: o.port.or(self.server.port).unwrap_or(DEFAULT_PORT),
            max_body_bytes: self.server.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            models,
            embeddings,
        })
    }
}

fn auth_settings(a: UninitializedAuth, ledger: bool) -> Result<AuthSettings, ConfigError> {
    let require_keys = a.require_keys.unwrap_or(false);
    if (require_keys || a.admin_key.is_some()) && !ledger {
        return Err(ConfigError::Invalid(
            "auth: virtual keys live in the ledger database; do not set `[ledger] enabled = false`"
                .into(),
        ));
    }
    let admin_key = match a.admin_key {
        None => None,
        Some(r) => {
            let var = r.strip_prefix("env::").ok_or_else(|| {
                ConfigError::Invalid(
                    "auth.admin_key must reference an environment variable (`env::NAME`); inline keys are not allowed".into(),
                )
            })?;
            match std::env::var(var) {
                Ok(v) if !v.is_empty() => Some(tierlm_providers::Secret::new(v)),
                _ => {
                    return Err(ConfigError::Invalid(format!(
                        "auth.admin_key: environment variable `{var}` is not set"
                    )))
                }
            }
        }
    };
    Ok(AuthSettings {
        require_keys,
        admin_key,
    })
}

fn ledger_settings(
    l: UninitializedLedger,
    cloud: &crate::cloud_config::CloudConfig,
) -> Result<Option<crate::outcome::LedgerSettings>, ConfigError> {
    if l.enabled == Some(false) {
        return Ok(None);
    }
    let mut s = default_ledger();
    if let Some(url) = l.database_url {
        s.database_url = url;
    }
    if let Some(m) = l.baseline_model {
        s.baseline_model = m;
    }
    if cloud.pricing.price(&s.baseline_model).is_none() {
        return Err(ConfigError::Invalid(format!(
            "ledger.baseline_model: no price for `{}`; add [pricing.\"{}\"]",
            s.baseline_model, s.baseline_model
        )));
    }
    if let Some(p) = l.local_cost_per_mtok {
        let text = match p {
            crate::cloud_config::PriceText::Text(t) => t,
            crate::cloud_config::PriceText::Number(n) => format!("{n}"),
        };
        let usd = tierlm_providers::pricing::Usd::parse(&text)
            .map_err(|e| ConfigError::Invalid(format!("ledger.local_cost_per_mtok: {e}")))?;
        s.local_price = tierlm_providers::pricing::Price {
            input_per_mtok: usd,
            output_per_mtok: usd,
        };
    }
    Ok(Some(s))
}

/// `auto` over every model of the embedded defaults, cheapest first, no cloud: a
/// SmolLM2 answer less sure than [`DEFAULT_TIER_CONFIDENCE`] is asked again of the next
/// tier, and the last tier's (or the most confident) answer is returned.
fn default_router(models: &[ModelConfig]) -> tierlm_router::RouterConfig {
    let mut r = tierlm_router::RouterConfig::local_only(DEFAULT_MODEL_NAME);
    r.models = vec![DEFAULT_ROUTED_NAME.to_string()];
    r.default_route = tierlm_router::config::DefaultRoute::Cascade;
    r.default_min_confidence = DEFAULT_TIER_CONFIDENCE;
    r.tiers = models.iter().map(|m| m.name.clone()).collect();
    r
}

/// The router's references to other sections must resolve.
fn check_router(
    r: &tierlm_router::RouterConfig,
    models: &[ModelConfig],
    embeddings: Option<&EmbeddingConfig>,
    cloud: &crate::cloud_config::CloudConfig,
) -> Result<(), ConfigError> {
    let invalid = |m: String| Err(ConfigError::Invalid(m));
    r.validate().map_err(ConfigError::Invalid)?;
    let local = |name: &str| serves(models, name);
    if !local(&r.local_model) {
        return invalid(format!(
            "router.local_model: `{}` is not a configured [[models]] name",
            r.local_model
        ));
    }
    let tier_ok = |t: &String| t == tierlm_router::STUDENT_TIER || local(t);
    if let Some(t) = r.tiers.iter().find(|t| !tier_ok(t)) {
        return invalid(format!(
            "router.tiers: `{t}` is neither a configured [[models]] name (or adapter) nor `student`"
        ));
    }
    for p in &r.profiles {
        if let Some(m) = p.local_model.as_deref().filter(|m| !local(m)) {
            return invalid(format!(
                "router.profiles (`{}`).local_model: `{m}` is not a configured model or adapter",
                p.name
            ));
        }
        let tiers = p.tiers.iter().flatten();
        if let Some(t) = tiers.clone().find(|t| !tier_ok(t)) {
            return invalid(format!(
                "router.profiles (`{}`).tiers: `{t}` is neither a configured model (or adapter) nor `student`",
                p.name
            ));
        }
        if p.tiers
            .as_ref()
            .is_some_and(|t| t.iter().all(|t| t == tierlm_router::STUDENT_TIER))
        {
            return invalid(format!(
                "router.profiles (`{}`).tiers: name at least one local model",
                p.name
            ));
        }
    }
    if !r.cloud_model.is_empty() && !cloud.models.iter().any(|m| m.name == r.cloud_model) {
        return invalid(format!(
            "router.cloud_model: `{}` is not a configured [[cloud_models]] name",
            r.cloud_model
        ));
    }
    if !r.profiles.is_empty() && embeddings.is_none() {
        return invalid("router.profiles need an [embeddings] model for the classifier".into());
    }
    for name in &r.models {
        let clash = local(name)
            || cloud.models.iter().any(|m| &m.name == name)
            || embeddings.is_some_and(|e| &e.name == name);
        if clash {
            return invalid(format!(
                "router.models: `{name}` is already the name of a concrete model"
            ));
        }
    }
    Ok(())
}

impl Config {
    /// Check that every model file exists (used by `--check-config`).
    pub fn check_files(&self) -> Result<(), ConfigError> {
        for m in &self.models {
            if !m.path.is_file() {
                return Err(ConfigError::Invalid(format!(
                    "model `{}`: file {} not found",
                    m.name,
                    m.path.display()
                )));
            }
            if let Some(a) = m.adapters.iter().find(|a| !a.path.is_file()) {
                return Err(ConfigError::Invalid(format!(
                    "adapter `{}` of model `{}`: file {} not found",
                    a.name,
                    m.name,
                    a.path.display()
                )));
            }
        }
        if let Some(e) = &self.embeddings {
            for f in ["config.json", "model.safetensors", "tokenizer.json"] {
                if !e.path.join(f).is_file() {
                    return Err(ConfigError::Invalid(format!(
                        "embedding model `{}`: {} not found",
                        e.name,
                        e.path.join(f).display()
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
