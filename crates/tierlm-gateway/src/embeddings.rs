//! Sentence embeddings (`/v1/embeddings`) from the in-process encoder.

use base64::Engine as _;
use tierlm_api::embeddings::{
    EmbeddingData, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage,
    EmbeddingVector, EncodingFormat,
};
use tierlm_api::ApiError;
use tierlm_engine::embeddings::EmbedInput;

use crate::gateway::Gateway;
use crate::keys::Caller;
use crate::outcome::{Endpoint, Outcome, RequestMeta, Route};
use crate::record::Pending;

impl Gateway {
    /// Embed the request's inputs with the embedding model it names.
    pub async fn embeddings(
        &self,
        req: EmbeddingRequest,
        caller: Option<&Caller>,
        meta: RequestMeta,
    ) -> Result<EmbeddingResponse, ApiError> {
        let mut o = Outcome::for_caller(meta, Endpoint::Embeddings, &req.model, caller);
        o.route = Route::Local;
        let mut pending = Pending::new(self, o);
        match embed(self, caller, req).await {
            Ok(r) => {
                pending.outcome.tokens(&r.model, r.usage.prompt_tokens, 0);
                pending.finish(200).await;
                Ok(r)
            }
            Err(e) => pending.fail(e).await,
        }
    }
}

fn inputs(input: EmbeddingInput, max: usize) -> Result<Vec<EmbedInput>, ApiError> {
    let list: Vec<EmbedInput> = match input {
        EmbeddingInput::Text(t) => vec![EmbedInput::Text(t)],
        EmbeddingInput::Texts(ts) => ts.into_iter().map(EmbedInput::Text).collect(),
        EmbeddingInput::Tokens(ids) => vec![EmbedInput::Tokens(ids)],
        EmbeddingInput::TokenLists(l) => l.into_iter().map(EmbedInput::Tokens).collect(),
    };
    if list.is_empty() {
        return Err(ApiError::invalid("input", "`input` must not be empty"));
    }
    if list.len() > max {
        return Err(ApiError::invalid(
            "input",
            format!("`input` may hold at most {max} items, got {}", list.len()),
        ));
    }
    for (i, item) in list.iter().enumerate() {
        let empty = match item {
            EmbedInput::Text(t) => t.is_empty(),
            EmbedInput::Tokens(t) => t.is_empty(),
        };
        if empty {
            return Err(ApiError::invalid(
                "input",
                format!("`input[{i}]` must not be empty"),
            ));
        }
    }
    Ok(list)
}

async fn embed(
    state: &Gateway,
    caller: Option<&Caller>,
    req: EmbeddingRequest,
) -> Result<EmbeddingResponse, ApiError> {
    crate::keys::check_model(caller, &req.model)?;
    let model = state.embedding_model(&req.model)?;
    if let Some(d) = req.dimensions {
        if d as usize != model.dims() {
            return Err(ApiError::unsupported(
                "dimensions",
                format!(
                    "`{}` produces {} dimensions and cannot shorten them, got {d}",
                    req.model,
                    model.dims()
                ),
            ));
        }
    }
    let list = inputs(req.input, model.max_inputs())?;
    let worker = model.clone();
    let (vectors, tokens) = state
        .tasks()
        .spawn_blocking(move || worker.embed(&list))
        .await
        .map_err(|e| ApiError::internal(format!("embedding task failed: {e}")))??;
    let base64 = req.encoding_format == Some(EncodingFormat::Base64);
    let data = vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| EmbeddingData {
            object: "embedding".into(),
            index: i as u32,
            embedding: if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                EmbeddingVector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                EmbeddingVector::Float(v)
            },
        })
        .collect();
    Ok(EmbeddingResponse {
        object: "list".into(),
        data,
        model: req.model,
        usage: EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    })
}
