//! Turning [`ApiError`] into HTTP responses in the dialect's error shape (OpenAI's,
//! or Anthropic's under `/v1/messages`), and the fallbacks that keep even unknown
//! paths and wrong methods in that shape.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tierlm_api::{ApiError, ErrorCode};

/// An [`ApiError`] as an axum response.
#[derive(Debug)]
pub struct HttpError(pub ApiError);

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

/// The API dialect a path speaks; it decides the shape of errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    OpenAi,
    Anthropic,
}

impl Dialect {
    pub fn of_path(path: &str) -> Self {
        if path == "/v1/messages" || path.starts_with("/v1/messages/") {
            Dialect::Anthropic
        } else {
            Dialect::OpenAi
        }
    }

    /// `err` as a response in this dialect's shape; `request_id` goes into an
    /// Anthropic error body.
    pub fn error(self, err: ApiError, request_id: Option<&str>) -> Response {
        match self {
            Dialect::OpenAi => HttpError(err).into_response(),
            Dialect::Anthropic => {
                let body = tierlm_api::anthropic::error_body(&err, request_id);
                with_status(&err, body)
            }
        }
    }
}

/// A JSON error body with the error's status (and `Retry-After` when overloaded).
fn with_status(err: &ApiError, body: String) -> Response {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if err.code == ErrorCode::Overloaded {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        with_status(&self.0, self.0.to_json())
    }
}

pub async fn not_found(uri: axum::http::Uri) -> Response {
    Dialect::of_path(uri.path()).error(
        ApiError::new(
            ErrorCode::NotFound,
            format!(
                "no route for `{}`; see /v1/models and the API reference",
                uri.path()
            ),
        ),
        None,
    )
}

pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    Dialect::of_path(uri.path()).error(
        ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("`{}` does not accept {method}", uri.path()),
        ),
        None,
    )
}
