//! A local model answers: the request is prepared for the model (chat template, tools,
//! grammar), queued on the engine, and the engine's events are assembled into a whole
//! completion or a stream of chunks.

use futures::StreamExt;
use tierlm_api::chat::{ChatCompletion, ChatCompletionRequest};
use tierlm_api::{ApiError, Usage};
use tierlm_engine::prepare::prepare_chat;
use tierlm_engine::Event;
use tokio::sync::mpsc::UnboundedReceiver;

use super::{ChatEvent, Served};
use crate::answer::{Body, EventStream};
use crate::assemble::ChatAssembler;
use crate::gateway::Gateway;
use crate::metrics::TokenTimer;
use crate::outcome::{Outcome, Route};

/// Answer with the local model `req.model`, optionally constrained by a grammar that
/// replaces the request's own; whole or streamed as the request asks.
pub(crate) async fn serve(
    gw: &Gateway,
    req: ChatCompletionRequest,
    grammar: Option<&str>,
    o: &mut Outcome,
) -> Result<Served, ApiError> {
    let model = gw.chat_model(&req.model)?;
    o.route = Route::Local;
    o.served_model = Some(req.model.clone());
    let mut prepared = prepare_chat(&model, &req)?;
    override_grammar(&mut prepared.generation, grammar);
    prepared.generation.tenant = o.tenant.clone();
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
    if req.stream == Some(true) {
        return Ok(Body::Stream(stream(gw.clone(), rx, asm)));
    }
    let answer = collect(gw, rx, asm).await?;
    let u = answer.usage;
    o.tokens(&req.model, u.prompt_tokens, u.completion_tokens);
    Ok(Body::Whole(answer))
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
/// cascade checks it before anything is sent). `tenant` is the caller's: the engine
/// shares its queue fairly between tenants.
pub async fn run(
    gw: &Gateway,
    req: &ChatCompletionRequest,
    grammar: Option<&str>,
    tenant: Option<&str>,
) -> Result<ChatCompletion, ApiError> {
    let model = gw.chat_model(&req.model)?;
    let mut prepared = prepare_chat(&model, req)?;
    override_grammar(&mut prepared.generation, grammar);
    prepared.generation.tenant = tenant.map(str::to_string);
    let want_logprobs = prepared.generation.logprobs.is_some();
    let asm = ChatAssembler::new(
        &req.model,
        prepared.generation.n,
        prepared.tool_mode,
        prepared.tools,
        want_logprobs,
    );
    let rx = model.submit(prepared.generation)?;
    collect(gw, rx, asm).await
}

async fn collect(
    gw: &Gateway,
    mut rx: UnboundedReceiver<Event>,
    mut asm: ChatAssembler,
) -> Result<ChatCompletion, ApiError> {
    let mut timer = TokenTimer::new(&asm.model);
    loop {
        match rx.recv().await {
            Some(Event::Text {
                choice,
                text,
                logprobs,
            }) => {
                timer.tick(gw.metrics());
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
    gw: Gateway,
    rx: UnboundedReceiver<Event>,
    asm: ChatAssembler,
    timer: TokenTimer,
    opened: bool,
    done: bool,
}

fn stream(
    gw: Gateway,
    rx: UnboundedReceiver<Event>,
    asm: ChatAssembler,
) -> EventStream<tierlm_api::chat::ChatCompletionChunk> {
    let timer = TokenTimer::new(&asm.model);
    let st = StreamState {
        gw,
        rx,
        asm,
        timer,
        opened: false,
        done: false,
    };
    Box::pin(
        futures::stream::unfold(st, |mut st| async move {
            if st.done {
                return None;
            }
            if !st.opened {
                st.opened = true;
                let first = ChatEvent::Chunk(st.asm.role_chunk());
                return Some((vec![first], st));
            }
            let events = next_events(&mut st).await;
            Some((events, st))
        })
        .flat_map(futures::stream::iter),
    )
}

async fn next_events(st: &mut StreamState) -> Vec<ChatEvent> {
    match st.rx.recv().await {
        Some(Event::Text {
            choice,
            text,
            logprobs,
        }) => {
            st.timer.tick(st.gw.metrics());
            match st.asm.on_text(choice, &text, logprobs) {
                Some(mut c) => {
                    c.index = choice;
                    vec![ChatEvent::Chunk(st.asm.chunk(vec![c], None))]
                }
                None => Vec::new(),
            }
        }
        Some(Event::Finished { choice, reason, .. }) => st
            .asm
            .on_finished(choice, reason)
            .into_iter()
            .map(|c| ChatEvent::Chunk(st.asm.chunk(vec![c], None)))
            .collect(),
        Some(Event::Done {
            prompt_tokens,
            completion_tokens,
            ..
        }) => {
            st.done = true;
            vec![ChatEvent::Done(Usage::new(
                prompt_tokens,
                completion_tokens,
            ))]
        }
        Some(Event::Error(e)) => {
            st.done = true;
            vec![ChatEvent::Error(e)]
        }
        None => {
            st.done = true;
            vec![ChatEvent::Error(ApiError::internal(
                "the local engine stopped before finishing the answer",
            ))]
        }
    }
}
