//! `POST /v1/completions`: the legacy text-completion API on the local engine.
//!
//! Several prompts become several engine generations whose events are merged;
//! choice `i` of prompt `p` is answered as index `p * n + i`, as OpenAI does.

use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use tierlm_api::chat::FinishReason;
use tierlm_api::completions::{Completion, CompletionChoice, CompletionRequest, Prompt};
use tierlm_api::logprobs::{ChoiceLogprobs, CompletionLogprobs, TokenLogprob};
use tierlm_api::{ApiError, Usage};
use tierlm_engine::prepare::prepare_completion;
use tierlm_engine::{Event, Finish};

use crate::error::HttpError;
use crate::extract::OpenAiJson;
use crate::handlers::{local_headers, stream_options};
use crate::metrics::TokenTimer;
use crate::sse::{self, SseFrame};
use crate::state::AppState;

const ENDPOINT: &str = "completions";

#[derive(Default, Clone)]
struct Choice {
    text: String,
    logprobs: Vec<TokenLogprob>,
    finish: Option<FinishReason>,
}

struct Merge {
    id: String,
    model: String,
    created: u64,
    n: u32,
    choices: Vec<Choice>,
    want_logprobs: bool,
    pending: usize,
    prompt_tokens: u32,
    completion_tokens: u32,
}

impl Merge {
    fn index(&self, prompt: usize, choice: u32) -> usize {
        prompt * self.n as usize + choice as usize
    }

    fn chunk(
        &self,
        index: usize,
        text: String,
        lps: Vec<TokenLogprob>,
        finish: Option<FinishReason>,
    ) -> Completion {
        let offset = self
            .choices
            .get(index)
            .map_or(0, |c| c.text.len() - text.len());
        Completion {
            id: self.id.clone(),
            object: "text_completion".into(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![CompletionChoice {
                text,
                index: index as u32,
                logprobs: self.want_logprobs.then(|| {
                    CompletionLogprobs::from_chat(&ChoiceLogprobs { content: lps }, offset as u32)
                }),
                finish_reason: finish,
            }],
            usage: None,
        }
    }
}

fn finish_reason(f: Finish) -> FinishReason {
    match f {
        Finish::Stop => FinishReason::Stop,
        Finish::Length => FinishReason::Length,
    }
}

pub async fn completions(
    State(state): State<AppState>,
    OpenAiJson(req): OpenAiJson<CompletionRequest>,
) -> Response {
    let started = Instant::now();
    crate::ledger::note_requested(&req.model);
    crate::ledger::note_params(req.max_tokens, req.temperature);
    if let Err(e) = crate::auth::check_model(&req.model) {
        return crate::error::HttpError(e).into_response();
    }
    match start(&state, &req, started).await {
        Ok(r) => r,
        Err(e) => {
            state
                .metrics()
                .record_request(ENDPOINT, "", e.status(), started.elapsed());
            HttpError(e).into_response()
        }
    }
}

type Tagged = (usize, Event);

async fn start(
    state: &AppState,
    req: &CompletionRequest,
    started: Instant,
) -> Result<Response, ApiError> {
    let model = state.chat_model(&req.model)?;
    let (stream, include_usage) = stream_options(req.stream, req.stream_options.as_ref())?;
    let gens = prepare_completion(&model, req)?;
    let n = gens.first().map_or(1, |g| g.n);
    let echo: Vec<String> = match (&req.prompt, req.echo.unwrap_or(false)) {
        (_, false) => Vec::new(),
        (Prompt::Text(t), true) => vec![t.clone()],
        (Prompt::Texts(ts), true) => ts.clone(),
        (_, true) => {
            return Err(ApiError::unsupported(
                "echo",
                "`echo` needs text prompts, not token ids",
            ))
        }
    };
    let mut receivers = Vec::new();
    for g in gens {
        receivers.push(model.submit(g)?);
    }
    let mut merge = Merge {
        id: tierlm_api::ids::new_id("cmpl"),
        model: req.model.clone(),
        created: tierlm_api::ids::unix_now(),
        n,
        choices: vec![Choice::default(); receivers.len() * n as usize],
        want_logprobs: req.logprobs.is_some(),
        pending: receivers.len(),
        prompt_tokens: 0,
        completion_tokens: 0,
    };
    for (i, c) in merge.choices.iter_mut().enumerate() {
        if let Some(e) = echo.get(i / n as usize) {
            c.text.push_str(e);
        }
    }
    let events = futures::stream::select_all(receivers.into_iter().enumerate().map(|(p, rx)| {
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) })
            .map(move |e| (p, e))
            .boxed()
    }));
    let headers = local_headers(&req.model);
    if stream {
        let echo_frames: Vec<SseFrame> = merge
            .choices
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.text.is_empty())
            .map(|(i, c)| SseFrame::json(&merge.chunk(i, c.text.clone(), Vec::new(), None)))
            .collect();
        let frames = futures::stream::iter(echo_frames).chain(stream_frames(
            state.clone(),
            events,
            merge,
            include_usage,
            started,
        ));
        return Ok((headers, sse::response(frames)).into_response());
    }
    let result = collect(state, events, merge).await;
    super::json_answer(state, ENDPOINT, &req.model, started, headers, result)
}

/// Apply one event; returns the chunks to stream and whether everything is done.
fn apply(merge: &mut Merge, p: usize, ev: Event) -> Result<(Vec<Completion>, bool), ApiError> {
    match ev {
        Event::Text {
            choice,
            text,
            logprobs,
        } => {
            let i = merge.index(p, choice);
            if let Some(c) = merge.choices.get_mut(i) {
                c.text.push_str(&text);
                c.logprobs.extend(logprobs.iter().cloned());
            }
            Ok((vec![merge.chunk(i, text, logprobs, None)], false))
        }
        Event::Finished { choice, reason, .. } => {
            let i = merge.index(p, choice);
            let f = finish_reason(reason);
            if let Some(c) = merge.choices.get_mut(i) {
                c.finish = Some(f);
            }
            Ok((
                vec![merge.chunk(i, String::new(), Vec::new(), Some(f))],
                false,
            ))
        }
        Event::Done {
            prompt_tokens,
            completion_tokens,
            ..
        } => {
            merge.prompt_tokens += prompt_tokens;
            merge.completion_tokens += completion_tokens;
            merge.pending -= 1;
            Ok((Vec::new(), merge.pending == 0))
        }
        Event::Error(e) => Err(e),
    }
}

async fn collect<S: Stream<Item = Tagged> + Unpin>(
    state: &AppState,
    mut events: S,
    mut merge: Merge,
) -> Result<Completion, ApiError> {
    let mut timer = TokenTimer::new(&merge.model);
    while let Some((p, ev)) = events.next().await {
        if matches!(ev, Event::Text { .. }) {
            timer.tick(state.metrics());
        }
        let (_, done) = apply(&mut merge, p, ev)?;
        if done {
            state.metrics().record_tokens(
                &merge.model,
                merge.prompt_tokens,
                merge.completion_tokens,
            );
            let want = merge.want_logprobs;
            return Ok(Completion {
                id: merge.id,
                object: "text_completion".into(),
                created: merge.created,
                model: merge.model,
                choices: merge
                    .choices
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| CompletionChoice {
                        logprobs: want.then(|| {
                            CompletionLogprobs::from_chat(
                                &ChoiceLogprobs {
                                    content: c.logprobs,
                                },
                                0,
                            )
                        }),
                        text: c.text,
                        index: i as u32,
                        finish_reason: Some(c.finish.unwrap_or(FinishReason::Stop)),
                    })
                    .collect(),
                usage: Some(Usage::new(merge.prompt_tokens, merge.completion_tokens)),
            });
        }
    }
    Err(ApiError::internal(
        "the local engine stopped before answering",
    ))
}

fn stream_frames<S: Stream<Item = Tagged> + Unpin + Send + 'static>(
    state: AppState,
    events: S,
    merge: Merge,
    include_usage: bool,
    started: Instant,
) -> impl Stream<Item = SseFrame> + Send {
    let timer = TokenTimer::streaming(&merge.model);
    futures::stream::unfold(
        (state, events, merge, timer, false),
        move |(state, mut events, mut merge, mut timer, finished)| async move {
            if finished {
                return None;
            }
            let Some((p, ev)) = events.next().await else {
                let err =
                    ApiError::internal("the local engine stopped before finishing the answer");
                return Some((
                    vec![SseFrame::error(&err)],
                    (state, events, merge, timer, true),
                ));
            };
            if matches!(ev, Event::Text { .. }) {
                timer.tick(state.metrics());
            }
            let frames = match apply(&mut merge, p, ev) {
                Ok((chunks, false)) => (chunks.iter().map(SseFrame::json).collect(), false),
                Ok((_, true)) => {
                    let m = state.metrics();
                    m.record_tokens(&merge.model, merge.prompt_tokens, merge.completion_tokens);
                    m.record_request(ENDPOINT, &merge.model, 200, started.elapsed());
                    let mut f = Vec::new();
                    if include_usage {
                        let mut last = merge.chunk(0, String::new(), Vec::new(), None);
                        last.choices.clear();
                        last.usage = Some(Usage::new(merge.prompt_tokens, merge.completion_tokens));
                        f.push(SseFrame::json(&last));
                    }
                    f.push(SseFrame::done());
                    (f, true)
                }
                Err(e) => {
                    state.metrics().record_request(
                        ENDPOINT,
                        &merge.model,
                        e.status(),
                        started.elapsed(),
                    );
                    (vec![SseFrame::error(&e)], true)
                }
            };
            Some((frames.0, (state, events, merge, timer, frames.1)))
        },
    )
    .flat_map(futures::stream::iter)
}
