//! Compiles the Tauri config, capabilities and icons into the binary. Declaring the app's
//! commands here makes Tauri generate one `allow-<command>` permission per command, so that
//! `capabilities/main.json` grants the window exactly these and nothing else. Also records the
//! commit the About line shows, the same way as `jslm --version` (`build_info.rs`).

include!("../crates/jslm-cli/build_info.rs");

/// Every `#[tauri::command]` of `src/commands/` (the names the webview invokes).
const COMMANDS: &[&str] = &[
    "generate",
    "stop_generation",
    "prefill_prompt",
    "load_model",
    "model_status",
    "hardware_report",
    "get_settings",
    "save_settings",
    "generation_schema",
    "list_history",
    "get_history_entry",
    "delete_history_entry",
    "list_models",
    "start_download",
    "pause_download",
    "cancel_download",
    "delete_model",
    "use_model",
    "token_status",
    "set_token",
    "clear_token",
    "open_model_page",
    "app_info",
    "inspect_model",
    "pick_model",
    "watch_drops",
    "found_models",
    "add_model_folder",
    "remove_model_folder",
    "serve_status",
    "start_serving",
    "stop_serving",
    "set_api_key",
    "clear_api_key",
];

fn main() {
    record_commit();
    let attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        // A build script reports by failing the build, with the reason.
        panic!("tauri-build failed: {e:#}");
    }
}
