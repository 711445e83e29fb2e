//! Chat completions answered by a cloud model: retries, fallbacks and breakers live
//! in `tierlm-providers`; this handler maps the result to JSON or SSE and, when every
//! target fails and the model names a local fallback, answers locally instead.

use std::time::Instant;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use std::sync::Arc;
use tierlm_api::chat::{ChatCompletionChunk, ChatCompletionRequest};
use tierlm_api::{ApiError, ErrorCode};
use tierlm_guard::redact::RedactionMap;
use tierlm_providers::{CloudModel, EgressNotes, Served, StreamItem};

use crate::guard::{self, ChunkRestorer, Screened};
use crate::handlers::stream_options;
use crate::sse::{self, SseFrame};
use crate::state::AppState;

const ENDPOINT: &str = "chat_completions";

fn cloud_headers(model: &str, served: &Served) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        HeaderName::from_static("x-tierlm-route"),
        HeaderValue::from_static("cloud"),
    );
    for (name, value) in [
        ("x-tierlm-model", model),
        ("x-tierlm-provider", served.provider.as_str()),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
    h
}

/// Answer with a cloud model. The request goes out redacted as the guard decided, the
/// answer comes back with the values restored, and every upstream attempt is audited
/// before the answer is returned. `route` names the route in the audit
/// (`cloud`, `escalated`). With `learn` (a routed task, `[distill]` on), the answer —
/// JSON, or a stream once it has ended well — is also offered to the distillation
/// flywheel, as the cloud saw and said it.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    state: &AppState,
    req: ChatCompletionRequest,
    cloud: CloudModel,
    fallback: Option<String>,
    screened: &Screened,
    route: &str,
    started: Instant,
    learn: Option<crate::distill::Learn>,
) -> Result<Response, ApiError> {
    let (stream, include_usage) = stream_options(req.stream, req.stream_options.as_ref())?;
    let (outgoing, map) = screened.for_cloud(&req);
    let first_upstream = cloud.targets.first().map(|t| t.model.clone());
    crate::auth::reserve(state, &outgoing, first_upstream.as_deref()).await?;
    let notes = guard::egress_notes(state, screened, route, map.as_deref());
    let result = if stream {
        let teach = learn.as_ref().and_then(|learn| {
            let distill = state.distill()?;
            Some(Teach {
                distill,
                learn: learn.clone(),
                outgoing: outgoing.clone(),
                request_id: screened.request_id.clone(),
                tenant: crate::auth::caller().map(|c| c.key.tenant.clone()),
            })
        });
        let r = stream_cloud(
            state,
            &outgoing,
            &cloud,
            include_usage,
            map.clone(),
            &notes,
            started,
            teach,
        )
        .await;
        r
    } else {
        let r = cloud.chat(&outgoing, &notes).await;
        match r {
            Ok((mut answer, served)) => {
                crate::ledger::note_upstream(&served.provider, &served.model);
                if let (Some(learn), Some(d)) = (&learn, state.distill()) {
                    let tenant = crate::auth::caller().map(|c| c.key.tenant.clone());
                    let text = answer
                        .choices
                        .first()
                        .and_then(|c| c.message.content.as_deref())
                        .unwrap_or_default();
                    d.teacher_answered(
                        learn,
                        &outgoing,
                        text,
                        &answer.id,
                        &format!("{}/{}", served.provider, served.model),
                        &screened.request_id,
                        tenant.as_deref(),
                    );
                }
                if let Some(m) = &map {
                    guard::restore_answer(&mut answer, m);
                }
                let u = answer.usage;
                state
                    .metrics()
                    .record_tokens(&req.model, u.prompt_tokens, u.completion_tokens);
                state
                    .metrics()
                    .record_request(ENDPOINT, &req.model, 200, started.elapsed());
                let mut headers = cloud_headers(&req.model, &served);
                let price = state.config().cloud.pricing.price(&served.model);
                let cost = price
                    .map(|p| p.cost(u64::from(u.prompt_tokens), u64::from(u.completion_tokens)));
                if let Some(v) = cost.and_then(|c| HeaderValue::from_str(&c.to_string()).ok()) {
                    headers.insert(HeaderName::from_static("x-tierlm-cost-usd"), v);
                }
                Ok((headers, axum::Json(answer)).into_response())
            }
            Err(e) => Err(e),
        }
    };
    match (result, fallback) {
        (Err(e), Some(local)) if e.code != ErrorCode::ProviderRejected => {
            tracing::warn!(model = %req.model, fallback = %local, error = %e.message, "cloud failed; answering locally");
            answer_locally(state, req, local, "cloud_failed_local_fallback", started).await
        }
        // Errors are counted by the caller, like local ones.
        (r, _) => r,
    }
}

/// The guard says the data must stay: answer with the cloud model's local fallback.
pub async fn keep_local(
    state: &AppState,
    req: ChatCompletionRequest,
    fallback: Option<String>,
    started: Instant,
) -> Result<Response, ApiError> {
    let Some(local) = fallback else {
        return Err(ApiError::new(
            ErrorCode::PolicyRefused,
            format!(
                "the data policy keeps this request local, but the cloud model `{}` has no `fallback_local` model",
                req.model
            ),
        ));
    };
    answer_locally(state, req, local, "guard_local_only", started).await
}

async fn answer_locally(
    state: &AppState,
    mut req: ChatCompletionRequest,
    local: String,
    reason: &'static str,
    started: Instant,
) -> Result<Response, ApiError> {
    req.model = local;
    let mut resp = super::chat::start_local(state, req, started).await?;
    resp.headers_mut().insert(
        HeaderName::from_static("x-tierlm-reason"),
        HeaderValue::from_static(reason),
    );
    Ok(resp)
}

/// What a streamed teacher answer is offered to the distillation flywheel with, once
/// it has ended well.
struct Teach {
    distill: Arc<crate::distill::Distill>,
    learn: crate::distill::Learn,
    outgoing: ChatCompletionRequest,
    request_id: String,
    tenant: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn stream_cloud(
    state: &AppState,
    req: &ChatCompletionRequest,
    cloud: &CloudModel,
    include_usage: bool,
    map: Option<Arc<RedactionMap>>,
    notes: &EgressNotes,
    started: Instant,
    mut teach: Option<Teach>,
) -> Result<Response, ApiError> {
    let id = tierlm_api::ids::new_id("chatcmpl");
    let created = tierlm_api::ids::unix_now();
    let (items, served) = cloud.chat_stream(req, &id, created, notes).await?;
    crate::ledger::note_upstream(&served.provider, &served.model);
    let model = req.model.clone();
    let st = state.clone();
    let mut restorer = map.map(ChunkRestorer::new);
    let mut first_sent = false;
    // The first choice's text as the cloud said it (placeholders, not restored values).
    let mut taught = String::new();
    let teacher_model = format!("{}/{}", served.provider, served.model);
    let frames = items
        .scan(false, move |finished, item| {
            if *finished {
                return futures::future::ready(None);
            }
            let frames = match item {
                Ok(StreamItem::Chunk(mut c)) => {
                    let content = c.choices.iter().any(|ch| {
                        ch.delta.content.as_deref().is_some_and(|t| !t.is_empty())
                            || ch.delta.tool_calls.is_some()
                    });
                    if content && !first_sent {
                        first_sent = true;
                        crate::ledger::note_first_token();
                    }
                    if teach.is_some() {
                        if let Some(t) = c.choices.iter().find(|ch| ch.index == 0) {
                            taught.push_str(t.delta.content.as_deref().unwrap_or_default());
                        }
                    }
                    if let Some(r) = restorer.as_mut() {
                        r.restore(&mut c);
                    }
                    vec![SseFrame::json(&c)]
                }
                Ok(StreamItem::End(usage)) => {
                    *finished = true;
                    if let Some(t) = teach.take() {
                        t.distill.teacher_answered(
                            &t.learn,
                            &t.outgoing,
                            &taught,
                            &id,
                            &teacher_model,
                            &t.request_id,
                            t.tenant.as_deref(),
                        );
                    }
                    let u = usage.unwrap_or_default();
                    st.metrics()
                        .record_tokens(&model, u.prompt_tokens, u.completion_tokens);
                    st.metrics()
                        .record_request(ENDPOINT, &model, 200, started.elapsed());
                    let mut f = Vec::new();
                    if include_usage {
                        f.push(SseFrame::json(&ChatCompletionChunk {
                            id: id.clone(),
                            object: "chat.completion.chunk".into(),
                            created,
                            model: model.clone(),
                            choices: Vec::new(),
                            usage,
                        }));
                    }
                    f.push(SseFrame::done());
                    f
                }
                Err(e) => {
                    *finished = true;
                    let err = ApiError::new(
                        ErrorCode::ProviderError,
                        format!("the cloud answer broke off: {e}"),
                    );
                    st.metrics()
                        .record_request(ENDPOINT, &model, err.status(), started.elapsed());
                    vec![SseFrame::error(&err)]
                }
            };
            futures::future::ready(Some(frames))
        })
        .flat_map(futures::stream::iter);
    Ok((cloud_headers(&req.model, &served), sse::response(frames)).into_response())
}
