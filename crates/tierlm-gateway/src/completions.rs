//! The legacy text-completion API (`/v1/completions`) on the local engine.
//!
//! Several prompts become several engine generations whose events are merged;
//! choice `i` of prompt `p` is answered as index `p * n + i`, as OpenAI does.

use futures::{Stream, StreamExt};
use tierlm_api::chat::FinishReason;
use tierlm_api::completions::{Completion, CompletionChoice, CompletionRequest, Prompt};
use tierlm_api::logprobs::{ChoiceLogprobs, CompletionLogprobs, TokenLogprob};
use tierlm_api::{ApiError, Usage};
use tierlm_engine::prepare::prepare_completion;
use tierlm_engine::{Event, Finish};

use crate::answer::{track, Answer, AnswerEvent, Body, EventStream};
use crate::gateway::Gateway;
use crate::keys::Caller;
use crate::metrics::TokenTimer;
use crate::outcome::{Endpoint, Facts, Outcome, RequestMeta, Route};
use crate::record::Pending;

/// A completions answer: whole, or streamed as completion chunks.
pub type CompletionAnswer = Answer<Completion, Completion>;

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

impl Gateway {
    /// Answer one legacy completions request with a local model.
    pub async fn completions(
        &self,
        req: CompletionRequest,
        caller: Option<&Caller>,
        meta: RequestMeta,
    ) -> Result<CompletionAnswer, ApiError> {
        let mut o = Outcome::for_caller(meta, Endpoint::Completions, &req.model, caller);
        o.max_tokens = req.max_tokens;
        o.temperature = req.temperature;
        o.streaming = req.stream == Some(true);
        o.served_model = Some(req.model.clone());
        o.route = Route::Local;
        let mut pending = Pending::new(self, o);
        let result = match crate::keys::check_model(caller, &req.model) {
            Ok(()) => start(self, &req).await,
            Err(e) => Err(e),
        };
        let facts = Facts::of(&pending.outcome);
        match result {
            Ok(Body::Whole(c)) => {
                if let Some(u) = c.usage {
                    pending.outcome.prompt_tokens = u.prompt_tokens;
                    pending.outcome.completion_tokens = u.completion_tokens;
                }
                pending.finish(200).await;
                Ok(Answer {
                    facts,
                    body: Body::Whole(c),
                })
            }
            Ok(Body::Stream(events)) => Ok(Answer {
                facts,
                body: Body::Stream(track(events, pending)),
            }),
            Err(e) => pending.fail(e).await,
        }
    }
}

type Tagged = (usize, Event);

async fn start(
    state: &Gateway,
    req: &CompletionRequest,
) -> Result<Body<Completion, Completion>, ApiError> {
    let model = state.chat_model(&req.model)?;
    let stream = req.stream == Some(true);
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
    if stream {
        let echo: Vec<AnswerEvent<Completion>> = merge
            .choices
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.text.is_empty())
            .map(|(i, c)| AnswerEvent::Chunk(merge.chunk(i, c.text.clone(), Vec::new(), None)))
            .collect();
        let events = futures::stream::iter(echo).chain(stream_events(state.clone(), events, merge));
        return Ok(Body::Stream(Box::pin(events)));
    }
    collect(state, events, merge).await.map(Body::Whole)
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
    state: &Gateway,
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

fn stream_events<S: Stream<Item = Tagged> + Unpin + Send + 'static>(
    state: Gateway,
    events: S,
    merge: Merge,
) -> EventStream<Completion> {
    let timer = TokenTimer::new(&merge.model);
    Box::pin(
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
                        vec![AnswerEvent::Error(err)],
                        (state, events, merge, timer, true),
                    ));
                };
                if matches!(ev, Event::Text { .. }) {
                    timer.tick(state.metrics());
                }
                let (out, finished) = match apply(&mut merge, p, ev) {
                    Ok((chunks, false)) => {
                        (chunks.into_iter().map(AnswerEvent::Chunk).collect(), false)
                    }
                    Ok((_, true)) => (
                        vec![AnswerEvent::Done(Usage::new(
                            merge.prompt_tokens,
                            merge.completion_tokens,
                        ))],
                        true,
                    ),
                    Err(e) => (vec![AnswerEvent::Error(e)], true),
                };
                Some((out, (state, events, merge, timer, finished)))
            },
        )
        .flat_map(futures::stream::iter),
    )
}
