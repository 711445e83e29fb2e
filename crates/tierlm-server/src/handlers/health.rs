//! `GET /health` (the process is alive) and `GET /ready` (every model is loaded and its
//! engine thread running), for orchestrators' liveness and readiness probes.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tierlm_api::{ApiError, ErrorCode};

use crate::error::HttpError;
use tierlm_gateway::Gateway;

pub async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

pub async fn ready(State(state): State<Gateway>) -> Response {
    if let Some(err) = state.load_error() {
        return HttpError(ApiError::new(
            ErrorCode::NotReady,
            format!("model loading failed: {err}"),
        ))
        .into_response();
    }
    if !state.is_ready() {
        return HttpError(ApiError::new(
            ErrorCode::NotReady,
            "models are still loading",
        ))
        .into_response();
    }
    let reg = state.registry();
    if let Some((name, _)) = reg.chat.iter().find(|(_, m)| !m.is_alive()) {
        return HttpError(ApiError::new(
            ErrorCode::NotReady,
            format!("the engine thread of model `{name}` has stopped"),
        ))
        .into_response();
    }
    let models: Vec<_> = reg
        .chat
        .values()
        .map(|m| {
            let i = m.info();
            json!({
                "name": i.name, "architecture": i.architecture, "template": i.template,
                "context_size": i.context_size, "parallel": i.parallel, "parameters": i.n_params,
            })
        })
        .collect();
    Json(json!({
        "status": "ready",
        "models": models,
        "embeddings": reg.embeddings.as_ref().map(|e| e.name()),
    }))
    .into_response()
}
