//! What the core hands back to a dialect: the facts an answer's headers carry and its
//! body — whole, or a stream of [`AnswerEvent`]s — with the request's outcome attached,
//! so it is written when the stream ends (or is dropped by a client that went away).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use futures::{Stream, StreamExt};
use tierlm_api::chat::ChatCompletionChunk;
use tierlm_api::completions::Completion;
use tierlm_api::{ApiError, Usage};

use crate::outcome::Facts;
use crate::record::Pending;

/// One event of a streamed answer.
#[derive(Debug, Clone)]
pub enum AnswerEvent<C> {
    /// A chunk of the answer (placeholders already restored).
    Chunk(C),
    /// The answer ended well, with these token counts.
    Done(Usage),
    /// The answer broke off; nothing follows.
    Error(ApiError),
}

/// A stream of answer events.
pub type EventStream<C> = Pin<Box<dyn Stream<Item = AnswerEvent<C>> + Send>>;

/// An answer's body: `W` whole, or a stream of `C` chunks.
pub enum Body<W, C> {
    Whole(W),
    Stream(EventStream<C>),
}

/// An answer: what its headers say, and its body.
pub struct Answer<W, C> {
    pub facts: Facts,
    pub body: Body<W, C>,
}

/// A chunk that may carry content (the first one sets the time to first token).
pub trait Chunk {
    fn has_content(&self) -> bool;
}

impl Chunk for ChatCompletionChunk {
    fn has_content(&self) -> bool {
        self.choices.iter().any(|ch| {
            ch.delta.content.as_deref().is_some_and(|t| !t.is_empty())
                || ch.delta.tool_calls.is_some()
        })
    }
}

impl Chunk for Completion {
    fn has_content(&self) -> bool {
        self.choices.iter().any(|c| !c.text.is_empty())
    }
}

/// Attach the request's pending outcome to its event stream: the first content sets
/// the time to first token, the end sets the tokens, and the outcome is written once
/// the last event has been handed on, before the stream ends (so a client that reads
/// the whole body finds the row, and the write never delays the last event). If the
/// client goes away first, the outcome is written when the stream is dropped.
pub(crate) fn track<C: Chunk + Send + 'static>(
    events: EventStream<C>,
    pending: Pending,
) -> EventStream<C> {
    Box::pin(Tracked {
        events,
        pending: Some(pending),
        ended: false,
        finishing: None,
    })
}

/// The stream [`track`] returns (a plain poll loop: no future per event).
struct Tracked<C> {
    events: EventStream<C>,
    pending: Option<Pending>,
    ended: bool,
    finishing: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl<C: Chunk> Stream for Tracked<C> {
    type Item = AnswerEvent<C>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(f) = this.finishing.as_mut() {
                ready!(f.as_mut().poll(cx));
                this.finishing = None;
                return Poll::Ready(None);
            }
            if this.ended {
                match this.pending.take() {
                    Some(p) => {
                        this.finishing = Some(Box::pin(p.finish(200)));
                        continue;
                    }
                    None => return Poll::Ready(None),
                }
            }
            let Some(event) = ready!(this.events.poll_next_unpin(cx)) else {
                // The source ended without a last event.
                this.ended = true;
                continue;
            };
            if let Some(p) = this.pending.as_mut() {
                match &event {
                    AnswerEvent::Chunk(c) => {
                        if p.outcome.first_token_at.is_none() && c.has_content() {
                            p.outcome.first_token_at = Some(Instant::now());
                        }
                    }
                    AnswerEvent::Done(u) => {
                        p.outcome.prompt_tokens = u.prompt_tokens;
                        p.outcome.completion_tokens = u.completion_tokens;
                    }
                    AnswerEvent::Error(e) => {
                        tracing::warn!(error = %e.message, "the answer broke off mid-stream");
                    }
                }
            }
            // The answer's status line went out as 200 when the stream began.
            this.ended = matches!(event, AnswerEvent::Done(_) | AnswerEvent::Error(_));
            return Poll::Ready(Some(event));
        }
    }
}
