//! `POST /v1/embeddings`: parse, hand the request to the gateway, answer as JSON.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use tierlm_api::embeddings::EmbeddingRequest;
use tierlm_gateway::{Endpoint, Gateway};

use crate::auth::Authenticated;
use crate::error::HttpError;
use crate::extract::OpenAiJson;
use crate::handlers::request_meta;

pub async fn embeddings(
    State(gw): State<Gateway>,
    Extension(Authenticated(caller)): Extension<Authenticated>,
    headers: HeaderMap,
    body: Result<OpenAiJson<EmbeddingRequest>, HttpError>,
) -> Response {
    let meta = request_meta(&headers);
    let req = match body {
        Ok(OpenAiJson(req)) => req,
        Err(HttpError(e)) => {
            let key = caller.as_ref().map(|c| c.key.as_ref());
            gw.record_rejection(meta, Endpoint::Embeddings, key, &e)
                .await;
            return HttpError(e).into_response();
        }
    };
    match gw.embeddings(req, caller.as_ref(), meta).await {
        Ok(r) => axum::Json(r).into_response(),
        Err(e) => HttpError(e).into_response(),
    }
}
