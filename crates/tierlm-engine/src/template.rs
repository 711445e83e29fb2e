//! Chat templates: turning a conversation into the prompt text a model was trained on.
//!
//! The template comes from the GGUF metadata (`tokenizer.chat_template`) when the file
//! carries one and llama.cpp recognises it. Files without one (the Gemma 3 270M build
//! used in tests has none) get a built-in template chosen by the model architecture,
//! and the config can name a built-in (`chatml`, `gemma`, `llama3`, `phi3`, …)
//! explicitly. Rendering uses llama.cpp's own template engine.

use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use tierlm_api::ApiError;

/// A message ready for the template: a role the template knows and plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnText {
    pub role: &'static str,
    pub content: String,
}

/// The template a model uses, and where it came from (for `/v1/models` and logs).
#[derive(Clone)]
pub struct ChatTemplate {
    template: LlamaChatTemplate,
    pub source: String,
}

/// Built-in template names that llama.cpp renders without a Jinja engine.
pub const BUILTIN_TEMPLATES: &[&str] = &[
    "chatml",
    "gemma",
    "llama2",
    "llama3",
    "phi3",
    "phi4",
    "mistral-v7",
    "zephyr",
    "deepseek3",
];

/// The built-in template that fits an architecture when the file has none.
pub fn builtin_for_architecture(arch: &str) -> &'static str {
    if arch.starts_with("gemma") {
        "gemma"
    } else if arch.starts_with("phi3") {
        "phi3"
    } else if arch == "llama" {
        "llama3"
    } else {
        "chatml"
    }
}

impl ChatTemplate {
    /// Choose the template for `model`: the configured built-in, else the file's own
    /// (if llama.cpp can render it), else the architecture's built-in.
    pub fn select(model: &LlamaModel, configured: Option<&str>) -> Result<Self, String> {
        if let Some(name) = configured {
            let template = LlamaChatTemplate::new(name).map_err(|e| e.to_string())?;
            return Ok(Self {
                template,
                source: format!("configured:{name}"),
            });
        }
        if let Ok(embedded) = model.chat_template(None) {
            let probe = Self {
                template: embedded,
                source: "gguf".to_string(),
            };
            let test = [TurnText {
                role: "user",
                content: "hi".to_string(),
            }];
            if probe.render(model, &test).is_ok() {
                return Ok(probe);
            }
        }
        let arch = model
            .meta_val_str("general.architecture")
            .unwrap_or_default();
        let name = builtin_for_architecture(&arch);
        let template = LlamaChatTemplate::new(name).map_err(|e| e.to_string())?;
        Ok(Self {
            template,
            source: format!("builtin:{name}"),
        })
    }

    /// Render the conversation with the assistant turn opened.
    pub fn render(&self, model: &LlamaModel, turns: &[TurnText]) -> Result<String, ApiError> {
        self.render_with(model, turns, true)
    }

    /// Render a finished conversation (the last turn closed, none opened): what a
    /// training example's prompt plus answer looks like to the model.
    pub fn render_closed(
        &self,
        model: &LlamaModel,
        turns: &[TurnText],
    ) -> Result<String, ApiError> {
        self.render_with(model, turns, false)
    }

    fn render_with(
        &self,
        model: &LlamaModel,
        turns: &[TurnText],
        open_assistant: bool,
    ) -> Result<String, ApiError> {
        let mut chat = Vec::with_capacity(turns.len());
        for t in turns {
            let msg =
                LlamaChatMessage::new(t.role.to_string(), t.content.clone()).map_err(|_| {
                    ApiError::invalid("messages", "message content must not contain NUL bytes")
                })?;
            chat.push(msg);
        }
        model
            .apply_chat_template(&self.template, &chat, open_assistant)
            .map_err(|e| ApiError::internal(format!("chat template failed: {e}")))
    }
}
