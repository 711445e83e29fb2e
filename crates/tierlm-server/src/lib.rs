//! The tierlm HTTP server: the API dialects over the gateway core, and nothing else —
//! routes, extractors, auth headers, JSON and SSE writers, error mapping, `/metrics`.
//!
//! [`serve`] binds the listener first (so `/health` answers while models load), loads
//! the configured models off the async runtime, flips `/ready`, and shuts down
//! gracefully on SIGINT/SIGTERM: in-flight requests finish, then the gateway's tracked
//! background writes drain and queued trace spans are sent.

pub mod admin;
pub mod app;
pub mod auth;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod sse;
mod timer_anchor;
pub mod usage;

pub use app::app;
use tierlm_gateway::load::load_models;
pub use tierlm_gateway::{config, Config, Gateway};

use std::future::Future;

/// How long shutdown waits for background writes (ledger rows, audit, capture, spans)
/// once the last request has finished.
const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serve until `shutdown` resolves. `on_listen` receives the bound address.
pub async fn serve<F>(
    config: Config,
    on_listen: impl FnOnce(std::net::SocketAddr),
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind((config.host, config.port)).await?;
    let addr = listener.local_addr()?;
    let state = Gateway::new(config);
    state.start_telemetry().map_err(std::io::Error::other)?;
    on_listen(addr);
    let loader_state = state.clone();
    let loader = state
        .tasks()
        .spawn_blocking(move || match load_models(&loader_state) {
            Ok(reg) => {
                loader_state.install(reg);
                tracing::info!("all models loaded; ready");
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "model loading failed");
                loader_state.fail(e);
                false
            }
        });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let anchor = timer_anchor::spawn(state.tasks());
    let telemetry = state.clone();
    // Streams are many small writes: without TCP_NODELAY, Nagle's algorithm and the
    // client's delayed ACKs hold the tail of a stream back by ~40 ms.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {e}");
        }
    });
    let server = axum::serve(listener, app(state)).with_graceful_shutdown(async move {
        tokio::select! {
            _ = shutdown => {}
            _ = stop_rx => {}
        }
    });
    let watch_loader = async move {
        // A failed load is fatal: the process exits non-zero instead of serving nothing.
        if let Ok(false) = loader.await {
            let _ = stop_tx.send(());
            return Err(std::io::Error::other("model loading failed"));
        }
        std::future::pending::<std::io::Result<()>>().await
    };
    let result = tokio::select! {
        r = server => r,
        r = watch_loader => r,
    };
    anchor.abort();
    // In-flight requests have finished: wait for their background writes, then send
    // their spans before exiting.
    telemetry.tasks().drain(DRAIN_LIMIT).await;
    telemetry
        .flush_telemetry(std::time::Duration::from_secs(3))
        .await;
    result
}
