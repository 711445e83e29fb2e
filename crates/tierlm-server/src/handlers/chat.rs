//! `POST /v1/chat/completions`: validate, queue on the local engine, answer as JSON or
//! as a server-sent event stream.

use std::time::Instant;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tierlm_api::chat::ChatCompletionRequest;
use tierlm_api::{ApiError, Usage};
use tierlm_engine::prepare::prepare_chat;
use tierlm_engine::Event;
use tierlm_guard::policy::Action;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::assemble::ChatAssembler;
use crate::error::HttpError;
use crate::extract::OpenAiJson;
use crate::handlers::{local_headers, stream_options};
use crate::metrics::TokenTimer;
use crate::sse::{self, SseFrame};
use crate::state::AppState;

const ENDPOINT: &str = "chat_completions";

pub async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    OpenAiJson(req): OpenAiJson<ChatCompletionRequest>,
) -> Response {
    let started = Instant::now();
    let model_name = req.model.clone();
    crate::ledger::note_requested(&model_name);
    crate::ledger::note_params(
        req.max_completion_tokens.or(req.max_tokens),
        req.temperature,
    );
    match start(&state, req, &headers).await {
        Ok(resp) => resp,
        Err(e) => {
            let label = if e.code == tierlm_api::ErrorCode::ModelNotFound {
                ""
            } else {
                &model_name
            };
            state
                .metrics()
                .record_request(ENDPOINT, label, e.status(), started.elapsed());
            HttpError(e).into_response()
        }
    }
}

async fn start(
    state: &AppState,
    mut req: ChatCompletionRequest,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    crate::auth::check_model(&req.model)?;
    let screened = crate::guard::screen(state, &mut req, headers)?;
    if let Some(router) = state.router_for(&req.model) {
        return super::routed::serve(state, router, req, headers, &screened, started).await;
    }
    if let Some((cloud, fallback)) = state.cloud_model(&req.model) {
        if screened.action == Action::LocalOnly {
            return super::cloud_chat::keep_local(state, req, fallback, started).await;
        }
        return super::cloud_chat::serve(
            state, req, cloud, fallback, &screened, "cloud", started, None,
        )
        .await;
    }
    start_local(state, req, started).await
}

/// Answer with a local model.
pub async fn start_local(
    state: &AppState,
    req: ChatCompletionRequest,
    started: Instant,
) -> Result<Response, ApiError> {
    let headers = local_headers(&req.model);
    start_local_with(state, req, None, headers, started).await
}

/// Answer with a local model, optionally constrained by a grammar that replaces the
/// request's own, with these response headers.
pub async fn start_local_with(
    state: &AppState,
    req: ChatCompletionRequest,
    grammar: Option<&str>,
    headers: HeaderMap,
    started: Instant,
) -> Result<Response, ApiError> {
    let model = state.chat_model(&req.model)?;
    let (stream, include_usage) = stream_options(req.stream, req.stream_options.as_ref())?;
    let mut prepared = prepare_chat(&model, &req)?;
    override_grammar(&mut prepared.generation, grammar);
    let n = prepared.generation.n;
    let want_logprobs = prepared.generation.logprobs.is_some();
    let rx = model.submit(prepared.generation)?;
    let asm = ChatAssembler::new(
        &req.model,
        n,
        prepared.tool_mode,
        prepared.tools,
        want_logprobs,
    );
    if stream {
        let frames = stream_chat(state.clone(), rx, asm, include_usage, started);
        Ok((headers, sse::response(frames)).into_response())
    } else {
        let answer = collect(state, rx, asm).await;
        super::json_answer(state, ENDPOINT, &req.model, started, headers, answer)
    }
}

fn override_grammar(gen: &mut tierlm_engine::Generation, grammar: Option<&str>) {
    if let Some(g) = grammar {
        gen.grammar = Some(tierlm_engine::request::Grammar {
            gbnf: g.to_string(),
            trigger: None,
        });
    }
}

/// Run a request on a local model to the end and return the whole answer (the
/// cascade checks it before anything is sent).
pub async fn run_local(
    state: &AppState,
    req: &ChatCompletionRequest,
    grammar: Option<&str>,
) -> Result<tierlm_api::chat::ChatCompletion, ApiError> {
    let model = state.chat_model(&req.model)?;
    let mut prepared = prepare_chat(&model, req)?;
    override_grammar(&mut prepared.generation, grammar);
    let want_logprobs = prepared.generation.logprobs.is_some();
    let asm = ChatAssembler::new(
        &req.model,
        prepared.generation.n,
        prepared.tool_mode,
        prepared.tools,
        want_logprobs,
    );
    let rx = model.submit(prepared.generation)?;
    collect(state, rx, asm).await
}

async fn collect(
    state: &AppState,
    mut rx: UnboundedReceiver<Event>,
    mut asm: ChatAssembler,
) -> Result<tierlm_api::chat::ChatCompletion, ApiError> {
    let mut timer = TokenTimer::new(&asm.model);
    loop {
        match rx.recv().await {
            Some(Event::Text {
                choice,
                text,
                logprobs,
            }) => {
                timer.tick(state.metrics());
                asm.on_text(choice, &text, logprobs);
            }
            Some(Event::Finished { choice, reason, .. }) => {
                asm.on_finished(choice, reason);
            }
            Some(Event::Done {
                prompt_tokens,
                completion_tokens,
                ..
            }) => {
                state
                    .metrics()
                    .record_tokens(&asm.model, prompt_tokens, completion_tokens);
                asm.usage = Some(Usage::new(prompt_tokens, completion_tokens));
                return Ok(asm.into_completion());
            }
            Some(Event::Error(e)) => return Err(e),
            None => {
                return Err(ApiError::internal(
                    "the local engine stopped before answering",
                ))
            }
        }
    }
}

struct StreamState {
    state: AppState,
    rx: UnboundedReceiver<Event>,
    asm: ChatAssembler,
    timer: TokenTimer,
    include_usage: bool,
    started: Instant,
    opened: bool,
    done: bool,
}

fn stream_chat(
    state: AppState,
    rx: UnboundedReceiver<Event>,
    asm: ChatAssembler,
    include_usage: bool,
    started: Instant,
) -> impl futures::Stream<Item = SseFrame> + Send {
    let timer = TokenTimer::streaming(&asm.model);
    let st = StreamState {
        state,
        rx,
        asm,
        timer,
        include_usage,
        started,
        opened: false,
        done: false,
    };
    futures::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        if !st.opened {
            st.opened = true;
            let frame = SseFrame::json(&st.asm.role_chunk());
            return Some((vec![frame], st));
        }
        let frames = next_frames(&mut st).await;
        Some((frames, st))
    })
    .flat_map(futures::stream::iter)
}

async fn next_frames(st: &mut StreamState) -> Vec<SseFrame> {
    match st.rx.recv().await {
        Some(Event::Text {
            choice,
            text,
            logprobs,
        }) => {
            st.timer.tick(st.state.metrics());
            match st.asm.on_text(choice, &text, logprobs) {
                Some(mut c) => {
                    c.index = choice;
                    vec![SseFrame::json(&st.asm.chunk(vec![c], None))]
                }
                None => Vec::new(),
            }
        }
        Some(Event::Finished { choice, reason, .. }) => st
            .asm
            .on_finished(choice, reason)
            .into_iter()
            .map(|c| SseFrame::json(&st.asm.chunk(vec![c], None)))
            .collect(),
        Some(Event::Done {
            prompt_tokens,
            completion_tokens,
            ..
        }) => {
            st.done = true;
            let m = st.state.metrics();
            m.record_tokens(&st.asm.model, prompt_tokens, completion_tokens);
            m.record_request(ENDPOINT, &st.asm.model, 200, st.started.elapsed());
            let mut frames = Vec::new();
            if st.include_usage {
                let usage = Usage::new(prompt_tokens, completion_tokens);
                frames.push(SseFrame::json(&st.asm.chunk(Vec::new(), Some(usage))));
            }
            frames.push(SseFrame::done());
            frames
        }
        Some(Event::Error(e)) => {
            st.done = true;
            st.state.metrics().record_request(
                ENDPOINT,
                &st.asm.model,
                e.status(),
                st.started.elapsed(),
            );
            vec![SseFrame::error(&e)]
        }
        None => {
            st.done = true;
            vec![SseFrame::error(&ApiError::internal(
                "the local engine stopped before finishing the answer",
            ))]
        }
    }
}
