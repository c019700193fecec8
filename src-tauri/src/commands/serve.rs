//! The serve panel's commands: `serve_status`, `start_serving`, `stop_serving`, and the two
//! API keys (`set_api_key`, `clear_api_key`; the webview learns only whether each is set).
//! Serving itself is [`crate::serving`]; the keys are [`crate::keys`].

use crate::error::{AppError, AppResult};
use crate::keys::{KeyKind, KeyStatus};
use crate::serving::ServeStatus;
use crate::settings::ServeSettings;
use crate::state::AppState;
use jslm_engine::EngineError;
use jslm_server::ServerConfig;
use serde::Serialize;
use std::net::IpAddr;
use tauri::State;

/// The panel's whole state: serving or not, the URL, the keys set, the saved address.
#[derive(Debug, Serialize)]
pub struct ServePanel {
    #[serde(flatten)]
    pub status: ServeStatus,
    pub keys: KeyStatus,
    /// The address the switch uses (remembered; defaults 127.0.0.1:8642).
    pub host: String,
    pub port: u16,
}

async fn panel(state: &AppState) -> AppResult<ServePanel> {
    let saved = state.settings.get().serve;
    Ok(ServePanel {
        status: state.serving.status().await,
        keys: state.keys.status()?,
        host: saved.host.to_string(),
        port: saved.port,
    })
}

#[tauri::command]
pub async fn serve_status(state: State<'_, AppState>) -> AppResult<ServePanel> {
    panel(&state).await
}

/// Serves the loaded model on `host:port` (remembered for next time). A non-loopback `host`
/// needs the server key to be set (`api_key_required`); a taken port is `bind_failed` with
/// `reason: "in_use"`.
#[tauri::command]
pub async fn start_serving(
    state: State<'_, AppState>,
    host: String,
    port: u16,
) -> AppResult<ServePanel> {
    let host: IpAddr = host.trim().parse().map_err(|_| {
        AppError::from(EngineError::InvalidSetting {
            field: "serve_host",
            message: format!("must be an IP address such as 127.0.0.1 or 0.0.0.0. Given: {host:?}"),
        })
    })?;
    if let Err(e) = state
        .settings
        .update(|s| s.serve = ServeSettings { host, port })
    {
        eprintln!("jslm-desktop: could not save the serve settings: {e}");
    }
    let model = state.host.ready_model().ok_or(AppError::NothingToServe)?;
    let config = ServerConfig {
        host,
        port,
        api_key: state.keys.server_key()?,
        ..ServerConfig::default()
    };
    state.serving.start(model, config).await?;
    panel(&state).await
}

#[tauri::command]
pub async fn stop_serving(state: State<'_, AppState>) -> AppResult<ServePanel> {
    state.serving.stop().await;
    panel(&state).await
}

/// Stores a key (checked: printable ASCII without spaces). A new server key takes effect at
/// once: a running server restarts with it.
#[tauri::command]
pub async fn set_api_key(
    state: State<'_, AppState>,
    which: KeyKind,
    key: String,
) -> AppResult<ServePanel> {
    state.keys.set(which, &key)?;
    if which == KeyKind::Server {
        restart_with_key(&state).await?;
    }
    panel(&state).await
}

/// Deletes a key. Clearing the server key while serving on a non-loopback address turns
/// serving off (`api_key_required`): the server is never left open without it.
#[tauri::command]
pub async fn clear_api_key(state: State<'_, AppState>, which: KeyKind) -> AppResult<ServePanel> {
    state.keys.clear(which)?;
    if which == KeyKind::Server {
        restart_with_key(&state).await?;
    }
    panel(&state).await
}

async fn restart_with_key(state: &AppState) -> AppResult<()> {
    let Some(mut config) = state.serving.config().await else {
        return Ok(());
    };
    config.api_key = state.keys.server_key()?;
    let Some(model) = state.host.ready_model() else {
        return Ok(());
    };
    if let Err(e) = state.serving.start(model, config).await {
        // `start` stopped the old server before refusing: report it off, with why.
        state.serving.stop().await;
        return Err(e);
    }
    Ok(())
}
