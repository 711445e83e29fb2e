//! Chat: the one entry point every chat dialect calls. A validated request and its
//! caller go in; an [`Answer`] comes out — the facts its headers carry and either the
//! whole completion or a stream of [`ChatEvent`]s — and the request's [`Outcome`] is
//! written when the answer is complete (or abandoned).
//!
//! - [`local`]: a local model answers, whole or streamed;
//! - [`cloud`]: a cloud model answers (redacted out, restored back, audited), with the
//!   local fallback when every target fails;
//! - [`routed`]: the router decides for `auto`: a student, the local cascade, or the cloud.

pub mod cloud;
pub mod local;
pub mod routed;

use tierlm_api::chat::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest};
use tierlm_api::ApiError;
use tierlm_guard::policy::Action;
use tierlm_router::Hint;

use crate::answer::{track, Answer, AnswerEvent, Body};
use crate::gateway::Gateway;
use crate::keys::Caller;
use crate::outcome::{Endpoint, Facts, Outcome, RequestMeta};
use crate::record::Pending;

/// One chat request as the core takes it.
#[derive(Debug, Clone)]
pub struct ChatCall {
    pub request: ChatCompletionRequest,
    pub caller: Option<Caller>,
    pub meta: RequestMeta,
    /// The client's route hint (`x-tierlm-route`), already parsed by the edge.
    pub hint: Option<Hint>,
    /// The dialect's endpoint, for the ledger, metrics and traces.
    pub endpoint: Endpoint,
}

/// One event of a streamed chat answer.
pub type ChatEvent = AnswerEvent<ChatCompletionChunk>;

/// A chat answer.
pub type ChatAnswer = Answer<ChatCompletion, ChatCompletionChunk>;

/// What a serving path produced, before the outcome is attached.
pub(crate) type Served = Body<ChatCompletion, ChatCompletionChunk>;

impl Gateway {
    /// Answer one chat request (see the module docs).
    pub async fn chat(&self, call: ChatCall) -> Result<ChatAnswer, ApiError> {
        let ChatCall {
            request,
            caller,
            meta,
            hint,
            endpoint,
        } = call;
        let mut outcome = Outcome::for_caller(meta, endpoint, &request.model, caller.as_ref());
        outcome.max_tokens = request.max_completion_tokens.or(request.max_tokens);
        outcome.temperature = request.temperature;
        outcome.streaming = request.stream == Some(true);
        let mut pending = Pending::new(self, outcome);
        let served = self
            .serve_chat(request, caller.as_ref(), hint, &mut pending.outcome)
            .await;
        match served {
            Ok(Body::Whole(completion)) => {
                let mut facts = Facts::of(&pending.outcome);
                if pending.outcome.route.left_premises() {
                    let settings = self.ledger_settings();
                    let priced = crate::outcome::price(
                        &pending.outcome,
                        &settings,
                        &self.config().cloud.pricing,
                    );
                    facts.cost = Some(priced.cost);
                }
                pending.finish(200).await;
                Ok(Answer {
                    facts,
                    body: Body::Whole(completion),
                })
            }
            Ok(Body::Stream(events)) => {
                let facts = Facts::of(&pending.outcome);
                Ok(Answer {
                    facts,
                    body: Body::Stream(track(events, pending)),
                })
            }
            Err(e) => pending.fail(e).await,
        }
    }

    /// Record a request refused before the core could read it (a body that does not
    /// parse, a key that is not accepted): its row says so.
    pub async fn record_rejection(
        &self,
        meta: RequestMeta,
        endpoint: Endpoint,
        key: Option<&tierlm_ledger::KeyRecord>,
        error: &ApiError,
    ) {
        let mut outcome = Outcome::new(meta, endpoint, "");
        outcome.tenant = key.map(|k| k.tenant.clone());
        outcome.key_id = key.map(|k| k.key_id.clone());
        outcome.failed(error.code, error.status());
        Pending::new(self, outcome).finish(error.status()).await;
    }

    async fn serve_chat(
        &self,
        mut req: ChatCompletionRequest,
        caller: Option<&Caller>,
        hint: Option<Hint>,
        o: &mut Outcome,
    ) -> Result<Served, ApiError> {
        crate::keys::check_model(caller, &req.model)?;
        let screened = crate::screen::screen(self, &mut req, caller, &o.meta.request_id)?;
        if self.guard().is_some() {
            o.findings = screened.findings();
            o.guard_action = Some(screened.action.as_str());
        }
        if let Some(router) = self.router_for(&req.model) {
            let ctx = routed::Ctx {
                caller,
                hint,
                screened: &screened,
            };
            return routed::serve(self, router, req, ctx, o).await;
        }
        if let Some((cloud, fallback)) = self.cloud_model(&req.model) {
            if screened.action == Action::LocalOnly {
                return cloud::keep_local(self, req, fallback, o).await;
            }
            let target = cloud::Target {
                model: cloud,
                fallback,
                route: crate::outcome::Route::Cloud,
                learn: None,
            };
            return cloud::serve(self, req, target, &screened, caller, o).await;
        }
        local::serve(self, req, None, o).await
    }
}
