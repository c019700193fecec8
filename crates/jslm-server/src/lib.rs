//! An OpenAI-compatible HTTP server over one loaded JSLM engine (`jslm serve`; the window's
//! "serve the loaded model" switch can share its engine and queue).
//!
//! ```text
//! client ──HTTP──▶ routes (guard: host, key, JSON, size; fields → 400; model → 404)
//!                   └─▶ gate (one engine, FIFO, bounded: 429 + Retry-After)
//!                        └─▶ generation (blocking thread: engine.generate_raw, stop strings,
//!                             cancel on disconnect) ──pieces──▶ whole JSON or SSE chunks
//! ```
//!
//! `/v1/completions` sends its `prompt` to the engine as it is; `/v1/chat/completions` builds
//! the model card's prompt from the messages by one documented rule ([`chat`]). Settings are
//! the engine's own, checked against its bounds ([`request`]). Safe by default ([`config`]):
//! loopback only, a key for anything else, no CORS, 1 MiB bodies.

pub mod chat;
pub mod config;
pub mod error;
pub mod gate;
pub mod generation;
pub mod model;
pub mod request;
pub mod response;
pub mod routes;
pub mod stop;

pub use config::{ApiKey, ServerConfig, DEFAULT_PORT};
pub use error::{ApiError, ServerError};
pub use gate::{Gate, DEFAULT_MAX_WAITING};
pub use model::{ServedModel, Stats};

use std::future::Future;
use std::net::SocketAddr;

/// A server bound to its address, not yet answering.
pub struct Server {
    listener: tokio::net::TcpListener,
    router: axum::Router,
    addr: SocketAddr,
    model: ServedModel,
}

impl Server {
    /// Checks `config` (an API key for a non-loopback address) and binds its address.
    pub async fn bind(model: ServedModel, config: &ServerConfig) -> Result<Self, ServerError> {
        config.check()?;
        let requested = config.addr();
        let listener = tokio::net::TcpListener::bind(requested)
            .await
            .map_err(|source| ServerError::Bind {
                addr: requested,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: requested,
            source,
        })?;
        Ok(Self {
            listener,
            router: routes::router(model.clone(), config),
            addr,
            model,
        })
    }

    /// The address it listens on (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL clients use (`http://127.0.0.1:8642/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Answers requests until `shutdown` completes. Then it closes the model, so that the
    /// generation in flight ends within a token (its client gets a 503 error) and those
    /// waiting get 503 at once, and returns when their connections have closed: Ctrl-C
    /// does not wait for a long answer, nor for the queue behind it.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let model = self.model;
        axum::serve(no_delay(self.listener), self.router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                model.close();
            })
            .await
            .map_err(ServerError::Serve)
    }
}

/// `listener`, setting `TCP_NODELAY` on each connection it accepts. A streamed answer is one
/// small write per token; with Nagle's algorithm a write waits for the ACK of the one before,
/// which the client's delayed ACK holds back (up to 200 ms on Windows and macOS), so tokens
/// would arrive in bursts.
fn no_delay(
    listener: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Io = tokio::net::TcpStream, Addr = SocketAddr> {
    use axum::serve::ListenerExt;
    listener.tap_io(|stream| {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("could not set TCP_NODELAY on a connection: {e}");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::serve::Listener;

    #[tokio::test]
    async fn accepted_connections_do_not_wait_to_send() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut listener = no_delay(listener);
        let (accepted, _client) =
            tokio::join!(listener.accept(), tokio::net::TcpStream::connect(addr));
        assert!(accepted.0.nodelay().unwrap());
    }
}
