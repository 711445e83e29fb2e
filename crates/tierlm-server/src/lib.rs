//! The tierlm HTTP server: an OpenAI-compatible API over the local engine.
//!
//! [`serve`] binds the listener first (so `/health` answers while models load), loads
//! the configured models off the async runtime, flips `/ready`, and shuts down
//! gracefully on SIGINT/SIGTERM, letting in-flight requests finish and sending their
//! queued trace spans (when `[telemetry]` exports them).

pub mod admin;
pub mod app;
pub mod assemble;
pub mod auth;
pub mod cloud_config;
pub mod config;
pub mod distill;
pub mod error;
pub mod extract;
pub mod guard;
pub mod handlers;
pub mod ledger;
pub mod metrics;
pub mod otlp;
pub mod sse;
pub mod state;
mod timer_anchor;
pub mod usage;

pub use app::app;
pub use config::Config;
pub use state::{AppState, Registry};

use std::future::Future;
use tierlm_engine::{EmbeddingModel, LocalModel};

/// The router `[router]` describes, with its classifier's embedder (`encoder` is the
/// loaded embedding model, needed by the contextual classifier); `None` without a
/// `[router]`. Blocking: it embeds every profile's examples.
pub fn build_router(
    cfg: &Config,
    encoder: Option<&EmbeddingModel>,
) -> Result<Option<tierlm_router::Router>, String> {
    let Some(r) = &cfg.router else {
        return Ok(None);
    };
    let embedder = match &cfg.embeddings {
        Some(e) if !r.profiles.is_empty() => Some(tierlm_router::classify::embedder(
            r.classifier,
            &e.path,
            encoder,
        )?),
        _ => None,
    };
    tierlm_router::Router::new(r.clone(), embedder).map(Some)
}

/// Names the embeddings the router's classifier produces (`static:all-minilm-l6-v2`),
/// so a student trained on one kind is never consulted with another; `None` when the
/// router has no embedder.
pub fn embedder_id(cfg: &Config) -> Option<String> {
    let r = cfg.router.as_ref()?;
    let e = cfg.embeddings.as_ref()?;
    let kind = match r.classifier {
        tierlm_router::config::ClassifierKind::Static => "static",
        tierlm_router::config::ClassifierKind::Contextual => "contextual",
    };
    Some(format!("{kind}:{}:{}", e.name, r.route_words))
}

/// Load every configured model (blocking; run it off the async runtime).
pub fn load_models(state: &AppState) -> Result<Registry, String> {
    let cfg = state.config();
    let mut registry = Registry::default();
    for m in &cfg.models {
        // The base model first, then one model per LoRA adapter over its weights.
        for model in
            LocalModel::load_with_adapters(m, state.engine_metrics()).map_err(|e| e.to_string())?
        {
            registry.chat.insert(model.info().name.clone(), model);
        }
    }
    if let Some(e) = &cfg.embeddings {
        registry.embeddings = Some(EmbeddingModel::load(e)?);
    }
    registry.cloud = cloud_config::build(&cfg.cloud)?;
    if let Some(router) = build_router(cfg, registry.embeddings.as_ref())? {
        let r = router.config();
        tracing::info!(
            models = ?r.models,
            profiles = router.profiles().len(),
            local = %r.local_model,
            cloud = %r.cloud_model,
            "router ready"
        );
        registry.router = Some(std::sync::Arc::new(router));
    }
    if let Some(g) = &cfg.guard {
        let guard = tierlm_guard::policy::Guard::new(g.clone())?.with_stored_pseudonym_key()?;
        registry.guard = Some(std::sync::Arc::new(guard));
    }
    if let Some(d) = &cfg.distill {
        let distill =
            distill::Distill::open(d, embedder_id(cfg).as_deref(), registry.embeddings.clone())?;
        tracing::info!(path = %d.path.display(), capture = d.capture.enabled, "distillation ready");
        registry.distill = Some(std::sync::Arc::new(distill));
    }
    if let Some(l) = &cfg.ledger {
        let store =
            tierlm_ledger::open_store(&l.database_url).map_err(|e| format!("ledger: {e}"))?;
        tracing::info!(baseline = %l.baseline_model, "ledger open");
        registry.ledger = Some(std::sync::Arc::from(store));
    }
    if !cfg.cloud.models.is_empty() {
        let path = cfg.audit_path.clone();
        let sync = cfg.guard.as_ref().map(|g| g.audit_sync).unwrap_or_default();
        let log = tierlm_guard::audit::AuditLog::open_with(&path, sync)
            .map_err(|e| format!("egress audit {}: {e}", path.display()))?;
        if let Some(t) = log.torn_tail() {
            tracing::warn!(path = %path.display(), "egress audit: {t}");
        }
        tracing::info!(path = %path.display(), "egress audit open");
        registry.audit = Some(std::sync::Arc::new(log));
    }
    Ok(registry)
}

/// Serve until `shutdown` resolves. `on_listen` receives the bound address.
pub async fn serve<F>(
    config: Config,
    on_listen: impl FnOnce(std::net::SocketAddr),
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind((config.host, config.port)).await?;
    let addr = listener.local_addr()?;
    let state = AppState::new(config);
    state.start_telemetry().map_err(std::io::Error::other)?;
    on_listen(addr);
    let loader_state = state.clone();
    let loader = tokio::task::spawn_blocking(move || match load_models(&loader_state) {
        Ok(reg) => {
            loader_state.install(reg);
            tracing::info!("all models loaded; ready");
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "model loading failed");
            loader_state.fail(e);
            false
        }
    });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let anchor = timer_anchor::spawn();
    let telemetry = state.clone();
    // Streams are many small writes: without TCP_NODELAY, Nagle's algorithm and the
    // client's delayed ACKs hold the tail of a stream back by ~40 ms.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {e}");
        }
    });
    let server = axum::serve(listener, app(state)).with_graceful_shutdown(async move {
        tokio::select! {
            _ = shutdown => {}
            _ = stop_rx => {}
        }
    });
    let watch_loader = async move {
        // A failed load is fatal: the process exits non-zero instead of serving nothing.
        if let Ok(false) = loader.await {
            let _ = stop_tx.send(());
            return Err(std::io::Error::other("model loading failed"));
        }
        std::future::pending::<std::io::Result<()>>().await
    };
    let result = tokio::select! {
        r = server => r,
        r = watch_loader => r,
    };
    anchor.abort();
    // In-flight requests have finished: send their spans before exiting.
    telemetry
        .flush_telemetry(std::time::Duration::from_secs(3))
        .await;
    result
}
