//! Loading what the configuration names: local models (and their LoRA adapters), the
//! embedding model, cloud models, the router, the data guard, the distillation
//! flywheel, the ledger and the egress audit. Blocking: run it off the async runtime.

use tierlm_engine::{EmbeddingModel, LocalModel};

use crate::config::Config;
use crate::gateway::{Gateway, Registry};
use crate::{cloud_config, distill};

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
pub fn load_models(gateway: &Gateway) -> Result<Registry, String> {
    let cfg = gateway.config();
    let mut registry = Registry::default();
    for m in &cfg.models {
        // The base model first, then one model per LoRA adapter over its weights.
        for model in LocalModel::load_with_adapters(m, gateway.engine_metrics())
            .map_err(|e| e.to_string())?
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
        let distill = distill::Distill::open(
            d,
            embedder_id(cfg).as_deref(),
            registry.embeddings.clone(),
            gateway.tasks().clone(),
        )?;
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
