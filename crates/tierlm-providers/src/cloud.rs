//! A cloud model: an ordered list of provider targets behind one public name.
//!
//! A call tries each target in order. Transient failures (429, 5xx, connection,
//! timeout) are retried on the same target with backoff; when its retries are spent,
//! or its breaker is open, or it refuses our credentials, the next target is tried. A
//! request the provider rejects as invalid (4xx) goes back to the client at once, with
//! the provider's message: another target would reject it too. When everything
//! fails, the error names each target and what went wrong with it.

use std::sync::Arc;
use std::time::Instant as StdInstant;

use tierlm_api::chat::{ChatCompletion, ChatCompletionRequest};
use tierlm_api::{ApiError, ErrorCode};

use crate::client::{ChunkStream, Provider, ProviderError};
use crate::egress::EgressNotes;
use crate::reliability::jitter;

#[derive(Clone)]
pub struct Target {
    pub provider: Arc<Provider>,
    /// The provider's own model id.
    pub model: String,
}

impl Target {
    pub fn label(&self) -> String {
        format!("{}/{}", self.provider.name(), self.model)
    }
}

#[derive(Clone)]
pub struct CloudModel {
    pub name: String,
    pub targets: Vec<Target>,
}

/// Which target answered, and after how many failed attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub provider: String,
    pub model: String,
    pub failed_attempts: u32,
}

enum Outcome<T> {
    Done(T),
    /// Give up on every target (the request itself is wrong).
    Fatal(ApiError),
}

impl CloudModel {
    async fn run<T, F, Fut>(&self, mut call: F) -> Result<(T, Served), ApiError>
    where
        F: FnMut(Target) -> Fut,
        Fut: std::future::Future<Output = Result<T, ProviderError>>,
    {
        let mut failures: Vec<(String, ProviderError)> = Vec::new();
        let mut attempts = 0u32;
        for target in &self.targets {
            let provider = &target.provider;
            let policy = provider.settings.retry;
            let mut attempt = 0u32;
            loop {
                if !provider.breaker.allow(StdInstant::now()) {
                    failures.push((target.label(), ProviderError::CircuitOpen));
                    break;
                }
                let result = call(target.clone()).await;
                match classify(result) {
                    Ok(Outcome::Done(v)) => {
                        provider.breaker.success();
                        return Ok((
                            v,
                            Served {
                                provider: provider.name().to_string(),
                                model: target.model.clone(),
                                failed_attempts: attempts,
                            },
                        ));
                    }
                    Ok(Outcome::Fatal(e)) => {
                        provider.breaker.success();
                        return Err(e);
                    }
                    Err(err) => {
                        attempts += 1;
                        if err.is_outage() {
                            provider.breaker.failure(StdInstant::now());
                        }
                        tracing::warn!(target = %target.label(), attempt, error = %err, "cloud call failed");
                        let retry_after = match &err {
                            ProviderError::RateLimited { retry_after, .. } => *retry_after,
                            _ => None,
                        };
                        let wait = if err.retryable() && attempt < policy.max_retries {
                            policy.delay(attempt, retry_after, jitter())
                        } else {
                            None
                        };
                        failures.push((target.label(), err));
                        match wait {
                            Some(d) => {
                                tokio::time::sleep(d).await;
                                attempt += 1;
                            }
                            None => break,
                        }
                    }
                }
            }
        }
        Err(summarise(&self.name, &failures))
    }

    /// A whole answer.
    /// `notes` receives every upstream attempt (for the egress audit).
    pub async fn chat(
        &self,
        req: &ChatCompletionRequest,
        notes: &EgressNotes,
    ) -> Result<(ChatCompletion, Served), ApiError> {
        let name = self.name.clone();
        self.run(|t| {
            let name = name.clone();
            async move { t.provider.chat_once(req, &t.model, &name, notes).await }
        })
        .await
    }

    /// A stream that has already produced its first chunk.
    pub async fn chat_stream(
        &self,
        req: &ChatCompletionRequest,
        id: &str,
        created: u64,
        notes: &EgressNotes,
    ) -> Result<(ChunkStream, Served), ApiError> {
        let name = self.name.clone();
        self.run(|t| {
            let (name, id) = (name.clone(), id.to_string());
            async move {
                t.provider
                    .stream_once(req, &t.model, &name, id, created, notes)
                    .await
            }
        })
        .await
    }
}

fn classify<T>(r: Result<T, ProviderError>) -> Result<Outcome<T>, ProviderError> {
    match r {
        Ok(v) => Ok(Outcome::Done(v)),
        Err(ProviderError::Rejected { status, message }) => Ok(Outcome::Fatal(ApiError::new(
            ErrorCode::ProviderRejected,
            format!("the provider rejected the request ({status}): {message}"),
        ))),
        // Nothing left: no other target may be tried either.
        Err(ProviderError::NotSent(m)) => Ok(Outcome::Fatal(ApiError::internal(format!(
            "the request was not sent to any provider: {m}"
        )))),
        Err(e) => Err(e),
    }
}

/// One error that says what failed where; the most telling kind decides the status.
fn summarise(model: &str, failures: &[(String, ProviderError)]) -> ApiError {
    if failures.is_empty() {
        return ApiError::new(
            ErrorCode::ProviderUnavailable,
            format!("cloud model `{model}` has no targets"),
        );
    }
    let all = |f: fn(&ProviderError) -> bool| failures.iter().all(|(_, e)| f(e));
    let code = if all(|e| matches!(e, ProviderError::RateLimited { .. })) {
        ErrorCode::ProviderRateLimited
    } else if all(|e| matches!(e, ProviderError::CircuitOpen | ProviderError::Connect(_))) {
        ErrorCode::ProviderUnavailable
    } else if all(|e| matches!(e, ProviderError::Timeout(_))) {
        ErrorCode::ProviderTimeout
    } else if all(|e| matches!(e, ProviderError::Auth { .. })) {
        ErrorCode::ProviderAuth
    } else {
        ErrorCode::ProviderError
    };
    // Keep the last failure per target, in order.
    let mut seen: Vec<(&str, &ProviderError)> = Vec::new();
    for (label, err) in failures {
        match seen.iter_mut().find(|(l, _)| *l == label.as_str()) {
            Some(slot) => slot.1 = err,
            None => seen.push((label.as_str(), err)),
        }
    }
    let detail: Vec<String> = seen.iter().map(|(l, e)| format!("{l} {e}")).collect();
    ApiError::new(
        code,
        format!(
            "cloud model `{model}` failed after {} attempt(s): {}",
            failures.len(),
            detail.join("; ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_each_target_once() {
        let f = vec![
            (
                "a/m".to_string(),
                ProviderError::Server {
                    status: 500,
                    message: "boom".into(),
                },
            ),
            (
                "a/m".to_string(),
                ProviderError::Server {
                    status: 503,
                    message: "down".into(),
                },
            ),
            ("b/m".to_string(), ProviderError::Connect("refused".into())),
        ];
        let e = summarise("m", &f);
        assert_eq!(e.code, ErrorCode::ProviderError);
        assert_eq!(e.status(), 502);
        assert!(
            e.message.contains("a/m failed (503): down"),
            "{}",
            e.message
        );
        assert!(e.message.contains("b/m unreachable: refused"));
        assert!(e.message.contains("3 attempt"));
    }

    #[test]
    fn all_rate_limited_is_429_and_all_open_is_503() {
        let rl = vec![(
            "a/m".to_string(),
            ProviderError::RateLimited {
                retry_after: None,
                message: String::new(),
            },
        )];
        assert_eq!(summarise("m", &rl).status(), 429);
        let open = vec![("a/m".to_string(), ProviderError::CircuitOpen)];
        assert_eq!(summarise("m", &open).status(), 503);
        let auth = vec![("a/m".to_string(), ProviderError::Auth { status: 401 })];
        let e = summarise("m", &auth);
        assert_eq!(e.status(), 502);
        assert!(!e.message.contains("sk-"));
    }
}
