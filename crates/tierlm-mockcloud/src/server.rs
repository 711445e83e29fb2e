//! The axum application: routes, shared state, and the steps every provider endpoint runs
//! before answering (record the request, check the key, apply latency, answer forced or
//! injected errors, read the JSON body).

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{json, Value};

use crate::answer::{respond, Answer, Prompt};
use crate::config::{Config, FixtureIndex};
use crate::faults::Faults;
use crate::record::Recorder;
use crate::stats::{Outcome, Stats};
use crate::text::{fnv64, mix};
use crate::tls::TlsListener;
use crate::{anthropic, gemini, openai};

/// State shared by every handler.
pub(crate) struct Shared {
    pub config: Config,
    pub fixtures: FixtureIndex,
    pub stats: Stats,
    recorder: Option<Recorder>,
    /// Provider requests received so far (seeds the error injection).
    counter: AtomicU64,
    /// Injected errors so far (picks the status in turn).
    error_turn: AtomicU64,
}

impl Shared {
    fn new(config: Config) -> io::Result<Self> {
        let recorder = match &config.record {
            Some(path) => Some(Recorder::open(path)?),
            None => None,
        };
        Ok(Self {
            fixtures: FixtureIndex::new(&config.fixtures),
            config,
            stats: Stats::default(),
            recorder,
            counter: AtomicU64::new(0),
            error_turn: AtomicU64::new(0),
        })
    }
}

pub(crate) type AppState = State<Arc<Shared>>;

/// The mock server's router. Opens the record file when the config names one.
pub fn app(config: Config) -> io::Result<Router> {
    Ok(router(Arc::new(Shared::new(config)?)))
}

/// Serves the mock on `listener` until `shutdown` completes, then flushes the record file.
pub async fn serve<F>(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    serve_with_tls(config, listener, None, shutdown).await
}

/// [`serve`], over TLS when `tls` is given (see [`crate::tls::server_config`]).
pub async fn serve_with_tls<F>(
    config: Config,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let shared = Arc::new(Shared::new(config)?);
    // Streams are many small writes: without TCP_NODELAY, Nagle and delayed ACKs add ~40 ms.
    let counted = shared.clone();
    let listener = listener.tap_io(move |tcp| {
        counted.stats.connection();
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {e}");
        }
    });
    let app = router(shared.clone());
    let result = match tls {
        Some(tls) => {
            let listener = TlsListener::new(listener, tls)?;
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    };
    if let Some(recorder) = shared.recorder.clone() {
        let _ = tokio::task::spawn_blocking(move || recorder.sync()).await;
    }
    result
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai::chat))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/models", get(models_list))
        .route("/v1/models/{*rest}", get(model_get).post(gemini::generate))
        .route("/v1beta/models", get(gemini::list))
        .route(
            "/v1beta/models/{*rest}",
            get(gemini::get).post(gemini::generate),
        )
        .route("/mock/stats", get(stats))
        .route("/mock/reset", post(reset))
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(64 << 20))
        .with_state(shared)
}

async fn stats(State(s): AppState) -> Json<Value> {
    Json(s.stats.json())
}

async fn reset(State(s): AppState) -> Json<Value> {
    s.stats.reset();
    s.counter.store(0, Relaxed);
    s.error_turn.store(0, Relaxed);
    Json(json!({"reset": true}))
}

async fn fallback(method: Method, uri: Uri) -> Response {
    let provider = if uri.path().starts_with("/v1beta") {
        Provider::Gemini
    } else {
        Provider::OpenAi
    };
    provider.error(
        404,
        &format!("mock: no route for {method} {}", uri.path()),
        0,
    )
}

/// OpenAI, Anthropic and Gemini (v1) share `GET /v1/models`; the key header tells them
/// apart (OpenAI when nothing else matches).
fn models_provider(uri: &Uri, headers: &HeaderMap) -> Provider {
    let query_key = uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("key=")));
    if headers.contains_key("anthropic-version") || headers.contains_key("x-api-key") {
        Provider::Anthropic
    } else if headers.contains_key("x-goog-api-key") || query_key {
        Provider::Gemini
    } else {
        Provider::OpenAi
    }
}

async fn models_list(State(s): AppState, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let provider = models_provider(&uri, &headers);
    listing(&s, provider, method, uri, headers, None).await
}

async fn model_get(
    State(s): AppState,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let provider = models_provider(&uri, &headers);
    listing(&s, provider, method, uri, headers, Some(&id)).await
}

/// Answers a model listing (`id: None`) or one model, in `provider`'s shape.
pub(crate) async fn listing(
    s: &Shared,
    provider: Provider,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    id: Option<&str>,
) -> Response {
    let req = Incoming {
        method,
        uri,
        headers,
        body: Bytes::new(),
    };
    if let Err(r) = admit(s, provider, &req, Admit::Listing).await {
        return r;
    }
    let id = id.map(|i| i.trim_start_matches('/'));
    let body = match (provider, id) {
        (Provider::OpenAi, None) => openai::models(),
        (Provider::OpenAi, Some(id)) => openai::model(id),
        (Provider::Anthropic, None) => anthropic::models(),
        (Provider::Anthropic, Some(id)) => anthropic::model(id),
        (Provider::Gemini, None) => gemini::models(),
        (Provider::Gemini, Some(id)) => gemini::model(id.strip_prefix("models/").unwrap_or(id)),
    };
    Json(body).into_response()
}

/// Which wire format a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Provider {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Provider {
    fn name(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
        }
    }

    /// A provider-shaped error response; 429s carry `Retry-After: retry_after`.
    pub(crate) fn error(self, status: u16, message: &str, retry_after: u64) -> Response {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = match self {
            Provider::OpenAi => openai::error_body(code.as_u16(), message),
            Provider::Anthropic => anthropic::error_body(code.as_u16(), message),
            Provider::Gemini => gemini::error_body(code.as_u16(), message),
        };
        let mut response = (code, Json(body)).into_response();
        if code == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }

    /// The API key the request carries, in this provider's place for it.
    fn key(self, req: &Incoming) -> Option<&str> {
        let h = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
        let bearer = || {
            h("authorization")
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(str::trim)
        };
        match self {
            Provider::OpenAi => bearer(),
            // Recent Anthropic SDKs send the key as a bearer token.
            Provider::Anthropic => h("x-api-key").or_else(bearer),
            Provider::Gemini => h("x-goog-api-key").or_else(|| {
                req.uri
                    .query()?
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("key="))
            }),
        }
    }
}

/// One received request.
pub(crate) struct Incoming {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What [`admit`] checks.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Admit<'a> {
    /// A generation request, counted in the stats; the model comes from the path
    /// (Gemini) or, when `None`, from the body's `model`.
    Generate(Option<&'a str>),
    /// A model listing: no body, not counted.
    Listing,
}

/// A request that passed [`admit`].
pub(crate) struct Admitted {
    pub body: Value,
    pub faults: Faults,
    /// The request number, for unique ids.
    pub number: u64,
}

/// Runs the steps shared by every provider endpoint, in order: record, API key (401),
/// `anthropic-version` (400), latency, forced status, injected error, JSON body (400).
/// Failed generation requests are counted in the stats.
pub(crate) async fn admit(
    s: &Shared,
    provider: Provider,
    req: &Incoming,
    kind: Admit<'_>,
) -> Result<Admitted, Response> {
    let parsed: Option<Value> = match kind {
        Admit::Generate(_) => serde_json::from_slice(&req.body).ok(),
        Admit::Listing => Some(Value::Null),
    };
    if let Some(recorder) = &s.recorder {
        recorder.record(
            req.method.as_str(),
            req.uri.path(),
            req.uri.query(),
            provider.name(),
            &req.body,
            parsed.is_some(),
        );
    }
    let number = s.counter.fetch_add(1, Relaxed);
    let faults = Faults::resolve(&s.config, &req.headers);
    let fail = |status: u16, message: &str| {
        if let Admit::Generate(path_model) = kind {
            let model = path_model.or_else(|| parsed.as_ref()?.get("model")?.as_str());
            s.stats.add(model, Outcome::Failed);
        }
        provider.error(status, message, faults.retry_after)
    };
    if let Some(required) = &s.config.require_key {
        match provider.key(req) {
            None => return Err(fail(401, "mock: missing API key")),
            Some(k) if k != required => return Err(fail(401, "mock: invalid API key")),
            Some(_) => {}
        }
    }
    if provider == Provider::Anthropic && !req.headers.contains_key("anthropic-version") {
        return Err(fail(400, "anthropic-version: header is required"));
    }
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    if let Some((status, message)) = faults.error(&s.config, number, &s.error_turn) {
        return Err(fail(status, &message));
    }
    let is_object = matches!(parsed, Some(Value::Object(_)));
    if matches!(kind, Admit::Generate(_)) && !is_object {
        return Err(fail(400, "mock: the request body is not a JSON object"));
    }
    let body = parsed.unwrap_or(Value::Null);
    Ok(Admitted {
        body,
        faults,
        number,
    })
}

/// Counts a request the provider parser rejected and answers 400.
/// A generation request admitted, parsed, answered and counted in the stats: what every
/// provider endpoint does before shaping its own reply.
pub(crate) struct Answered<T> {
    pub prompt: Prompt,
    /// What the provider's parser reads besides the prompt (stream flag, options).
    pub extra: T,
    pub answer: Answer,
    /// Deterministic per request body and request number; ids derive from it.
    pub seed: u64,
    pub faults: Faults,
}

/// Admit `req`, parse its body with the provider's `parse`, answer and count it. The
/// model comes from the path when given (Gemini), else from the body.
pub(crate) async fn answer_generation<T>(
    s: &Shared,
    provider: Provider,
    req: Incoming,
    path_model: Option<&str>,
    parse: impl FnOnce(&Value) -> Result<(Prompt, T), String>,
) -> Result<Answered<T>, Response> {
    let adm = admit(s, provider, &req, Admit::Generate(path_model)).await?;
    let (prompt, extra) = parse(&adm.body).map_err(|msg| {
        let model = path_model.or_else(|| adm.body.get("model").and_then(Value::as_str));
        reject(s, provider, model, &msg)
    })?;
    let answer = respond(&prompt, &s.fixtures);
    s.stats.add(
        Some(&prompt.model),
        Outcome::Answered {
            prompt: prompt.prompt_tokens,
            completion: answer.completion_tokens,
        },
    );
    Ok(Answered {
        seed: mix(fnv64(&req.body), adm.number),
        faults: adm.faults,
        prompt,
        extra,
        answer,
    })
}

pub(crate) fn reject(
    s: &Shared,
    provider: Provider,
    model: Option<&str>,
    message: &str,
) -> Response {
    s.stats.add(model, Outcome::Failed);
    provider.error(400, message, 0)
}
