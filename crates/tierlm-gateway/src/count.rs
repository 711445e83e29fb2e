//! Counting a chat request's prompt tokens without answering it (Anthropic's
//! `count_tokens`): the prompt is rendered and tokenized exactly as the local model
//! that would read it does. A routed name (`auto`) counts with its cheapest tier; a
//! cloud model has no tokenizer here, so its count is an estimate made with the first
//! local model's tokenizer (`exact: false`).

use tierlm_api::chat::ChatCompletionRequest;
use tierlm_api::{ApiError, ErrorCode};

use crate::gateway::Gateway;

/// A prompt's size in tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCount {
    pub tokens: u32,
    /// The model whose tokenizer counted.
    pub counted_with: String,
    /// Whether that is the model the request names (or a tier of it).
    pub exact: bool,
}

impl Gateway {
    /// Counts the prompt tokens of `req` (see the module docs).
    pub async fn count_tokens(&self, req: ChatCompletionRequest) -> Result<TokenCount, ApiError> {
        let name = req.model.clone();
        let router = self.router_for(&name);
        let (model, exact) = match self.chat_model(&name) {
            Ok(m) => (m, true),
            Err(_) if router.is_some() => {
                let tier = router.and_then(|r| r.tiers(None, 0.0).into_iter().next());
                let tier = tier.map(|t| t.model).unwrap_or_default();
                (self.chat_model(&tier)?, true)
            }
            Err(_) if self.cloud_model(&name).is_some() => {
                let first = self.registry().chat.values().next().cloned();
                let model = first.ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::UnsupportedParameter,
                        format!("no local tokenizer is loaded to count tokens for `{name}`"),
                    )
                    .with_param("model")
                })?;
                (model, false)
            }
            // The usual "unknown model" error, with the names that exist.
            Err(unknown) => return Err(unknown),
        };
        let counted_with = model.info().name.clone();
        let mut req = req;
        req.max_tokens = Some(1);
        req.max_completion_tokens = None;
        req.stream = None;
        let tokens = self
            .tasks()
            .spawn_blocking(move || {
                tierlm_engine::prepare::prepare_chat(&model, &req)
                    .map(|p| p.generation.prompt.len())
            })
            .await
            .map_err(|e| ApiError::internal(format!("token count failed: {e}")))??;
        Ok(TokenCount {
            tokens: u32::try_from(tokens).unwrap_or(u32::MAX),
            counted_with,
            exact,
        })
    }
}
