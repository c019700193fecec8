//! The remote backend: when one computer is not enough, the model runs on a GPU server behind
//! an OpenAI-compatible API (`jslm serve`, vLLM, SGLang, TGI, llama.cpp's `llama-server`) and
//! the CLI (`jslm generate --remote URL`) sends it the model card's prompt, exactly, through
//! `/v1/completions`, streaming the answer back.
//!
//! Errors say what the user can act on ([`RemoteError`]): unreachable, TLS, 401, a refused host
//! name, unknown model, context too long, busy, or a server failure — mid-stream (or a server
//! gone silent) with the partial answer kept.

pub mod client;
pub mod error;
pub mod sse;

pub use client::{Remote, RemoteConfig, RemoteOutput, Timeouts};
pub use error::RemoteError;

/// The environment variable the CLI reads the remote server's API key from.
pub const API_KEY_ENV: &str = "JSLM_REMOTE_API_KEY";
