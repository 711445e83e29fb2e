//! `POST /v1/responses` (OpenAI Responses): parse, translate to the neutral chat
//! request (`tierlm_api::responses`), hand it to the gateway, and write its answer as
//! a response object or the typed event stream (named SSE events, no `[DONE]`).
//! Nothing is stored, so the paths that read a stored response answer 404 and say why.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::StreamExt;
use tierlm_api::chat::ChatCompletionChunk;
use tierlm_api::responses::{response_from_chat, to_chat, CreateResponse, ResponseStream};
use tierlm_api::{ApiError, ErrorCode};
use tierlm_gateway::{Body, ChatEvent, Endpoint, Gateway};

use crate::auth::Authenticated;
use crate::error::HttpError;
use crate::extract::OpenAiJson;
use crate::handlers::{answer_chat, facts_headers, request_meta, route_hint};
use crate::sse::{self, SseFrame};

pub async fn create(
    State(gw): State<Gateway>,
    Extension(Authenticated(caller)): Extension<Authenticated>,
    headers: HeaderMap,
    body: Result<OpenAiJson<CreateResponse>, HttpError>,
) -> Response {
    let meta = request_meta(&headers);
    let mut echo = None;
    let parsed = body.map_err(|e| e.0).and_then(|OpenAiJson(req)| {
        let (request, e) = to_chat(req)?;
        echo = Some(e);
        Ok((request, route_hint(&headers)?))
    });
    match answer_chat(&gw, caller, meta, Endpoint::Responses, parsed).await {
        Ok(answer) => {
            let echo = echo.unwrap_or_default();
            let headers = facts_headers(&answer.facts);
            match answer.body {
                Body::Whole(c) => {
                    (headers, axum::Json(response_from_chat(c, &echo))).into_response()
                }
                Body::Stream(events) => {
                    let stream = ResponseStream::new(echo);
                    (headers, sse::response(frames(events, stream))).into_response()
                }
            }
        }
        Err(e) => HttpError(e).into_response(),
    }
}

/// Chat events as the Responses event stream (see `ResponseStream`).
fn frames(
    events: tierlm_gateway::answer::EventStream<ChatCompletionChunk>,
    mut stream: ResponseStream,
) -> impl futures::Stream<Item = SseFrame> + Send {
    events
        .map(move |event| {
            let out = match event {
                ChatEvent::Chunk(c) => stream.chunk(&c),
                ChatEvent::Done(usage) => stream.done(usage),
                ChatEvent::Error(e) => stream.error(&e),
            };
            out.into_iter()
                .map(|e| SseFrame::named(e.kind, &e))
                .collect::<Vec<_>>()
        })
        .flat_map(futures::stream::iter)
}

/// `GET` / `DELETE /v1/responses/{id}` and the other stored-response paths.
pub async fn nothing_stored() -> HttpError {
    HttpError(ApiError::new(
        ErrorCode::NotFound,
        tierlm_api::responses::NOTHING_STORED,
    ))
}
