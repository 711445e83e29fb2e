//! Chat completions for routed models (`auto`): ask the router, then run its decision.
//!
//! - **student**: a promoted label student answers (no model call), or a promoted
//!   generative student (a local model) does;
//! - **local**: the local model answers, asked the profile's way (instructions,
//!   demonstrations, a grammar over the label set); streamed for real when asked;
//! - **cloud**: the configured cloud model answers (with its retries and fallbacks);
//! - **cascade**: the local model answers first, *in full*, and its confidence is
//!   checked before a byte is sent; a confident answer is returned (whole, or replayed
//!   as a stream), an unsure one escalates to the cloud model. The check needs the
//!   whole answer (a label's probability, a JSON document's validity), and a streamed
//!   answer cannot be taken back, so streaming clients of a cascaded route get their
//!   first byte after the local answer is done. Cascaded routes are meant for short
//!   routine answers, where that costs little.
//!
//! The outcome records the route, the reason, the profile, the class, each tier tried
//! with its confidence, and the router's own time.

use std::sync::Arc;
use std::time::Instant;

use tierlm_api::chat::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChunkChoice, Delta, ResponseFormat,
    Role, ToolCallDelta,
};
use tierlm_api::{ApiError, ErrorCode};
use tierlm_guard::policy::Action;
use tierlm_router::confidence::{json_confidence, label_confidence, token_confidence};
use tierlm_router::{Decision, Hint, Profile, Route as Decided, RouteContext, Router, Sensitivity};

use super::cloud::Target;
use super::{ChatEvent, Served};
use crate::answer::Body;
use crate::distill::{student_completion, Consult, GenerativeConsult, Learn, StudentAnswer};
use crate::gateway::Gateway;
use crate::keys::Caller;
use crate::outcome::{Outcome, Reason, Route, TierAttempt};
use crate::screen::Screened;

/// What a routed request brings besides itself.
pub(crate) struct Ctx<'a> {
    pub caller: Option<&'a Caller>,
    pub hint: Option<Hint>,
    pub screened: &'a Screened,
}

pub(crate) async fn serve(
    gw: &Gateway,
    router: Arc<Router>,
    req: ChatCompletionRequest,
    c: Ctx<'_>,
    o: &mut Outcome,
) -> Result<Served, ApiError> {
    let mut ctx = RouteContext {
        hint: c.hint.clone(),
        ..Default::default()
    };
    if c.screened.action == Action::LocalOnly {
        ctx.sensitivity = Sensitivity::LocalOnly;
    }
    if let Some(caller) = c.caller {
        ctx.tenant = Some(caller.key.tenant.clone());
        ctx.key = Some(caller.key.key_id.clone());
        ctx.over_budget = caller.over_budget;
    }
    let r = Arc::clone(&router);
    let distill = gw.distill();
    let (req, decision, consult, generative) = gw
        .tasks()
        .spawn_blocking(move || {
            let d = r.decide(&req, &ctx);
            // A label task's student, when distillation trained one: it may answer
            // (promoted) or be compared with the teacher (shadow).
            let consult = match (&distill, &d.profile, &d.embedding) {
                (Some(dist), Some(p), Some(e))
                    if d.route != Decided::Refuse && p.config.labels.is_some() =>
                {
                    dist.consult(p.name(), e, &req)
                }
                _ => Consult::default(),
            };
            // A generative task's student (a local model): the same two roles.
            let generative = match (&distill, &d.profile) {
                (Some(dist), Some(p))
                    if d.route != Decided::Refuse && p.config.labels.is_none() =>
                {
                    dist.consult_generative(p.name(), d.embedding.as_deref())
                }
                _ => GenerativeConsult::default(),
            };
            (req, d, consult, generative)
        })
        .await
        .map_err(|e| ApiError::internal(format!("the router failed: {e}")))?;
    o.reason = Some(decision.reason);
    o.profile = decision.profile.as_ref().map(|p| p.name().to_string());
    o.class = decision.class.map(|c| c.as_str());
    o.decision_time = Some(decision.elapsed);
    let result = execute(gw, &router, req, &decision, consult, generative, &c, o).await;
    tracing::info!(
        route = if result.is_err() && decision.route == Decided::Refuse {
            "refused"
        } else {
            o.route.as_str()
        },
        reason = o.reason.map(|r| r.as_str()).unwrap_or(""),
        profile = o.profile.as_deref().unwrap_or(""),
        class = o.class.unwrap_or(""),
        confidence = o.confidence.unwrap_or(f64::NAN),
        tiers = o.ledger_tiers().unwrap_or_default(),
        decision_us = decision.elapsed.as_micros() as u64,
        "routed"
    );
    result
}

#[allow(clippy::too_many_arguments)]
async fn execute(
    gw: &Gateway,
    router: &Router,
    req: ChatCompletionRequest,
    decision: &Decision,
    consult: Consult,
    generative: GenerativeConsult,
    c: &Ctx<'_>,
    o: &mut Outcome,
) -> Result<Served, ApiError> {
    let may_answer_locally = matches!(decision.route, Decided::Local | Decided::Cascade { .. });
    // In shadow, a generative student answers alongside the teacher (only when the
    // request may reach the teacher).
    let student_answer = generative
        .shadow
        .as_ref()
        .filter(|_| matches!(decision.route, Decided::Cloud | Decided::Cascade { .. }))
        .map(|model| {
            let mut shaped = router.shape_local(&req, decision.profile.as_deref(), false);
            shaped.model = model.clone();
            shaped.stream = None;
            shaped.stream_options = None;
            shadow_student(gw, shaped)
        });
    let learn = |route: Route| {
        decision.profile.as_ref().map(|p| Learn {
            task: p.name().to_string(),
            labels: p.config.labels.clone(),
            shadow: consult.shadow.clone(),
            student_answer: student_answer.clone(),
            route: route.as_str(),
        })
    };
    if let (Some(prediction), Some(profile)) = (
        consult.serve.as_ref().filter(|_| may_answer_locally),
        decision.profile.as_ref(),
    ) {
        let answer = student_completion(&req, profile.name(), prediction);
        o.reason = Some(Reason::Student);
        o.confidence = Some(prediction.confidence);
        o.tiers.push(TierAttempt {
            tier: answer.model.clone(),
            confidence: Some(prediction.confidence),
            answered: true,
        });
        return reply(&req, answer, o);
    }
    if let (Some(confidence), Some(profile)) = (
        consult.declined.filter(|_| may_answer_locally),
        decision.profile.as_ref(),
    ) {
        // Tier 0 was tried: the promoted student is below its gate.
        o.tiers.push(TierAttempt {
            tier: crate::distill::student_name(profile.name()),
            confidence: Some(confidence),
            answered: false,
        });
    }
    if let Some(model) = generative.serve.as_deref().filter(|_| may_answer_locally) {
        o.reason = Some(Reason::Student);
        if let Some(d) = gw.distill() {
            d.counters
                .student_answers
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        return local(gw, router, req, decision, Some(model), o).await;
    }
    match decision.route {
        Decided::Refuse if decision.reason == Reason::OverBudgetRefused => {
            Err(crate::keys::over_budget_error(c.caller))
        }
        Decided::Refuse => Err(ApiError::new(
            ErrorCode::PolicyRefused,
            format!(
                "the routing policy refuses this request (reason: {})",
                decision.reason
            ),
        )),
        Decided::Cloud if !router.has_cloud() => {
            // No cloud: complex work goes to the most capable local tier.
            let biggest = router.tiers(decision.profile.as_deref(), 0.0).pop();
            let model = biggest.map(|t| t.model);
            local(gw, router, req, decision, model.as_deref(), o).await
        }
        Decided::Cloud => cloud(gw, router, req, c, Route::Cloud, learn(Route::Cloud), o).await,
        Decided::Local => {
            let tier = c.hint.as_ref().and_then(Hint::tier);
            let kept = matches!(
                decision.reason,
                Reason::GuardLocalOnly | Reason::OverBudgetLocal
            );
            let profile = decision.profile.as_deref();
            if tier.is_none() && kept && router.tiers(profile, 0.0).len() > 1 {
                // Kept on the premises: the local tiers still climb, with no cloud at
                // the end; the most confident answer is the one returned.
                let base = profile
                    .and_then(|p| p.threshold)
                    .unwrap_or(router.config().default_min_confidence);
                let keep = Climb {
                    threshold: base,
                    may_leave: false,
                };
                let served = climb(gw, router, req, decision, keep, c, learn, o).await;
                // Why it stayed local is the policy, whichever tier answered.
                o.reason = Some(decision.reason);
                return served;
            }
            local(gw, router, req, decision, tier, o).await
        }
        Decided::Cascade { threshold } => {
            let up = Climb {
                threshold,
                may_leave: router.has_cloud(),
            };
            climb(gw, router, req, decision, up, c, learn, o).await
        }
    }
}

/// How a climb across the local tiers is run.
#[derive(Debug, Clone, Copy)]
struct Climb {
    /// The gate of a tier with no calibrated threshold of its own.
    threshold: f64,
    /// Whether the cloud comes after the last tier (no: no cloud model, or the data
    /// must stay on the premises).
    may_leave: bool,
}

/// The cascade across tiers: each local tier answers in full and its answer is
/// returned when its confidence passes the tier's gate; otherwise the next tier tries,
/// and the cloud last. A tier that cannot answer before the profile's deadline is
/// skipped. When the request may not leave, the most confident local answer is
/// returned.
#[allow(clippy::too_many_arguments)]
async fn climb(
    gw: &Gateway,
    router: &Router,
    req: ChatCompletionRequest,
    decision: &Decision,
    how: Climb,
    c: &Ctx<'_>,
    learn: impl Fn(Route) -> Option<Learn>,
    o: &mut Outcome,
) -> Result<Served, ApiError> {
    let profile = decision.profile.as_deref();
    let grammar = profile.and_then(|p| p.grammar.as_deref());
    let plan = router.tiers(profile, how.threshold);
    let deadline = router.deadline(profile).map(|d| o.meta.started + d);
    let may_leave = how.may_leave;
    let mut best: Option<(f64, ChatCompletion, usize)> = None;
    let mut escalate = Reason::CascadeLowConfidence;
    let mut failure = None;
    for (i, tier) in plan.iter().enumerate() {
        // The last tier of a request that cannot leave always runs: it waits its turn.
        let must_run = !may_leave && i + 1 == plan.len() && best.is_none();
        if let (Some(end), false) = (deadline, must_run) {
            let left = end.saturating_duration_since(Instant::now());
            let expected = gw
                .chat_model(&tier.model)
                .ok()
                .and_then(|m| gw.speeds().expected(&m));
            if expected.is_some_and(|e| e > left) {
                o.tiers.push(TierAttempt {
                    tier: tier.model.clone(),
                    confidence: None,
                    answered: false,
                });
                if best.is_none() && failure.is_none() {
                    escalate = Reason::LocalTooSlow;
                }
                continue;
            }
        }
        let mut shaped = router.shape_local(&req, profile, true);
        shaped.model = tier.model.clone();
        let started = Instant::now();
        match super::local::run(gw, &shaped, grammar, o.tenant.as_deref()).await {
            Ok(answer) => {
                gw.speeds().observe(&tier.model, started.elapsed());
                let (conf, valid) = confidence(profile, &req, &answer);
                o.confidence = Some(conf);
                let confident = valid && conf >= tier.threshold;
                o.tiers.push(TierAttempt {
                    tier: tier.model.clone(),
                    confidence: Some(conf),
                    answered: confident,
                });
                if confident {
                    o.reason = Some(Reason::CascadeConfident);
                    return reply(&req, answer, o);
                }
                escalate = if valid {
                    Reason::CascadeLowConfidence
                } else {
                    Reason::CascadeInvalidOutput
                };
                if valid && best.as_ref().is_none_or(|b| conf > b.0) {
                    best = Some((conf, answer, o.tiers.len() - 1));
                }
            }
            Err(e) => {
                tracing::warn!(tier = %tier.model, error = %e.message, "local tier failed; climbing");
                o.tiers.push(TierAttempt {
                    tier: tier.model.clone(),
                    confidence: None,
                    answered: false,
                });
                escalate = Reason::CascadeLocalFailed;
                failure = Some(e);
            }
        }
    }
    if may_leave {
        o.reason = Some(escalate);
        return cloud(
            gw,
            router,
            req,
            c,
            Route::Escalated,
            learn(Route::Escalated),
            o,
        )
        .await;
    }
    match best {
        Some((conf, answer, at)) => {
            if let Some(t) = o.tiers.get_mut(at) {
                t.answered = true;
            }
            o.confidence = Some(conf);
            o.reason = Some(Reason::TiersExhausted);
            reply(&req, answer, o)
        }
        None => Err(failure.unwrap_or_else(|| {
            ApiError::internal("no local tier could answer and there is no cloud model")
        })),
    }
}

async fn cloud(
    gw: &Gateway,
    router: &Router,
    mut req: ChatCompletionRequest,
    c: &Ctx<'_>,
    route: Route,
    learn: Option<Learn>,
    o: &mut Outcome,
) -> Result<Served, ApiError> {
    let name = &router.config().cloud_model;
    let (model, fallback) = gw.cloud_model(name).ok_or_else(|| {
        ApiError::internal(format!("the router's cloud model `{name}` is not loaded"))
    })?;
    req.model = name.clone();
    o.tiers.push(TierAttempt {
        tier: name.clone(),
        confidence: None,
        answered: true,
    });
    let target = Target {
        model,
        fallback,
        route,
        learn,
    };
    super::cloud::serve(gw, req, target, c.screened, c.caller, o).await
}

/// Answer locally: the profile's local model, or `model` (a generative student).
async fn local(
    gw: &Gateway,
    router: &Router,
    req: ChatCompletionRequest,
    d: &Decision,
    model: Option<&str>,
    o: &mut Outcome,
) -> Result<Served, ApiError> {
    let profile = d.profile.as_deref();
    let grammar = profile.and_then(|p| p.grammar.as_deref());
    // A generative student, else the first (cheapest) tier.
    let first = router
        .tiers(profile, 0.0)
        .into_iter()
        .next()
        .map(|t| t.model);
    let shape = |with_confidence: bool| {
        let mut shaped = router.shape_local(&req, profile, with_confidence);
        if let Some(m) = model.map(str::to_string).or_else(|| first.clone()) {
            shaped.model = m;
        }
        shaped
    };
    if req.stream == Some(true) {
        let shaped = shape(false);
        o.tiers.push(TierAttempt {
            tier: shaped.model.clone(),
            confidence: None,
            answered: true,
        });
        return super::local::serve(gw, shaped, grammar, o).await;
    }
    let shaped = shape(true);
    let answer = super::local::run(gw, &shaped, grammar, o.tenant.as_deref()).await?;
    let conf = confidence(profile, &req, &answer).0;
    o.confidence = Some(conf);
    o.tiers.push(TierAttempt {
        tier: shaped.model.clone(),
        confidence: Some(conf),
        answered: true,
    });
    reply(&req, answer, o)
}

/// Start a generative student on `req` (already shaped for it) in the background; its
/// answer text arrives on the returned slot for [`Distill::teacher_answered`].
fn shadow_student(gw: &Gateway, req: ChatCompletionRequest) -> StudentAnswer {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let state = gw.clone();
    gw.tasks().spawn(async move {
        match super::local::run(&state, &req, None, None).await {
            Ok(answer) => {
                let text = answer
                    .choices
                    .first()
                    .and_then(|c| c.message.content.clone())
                    .unwrap_or_default();
                let _ = tx.send(text);
            }
            Err(e) => tracing::warn!(
                model = %req.model,
                error = %e.message,
                "distill: the generative student failed in shadow"
            ),
        }
    });
    Arc::new(std::sync::Mutex::new(Some(rx)))
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
/// when requested (the cascade always asks for them), whole or replayed as a stream.
fn reply(
    req: &ChatCompletionRequest,
    mut answer: ChatCompletion,
    o: &mut Outcome,
) -> Result<Served, ApiError> {
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
    o.route = Route::Local;
    let u = answer.usage;
    o.tokens(&answer.model, u.prompt_tokens, u.completion_tokens);
    if req.stream != Some(true) {
        return Ok(Body::Whole(answer));
    }
    Ok(Body::Stream(Box::pin(futures::stream::iter(replay(
        &answer,
    )))))
}

/// A finished answer as the events a live stream would have sent.
fn replay(answer: &ChatCompletion) -> Vec<ChatEvent> {
    let chunk = |choices: Vec<ChunkChoice>| ChatCompletionChunk {
        id: answer.id.clone(),
        object: "chat.completion.chunk".into(),
        created: answer.created,
        model: answer.model.clone(),
        choices,
        usage: None,
    };
    let mut events = Vec::new();
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
            events.push(ChatEvent::Chunk(chunk(vec![ChunkChoice {
                index: c.index,
                delta,
                logprobs,
                finish_reason: finish,
            }])));
        }
    }
    events.push(ChatEvent::Done(answer.usage));
    events
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
                message: AssistantMessage::new(Some(text.into()), None),
                logprobs: Some(ChoiceLogprobs { content: vec![tok] }),
                finish_reason: FinishReason::Stop,
            }],
            usage: Usage::new(10, 1),
            system_fingerprint: None,
        }
    }

    #[test]
    fn a_replayed_answer_has_the_events_of_a_live_stream() {
        let events = replay(&answer("spam", -0.1));
        assert_eq!(events.len(), 4, "role, content, finish, done");
        let chunk = |i: usize| match &events[i] {
            ChatEvent::Chunk(c) => serde_json::to_value(c).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(chunk(0)["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(chunk(1)["choices"][0]["delta"]["content"], "spam");
        assert_eq!(chunk(2)["choices"][0]["finish_reason"], "stop");
        match &events[3] {
            ChatEvent::Done(u) => assert_eq!(u.total_tokens, 11),
            other => panic!("{other:?}"),
        }
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
