//! `POST /v1/completions` (OpenAI's legacy text completions): parse, hand the request
//! to the gateway, write its answer as JSON or as a server-sent event stream.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures::StreamExt;
use tierlm_api::completions::{Completion, CompletionRequest};
use tierlm_gateway::{AnswerEvent, Body, Endpoint, Gateway};

use crate::auth::Authenticated;
use crate::error::HttpError;
use crate::extract::OpenAiJson;
use crate::handlers::{facts_headers, request_meta, stream_options};
use crate::sse::{self, SseFrame};

pub async fn completions(
    State(gw): State<Gateway>,
    Extension(Authenticated(caller)): Extension<Authenticated>,
    headers: HeaderMap,
    body: Result<OpenAiJson<CompletionRequest>, HttpError>,
) -> Response {
    let meta = request_meta(&headers);
    let parsed = body.map_err(|e| e.0).and_then(|OpenAiJson(req)| {
        let (_, include_usage) = stream_options(req.stream, req.stream_options.as_ref())?;
        Ok((req, include_usage))
    });
    let (req, include_usage) = match parsed {
        Ok(p) => p,
        Err(e) => {
            let key = caller.as_ref().map(|c| c.key.as_ref());
            gw.record_rejection(meta, Endpoint::Completions, key, &e)
                .await;
            return HttpError(e).into_response();
        }
    };
    match gw.completions(req, caller.as_ref(), meta).await {
        Ok(answer) => {
            let headers = facts_headers(&answer.facts);
            match answer.body {
                Body::Whole(c) => (headers, axum::Json(c)).into_response(),
                Body::Stream(events) => {
                    let frames = events
                        .scan(None, move |last: &mut Option<Completion>, event| {
                            let frames = match event {
                                AnswerEvent::Chunk(c) => {
                                    let frame = SseFrame::json(&c);
                                    last.get_or_insert(c);
                                    vec![frame]
                                }
                                AnswerEvent::Done(usage) => {
                                    let mut f = Vec::new();
                                    if let (true, Some(mut tail)) = (include_usage, last.take()) {
                                        tail.choices.clear();
                                        tail.usage = Some(usage);
                                        f.push(SseFrame::json(&tail));
                                    }
                                    f.push(SseFrame::done());
                                    f
                                }
                                AnswerEvent::Error(e) => vec![SseFrame::error(&e)],
                            };
                            futures::future::ready(Some(frames))
                        })
                        .flat_map(futures::stream::iter);
                    (headers, sse::response(frames)).into_response()
                }
            }
        }
        Err(e) => HttpError(e).into_response(),
    }
}
