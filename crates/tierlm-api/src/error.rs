//! The one error type of tierlm and its table of codes.
//!
//! Every failure a client can see is an [`ApiError`]: a [`ErrorCode`] (machine name,
//! OpenAI `type`, HTTP status), a message that names the offending thing, and the
//! request parameter it concerns. It serialises to OpenAI's
//! `{"error":{"message","type","param","code"}}` shape, for JSON bodies and SSE events
//! alike. The status map is an exhaustive `match`, so a new code forces a decision.

use serde::Serialize;
use std::fmt;

/// Machine-readable error codes. Each maps to exactly one HTTP status and OpenAI type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The body is not valid JSON.
    InvalidJson,
    /// A parameter has the wrong type, is missing, or is out of range.
    InvalidParameter,
    /// A field the API does not know.
    UnknownParameter,
    /// A parameter value the API knows but this server does not support.
    UnsupportedParameter,
    /// The prompt (plus `max_tokens`) does not fit the model's context.
    ContextLengthExceeded,
    /// The `response_format` JSON schema cannot be compiled.
    InvalidJsonSchema,
    /// The named model is not served here.
    ModelNotFound,
    /// The body is larger than the configured limit.
    PayloadTooLarge,
    /// The path does not exist.
    NotFound,
    /// The path exists but not with this method.
    MethodNotAllowed,
    /// The request queue is full; retry later.
    Overloaded,
    /// The model is still loading.
    NotReady,
    /// A bug or an unexpected engine failure.
    Internal,
    /// A cloud provider rejected the request as invalid (its message is passed on).
    ProviderRejected,
    /// A cloud provider refused our credentials (the key is never echoed).
    ProviderAuth,
    /// A cloud provider failed (5xx, bad response) after retries and fallbacks.
    ProviderError,
    /// Every target of a cloud model is unavailable (circuit open, unreachable).
    ProviderUnavailable,
    /// A cloud provider did not answer in time.
    ProviderTimeout,
    /// Every target of a cloud model is rate limited.
    ProviderRateLimited,
    /// A configured policy (routing rule, data policy) refuses this request.
    PolicyRefused,
    /// No virtual key, or an unknown or revoked one.
    InvalidApiKey,
    /// The key may not use this model.
    ModelNotAllowed,
    /// The key's requests- or tokens-per-minute limit is reached.
    RateLimited,
    /// The key's budget for the period is spent.
    BudgetExceeded,
}

impl ErrorCode {
    /// The stable machine name, sent as `error.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidParameter => "invalid_parameter",
            ErrorCode::UnknownParameter => "unknown_parameter",
            ErrorCode::UnsupportedParameter => "unsupported_parameter",
            ErrorCode::ContextLengthExceeded => "context_length_exceeded",
            ErrorCode::InvalidJsonSchema => "invalid_json_schema",
            ErrorCode::ModelNotFound => "model_not_found",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::NotReady => "not_ready",
            ErrorCode::Internal => "internal_error",
            ErrorCode::ProviderRejected => "provider_rejected_request",
            ErrorCode::ProviderAuth => "provider_auth_failed",
            ErrorCode::ProviderError => "provider_error",
            ErrorCode::ProviderUnavailable => "provider_unavailable",
            ErrorCode::ProviderTimeout => "provider_timeout",
            ErrorCode::ProviderRateLimited => "provider_rate_limited",
            ErrorCode::PolicyRefused => "refused_by_policy",
            ErrorCode::InvalidApiKey => "invalid_api_key",
            ErrorCode::ModelNotAllowed => "model_not_allowed",
            ErrorCode::RateLimited => "rate_limit_exceeded",
            ErrorCode::BudgetExceeded => "budget_exceeded",
        }
    }

    /// The OpenAI `error.type`.
    pub fn openai_type(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson
            | ErrorCode::InvalidParameter
            | ErrorCode::UnknownParameter
            | ErrorCode::UnsupportedParameter
            | ErrorCode::ContextLengthExceeded
            | ErrorCode::InvalidJsonSchema
            | ErrorCode::ModelNotFound
            | ErrorCode::PayloadTooLarge
            | ErrorCode::NotFound
            | ErrorCode::MethodNotAllowed
            | ErrorCode::ProviderRejected => "invalid_request_error",
            ErrorCode::Overloaded | ErrorCode::ProviderRateLimited => "rate_limit_error",
            ErrorCode::ProviderAuth | ErrorCode::ProviderError | ErrorCode::ProviderTimeout => {
                "api_error"
            }
            ErrorCode::ProviderUnavailable => "service_unavailable_error",
            ErrorCode::NotReady => "service_unavailable_error",
            ErrorCode::Internal => "server_error",
            ErrorCode::PolicyRefused | ErrorCode::ModelNotAllowed => "permission_error",
            ErrorCode::InvalidApiKey => "invalid_request_error",
            ErrorCode::RateLimited => "rate_limit_error",
            ErrorCode::BudgetExceeded => "insufficient_quota",
        }
    }

    /// The HTTP status.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidJson
            | ErrorCode::InvalidParameter
            | ErrorCode::UnknownParameter
            | ErrorCode::UnsupportedParameter
            | ErrorCode::ContextLengthExceeded
            | ErrorCode::InvalidJsonSchema
            | ErrorCode::ProviderRejected => 400,
            ErrorCode::ModelNotFound | ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::Overloaded | ErrorCode::ProviderRateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::ProviderAuth | ErrorCode::ProviderError => 502,
            ErrorCode::NotReady | ErrorCode::ProviderUnavailable => 503,
            ErrorCode::ProviderTimeout => 504,
            ErrorCode::PolicyRefused | ErrorCode::ModelNotAllowed => 403,
            ErrorCode::InvalidApiKey => 401,
            ErrorCode::RateLimited | ErrorCode::BudgetExceeded => 429,
        }
    }
}

/// A client-visible error.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub param: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            param: None,
        }
    }

    /// Attach the request parameter the error concerns.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// An out-of-range or ill-typed parameter.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameter, message).with_param(param)
    }

    /// A parameter value this server does not support.
    pub fn unsupported(param: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnsupportedParameter, message).with_param(param)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    pub fn status(&self) -> u16 {
        self.code.http_status()
    }

    /// The OpenAI-shaped body.
    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: ErrorDetail {
                message: &self.message,
                kind: self.code.openai_type(),
                param: self.param.as_deref(),
                code: self.code.as_str(),
            },
        }
    }

    /// The body serialised as JSON text.
    pub fn to_json(&self) -> String {
        // Serialising plain strings cannot fail; fall back to a fixed body regardless.
        serde_json::to_string(&self.body()).unwrap_or_else(|_| {
            r#"{"error":{"message":"internal error","type":"server_error","param":null,"code":"internal_error"}}"#
                .to_string()
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Serialize)]
pub struct ErrorDetail<'a> {
    pub message: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub param: Option<&'a str>,
    pub code: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_in_openai_shape() {
        let err = ApiError::invalid("max_tokens", "`max_tokens` must be at least 1, got 0");
        let v: serde_json::Value = serde_json::from_str(&err.to_json()).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"], "max_tokens");
        assert_eq!(v["error"]["code"], "invalid_parameter");
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn statuses_are_client_or_server_errors() {
        use ErrorCode::*;
        for code in [
            InvalidJson,
            InvalidParameter,
            UnknownParameter,
            UnsupportedParameter,
            ContextLengthExceeded,
            InvalidJsonSchema,
            ModelNotFound,
            PayloadTooLarge,
            NotFound,
            MethodNotAllowed,
            Overloaded,
            NotReady,
            Internal,
            ProviderRejected,
            ProviderAuth,
            ProviderError,
            ProviderUnavailable,
            ProviderTimeout,
            ProviderRateLimited,
            PolicyRefused,
            InvalidApiKey,
            ModelNotAllowed,
            RateLimited,
            BudgetExceeded,
        ] {
            assert!((400..600).contains(&code.http_status()), "{code:?}");
            assert!(!code.as_str().is_empty());
        }
    }
}
