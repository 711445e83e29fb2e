//! Validating OpenAI requests and turning them into engine [`Generation`]s.
//!
//! Every parameter is checked here, before anything is queued, with messages that
//! name the parameter and the allowed range. The prompt is rendered (chat template,
//! tools) and tokenised so that the context check uses exact token counts.

use tierlm_api::chat::{ChatCompletionRequest, ResponseFormat, Role, StopSequences, Tool};
use tierlm_api::completions::{CompletionRequest, Prompt};
use tierlm_api::{ApiError, ErrorCode};

use crate::model::LocalModel;
use crate::request::{Generation, Grammar, SamplingParams};
use crate::template::TurnText;
use crate::tools::{self, ToolMode};

/// The most stop strings one request may give.
pub const MAX_STOP: usize = 16;
/// The most `top_logprobs` one request may ask for (OpenAI's limit).
pub const MAX_TOP_LOGPROBS: u32 = 20;

/// A chat request ready for the engine, plus what is needed to shape the answer.
#[derive(Debug, Clone)]
pub struct PreparedChat {
    pub generation: Generation,
    pub tool_mode: ToolMode,
    pub tools: Vec<Tool>,
}

/// The sampling-related fields common to chat and completions.
pub struct SamplingFields<'a> {
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<i32>,
    pub min_p: Option<f32>,
    pub seed: Option<i64>,
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub repetition_penalty: Option<f32>,
    pub logit_bias: Option<&'a std::collections::HashMap<String, f32>>,
    pub n: Option<u32>,
    pub stop: Option<&'a StopSequences>,
}

fn in_range(param: &str, v: Option<f32>, lo: f32, hi: f32, default: f32) -> Result<f32, ApiError> {
    match v {
        None => Ok(default),
        Some(x) if x.is_finite() && (lo..=hi).contains(&x) => Ok(x),
        Some(x) => Err(ApiError::invalid(
            param,
            format!("`{param}` must be between {lo} and {hi}, got {x}"),
        )),
    }
}

/// The sampling fields of a chat or completions request (same names in both).
macro_rules! sampling_fields {
    ($req:expr) => {
        SamplingFields {
            temperature: $req.temperature,
            top_p: $req.top_p,
            top_k: $req.top_k,
            min_p: $req.min_p,
            seed: $req.seed,
            presence_penalty: $req.presence_penalty,
            frequency_penalty: $req.frequency_penalty,
            repetition_penalty: $req.repetition_penalty,
            logit_bias: $req.logit_bias.as_ref(),
            n: $req.n,
            stop: $req.stop.as_ref(),
        }
    };
}

/// Validate the sampling fields; returns the parameters, stop strings and `n`.
pub fn sampling(
    f: &SamplingFields<'_>,
    n_vocab: i32,
    max_n: u32,
) -> Result<(SamplingParams, Vec<String>, u32), ApiError> {
    let top_k = match f.top_k {
        None | Some(-1) => 0,
        Some(k) if k >= 0 => k,
        Some(k) => {
            return Err(ApiError::invalid(
                "top_k",
                format!("`top_k` must be -1 (off) or at least 0, got {k}"),
            ))
        }
    };
    let repetition_penalty = match f.repetition_penalty {
        None => 1.0,
        Some(x) if x.is_finite() && x > 0.0 && x <= 10.0 => x,
        Some(x) => {
            return Err(ApiError::invalid(
                "repetition_penalty",
                format!("`repetition_penalty` must be in (0, 10], got {x}"),
            ))
        }
    };
    let mut logit_bias = Vec::new();
    if let Some(map) = f.logit_bias {
        for (k, v) in map {
            let id: i32 = k
                .parse()
                .ok()
                .filter(|t| (0..n_vocab).contains(t))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "logit_bias",
                        format!(
                            "`logit_bias` key `{k}` is not a token id of this model (0..{n_vocab})"
                        ),
                    )
                })?;
            if !(v.is_finite() && (-100.0..=100.0).contains(v)) {
                return Err(ApiError::invalid(
                    "logit_bias",
                    format!("`logit_bias` values must be between -100 and 100, got {v}"),
                ));
            }
            // OpenAI semantics: -100 bans, +100 forces.
            let bias = if *v <= -100.0 { f32::NEG_INFINITY } else { *v };
            logit_bias.push((id, bias));
        }
        logit_bias.sort_by_key(|(t, _)| *t);
    }
    let n = f.n.unwrap_or(1);
    if n == 0 || n > max_n {
        return Err(ApiError::invalid(
            "n",
            format!("`n` must be between 1 and {max_n} for this model, got {n}"),
        ));
    }
    let stop = f
        .stop
        .cloned()
        .map(StopSequences::into_vec)
        .unwrap_or_default();
    if stop.len() > MAX_STOP {
        return Err(ApiError::invalid(
            "stop",
            format!(
                "`stop` may hold at most {MAX_STOP} strings, got {}",
                stop.len()
            ),
        ));
    }
    if stop.iter().any(String::is_empty) {
        return Err(ApiError::invalid(
            "stop",
            "`stop` strings must not be empty",
        ));
    }
    let params = SamplingParams {
        temperature: in_range("temperature", f.temperature, 0.0, 2.0, 1.0)?,
        top_p: in_range("top_p", f.top_p, 0.0, 1.0, 1.0)?,
        top_k,
        min_p: in_range("min_p", f.min_p, 0.0, 1.0, 0.0)?,
        seed: f.seed.map(|s| s as u64),
        presence_penalty: in_range("presence_penalty", f.presence_penalty, -2.0, 2.0, 0.0)?,
        frequency_penalty: in_range("frequency_penalty", f.frequency_penalty, -2.0, 2.0, 0.0)?,
        repetition_penalty,
        logit_bias,
    };
    Ok((params, stop, n))
}

/// Check the prompt fits and settle `max_tokens` (default: the rest of the context).
pub fn budget(prompt_len: usize, max_tokens: Option<u32>, context: u32) -> Result<u32, ApiError> {
    let prompt = u32::try_from(prompt_len).unwrap_or(u32::MAX);
    if let Some(0) = max_tokens {
        return Err(ApiError::invalid(
            "max_tokens",
            "`max_tokens` must be at least 1, got 0",
        ));
    }
    let requested = prompt.saturating_add(max_tokens.unwrap_or(1));
    if requested > context || prompt >= context {
        let msg = match max_tokens {
            Some(m) => format!(
                "this model's maximum context length is {context} tokens, but {requested} were requested ({prompt} in the prompt, {m} for the completion); shorten the prompt or lower `max_tokens`"
            ),
            None => format!(
                "this model's maximum context length is {context} tokens, but the prompt has {prompt}"
            ),
        };
        return Err(ApiError::new(ErrorCode::ContextLengthExceeded, msg).with_param("messages"));
    }
    Ok(max_tokens.unwrap_or(context - prompt))
}

fn logprob_request(logprobs: Option<bool>, top: Option<u32>) -> Result<Option<u32>, ApiError> {
    match (logprobs.unwrap_or(false), top) {
        (false, Some(t)) if t > 0 => Err(ApiError::invalid(
            "top_logprobs",
            "`top_logprobs` requires `logprobs: true`",
        )),
        (true, Some(t)) if t > MAX_TOP_LOGPROBS => Err(ApiError::invalid(
            "top_logprobs",
            format!("`top_logprobs` must be between 0 and {MAX_TOP_LOGPROBS}, got {t}"),
        )),
        (true, t) => Ok(Some(t.unwrap_or(0))),
        (false, _) => Ok(None),
    }
}

/// The template turns of a tool-free conversation (what the engine renders for it).
pub fn chat_turns(req: &ChatCompletionRequest) -> Result<Vec<TurnText>, ApiError> {
    turns(req, &ToolMode::None)
}

/// Render the conversation (with tools) into template turns.
fn turns(req: &ChatCompletionRequest, mode: &ToolMode) -> Result<Vec<TurnText>, ApiError> {
    if req.messages.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "`messages` must not be empty",
        ));
    }
    let mut out: Vec<TurnText> = Vec::new();
    if *mode != ToolMode::None {
        let tools = req.tools.as_deref().unwrap_or_default();
        out.push(TurnText {
            role: "system",
            content: tools::tool_prompt(tools),
        });
    }
    for (i, m) in req.messages.iter().enumerate() {
        let text = match &m.content {
            Some(c) => c.text().map_err(|kind| {
                ApiError::unsupported(
                    &format!("messages[{i}].content"),
                    format!("content parts of type `{kind}` are not supported by local models; send text"),
                )
            })?,
            None => String::new(),
        };
        let (role, content) = match m.role {
            Role::System | Role::Developer => ("system", text),
            Role::User => ("user", text),
            Role::Assistant => {
                let calls = m.tool_calls.as_deref().unwrap_or_default();
                let content = if calls.is_empty() {
                    text
                } else {
                    format!("{text}{}", tools::render_calls(calls))
                        .trim()
                        .to_string()
                };
                ("assistant", content)
            }
            Role::Tool => ("user", format!("<tool_response>\n{text}\n</tool_response>")),
        };
        if m.content.is_none() && m.role != Role::Assistant {
            return Err(ApiError::invalid(
                &format!("messages[{i}].content"),
                format!(
                    "`messages[{i}].content` is required for role `{}`",
                    m.role.as_str()
                ),
            ));
        }
        // Consecutive system turns (tool prompt + the client's) become one.
        match out.last_mut() {
            Some(last) if last.role == "system" && role == "system" => {
                last.content = format!("{}\n\n{}", content, last.content);
            }
            _ => out.push(TurnText { role, content }),
        }
    }
    Ok(out)
}

/// Validate and prepare a chat request for `model`.
pub fn prepare_chat(
    model: &LocalModel,
    req: &ChatCompletionRequest,
) -> Result<PreparedChat, ApiError> {
    let tools = req.tools.clone().unwrap_or_default();
    let mode = tools::tool_mode(&tools, req.tool_choice.as_ref())?;
    let fields = sampling_fields!(req);
    let (params, stop, n) = sampling(&fields, model.info().n_vocab, model.info().max_n())?;
    let logprobs = logprob_request(req.logprobs, req.top_logprobs)?;
    let format_grammar = match &req.response_format {
        None | Some(ResponseFormat::Text) => None,
        Some(ResponseFormat::JsonObject) => Some(tools::schema_grammar(
            &serde_json::json!({"type": "object"}),
            "response_format",
        )?),
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            let schema = json_schema.schema.clone().unwrap_or(serde_json::json!({}));
            Some(tools::schema_grammar(&schema, "response_format")?)
        }
    };
    let tool_grammar = tools::tool_grammar(&tools, &mode)?;
    let grammar = match (format_grammar, tool_grammar) {
        (Some(_), Some(_)) if matches!(mode, ToolMode::Required(_)) => {
            return Err(ApiError::unsupported(
                "response_format",
                "`response_format` cannot be combined with a required tool call",
            ))
        }
        (Some(g), _) => Some(Grammar {
            gbnf: g,
            trigger: None,
        }),
        (None, g) => g,
    };
    let prompt_text = model
        .template()
        .render(model.llama(), &turns(req, &mode)?)?;
    let prompt = model.tokenize(&prompt_text, false);
    let max_tokens = budget(
        prompt.len(),
        req.max_completion_tokens.or(req.max_tokens),
        model.info().context_size,
    )
    .map_err(|e| match req.max_completion_tokens {
        Some(_) if e.param.as_deref() == Some("max_tokens") => {
            e.with_param("max_completion_tokens")
        }
        _ => e,
    })?;
    Ok(PreparedChat {
        generation: Generation {
            prompt,
            n,
            max_tokens,
            sampling: params,
            stop,
            grammar,
            logprobs,
            ignore_eos: false,
            tenant: None,
            deterministic: req.deterministic == Some(true),
        },
        tool_mode: mode,
        tools,
    })
}

/// Validate and prepare a completions request: one generation per prompt.
pub fn prepare_completion(
    model: &LocalModel,
    req: &CompletionRequest,
) -> Result<Vec<Generation>, ApiError> {
    if req.suffix.is_some() {
        return Err(ApiError::unsupported(
            "suffix",
            "`suffix` (fill-in-the-middle) is not supported",
        ));
    }
    if let Some(b) = req.best_of {
        if Some(b) != req.n && b != 1 {
            return Err(ApiError::unsupported(
                "best_of",
                "`best_of` other than `n` is not supported",
            ));
        }
    }
    let fields = sampling_fields!(req);
    let (params, stop, n) = sampling(&fields, model.info().n_vocab, model.info().max_n())?;
    let logprobs = match req.logprobs {
        Some(t) if t > 5 => {
            return Err(ApiError::invalid(
                "logprobs",
                format!("`logprobs` must be between 0 and 5, got {t}"),
            ))
        }
        other => other,
    };
    let n_vocab = model.info().n_vocab;
    let check_ids = |ids: &[u32]| -> Result<Vec<i32>, ApiError> {
        ids.iter()
            .map(|&t| {
                i32::try_from(t)
                    .ok()
                    .filter(|t| *t < n_vocab)
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "prompt",
                            format!("token id {t} is outside this model's vocabulary"),
                        )
                    })
            })
            .collect()
    };
    let prompts: Vec<Vec<i32>> = match &req.prompt {
        Prompt::Text(t) => vec![model.tokenize(t, true)],
        Prompt::Texts(ts) => ts.iter().map(|t| model.tokenize(t, true)).collect(),
        Prompt::Tokens(ids) => vec![check_ids(ids)?],
        Prompt::TokenLists(lists) => lists
            .iter()
            .map(|l| check_ids(l))
            .collect::<Result<_, _>>()?,
    };
    if prompts.is_empty() || prompts.iter().any(Vec::is_empty) {
        return Err(ApiError::invalid("prompt", "`prompt` must not be empty"));
    }
    // The legacy API defaults to 16 tokens.
    let max_tokens = Some(req.max_tokens.unwrap_or(16));
    prompts
        .into_iter()
        .map(|prompt| {
            let max_tokens =
                budget(prompt.len(), max_tokens, model.info().context_size).map_err(|e| {
                    if e.code == ErrorCode::ContextLengthExceeded {
                        e.with_param("prompt")
                    } else {
                        e
                    }
                })?;
            Ok(Generation {
                prompt,
                n,
                max_tokens,
                sampling: params.clone(),
                stop: stop.clone(),
                grammar: None,
                logprobs,
                ignore_eos: false,
                tenant: None,
                deterministic: false,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_names_the_numbers() {
        let err = budget(2000, Some(100), 2048).unwrap_err();
        assert_eq!(err.code, ErrorCode::ContextLengthExceeded);
        assert!(err.message.contains("2048") && err.message.contains("2100"));
        assert_eq!(budget(10, None, 100).unwrap(), 90);
        assert_eq!(
            budget(10, Some(0), 100).unwrap_err().param.as_deref(),
            Some("max_tokens")
        );
    }

    #[test]
    fn out_of_range_sampling_is_rejected_by_name() {
        let f = SamplingFields {
            temperature: Some(5.0),
            top_p: None,
            top_k: None,
            min_p: None,
            seed: None,
            presence_penalty: None,
            frequency_penalty: None,
            repetition_penalty: None,
            logit_bias: None,
            n: None,
            stop: None,
        };
        let err = sampling(&f, 100, 4).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("temperature"));
    }

    #[test]
    fn top_logprobs_needs_logprobs() {
        assert!(logprob_request(None, Some(3)).is_err());
        assert_eq!(logprob_request(Some(true), Some(3)).unwrap(), Some(3));
        assert!(logprob_request(Some(true), Some(21)).is_err());
    }
}
