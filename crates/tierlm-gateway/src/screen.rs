//! The data guard on the request path: scan a request's texts before it can go
//! anywhere, refuse it, keep it local, or prepare a redacted copy for the cloud; and
//! write the egress audit before anything leaves.
//!
//! The local path always sees the original request (nothing leaves the process);
//! only the copy sent to a provider is redacted. The walk over the request and the
//! restoring of answers live in `tierlm_guard::chat`.

use std::collections::BTreeSet;
use std::sync::Arc;

use tierlm_api::chat::ChatCompletionRequest;
use tierlm_api::{ApiError, ErrorCode};
use tierlm_guard::audit::{AuditLog, AuditRecord};
use tierlm_guard::chat::Redactable;
use tierlm_guard::policy::{Action, Caller as GuardCaller};
use tierlm_guard::redact::RedactionMap;
use tierlm_providers::{Egress, EgressNotes};

use crate::gateway::Gateway;
use crate::keys::Caller;

/// What the guard decided for one request.
#[derive(Debug, Clone)]
pub struct Screened {
    pub action: Action,
    pub request_id: String,
    pub tenant: Option<String>,
    /// What was found: `None` without a guard.
    redactable: Option<Redactable>,
}

impl Screened {
    /// No guard configured.
    pub fn clear(request_id: String, tenant: Option<String>) -> Self {
        Self {
            action: Action::Allow,
            request_id,
            tenant,
            redactable: None,
        }
    }

    /// The request as it may leave the premises, and the map to restore the answer.
    pub fn for_cloud(
        &self,
        req: &ChatCompletionRequest,
    ) -> (ChatCompletionRequest, Option<Arc<RedactionMap>>) {
        match &self.redactable {
            Some(r) => r.for_cloud(req),
            None => (req.clone(), None),
        }
    }

    /// Every type found, with counts.
    pub fn findings(&self) -> std::collections::BTreeMap<String, u32> {
        self.redactable
            .as_ref()
            .map(|r| r.inspection.found.clone())
            .unwrap_or_default()
    }
}

/// Scan the request; `Err` when the policy blocks it. JSON texts have their `\uXXXX`
/// escapes spelled out first, in the request itself, so what is scanned, what the
/// local model reads and what a provider receives are the same characters.
pub fn screen(
    state: &Gateway,
    req: &mut ChatCompletionRequest,
    who: Option<&Caller>,
    request_id: &str,
) -> Result<Screened, ApiError> {
    let tenant = who.map(|c| c.key.tenant.clone());
    let guard = state.guard();
    let Some(guard) = guard.as_deref() else {
        return Ok(Screened::clear(request_id.to_string(), tenant));
    };
    tierlm_guard::chat::spell_out_escapes(req);
    let req = &*req;
    let caller = GuardCaller {
        tenant: who.map(|c| c.key.tenant.as_str()),
        key: who.map(|c| c.key.key_id.as_str()),
        model: &req.model,
    };
    let redactable = tierlm_guard::chat::inspect(guard, req, &caller);
    let ins = &redactable.inspection;
    state
        .metrics()
        .record_guard(&ins.found, ins.action.as_str());
    if ins.action == Action::Block {
        return Err(ApiError::new(
            ErrorCode::PolicyRefused,
            format!(
                "the data policy blocks this request: it contains {} (values not shown)",
                types(&ins.deciding_types)
            ),
        ));
    }
    if !ins.found.is_empty() {
        tracing::info!(action = ins.action.as_str(), found = ?ins.found, "guard");
    }
    Ok(Screened {
        action: ins.action,
        request_id: request_id.to_string(),
        tenant,
        redactable: Some(redactable),
    })
}

fn types(t: &BTreeSet<String>) -> String {
    t.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// The notes for one cloud call: with the egress audit on, every upstream attempt
/// (retries and fallbacks included) is appended to the audit chain — durably, with the
/// request id, tenant, provider, model, body hash and redaction counts — *before* it is
/// sent; an audit that cannot be written stops the request before anything leaves.
pub fn egress_notes(
    state: &Gateway,
    screened: &Screened,
    route: &str,
    map: Option<&RedactionMap>,
) -> EgressNotes {
    let Some(log) = state.audit() else {
        return EgressNotes::default();
    };
    let redacted = map.map(|m| m.counts().clone()).unwrap_or_default();
    let request_id = screened.request_id.clone();
    let tenant = screened.tenant.clone();
    let route = route.to_string();
    let tasks = state.tasks().clone();
    EgressNotes::gated(Arc::new(move |e: Egress| {
        let record = AuditRecord {
            request_id: request_id.clone(),
            tenant: tenant.clone(),
            provider: e.provider,
            model: e.model,
            body_sha256: e.body_sha256,
            body_bytes: e.body_bytes,
            redacted: redacted.clone(),
            route: route.clone(),
        };
        let log = Arc::clone(&log);
        Box::pin(write(log, record, tasks.clone()))
    }))
}

/// Appends `record`: in place when that cannot wait on a disk sync (`audit_sync = "os"`),
/// which spares every cloud request two thread hand-offs, else on a blocking thread.
async fn write(
    log: Arc<AuditLog>,
    record: AuditRecord,
    tasks: crate::tasks::Tasks,
) -> Result<(), String> {
    let quick = log.append_is_quick();
    let append = move || log.append(record).map(drop).map_err(|e| e.to_string());
    let result = if quick {
        append()
    } else {
        tasks
            .spawn_blocking(append)
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
    };
    result.map_err(|e| {
        tracing::error!(error = %e, "cannot write the egress audit");
        "cannot write the egress audit; see the server log".to_string()
    })
}
