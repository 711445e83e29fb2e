//! A cloud model answers: the request goes out redacted as the guard decided, every
//! upstream attempt is audited before it is sent, the answer comes back with the values
//! restored, and — for a routed task with `[distill]` on — the teacher's answer (as the
//! cloud said it) is offered to the flywheel. Retries, fallbacks and breakers live in
//! `tierlm-providers`; when every target fails and the model names a local fallback,
//! the local model answers instead.

use std::sync::Arc;

use futures::StreamExt;
use tierlm_api::chat::ChatCompletionRequest;
use tierlm_api::{ApiError, ErrorCode};
use tierlm_guard::chat::{restore_answer, ChunkRestorer};
use tierlm_providers::{CloudModel, StreamItem};

use super::{ChatEvent, Served};
use crate::answer::Body;
use crate::distill::{Distill, Learn};
use crate::gateway::Gateway;
use crate::keys::Caller;
use crate::outcome::{Outcome, Reason, Route};
use crate::screen::{egress_notes, Screened};

/// The cloud model to ask, and how its answer is recorded.
pub(crate) struct Target {
    pub model: CloudModel,
    /// The local model that answers when every cloud target fails.
    pub fallback: Option<String>,
    /// `Cloud`, or `Escalated` after an unsure local tier.
    pub route: Route,
    /// A routed task's teacher answer to learn from.
    pub learn: Option<Learn>,
}

/// Answer with a cloud model (see the module docs).
pub(crate) async fn serve(
    gw: &Gateway,
    req: ChatCompletionRequest,
    target: Target,
    screened: &Screened,
    caller: Option<&Caller>,
    o: &mut Outcome,
) -> Result<Served, ApiError> {
    let fallback = target.fallback.clone();
    match ask(gw, &req, target, screened, caller, o).await {
        Err(e) if e.code != ErrorCode::ProviderRejected && fallback.is_some() => {
            let local = fallback.unwrap_or_default();
            tracing::warn!(model = %req.model, fallback = %local, error = %e.message, "cloud failed; answering locally");
            answer_locally(gw, req, local, Reason::CloudFailedLocalFallback, o).await
        }
        r => r,
    }
}

async fn ask(
    gw: &Gateway,
    req: &ChatCompletionRequest,
    target: Target,
    screened: &Screened,
    caller: Option<&Caller>,
    o: &mut Outcome,
) -> Result<Served, ApiError> {
    let (outgoing, map) = screened.for_cloud(req);
    let first_upstream = target.model.targets.first().map(|t| t.model.clone());
    let reservation =
        crate::keys::reserve(gw, caller, &outgoing, first_upstream.as_deref()).await?;
    if let Some((key, amount)) = reservation {
        let prev = o.reservation.take().map_or(0, |(_, a)| a);
        o.reservation = Some((key, prev + amount));
    }
    let route_name = target.route.as_str();
    let notes = egress_notes(gw, screened, route_name, map.as_deref());
    let teach = target.learn.and_then(|learn| {
        Some(Teach {
            distill: gw.distill()?,
            learn,
            outgoing: outgoing.clone(),
            request_id: screened.request_id.clone(),
            tenant: screened.tenant.clone(),
        })
    });
    if req.stream == Some(true) {
        let id = tierlm_api::ids::new_id("chatcmpl");
        let created = tierlm_api::ids::unix_now();
        let (items, served) = target
            .model
            .chat_stream(&outgoing, &id, created, &notes)
            .await?;
        o.route = target.route;
        o.served_model = Some(req.model.clone());
        o.provider = Some(served.provider.clone());
        o.upstream_model = Some(served.model.clone());
        let teacher_model = format!("{}/{}", served.provider, served.model);
        let mut restorer = map.map(ChunkRestorer::new);
        let mut teach = teach;
        // The first choice's text as the cloud said it (placeholders, not restored values).
        let mut taught = String::new();
        let events = items
            .scan(false, move |finished, item| {
                if *finished {
                    return futures::future::ready(None);
                }
                let event = match item {
                    Ok(StreamItem::Chunk(mut c)) => {
                        if teach.is_some() {
                            if let Some(t) = c.choices.iter().find(|ch| ch.index == 0) {
                                taught.push_str(t.delta.content.as_deref().unwrap_or_default());
                            }
                        }
                        if let Some(r) = restorer.as_mut() {
                            r.restore(&mut c);
                        }
                        ChatEvent::Chunk(c)
                    }
                    Ok(StreamItem::End(usage)) => {
                        *finished = true;
                        if let Some(t) = teach.take() {
                            t.answered(&taught, &id, &teacher_model);
                        }
                        ChatEvent::Done(usage.unwrap_or_default())
                    }
                    Err(e) => {
                        *finished = true;
                        ChatEvent::Error(ApiError::new(
                            ErrorCode::ProviderError,
                            format!("the cloud answer broke off: {e}"),
                        ))
                    }
                };
                futures::future::ready(Some(event))
            })
            .boxed();
        return Ok(Body::Stream(events));
    }
    let (mut answer, served) = target.model.chat(&outgoing, &notes).await?;
    o.route = target.route;
    o.provider = Some(served.provider.clone());
    o.upstream_model = Some(served.model.clone());
    if let Some(t) = &teach {
        let text = answer
            .choices
            .first()
            .and_then(|c| c.message.content.as_deref())
            .unwrap_or_default();
        t.answered(
            text,
            &answer.id,
            &format!("{}/{}", served.provider, served.model),
        );
    }
    if let Some(m) = &map {
        restore_answer(&mut answer, m);
    }
    let u = answer.usage;
    o.tokens(&req.model, u.prompt_tokens, u.completion_tokens);
    Ok(Body::Whole(answer))
}

/// The guard says the data must stay: answer with the cloud model's local fallback.
pub(crate) async fn keep_local(
    gw: &Gateway,
    req: ChatCompletionRequest,
    fallback: Option<String>,
    o: &mut Outcome,
) -> Result<Served, ApiError> {
    let Some(local) = fallback else {
        return Err(ApiError::new(
            ErrorCode::PolicyRefused,
            format!(
                "the data policy keeps this request local, but the cloud model `{}` has no `fallback_local` model",
                req.model
            ),
        ));
    };
    answer_locally(gw, req, local, Reason::GuardLocalOnly, o).await
}

async fn answer_locally(
    gw: &Gateway,
    mut req: ChatCompletionRequest,
    local: String,
    reason: Reason,
    o: &mut Outcome,
) -> Result<Served, ApiError> {
    req.model = local;
    // What the cloud path noted (a provider that failed) no longer describes the answer.
    o.provider = None;
    o.upstream_model = None;
    let served = super::local::serve(gw, req, None, o).await?;
    o.reason = Some(reason);
    Ok(served)
}

/// What a teacher answer is offered to the distillation flywheel with.
struct Teach {
    distill: Arc<Distill>,
    learn: Learn,
    outgoing: ChatCompletionRequest,
    request_id: String,
    tenant: Option<String>,
}

impl Teach {
    fn answered(&self, text: &str, answer_id: &str, teacher_model: &str) {
        self.distill.teacher_answered(
            &self.learn,
            &self.outgoing,
            text,
            answer_id,
            teacher_model,
            &self.request_id,
            self.tenant.as_deref(),
        );
    }
}
