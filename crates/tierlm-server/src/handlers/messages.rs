//! `POST /v1/messages` and `POST /v1/messages/count_tokens` (Anthropic Messages):
//! parse, translate to the neutral chat request (`tierlm_api::anthropic`), hand it to
//! the gateway, and write its answer as an Anthropic message or event stream. Every
//! error is in Anthropic's shape, and every response carries `request-id` (the
//! header Anthropic's SDKs read) beside `x-request-id`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::StreamExt;
use tierlm_api::anthropic::{
    count_request_to_chat, message_from_chat, to_chat, CountTokensRequest, CountTokensResponse,
    MessagesRequest, StreamEncoder,
};
use tierlm_api::chat::ChatCompletionChunk;
use tierlm_api::ApiError;
use tierlm_gateway::{Body, ChatEvent, Endpoint, Gateway};

use crate::auth::Authenticated;
use crate::error::{Dialect, HttpError};
use crate::extract::OpenAiJson;
use crate::handlers::{answer_chat, facts_headers, request_meta, route_hint};
use crate::sse::{self, SseFrame};

fn error(e: ApiError, request_id: &str) -> Response {
    with_request_id(Dialect::Anthropic.error(e, Some(request_id)), request_id)
}

fn with_request_id(mut resp: Response, request_id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("request-id", v);
    }
    resp
}

pub async fn messages(
    State(gw): State<Gateway>,
    Extension(Authenticated(caller)): Extension<Authenticated>,
    headers: HeaderMap,
    body: Result<OpenAiJson<MessagesRequest>, HttpError>,
) -> Response {
    let meta = request_meta(&headers);
    let request_id = meta.request_id.clone();
    let parsed = body
        .map_err(|e| e.0)
        .and_then(|OpenAiJson(req)| Ok((to_chat(req)?, route_hint(&headers)?)));
    let resp = match answer_chat(&gw, caller, meta, Endpoint::Messages, parsed).await {
        Ok(answer) => {
            let headers = facts_headers(&answer.facts);
            match answer.body {
                Body::Whole(c) => (headers, axum::Json(message_from_chat(c))).into_response(),
                Body::Stream(events) => (headers, sse::response(frames(events))).into_response(),
            }
        }
        Err(e) => return error(e, &request_id),
    };
    with_request_id(resp, &request_id)
}

/// Chat events as Anthropic's named SSE events (see `StreamEncoder`).
fn frames(
    events: tierlm_gateway::answer::EventStream<ChatCompletionChunk>,
) -> impl futures::Stream<Item = SseFrame> + Send {
    let mut encoder = StreamEncoder::new();
    events
        .map(move |event| {
            let out = match event {
                ChatEvent::Chunk(c) => encoder.chunk(&c),
                ChatEvent::Done(usage) => encoder.done(usage),
                ChatEvent::Error(e) => encoder.error(&e),
            };
            out.into_iter()
                .map(|e| SseFrame::named(e.name(), &e))
                .collect::<Vec<_>>()
        })
        .flat_map(futures::stream::iter)
}

/// `POST /v1/messages/count_tokens`: the prompt's tokens, counted by the local model
/// that would read it (`x-tierlm-model`); for a cloud model an estimate
/// (`x-tierlm-token-count: estimate`).
pub async fn count_tokens(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    body: Result<OpenAiJson<CountTokensRequest>, HttpError>,
) -> Response {
    let request_id = request_meta(&headers).request_id;
    let req = match body
        .map_err(|e| e.0)
        .and_then(|OpenAiJson(r)| count_request_to_chat(r))
    {
        Ok(r) => r,
        Err(e) => return error(e, &request_id),
    };
    match gw.count_tokens(req).await {
        Ok(count) => {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&count.counted_with) {
                h.insert("x-tierlm-model", v);
            }
            h.insert(
                "x-tierlm-token-count",
                HeaderValue::from_static(if count.exact { "exact" } else { "estimate" }),
            );
            let body = CountTokensResponse {
                input_tokens: count.tokens,
            };
            with_request_id((h, axum::Json(body)).into_response(), &request_id)
        }
        Err(e) => error(e, &request_id),
    }
}
