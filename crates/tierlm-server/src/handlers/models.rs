//! `GET /v1/models` and `GET /v1/models/{id}`.

use axum::extract::{Path, State};
use axum::Json;
use tierlm_api::models::{ModelCard, ModelList};
use tierlm_api::{ApiError, ErrorCode};

use crate::error::HttpError;
use tierlm_gateway::Gateway;

fn cards(state: &Gateway) -> Vec<ModelCard> {
    let reg = state.registry();
    let created = tierlm_api::ids::unix_now();
    let card = |id: &str| ModelCard {
        id: id.to_string(),
        object: "model".into(),
        created,
        owned_by: "tierlm-local".into(),
    };
    let mut out: Vec<ModelCard> = reg.chat.keys().map(|k| card(k)).collect();
    out.extend(reg.cloud.iter().map(|(name, (m, _))| {
        ModelCard {
            owned_by: m
                .targets
                .first()
                .map_or_else(String::new, |t| t.provider.name().to_string()),
            ..card(name)
        }
    }));
    if let Some(e) = &reg.embeddings {
        out.push(card(e.name()));
    }
    if let Some(r) = &reg.router {
        out.extend(r.config().models.iter().map(|name| ModelCard {
            owned_by: "tierlm-router".into(),
            ..card(name)
        }));
    }
    out
}

pub async fn list(State(state): State<Gateway>) -> Json<ModelList> {
    Json(ModelList {
        object: "list".into(),
        data: cards(&state),
    })
}

pub async fn retrieve(
    State(state): State<Gateway>,
    Path(id): Path<String>,
) -> Result<Json<ModelCard>, HttpError> {
    cards(&state)
        .into_iter()
        .find(|c| c.id == id)
        .map(Json)
        .ok_or_else(|| {
            HttpError(
                ApiError::new(
                    ErrorCode::ModelNotFound,
                    format!("the model `{id}` does not exist"),
                )
                .with_param("model"),
            )
        })
}
