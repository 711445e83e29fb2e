//! The data guard on the request path: scan a chat request's texts before it can go
//! anywhere, refuse it, keep it local, or prepare a redacted copy for the cloud; then
//! restore the placeholders in the cloud's answer and write the egress audit.
//!
//! The local path always sees the original request (nothing leaves the process);
//! only the copy sent to a provider is redacted.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::http::HeaderMap;
use tierlm_api::chat::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, MessageContent, ResponseFormat,
};
use tierlm_api::{ApiError, ErrorCode};
use tierlm_guard::audit::{AuditLog, AuditRecord};
use tierlm_guard::policy::{Action, Caller, Inspection};
use tierlm_guard::pseudonym::Pseudonyms;
use tierlm_guard::redact::{RedactionMap, StreamRestorer};
use tierlm_providers::{Egress, EgressNotes};

use crate::state::AppState;

/// What the guard decided for one request.
#[derive(Debug, Clone)]
pub struct Screened {
    pub action: Action,
    pub request_id: String,
    /// What was found, and the pseudonyms for side fields: both or neither.
    inspection: Option<(Arc<Inspection>, Pseudonyms)>,
}

impl Screened {
    /// No guard configured, or nothing found.
    pub fn clear(request_id: String) -> Self {
        Self {
            action: Action::Allow,
            request_id,
            inspection: None,
        }
    }

    /// The request as it may leave the premises, and the map to restore the answer.
    pub fn for_cloud(
        &self,
        req: &ChatCompletionRequest,
    ) -> (ChatCompletionRequest, Option<Arc<RedactionMap>>) {
        let Some((ins, pseudonyms)) = &self.inspection else {
            return (req.clone(), None);
        };
        if ins.to_redact.iter().all(Vec::is_empty) {
            return (req.clone(), None);
        }
        let mut map = RedactionMap::new();
        for t in texts(req) {
            map.reserve(t);
        }
        let mut out = req.clone();
        // one entry per text of `scanned_texts`, then per participant, in visiting order
        let mut findings = ins.to_redact.iter().map(Vec::as_slice);
        for_each_text(&mut out, |t| {
            let entities = findings.next().unwrap_or_default();
            (!entities.is_empty()).then(|| map.redact(t, entities))
        });
        // Side fields the model never reads (`user`, `metadata` values): a value with a
        // finding leaves as a stable keyed pseudonym ("EMAIL_3f1c…", an HMAC under the
        // deployment's secret, as OpenAI recommends hashing `user`), so per-user abuse
        // tracking still works but nobody can confirm a guessed address against it.
        for_each_side_field(&mut out, |value| {
            let entities = findings.next().unwrap_or_default();
            let first = entities.first()?;
            map.redact(value, entities); // counted for the audit
            Some(pseudonyms.pseudonym(first.kind.name(), value))
        });
        // Participant names become a bare label ("PERSON_2": OpenAI allows only
        // letters, digits, '_' and '-' there); "<PERSON_2>" in the answer restores.
        for name in out.messages.iter_mut().filter_map(|m| m.name.as_mut()) {
            let entities = findings.next().unwrap_or_default();
            if !entities.is_empty() {
                let placeholder = map.redact(name, entities);
                *name = placeholder.trim_matches(['<', '>']).to_string();
            }
        }
        (out, Some(Arc::new(map)))
    }
}

/// Every text of a request that could carry data, in the order [`for_each_text`]
/// visits them (the guard's findings are indexed by it). Reads without copying: this
/// runs on every guarded request.
fn texts(req: &ChatCompletionRequest) -> Vec<&str> {
    let mut out = Vec::new();
    for m in &req.messages {
        match &m.content {
            Some(MessageContent::Text(t)) => out.push(t.as_str()),
            Some(MessageContent::Parts(parts)) => {
                out.extend(parts.iter().filter_map(|p| p.text.as_deref()));
            }
            None => {}
        }
        for call in m.tool_calls.iter().flatten() {
            out.push(call.function.arguments.as_str());
        }
    }
    for tool in req.tools.iter().flatten() {
        out.extend(tool.function.description.as_deref());
        if let Some(params) = &tool.function.parameters {
            schema_texts(params, &mut out);
        }
    }
    if let Some(ResponseFormat::JsonSchema { json_schema }) = &req.response_format {
        out.extend(json_schema.description.as_deref());
        if let Some(schema) = &json_schema.schema {
            schema_texts(schema, &mut out);
        }
    }
    out
}

/// Schema keywords whose string values are machinery, not prose or data: rewriting
/// them would break the schema.
const SCHEMA_MACHINERY: [&str; 8] = [
    "type",
    "$ref",
    "$schema",
    "$id",
    "pattern",
    "format",
    "required",
    "additionalProperties",
];

/// Whether `key: value` in a schema object is machinery. An object value is a schema
/// (a property that happens to be named `format` or `type`, an `additionalProperties`
/// schema) and is read.
fn is_machinery(key: &str, value: &serde_json::Value) -> bool {
    SCHEMA_MACHINERY.contains(&key) && !value.is_object()
}

/// The strings of a JSON schema that can carry data (descriptions, titles, `enum`,
/// `const`, `default` and `examples` values), depth first in key order.
fn schema_texts<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match value {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| schema_texts(v, out)),
        serde_json::Value::Object(map) => map
            .iter()
            .filter(|(k, v)| !is_machinery(k, v))
            .for_each(|(_, v)| schema_texts(v, out)),
        _ => {}
    }
}

/// Visit [`schema_texts`] in the same order; `f` may return a replacement.
fn for_each_schema_text(value: &mut serde_json::Value, f: &mut impl FnMut(&str) -> Option<String>) {
    match value {
        serde_json::Value::String(s) => {
            if let Some(new) = f(s) {
                *s = new;
            }
        }
        serde_json::Value::Array(items) => {
            items.iter_mut().for_each(|v| for_each_schema_text(v, f))
        }
        serde_json::Value::Object(map) => map
            .iter_mut()
            .filter(|(k, v)| !is_machinery(k, v))
            .for_each(|(_, v)| for_each_schema_text(v, f)),
        _ => {}
    }
}

/// The fields of a request that reach a provider but not the model: `user`, then the
/// string values of `metadata`; after [`texts`] in the guard's findings.
fn side_fields(req: &ChatCompletionRequest) -> Vec<&str> {
    let metadata = req.metadata.as_ref().and_then(|m| m.as_object());
    req.user
        .as_deref()
        .into_iter()
        .chain(
            metadata
                .into_iter()
                .flat_map(|m| m.values().filter_map(|v| v.as_str())),
        )
        .collect()
}

/// Visit [`side_fields`] in the same order; `f` may return a replacement.
fn for_each_side_field(req: &mut ChatCompletionRequest, mut f: impl FnMut(&str) -> Option<String>) {
    if let Some(user) = &mut req.user {
        if let Some(new) = f(user) {
            *user = new;
        }
    }
    let metadata = req.metadata.as_mut().and_then(|m| m.as_object_mut());
    for v in metadata.into_iter().flat_map(|m| m.values_mut()) {
        if let Some(new) = v.as_str().and_then(&mut f) {
            *v = serde_json::Value::String(new);
        }
    }
}

/// What the guard scans as text, in the order of its findings: [`texts`], then
/// [`side_fields`].
fn scanned_texts(req: &ChatCompletionRequest) -> Vec<&str> {
    let mut out = texts(req);
    out.extend(side_fields(req));
    out
}

/// The participant names of a request's messages (`name`), in message order: after
/// [`texts`] in the guard's findings.
fn participants(req: &ChatCompletionRequest) -> Vec<&str> {
    req.messages
        .iter()
        .filter_map(|m| m.name.as_deref())
        .collect()
}

/// Visit every text of a request that could carry data, in a fixed order; `f` may
/// return a replacement.
fn for_each_text(req: &mut ChatCompletionRequest, mut f: impl FnMut(&str) -> Option<String>) {
    for m in &mut req.messages {
        match &mut m.content {
            Some(MessageContent::Text(t)) => {
                if let Some(new) = f(t) {
                    *t = new;
                }
            }
            Some(MessageContent::Parts(parts)) => {
                for p in parts.iter_mut() {
                    if let Some(t) = &mut p.text {
                        if let Some(new) = f(t) {
                            *t = new;
                        }
                    }
                }
            }
            None => {}
        }
        for call in m.tool_calls.iter_mut().flatten() {
            if let Some(new) = f(&call.function.arguments) {
                call.function.arguments = new;
            }
        }
    }
    let mut described = |description: &mut Option<String>,
                         schema: &mut Option<serde_json::Value>| {
        if let Some(d) = description {
            if let Some(new) = f(d) {
                *d = new;
            }
        }
        if let Some(schema) = schema {
            for_each_schema_text(schema, &mut f);
        }
    };
    for tool in req.tools.iter_mut().flatten() {
        described(
            &mut tool.function.description,
            &mut tool.function.parameters,
        );
    }
    if let Some(ResponseFormat::JsonSchema { json_schema }) = &mut req.response_format {
        described(&mut json_schema.description, &mut json_schema.schema);
    }
}

/// The request id the middleware put on the request.
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Scan the request; `Err` when the policy blocks it. JSON texts have their `\uXXXX`
/// escapes spelled out first, in the request itself, so what is scanned, what the
/// local model reads and what a provider receives are the same characters.
pub fn screen(
    state: &AppState,
    req: &mut ChatCompletionRequest,
    headers: &HeaderMap,
) -> Result<Screened, ApiError> {
    let id = request_id(headers);
    let guard = state.guard();
    let Some(guard) = guard.as_deref() else {
        return Ok(Screened::clear(id));
    };
    for_each_text(req, tierlm_guard::json_text::spell_out_escapes);
    let req = &*req;
    let refs = scanned_texts(req);
    let who = crate::auth::caller();
    let caller = Caller {
        tenant: who.as_ref().map(|c| c.key.tenant.as_str()),
        key: who.as_ref().map(|c| c.key.key_id.as_str()),
        model: &req.model,
    };
    let ins = guard.inspect_request(&refs, &participants(req), &caller);
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
        request_id: id,
        inspection: Some((Arc::new(ins), guard.pseudonyms())),
    })
}

fn types(t: &BTreeSet<String>) -> String {
    t.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// Put the original values back into a whole answer.
pub fn restore_answer(answer: &mut ChatCompletion, map: &RedactionMap) {
    for c in &mut answer.choices {
        if let Some(t) = &mut c.message.content {
            *t = map.restore(t);
        }
        for call in c.message.tool_calls.iter_mut().flatten() {
            call.function.arguments = map.restore(&call.function.arguments);
        }
    }
}

/// Restores placeholders in a streamed answer, per choice.
pub struct ChunkRestorer {
    map: Arc<RedactionMap>,
    choices: Vec<StreamRestorer>,
}

impl ChunkRestorer {
    pub fn new(map: Arc<RedactionMap>) -> Self {
        Self {
            map,
            choices: Vec::new(),
        }
    }

    fn choice(&mut self, i: usize) -> &mut StreamRestorer {
        while self.choices.len() <= i {
            self.choices
                .push(StreamRestorer::new(Arc::clone(&self.map)));
        }
        &mut self.choices[i]
    }

    /// Restore a chunk in place; a choice's held-back text is released with its
    /// finish reason.
    pub fn restore(&mut self, chunk: &mut ChatCompletionChunk) {
        for c in &mut chunk.choices {
            let i = c.index as usize;
            let mut text = match &c.delta.content {
                Some(t) => self.choice(i).push(t),
                None => String::new(),
            };
            if c.finish_reason.is_some() {
                text.push_str(&self.choice(i).finish());
            }
            if c.delta.content.is_some() || !text.is_empty() {
                c.delta.content = Some(text);
            }
            for call in c.delta.tool_calls.iter_mut().flatten() {
                call.function.arguments = self.map.restore(&call.function.arguments);
            }
        }
    }
}

/// The notes for one cloud call: with the egress audit on, every upstream attempt
/// (retries and fallbacks included) is appended to the audit chain — durably, with the
/// request id, tenant, provider, model, body hash and redaction counts — *before* it is
/// sent; an audit that cannot be written stops the request before anything leaves.
pub fn egress_notes(
    state: &AppState,
    screened: &Screened,
    route: &str,
    map: Option<&RedactionMap>,
) -> EgressNotes {
    let Some(log) = state.audit() else {
        return EgressNotes::default();
    };
    let redacted = map.map(|m| m.counts().clone()).unwrap_or_default();
    let request_id = screened.request_id.clone();
    let tenant = crate::auth::caller().map(|c| c.key.tenant.clone());
    let route = route.to_string();
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
        Box::pin(write(log, record))
    }))
}

/// Appends `record`: in place when that cannot wait on a disk sync (`audit_sync = "os"`),
/// which spares every cloud request two thread hand-offs, else on a blocking thread.
async fn write(log: Arc<AuditLog>, record: AuditRecord) -> Result<(), String> {
    let quick = log.append_is_quick();
    let append = move || log.append(record).map(drop).map_err(|e| e.to_string());
    let result = if quick {
        append()
    } else {
        tokio::task::spawn_blocking(append)
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
    };
    result.map_err(|e| {
        tracing::error!(error = %e, "cannot write the egress audit");
        "cannot write the egress audit; see the server log".to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_and_rewriting_visit_the_same_texts_in_the_same_order() {
        let mut req: ChatCompletionRequest = serde_json::from_value(serde_json::json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "a"},
                {"role": "user", "content": [{"type": "text", "text": "b"}, {"type": "text", "text": "c"}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "1", "type": "function", "function": {"name": "f", "arguments": "d"}}]},
                {"role": "tool", "tool_call_id": "1", "content": "e"}
            ],
            "tools": [{"type": "function", "function": {"name": "f", "description": "f1",
                "parameters": {"type": "object", "properties": {
                    "format": {"type": "string", "description": "f0"},
                    "who": {"type": "string", "description": "f2", "enum": ["f3", "f4"]},
                    "id": {"type": "string", "pattern": "^[a-z]+$", "format": "email"}},
                    "required": ["who"]}}}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "r",
                "description": "r1", "schema": {"type": "object", "title": "r2",
                "properties": {"x": {"$ref": "#/$defs/x", "default": "r3"}}}}}
        }))
        .unwrap();
        let read: Vec<String> = texts(&req).into_iter().map(str::to_string).collect();
        let mut visited = Vec::new();
        for_each_text(&mut req, |t| {
            visited.push(t.to_string());
            None
        });
        assert_eq!(
            read,
            ["a", "b", "c", "d", "e", "f1", "f0", "f2", "f3", "f4", "r1", "r3", "r2"]
        );
        assert_eq!(read, visited);
    }

    #[test]
    fn participant_names_leave_as_labels_and_are_restored() {
        let guard = tierlm_guard::policy::Guard::new(Default::default()).unwrap();
        let req: ChatCompletionRequest = serde_json::from_value(serde_json::json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "name": "kira_fransson", "content": "Hi, I am Kira Fransson."},
                {"role": "user", "name": "kira_fransson", "content": "Still there?"}
            ]
        }))
        .unwrap();
        let ins = guard.inspect_request(
            &scanned_texts(&req),
            &participants(&req),
            &Caller::default(),
        );
        let screened = Screened {
            action: ins.action,
            request_id: "r".into(),
            inspection: Some((Arc::new(ins), guard.pseudonyms())),
        };
        let (out, map) = screened.for_cloud(&req);
        let sent = serde_json::to_string(&out).unwrap();
        assert!(
            !sent.contains("kira") && !sent.contains("Fransson"),
            "{sent}"
        );
        let label = out.messages[1].name.clone().unwrap();
        assert_eq!(out.messages[2].name.as_deref(), Some(label.as_str()));
        assert!(label.starts_with("PERSON_"), "{label}");
        assert!(label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        let answer = map.unwrap().restore(&format!("Hello <{label}>"));
        assert_eq!(answer, "Hello kira_fransson");
    }

    #[test]
    fn user_and_metadata_leave_as_stable_pseudonyms() {
        let guard = tierlm_guard::policy::Guard::new(Default::default()).unwrap();
        let screen_for_cloud = |user: &str| {
            let req: ChatCompletionRequest = serde_json::from_value(serde_json::json!({
                "model": "m",
                "user": user,
                "metadata": {"team": "billing", "owner": "ann.lee@example.com"},
                "messages": [{"role": "user", "name": "ops", "content": "Status?"}]
            }))
            .unwrap();
            let ins = guard.inspect_request(
                &scanned_texts(&req),
                &participants(&req),
                &Caller::default(),
            );
            let screened = Screened {
                action: ins.action,
                request_id: "r".into(),
                inspection: Some((Arc::new(ins), guard.pseudonyms())),
            };
            screened.for_cloud(&req).0
        };
        let a = screen_for_cloud("jane.doe@example.com");
        let sent = serde_json::to_string(&a).unwrap();
        assert!(!sent.contains("@example.com"), "{sent}");
        let user = a.user.clone().unwrap();
        assert!(user.starts_with("EMAIL_") && user.len() == 22, "{user}");
        let meta = a.metadata.clone().unwrap();
        assert_eq!(meta["team"], "billing");
        assert!(meta["owner"].as_str().unwrap().starts_with("EMAIL_"));
        // the same user gets the same pseudonym in every request; another user another
        assert_eq!(screen_for_cloud("jane.doe@example.com").user, a.user);
        assert_ne!(screen_for_cloud("bo.kim@example.com").user, a.user);
        // the participant label still lines up after the side fields
        assert_eq!(
            a.messages[0]
                .name
                .as_deref()
                .map(|n| n.starts_with("PERSON_")),
            Some(true)
        );
    }
}
