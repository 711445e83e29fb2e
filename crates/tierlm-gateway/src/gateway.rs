//! The gateway: its configuration, the loaded models, readiness, metrics, per-key
//! state and the tracked background tasks. One value, cheap to clone, that every
//! request path takes.
//!
//! The server listens before the models finish loading, so `/health` answers at once
//! while `/ready` and the inference paths wait for [`Gateway::install`]. The model
//! registry is swapped in whole, so each request takes one cheap snapshot.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use tierlm_api::{ApiError, ErrorCode};
use tierlm_engine::{EmbeddingModel, EngineMetrics, LocalModel};
use tierlm_guard::audit::AuditLog;
use tierlm_guard::policy::Guard;
use tierlm_ledger::Store;
use tierlm_providers::CloudModel;
use tierlm_router::Router;

use crate::config::Config;
use crate::metrics::GatewayMetrics;

/// The loaded models.
#[derive(Default, Clone)]
pub struct Registry {
    pub chat: BTreeMap<String, LocalModel>,
    pub embeddings: Option<EmbeddingModel>,
    /// Cloud models and the local model each may fall back to.
    pub cloud: BTreeMap<String, (CloudModel, Option<String>)>,
    /// Routes requests for the routed model names (`auto`).
    pub router: Option<Arc<Router>>,
    /// Scans requests for sensitive values (`[guard]`).
    pub guard: Option<Arc<Guard>>,
    /// The egress audit chain (on whenever cloud models are configured).
    pub audit: Option<Arc<AuditLog>>,
    /// One row per inference request, and the virtual keys.
    pub ledger: Option<Arc<dyn Store>>,
    /// The distillation flywheel (`[distill]`).
    pub distill: Option<Arc<crate::distill::Distill>>,
}

struct Inner {
    config: Config,
    registry: RwLock<Arc<Registry>>,
    ready: AtomicBool,
    load_error: RwLock<Option<String>>,
    metrics: GatewayMetrics,
    engine_metrics: Arc<EngineMetrics>,
    keys: crate::key_state::KeyState,
    /// Set by [`Gateway::start_telemetry`] when `[telemetry]` names an endpoint.
    otlp: OnceLock<Arc<crate::otlp::Exporter>>,
    tasks: crate::tasks::Tasks,
    speeds: crate::tiers::TierSpeeds,
}

/// The gateway (see the module docs).
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

impl Gateway {
    pub fn new(config: Config) -> Self {
        let metrics = GatewayMetrics::for_config(&config);
        Self {
            inner: Arc::new(Inner {
                config,
                registry: RwLock::new(Arc::new(Registry::default())),
                ready: AtomicBool::new(false),
                load_error: RwLock::new(None),
                metrics,
                otlp: OnceLock::new(),
                engine_metrics: Arc::new(EngineMetrics::default()),
                keys: crate::key_state::KeyState::default(),
                tasks: crate::tasks::Tasks::new(),
                speeds: crate::tiers::TierSpeeds::default(),
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn max_body_bytes(&self) -> usize {
        self.inner.config.max_body_bytes
    }

    /// The measured speed of the local tiers (see [`crate::tiers`]).
    pub fn speeds(&self) -> &crate::tiers::TierSpeeds {
        &self.inner.speeds
    }

    /// The tracked background tasks (see [`crate::tasks`]).
    pub fn tasks(&self) -> &crate::tasks::Tasks {
        &self.inner.tasks
    }

    pub fn metrics(&self) -> &GatewayMetrics {
        &self.inner.metrics
    }

    /// Per-key limits, reservations and the key cache.
    pub fn keys(&self) -> &crate::key_state::KeyState {
        &self.inner.keys
    }

    /// Start the OTLP span exporter if `[telemetry]` configures one (inside the
    /// runtime; a second call does nothing).
    pub fn start_telemetry(&self) -> Result<(), String> {
        let Some(t) = &self.inner.config.telemetry else {
            return Ok(());
        };
        if self.inner.otlp.get().is_some() {
            return Ok(());
        }
        let exporter = crate::otlp::Exporter::start(
            t.clone(),
            Arc::clone(&self.inner.metrics.otlp),
            // A service of its own, joined by `flush_telemetry`, not a background
            // write that the drain waits for.
            &crate::tasks::Tasks::new(),
        )?;
        tracing::info!(url = %t.traces_url, "telemetry: exporting request spans");
        let _ = self.inner.otlp.set(Arc::new(exporter));
        Ok(())
    }

    /// The span exporter, when trace export is on.
    pub fn otlp(&self) -> Option<&Arc<crate::otlp::Exporter>> {
        self.inner.otlp.get()
    }

    /// Send the spans still queued (graceful shutdown), waiting at most `limit`.
    pub async fn flush_telemetry(&self, limit: std::time::Duration) {
        if let Some(e) = self.inner.otlp.get() {
            e.shutdown(limit).await;
        }
    }

    pub fn engine_metrics(&self) -> &Arc<EngineMetrics> {
        &self.inner.engine_metrics
    }

    /// Make the loaded models available and mark the server ready.
    pub fn install(&self, registry: Registry) {
        if let Ok(mut r) = self.inner.registry.write() {
            *r = Arc::new(registry);
        }
        self.inner.ready.store(true, Ordering::Release);
    }

    /// Record a fatal load error (reported by `/ready`).
    pub fn fail(&self, message: String) {
        if let Ok(mut e) = self.inner.load_error.write() {
            *e = Some(message);
        }
    }

    pub fn load_error(&self) -> Option<String> {
        self.inner.load_error.read().ok().and_then(|e| e.clone())
    }

    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }

    pub fn registry(&self) -> Arc<Registry> {
        self.inner
            .registry
            .read()
            .map(|r| Arc::clone(&r))
            .unwrap_or_default()
    }

    fn not_ready(&self) -> ApiError {
        ApiError::new(
            ErrorCode::NotReady,
            "models are still loading; retry when /ready answers 200",
        )
    }

    pub(crate) fn unknown_model(&self, name: &str, registry: &Registry, kind: &str) -> ApiError {
        let mut names: Vec<&str> = registry.chat.keys().map(String::as_str).collect();
        names.extend(registry.cloud.keys().map(String::as_str));
        if let Some(r) = &registry.router {
            names.extend(r.config().models.iter().map(String::as_str));
        }
        if let Some(e) = &registry.embeddings {
            names.push(e.name());
        }
        ApiError::new(
            ErrorCode::ModelNotFound,
            format!(
                "the model `{name}` does not exist or is not a {kind} model here; available: {}",
                names.join(", ")
            ),
        )
        .with_param("model")
    }

    /// The chat/completions model with this name.
    pub fn chat_model(&self, name: &str) -> Result<LocalModel, ApiError> {
        if !self.is_ready() {
            return Err(self.not_ready());
        }
        let reg = self.registry();
        reg.chat
            .get(name)
            .cloned()
            .ok_or_else(|| self.unknown_model(name, &reg, "chat"))
    }

    /// The cloud model with this name and its local fallback, if it is one.
    pub fn cloud_model(&self, name: &str) -> Option<(CloudModel, Option<String>)> {
        if !self.is_ready() {
            return None;
        }
        self.registry().cloud.get(name).cloned()
    }

    /// The router, when `name` is one of its routed model names.
    pub fn router_for(&self, name: &str) -> Option<Arc<Router>> {
        if !self.is_ready() {
            return None;
        }
        self.registry().router.clone().filter(|r| r.routes(name))
    }

    pub fn guard(&self) -> Option<Arc<Guard>> {
        self.registry().guard.clone()
    }

    pub fn audit(&self) -> Option<Arc<AuditLog>> {
        self.registry().audit.clone()
    }

    pub fn ledger(&self) -> Option<Arc<dyn Store>> {
        self.registry().ledger.clone()
    }

    pub fn distill(&self) -> Option<Arc<crate::distill::Distill>> {
        self.registry().distill.clone()
    }

    /// How ledger rows are priced (the defaults when `[ledger]` is absent).
    pub fn ledger_settings(&self) -> crate::outcome::LedgerSettings {
        self.inner
            .config
            .ledger
            .clone()
            .unwrap_or_else(crate::config::default_ledger)
    }

    /// The embedding model with this name.
    pub fn embedding_model(&self, name: &str) -> Result<EmbeddingModel, ApiError> {
        if !self.is_ready() {
            return Err(self.not_ready());
        }
        let reg = self.registry();
        match &reg.embeddings {
            Some(e) if e.name() == name => Ok(e.clone()),
            _ => Err(self.unknown_model(name, &reg, "embedding")),
        }
    }
}
