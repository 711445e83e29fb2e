//! A JSON body extractor whose every failure is an OpenAI-shaped error.
//!
//! It rejects bodies over the configured limit from `Content-Length` before reading
//! them (413), then while reading; parses with `serde_path_to_error` so a type error
//! names the parameter path (`messages[0].role`), and reports unknown fields as
//! `unknown_parameter`.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;
use tierlm_api::{ApiError, ErrorCode};

use crate::error::HttpError;
use tierlm_gateway::Gateway;

pub struct OpenAiJson<T>(pub T);

fn too_large(limit: usize) -> HttpError {
    HttpError(ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the request body exceeds the limit of {limit} bytes (`server.max_body_bytes`)"),
    ))
}

impl<T: DeserializeOwned> FromRequest<Gateway> for OpenAiJson<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &Gateway) -> Result<Self, Self::Rejection> {
        let limit = state.max_body_bytes();
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large(limit));
        }
        let body = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| too_large(limit))?;
        parse_json(&body).map(OpenAiJson).map_err(HttpError)
    }
}

/// Parse a JSON body into `T`, mapping every failure to an [`ApiError`].
pub fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize(de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let msg = inner.to_string();
            let param = (path != "." && !path.is_empty()).then_some(path);
            let err = match inner.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    ApiError::new(
                        ErrorCode::InvalidJson,
                        format!("the request body is not valid JSON: {msg}"),
                    )
                }
                serde_json::error::Category::Io => ApiError::new(ErrorCode::InvalidJson, msg),
                serde_json::error::Category::Data if msg.starts_with("unknown field") => {
                    let field = msg.split('`').nth(1).unwrap_or_default().to_string();
                    let mut e = ApiError::new(
                        ErrorCode::UnknownParameter,
                        format!("unrecognised request argument: {msg}"),
                    );
                    if !field.is_empty() {
                        e = e.with_param(field);
                    }
                    return Err(e);
                }
                serde_json::error::Category::Data => {
                    let at = param
                        .as_deref()
                        .map(|p| format!(" at `{p}`"))
                        .unwrap_or_default();
                    ApiError::new(
                        ErrorCode::InvalidParameter,
                        format!("invalid request{at}: {msg}"),
                    )
                }
            };
            Err(match param {
                Some(p) => err.with_param(p),
                None => err,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierlm_api::chat::ChatCompletionRequest;

    #[test]
    fn type_errors_name_the_path() {
        let body = Bytes::from_static(br#"{"model":"m","messages":"hi"}"#);
        let err = parse_json::<ChatCompletionRequest>(&body).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParameter);
        assert_eq!(err.param.as_deref(), Some("messages"));
    }

    #[test]
    fn syntax_errors_are_invalid_json() {
        let err = parse_json::<ChatCompletionRequest>(&Bytes::from_static(b"{nope")).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidJson);
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn unknown_fields_are_named() {
        let body = Bytes::from_static(br#"{"model":"m","messages":[],"temprature":1}"#);
        let err = parse_json::<ChatCompletionRequest>(&body).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownParameter);
        assert_eq!(err.param.as_deref(), Some("temprature"));
    }
}
