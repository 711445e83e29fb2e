//! `POST /v1/chat/completions` (OpenAI Chat Completions): parse, hand the request to
//! the gateway, write its answer as JSON or as a server-sent event stream.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::StreamExt;
use tierlm_api::chat::{ChatCompletionChunk, ChatCompletionRequest};
use tierlm_gateway::{Body, ChatEvent, Endpoint, Gateway};

use crate::auth::Authenticated;
use crate::error::HttpError;
use crate::extract::OpenAiJson;
use crate::handlers::{answer_chat, facts_headers, request_meta, route_hint, stream_options};
use crate::sse::{self, SseFrame};

pub async fn chat_completions(
    State(gw): State<Gateway>,
    Extension(Authenticated(caller)): Extension<Authenticated>,
    headers: HeaderMap,
    body: Result<OpenAiJson<ChatCompletionRequest>, HttpError>,
) -> Response {
    let meta = request_meta(&headers);
    let mut include_usage = false;
    let parsed = body.map_err(|e| e.0).and_then(|OpenAiJson(req)| {
        (_, include_usage) = stream_options(req.stream, req.stream_options.as_ref())?;
        Ok((req, route_hint(&headers)?))
    });
    match answer_chat(&gw, caller, meta, Endpoint::ChatCompletions, parsed).await {
        Ok(answer) => {
            let headers = facts_headers(&answer.facts);
            match answer.body {
                Body::Whole(c) => (headers, axum::Json(c)).into_response(),
                Body::Stream(events) => {
                    (headers, sse::response(frames(events, include_usage))).into_response()
                }
            }
        }
        Err(e) => HttpError(e).into_response(),
    }
}

/// Chat events as OpenAI's SSE frames: each chunk, then (when asked) a usage chunk
/// with no choices, then `[DONE]`; a failure is an error frame and no `[DONE]`.
fn frames(
    events: tierlm_gateway::answer::EventStream<ChatCompletionChunk>,
    include_usage: bool,
) -> impl futures::Stream<Item = SseFrame> + Send {
    let mut last: Option<(String, u64, String)> = None;
    events
        .map(move |event| match event {
            ChatEvent::Chunk(c) => {
                if last.is_none() {
                    last = Some((c.id.clone(), c.created, c.model.clone()));
                }
                vec![SseFrame::json(&c)]
            }
            ChatEvent::Done(usage) => {
                let mut f = Vec::new();
                if include_usage {
                    let (id, created, model) = last.take().unwrap_or_default();
                    f.push(SseFrame::json(&ChatCompletionChunk {
                        id,
                        object: "chat.completion.chunk".into(),
                        created,
                        model,
                        choices: Vec::new(),
                        usage: Some(usage),
                    }));
                }
                f.push(SseFrame::done());
                f
            }
            ChatEvent::Error(e) => vec![SseFrame::error(&e)],
        })
        .flat_map(futures::stream::iter)
}
