//! A loaded local model and the handle async code uses to reach it.
//!
//! Loading maps the GGUF file, picks the chat template and starts the worker thread
//! that owns the llama.cpp context. The handle tokenises on the caller's thread (the
//! model is read-only and thread-safe) and sends jobs through a bounded queue: when it
//! is full, [`LocalModel::submit`] fails at once with `overloaded` (HTTP 429) instead
//! of letting latency grow without bound.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaLoraAdapter, LlamaModel};
use tokio::sync::mpsc;

use tierlm_api::{ApiError, ErrorCode};

use crate::metrics::{EngineMetrics, ModelMetrics};
use crate::request::{Event, Generation};
use crate::template::ChatTemplate;
use crate::worker::{Job, Worker, WorkerConfig};

/// How to load and serve one GGUF model (validated by the config layer).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub name: String,
    pub path: PathBuf,
    /// Tokens per sequence (prompt + completion).
    pub context_size: u32,
    /// Sequences decoded together (the batch width).
    pub parallel: u32,
    pub threads: u32,
    /// Most tokens in one decode step.
    pub batch_size: u32,
    /// Requests that may wait for a slot before new ones get 429.
    pub max_queue: usize,
    /// A built-in template name that overrides the file's own.
    pub chat_template: Option<String>,
    /// Layers offloaded to the GPU (needs the `cuda` feature).
    pub gpu_layers: u32,
    /// Host RAM for saved sequence states (the RAM prompt cache); 0 disables it.
    pub prompt_cache_bytes: usize,
    /// LoRA adapters served as models of their own over these weights.
    pub adapters: Vec<AdapterConfig>,
}

impl ModelConfig {
    /// The model names this entry serves: its own, then each adapter's.
    pub fn served_names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.adapters.iter().map(|a| a.name.as_str()))
    }
}

/// Whether `name` is served by one of `models` (a base model or an adapter).
pub fn serves(models: &[ModelConfig], name: &str) -> bool {
    models
        .iter()
        .flat_map(ModelConfig::served_names)
        .any(|n| n == name)
}

/// A LoRA adapter (GGUF, llama.cpp's adapter format) served as its own model name,
/// sharing the base model's weights; it gets its own context and worker, so requests
/// to the base and to each adapter batch separately.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterConfig {
    pub name: String,
    pub path: PathBuf,
    /// Multiplier of the adapter's `alpha / rank` (1.0 applies it as trained).
    pub scale: f32,
}

/// What clients and operators can learn about a loaded model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub name: String,
    pub path: PathBuf,
    pub architecture: String,
    pub n_vocab: i32,
    pub n_ctx_train: u32,
    pub context_size: u32,
    pub parallel: u32,
    pub template: String,
    pub size_bytes: u64,
    pub n_params: u64,
    /// The LoRA adapter this model applies, if it is an adapter of another model.
    pub adapter: Option<PathBuf>,
}

impl ModelInfo {
    /// The largest `n` a request may ask for.
    pub fn max_n(&self) -> u32 {
        self.parallel.min(16)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("llama.cpp backend failed to start: {0}")]
    Backend(String),
    #[error("model file {path} not found; run scripts/fetch-models or `tierlm models pull`")]
    Missing { path: PathBuf },
    #[error("failed to load model {path}: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("failed to create a context for {name}: {reason}")]
    Context { name: String, reason: String },
    #[error("model {name}: {reason}")]
    Template { name: String, reason: String },
    #[error("adapter {name} ({path}): {reason}")]
    Adapter {
        name: String,
        path: PathBuf,
        reason: String,
    },
}

/// The process-wide llama.cpp backend (it may be initialised only once).
pub(crate) fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| EngineError::Backend(e.clone()))
}

struct Inner {
    info: ModelInfo,
    llama: Arc<LlamaModel>,
    template: ChatTemplate,
    jobs: mpsc::Sender<Job>,
    /// Requests that may wait (in the channel or the worker's fair-share queue).
    max_queue: usize,
    metrics: Arc<ModelMetrics>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

/// A handle to a loaded model; cheap to clone.
#[derive(Clone)]
pub struct LocalModel {
    inner: Arc<Inner>,
}

impl LocalModel {
    /// Load the model and start its worker. Blocking: call it off the async runtime.
    /// Adapters in `cfg` are not served; see [`LocalModel::load_with_adapters`].
    pub fn load(cfg: &ModelConfig, metrics: &EngineMetrics) -> Result<Self, EngineError> {
        let cfg = ModelConfig {
            adapters: Vec::new(),
            ..cfg.clone()
        };
        let mut all = Self::load_with_adapters(&cfg, metrics)?;
        all.pop().ok_or_else(|| EngineError::Context {
            name: cfg.name.clone(),
            reason: "no model was started".into(),
        })
    }

    /// Load the model once and start a worker for it and one for each of its
    /// adapters (which share its weights). The base model comes first.
    pub fn load_with_adapters(
        cfg: &ModelConfig,
        metrics: &EngineMetrics,
    ) -> Result<Vec<Self>, EngineError> {
        if !cfg.path.is_file() {
            return Err(EngineError::Missing {
                path: cfg.path.clone(),
            });
        }
        let llama_backend = backend()?;
        let params = LlamaModelParams::default().with_n_gpu_layers(cfg.gpu_layers);
        let mut llama =
            LlamaModel::load_from_file(llama_backend, &cfg.path, &params).map_err(|e| {
                EngineError::Load {
                    path: cfg.path.clone(),
                    reason: e.to_string(),
                }
            })?;
        let mut adapters = Vec::with_capacity(cfg.adapters.len());
        for a in &cfg.adapters {
            let adapter_error = |reason: String| EngineError::Adapter {
                name: a.name.clone(),
                path: a.path.clone(),
                reason,
            };
            if !a.path.is_file() {
                return Err(adapter_error("file not found".into()));
            }
            // llama.cpp checks the architecture and every tensor's shape against
            // the base model and refuses a mismatch.
            let handle = llama.lora_adapter_init(&a.path).map_err(|e| {
                adapter_error(format!(
                    "llama.cpp refused it ({e}); is it an adapter for this base model?"
                ))
            })?;
            adapters.push((a.clone(), handle));
        }
        let llama = Arc::new(llama);
        let template =
            ChatTemplate::select(&llama, cfg.chat_template.as_deref()).map_err(|reason| {
                EngineError::Template {
                    name: cfg.name.clone(),
                    reason,
                }
            })?;
        let mut out = Vec::with_capacity(1 + adapters.len());
        out.push(Self::start(
            cfg,
            &cfg.name,
            &llama,
            template.clone(),
            None,
            metrics,
        )?);
        for (a, handle) in adapters {
            out.push(Self::start(
                cfg,
                &a.name,
                &llama,
                template.clone(),
                Some((a.path.clone(), handle, a.scale)),
                metrics,
            )?);
        }
        Ok(out)
    }

    /// Start the worker thread serving `name` over `llama`, with an adapter applied.
    fn start(
        cfg: &ModelConfig,
        name: &str,
        llama: &Arc<LlamaModel>,
        template: ChatTemplate,
        adapter: Option<(PathBuf, LlamaLoraAdapter, f32)>,
        metrics: &EngineMetrics,
    ) -> Result<Self, EngineError> {
        let info = ModelInfo {
            name: name.to_string(),
            path: cfg.path.clone(),
            architecture: llama
                .meta_val_str("general.architecture")
                .unwrap_or_default(),
            n_vocab: llama.n_vocab(),
            n_ctx_train: llama.n_ctx_train(),
            context_size: cfg.context_size,
            parallel: cfg.parallel,
            template: template.source.clone(),
            size_bytes: llama.size(),
            n_params: llama.n_params(),
            adapter: adapter.as_ref().map(|(p, _, _)| p.clone()),
        };
        let model_metrics = Arc::new(metrics.for_model(name));
        let (tx, rx) = mpsc::channel(cfg.max_queue.max(1));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let worker_model = Arc::clone(llama);
        let worker_metrics = Arc::clone(&model_metrics);
        let wcfg = cfg.clone();
        let wname = name.to_string();
        let handle = std::thread::Builder::new()
            .name(format!("engine-{name}"))
            .spawn(move || {
                let ctx_params = LlamaContextParams::default()
                    .with_n_ctx(NonZeroU32::new(wcfg.context_size * wcfg.parallel))
                    .with_n_batch(wcfg.batch_size)
                    .with_n_ubatch(wcfg.batch_size)
                    .with_n_seq_max(wcfg.parallel)
                    .with_n_threads(wcfg.threads as i32)
                    .with_n_threads_batch(wcfg.threads as i32)
                    .with_kv_unified(false)
                    .with_swa_full(true);
                let context_error = |reason: String| EngineError::Context {
                    name: wname.clone(),
                    reason,
                };
                let ctx = backend().and_then(|b| {
                    worker_model
                        .new_context(b, ctx_params)
                        .map_err(|e| context_error(e.to_string()))
                });
                let ctx = ctx.and_then(|mut ctx| {
                    if let Some((_, mut handle, scale)) = adapter {
                        ctx.lora_adapter_set(&mut handle, scale)
                            .map_err(|e| context_error(format!("applying the adapter: {e}")))?;
                    }
                    Ok(ctx)
                });
                let ctx = match ctx {
                    Ok(ctx) => ctx,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                let worker = Worker::new(
                    &worker_model,
                    ctx,
                    WorkerConfig {
                        parallel: wcfg.parallel,
                        context_size: wcfg.context_size,
                        batch_size: wcfg.batch_size,
                        prompt_cache_bytes: wcfg.prompt_cache_bytes,
                        max_waiting: wcfg.max_queue.max(1),
                    },
                    worker_metrics,
                );
                worker.run(rx);
            })
            .map_err(|e| EngineError::Context {
                name: name.to_string(),
                reason: e.to_string(),
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(EngineError::Context {
                    name: name.to_string(),
                    reason: "the engine thread exited during start-up".into(),
                })
            }
        }
        tracing::info!(
            model = %info.name,
            arch = %info.architecture,
            template = %info.template,
            params = info.n_params,
            adapter = ?info.adapter,
            "model loaded"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                info,
                llama: Arc::clone(llama),
                template,
                jobs: tx,
                max_queue: cfg.max_queue.max(1),
                metrics: model_metrics,
                worker: Mutex::new(Some(handle)),
            }),
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.inner.info
    }

    pub fn llama(&self) -> &LlamaModel {
        &self.inner.llama
    }

    pub fn template(&self) -> &ChatTemplate {
        &self.inner.template
    }

    /// Tokenise text; `add_special` adds BOS where the model wants it. Special-token
    /// text in the input is parsed (chat templates produce it).
    pub fn tokenize(&self, text: &str, add_special: bool) -> Vec<i32> {
        let vocab = self.inner.llama.vocab();
        let add_bos = add_special || vocab.should_add_bos();
        vocab
            .tokenize(text.as_bytes(), add_bos, true)
            .into_iter()
            .map(|t| t.0)
            .collect()
    }

    /// Queue a generation; events arrive on the returned channel. Dropping the
    /// receiver cancels the generation.
    pub fn submit(
        &self,
        generation: Generation,
    ) -> Result<mpsc::UnboundedReceiver<Event>, ApiError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let job = Job {
            generation,
            events: tx,
            enqueued: Instant::now(),
        };
        // Waiting requests sit in the channel or in the worker's own queue (where it
        // picks fairly between tenants); the gauge counts both.
        let full = self.queued() >= self.inner.max_queue as u64;
        let sent = if full {
            Err(mpsc::error::TrySendError::Full(job))
        } else {
            self.inner.jobs.try_send(job)
        };
        match sent {
            Ok(()) => {
                self.inner.metrics.queue_depth.add(1);
                Ok(rx)
            }
            Err(mpsc::error::TrySendError::Full(_)) => Err(ApiError::new(
                ErrorCode::Overloaded,
                format!(
                    "model `{}` has too many requests waiting; retry shortly",
                    self.inner.info.name
                ),
            )),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(ApiError::new(
                ErrorCode::NotReady,
                format!("model `{}` is shutting down", self.inner.info.name),
            )),
        }
    }

    /// Requests waiting for a sequence slot (not yet decoding).
    pub fn queued(&self) -> u64 {
        u64::try_from(self.inner.metrics.queue_depth.get()).unwrap_or(0)
    }

    /// Whether the worker thread is still running.
    pub fn is_alive(&self) -> bool {
        self.inner
            .worker
            .lock()
            .map(|w| w.as_ref().is_some_and(|h| !h.is_finished()))
            .unwrap_or(false)
    }
}
