//! Chat completions for routed models (`auto`): ask the router, then run its decision.
//!
//! - **local**: the local model answers, asked the profile's way (instructions,
//!   demonstrations, a grammar over the label set); streamed for real when asked.
//! - **cloud**: the configured cloud model answers (with its retries and fallbacks).
//! - **cascade**: the local model answers first, *in full*, and its confidence is
//!   checked before a byte is sent; a confident answer is returned (as JSON, or replayed
//!   as a server-sent event stream), an unsure one escalates to the cloud model. The
//!   check needs the whole answer (a label's probability, a JSON document's validity),
//!   and a streamed answer cannot be taken back, so streaming clients of a cascaded
//!   route get their first byte after the local answer is done. Cascaded routes are
//!   meant for short routine answers, where that costs little.
//!
//! Every answer carries `x-tierlm-route` (`local|cloud|escalated`), `x-tierlm-reason`,
//! and, when known, `x-tierlm-profile`, `x-tierlm-class` and `x-tierlm-confidence`.

use std::sync::Arc;
use std::time::Instant;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use tierlm_api::chat::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChunkChoice, Delta, ResponseFormat,
    Role, ToolCallDelta,
};
use tierlm_api::{ApiError, ErrorCode};
use tierlm_guard::policy::Action;
use tierlm_router::confidence::{json_confidence, label_confidence, token_confidence};
use tierlm_router::{Decision, Hint, Profile, Route, RouteContext, Router, Sensitivity};

use crate::distill::{shadow_student, student_completion, Consult, GenerativeConsult, Learn};
use crate::guard::Screened;
use crate::handlers::stream_options;
use crate::sse::{self, SseFrame};
use crate::state::AppState;

const ENDPOINT: &str = "chat_completions";
const HINT_HEADER: &str = "x-tierlm-route";

fn set(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(HeaderName::from_static(name), v);
    }
}

fn context(headers: &HeaderMap) -> Result<RouteContext, ApiError> {
    let hint = match headers.get(HINT_HEADER) {
        None => None,
        Some(v) => Some(v.to_str().ok().and_then(Hint::parse).ok_or_else(|| {
            ApiError::invalid(
                HINT_HEADER,
                "the `x-tierlm-route` header must be `local` or `cloud`",
            )
        })?),
    };
    Ok(RouteContext {
        hint,
        ..Default::default()
    })
}

/// What the answer says about its route, beyond what the serving path sets.
struct Explanation {
    route: &'static str,
    reason: &'static str,
    profile: Option<String>,
    class: Option<&'static str>,
    confidence: Option<f64>,
}

impl Explanation {
    fn new(d: &Decision) -> Self {
        Self {
            route: "local",
            reason: d.reason,
            profile: d.profile.as_ref().map(|p| p.name().to_string()),
            class: d.class.map(|c| c.as_str()),
            confidence: None,
        }
    }

    fn apply(&self, resp: &mut Response) {
        let h = resp.headers_mut();
        set(h, "x-tierlm-route", self.route);
        // A cloud failure answered by the local fallback keeps its own reason.
        if !h.contains_key("x-tierlm-reason") {
            set(h, "x-tierlm-reason", self.reason);
        }
        if let Some(p) = &self.profile {
            set(h, "x-tierlm-profile", p);
        }
        if let Some(c) = self.class {
            set(h, "x-tierlm-class", c);
        }
        if let Some(c) = self.confidence {
            set(h, "x-tierlm-confidence", &format!("{c:.4}"));
        }
    }
}

pub async fn serve(
    state: &AppState,
    router: Arc<Router>,
    req: ChatCompletionRequest,
    headers: &HeaderMap,
    screened: &Screened,
    started: Instant,
) -> Result<Response, ApiError> {
    let mut ctx = context(headers)?;
    if screened.action == Action::LocalOnly {
        ctx.sensitivity = Sensitivity::LocalOnly;
    }
    if let Some(c) = crate::auth::caller() {
        ctx.tenant = Some(c.key.tenant.clone());
        ctx.key = Some(c.key.key_id.clone());
        ctx.over_budget = c.over_budget;
    }
    stream_options(req.stream, req.stream_options.as_ref())?;
    let r = Arc::clone(&router);
    let distill = state.distill();
    let (req, decision, consult, generative) = tokio::task::spawn_blocking(move || {
        let d = r.decide(&req, &ctx);
        // A label task's student, when distillation trained one: it may answer
        // (promoted) or be compared with the teacher (shadow).
        let consult = match (&distill, &d.profile, &d.embedding) {
            (Some(dist), Some(p), Some(e))
                if d.route != Route::Refuse && p.config.labels.is_some() =>
            {
                dist.consult(p.name(), e, &req)
            }
            _ => Consult::default(),
        };
        // A generative task's student (a local model): the same two roles.
        let generative = match (&distill, &d.profile) {
            (Some(dist), Some(p)) if d.route != Route::Refuse && p.config.labels.is_none() => {
                dist.consult_generative(p.name(), d.embedding.as_deref())
            }
            _ => GenerativeConsult::default(),
        };
        (req, d, consult, generative)
    })
    .await
    .map_err(|e| ApiError::internal(format!("the router failed: {e}")))?;
    let mut why = Explanation::new(&decision);
    // In shadow, a generative student answers alongside the teacher (only when the
    // request may reach the teacher).
    let student_answer = generative
        .shadow
        .as_ref()
        .filter(|_| matches!(decision.route, Route::Cloud | Route::Cascade { .. }))
        .map(|model| {
            let mut shaped = router.shape_local(&req, decision.profile.as_deref(), false);
            shaped.model = model.clone();
            shaped.stream = None;
            shaped.stream_options = None;
            shadow_student(state, shaped)
        });
    let learn = |route: &'static str| {
        decision.profile.as_ref().map(|p| Learn {
            task: p.name().to_string(),
            labels: p.config.labels.clone(),
            shadow: consult.shadow.clone(),
            student_answer: student_answer.clone(),
            route,
        })
    };
    let generative_student = generative
        .serve
        .as_deref()
        .filter(|_| matches!(decision.route, Route::Local | Route::Cascade { .. }));
    let student = consult
        .serve
        .as_ref()
        .zip(decision.profile.as_ref())
        .filter(|_| matches!(decision.route, Route::Local | Route::Cascade { .. }));
    let result = match decision.route {
        _ if student.is_some() => {
            let (prediction, profile) = student.unzip();
            let answer = profile
                .zip(prediction)
                .map(|(p, pred)| student_completion(&req, p.name(), pred));
            why.reason = "student";
            why.confidence = prediction.map(|p| p.confidence);
            match answer {
                Some(a) => reply(state, &req, Ok(a), started),
                None => Err(ApiError::internal("the student vanished")),
            }
        }
        _ if generative_student.is_some() => {
            why.reason = "student";
            if let Some(d) = state.distill() {
                d.counters
                    .student_answers
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            local(
                state,
                &router,
                req,
                &decision,
                generative_student,
                &mut why,
                started,
            )
            .await
        }
        Route::Refuse if decision.reason == "over_budget_refused" => {
            Err(crate::auth::over_budget_error())
        }
        Route::Refuse => Err(ApiError::new(
            ErrorCode::PolicyRefused,
            format!(
                "the routing policy refuses this request (reason: {})",
                decision.reason
            ),
        )),
        Route::Cloud => {
            why.route = "cloud";
            cloud(
                state,
                &router,
                req,
                screened,
                "cloud",
                started,
                learn("cloud"),
            )
            .await
        }
        Route::Local => local(state, &router, req, &decision, None, &mut why, started).await,
        Route::Cascade { threshold } => {
            let cascade_ctx = Cascade {
                decision: &decision,
                threshold,
                screened,
                learn: learn("escalated"),
            };
            cascade(state, &router, req, cascade_ctx, &mut why, started).await
        }
    };
    let route = if result.is_err() && decision.route == Route::Refuse {
        "refused"
    } else {
        why.route
    };
    let profile = why.profile.as_deref().unwrap_or("");
    state
        .metrics()
        .record_route(route, why.reason, profile, decision.elapsed);
    tracing::info!(
        route,
        reason = why.reason,
        profile,
        class = why.class.unwrap_or(""),
        confidence = why.confidence.unwrap_or(f64::NAN),
        decision_us = decision.elapsed.as_micros() as u64,
        "routed"
    );
    let mut resp = result?;
    why.apply(&mut resp);
    Ok(resp)
}

async fn cloud(
    state: &AppState,
    router: &Router,
    mut req: ChatCompletionRequest,
    screened: &Screened,
    route: &str,
    started: Instant,
    learn: Option<Learn>,
) -> Result<Response, ApiError> {
    let name = &router.config().cloud_model;
    let (model, fallback) = state.cloud_model(name).ok_or_else(|| {
        ApiError::internal(format!("the router's cloud model `{name}` is not loaded"))
    })?;
    req.model = name.clone();
    super::cloud_chat::serve(state, req, model, fallback, screened, route, started, learn).await
}

/// Answer locally: the profile's local model, or `model` (a generative student).
async fn local(
    state: &AppState,
    router: &Router,
    req: ChatCompletionRequest,
    d: &Decision,
    model: Option<&str>,
    why: &mut Explanation,
    started: Instant,
) -> Result<Response, ApiError> {
    let profile = d.profile.as_deref();
    let grammar = profile.and_then(|p| p.grammar.as_deref());
    let shape = |with_confidence: bool| {
        let mut shaped = router.shape_local(&req, profile, with_confidence);
        if let Some(m) = model {
            shaped.model = m.to_string();
        }
        shaped
    };
    if req.stream == Some(true) {
        let shaped = shape(false);
        let headers = super::local_headers(&shaped.model);
        return super::chat::start_local_with(state, shaped, grammar, headers, started).await;
    }
    let shaped = shape(true);
    let answer = super::chat::run_local(state, &shaped, grammar).await;
    if let Ok(a) = &answer {
        why.confidence = Some(confidence(profile, &req, a).0);
    }
    reply(state, &req, answer, started)
}

/// What the cascade needs besides the request.
struct Cascade<'a> {
    decision: &'a Decision,
    threshold: f64,
    screened: &'a Screened,
    learn: Option<Learn>,
}

async fn cascade(
    state: &AppState,
    router: &Router,
    req: ChatCompletionRequest,
    c: Cascade<'_>,
    why: &mut Explanation,
    started: Instant,
) -> Result<Response, ApiError> {
    let (threshold, screened) = (c.threshold, c.screened);
    let profile = c.decision.profile.as_deref();
    let grammar = profile.and_then(|p| p.grammar.as_deref());
    let shaped = router.shape_local(&req, profile, true);
    let escalate = match super::chat::run_local(state, &shaped, grammar).await {
        Ok(answer) => {
            let (c, valid) = confidence(profile, &req, &answer);
            why.confidence = Some(c);
            if valid && c >= threshold {
                why.reason = "cascade_confident";
                return reply(state, &req, Ok(answer), started);
            }
            if valid {
                "cascade_low_confidence"
            } else {
                "cascade_invalid_output"
            }
        }
        Err(e) => {
            tracing::warn!(error = %e.message, "local attempt failed; escalating");
            "cascade_local_failed"
        }
    };
    why.reason = escalate;
    why.route = "escalated";
    cloud(state, router, req, screened, "escalated", started, c.learn).await
}

/// The local answer's confidence, and whether it is well-formed at all.
fn confidence(
    profile: Option<&Profile>,
    req: &ChatCompletionRequest,
    answer: &ChatCompletion,
) -> (f64, bool) {
    let mut worst = (1.0f64, true);
    for choice in &answer.choices {
        let text = choice.message.content.as_deref().unwrap_or("");
        let tokens = choice
            .logprobs
            .as_ref()
            .map(|l| l.content.as_slice())
            .unwrap_or(&[]);
        let labels = profile.and_then(|p| p.config.labels.as_deref());
        let (c, valid) = match (labels, &req.response_format) {
            (Some(labels), _) => {
                let c = label_confidence(tokens, text.trim(), labels);
                (c, labels.iter().any(|l| l == text.trim()))
            }
            (None, Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. })) => {
                let c = json_confidence(text, tokens);
                (c, c > 0.0)
            }
            _ => (token_confidence(tokens), true),
        };
        worst = (worst.0.min(c), worst.1 && valid);
    }
    if answer.choices.is_empty() {
        return (0.0, false);
    }
    worst
}

/// Return a finished local answer as the client asked for it: log-probabilities only
/// when requested (the cascade always asks for them), JSON or a replayed stream.
fn reply(
    state: &AppState,
    req: &ChatCompletionRequest,
    answer: Result<ChatCompletion, ApiError>,
    started: Instant,
) -> Result<Response, ApiError> {
    let mut answer = answer?;
    let keep = if req.logprobs == Some(true) {
        Some(req.top_logprobs.unwrap_or(0) as usize)
    } else {
        None
    };
    for choice in &mut answer.choices {
        match (keep, choice.logprobs.as_mut()) {
            (None, _) => choice.logprobs = None,
            (Some(k), Some(l)) => l
                .content
                .iter_mut()
                .for_each(|t| t.top_logprobs.truncate(k)),
            (Some(_), None) => {}
        }
    }
    let headers = super::local_headers(&answer.model);
    let (stream, include_usage) = stream_options(req.stream, req.stream_options.as_ref())?;
    if !stream {
        let model = answer.model.clone();
        return super::json_answer(state, ENDPOINT, &model, started, headers, Ok(answer));
    }
    state
        .metrics()
        .record_request(ENDPOINT, &answer.model, 200, started.elapsed());
    let frames = replay(&answer, include_usage);
    // The whole replay goes out at once: its first content is sent now.
    crate::ledger::note_first_token();
    Ok((headers, sse::response(futures::stream::iter(frames))).into_response())
}

/// A finished answer as the chunks a live stream would have sent.
fn replay(answer: &ChatCompletion, include_usage: bool) -> Vec<SseFrame> {
    let chunk = |choices: Vec<ChunkChoice>, usage| ChatCompletionChunk {
        id: answer.id.clone(),
        object: "chat.completion.chunk".into(),
        created: answer.created,
        model: answer.model.clone(),
        choices,
        usage,
    };
    let mut frames = Vec::new();
    for c in &answer.choices {
        let role = Delta {
            role: Some(Role::Assistant),
            content: Some(String::new()),
            tool_calls: None,
        };
        let body = Delta {
            role: None,
            content: c.message.content.clone(),
            tool_calls: c.message.tool_calls.as_ref().map(|calls| {
                calls
                    .iter()
                    .enumerate()
                    .map(|(i, t)| ToolCallDelta {
                        index: i as u32,
                        id: t.id.clone(),
                        kind: t.kind.clone(),
                        function: t.function.clone(),
                    })
                    .collect()
            }),
        };
        for (delta, logprobs, finish) in [
            (role, None, None),
            (body, c.logprobs.clone(), None),
            (Delta::default(), None, Some(c.finish_reason)),
        ] {
            frames.push(SseFrame::json(&chunk(
                vec![ChunkChoice {
                    index: c.index,
                    delta,
                    logprobs,
                    finish_reason: finish,
                }],
                None,
            )));
        }
    }
    if include_usage {
        frames.push(SseFrame::json(&chunk(Vec::new(), Some(answer.usage))));
    }
    frames.push(SseFrame::done());
    frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierlm_api::chat::{AssistantMessage, ChatChoice, FinishReason};
    use tierlm_api::logprobs::{ChoiceLogprobs, TokenLogprob, TopLogprob};
    use tierlm_api::Usage;

    fn answer(text: &str, logprob: f32) -> ChatCompletion {
        let tok = TokenLogprob {
            token: text.into(),
            logprob,
            bytes: text.as_bytes().to_vec(),
            top_logprobs: vec![TopLogprob {
                token: text.into(),
                logprob,
                bytes: Vec::new(),
            }],
        };
        ChatCompletion {
            id: "chatcmpl-1".into(),
            object: "chat.completion".into(),
            created: 1,
            model: "small".into(),
            choices: vec![ChatChoice {
                index: 0,
                message: AssistantMessage {
                    role: Role::Assistant,
                    content: Some(text.into()),
                    tool_calls: None,
                },
                logprobs: Some(ChoiceLogprobs { content: vec![tok] }),
                finish_reason: FinishReason::Stop,
            }],
            usage: Usage::new(10, 1),
            system_fingerprint: None,
        }
    }

    #[test]
    fn a_replayed_answer_has_the_frames_of_a_live_stream() {
        let frames = replay(&answer("spam", -0.1), true);
        let data: Vec<serde_json::Value> = frames[..frames.len() - 1]
            .iter()
            .map(|f| serde_json::from_str(&f.0).unwrap())
            .collect();
        assert_eq!(data.len(), 4, "role, content, finish, usage");
        assert_eq!(data[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(data[1]["choices"][0]["delta"]["content"], "spam");
        assert_eq!(data[2]["choices"][0]["finish_reason"], "stop");
        assert_eq!(data[3]["usage"]["total_tokens"], 11);
        assert!(data[3]["choices"].as_array().unwrap().is_empty());
        assert_eq!(frames.last().unwrap().0, "[DONE]");
        assert_eq!(replay(&answer("x", 0.0), false).len(), 4);
    }

    #[test]
    fn free_text_confidence_is_the_token_probability() {
        let req: ChatCompletionRequest = serde_json::from_value(serde_json::json!({
            "model": "auto", "messages": [{"role": "user", "content": "hi"}]
        }))
        .unwrap();
        let (c, valid) = confidence(None, &req, &answer("hello", (0.5f32).ln()));
        assert!(valid && (c - 0.5).abs() < 1e-6, "{c}");
        let mut json_req = req.clone();
        json_req.response_format = Some(ResponseFormat::JsonObject);
        assert_eq!(
            confidence(None, &json_req, &answer("{\"a\":", 0.0)),
            (0.0, false)
        );
    }
}
