//! JSLM Desktop: a thin Tauri 2 shell over `jslm-engine`.
//!
//! The webview (`ui/`, plain HTML/CSS/JS) calls the commands in [`commands`]; generation and
//! loading run on blocking threads and stream typed events through one `tauri::ipc::Channel`
//! per call. State lives in [`state::AppState`]; errors are [`error::AppError`] with stable
//! codes the UI translates.

pub mod commands;
pub mod drops;
pub mod error;
pub mod fingerprint;
pub mod found;
pub mod generation;
pub mod history;
pub mod host;
pub mod hub;
pub mod json_file;
pub mod keys;
pub mod launch;
pub mod loading;
pub mod model_rows;
pub mod model_summary;
pub mod prefill;
pub mod remote_run;
pub mod serving;
pub mod settings;
pub mod single_instance;
pub mod state;
pub mod window;

#[cfg(all(test, feature = "test"))]
mod command_tests;
#[cfg(all(test, feature = "test"))]
mod command_tests_hub;
#[cfg(all(test, feature = "test"))]
mod command_tests_serve;

use hub::HubState;
use launch::LaunchOptions;
use state::{AppPaths, AppState};
use tauri::{AppHandle, Builder, Manager, Runtime};

/// Starts the app (the binary's `main`).
pub fn run() {
    let launch = LaunchOptions::from_process();
    let context = context();
    let identifier = context.config().identifier.clone();
    let data_dir = single_instance::data_dir(&launch, &identifier);
    // First: a second launch of the same app hands over to the running one and ends here.
    let mut builder = Builder::default();
    if single_instance::guards(&launch) {
        builder = builder.plugin(single_instance::plugin(&identifier, data_dir.as_deref()));
    }
    let app = match configure(builder, launch).build(context) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("jslm-desktop: cannot start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|handle, event| {
        if let tauri::RunEvent::ExitRequested { .. } = event {
            // The window is gone: from here on a new launch must start its own window, not be
            // handed to this one while it finishes exiting (it would show nothing and end).
            tauri_plugin_single_instance::destroy(handle);
            if let Some(state) = handle.try_state::<AppState>() {
                state.host.stop();
                state.serving.close_now();
                // Partial files stay; the next start resumes from them.
                state.hub.stop_all();
            }
        }
    });
}

/// The compiled `tauri.conf.json`, capabilities and `ui/` assets, for any runtime (the real
/// one, or the mock runtime in command tests).
pub fn context<R: Runtime>() -> tauri::Context<R> {
    tauri::generate_context!()
}

/// Registers the commands, the state and the window handling on `builder`.
pub fn configure<R: Runtime>(builder: Builder<R>, launch: LaunchOptions) -> Builder<R> {
    builder
        // Used from Rust only (`open_model_page`); the webview is granted none of its commands.
        .plugin(tauri_plugin_opener::init())
        // Used from Rust only (`pick_model`, `add_model_folder`); no dialog permission is granted.
        .plugin(tauri_plugin_dialog::init())
        .invoke_handler(tauri::generate_handler![
            commands::generate::generate,
            commands::generate::stop_generation,
            commands::generate::prefill_prompt,
            commands::model::load_model,
            commands::model::model_status,
            commands::model::hardware_report,
            commands::settings::get_settings,
            commands::settings::save_settings,
            commands::settings::generation_schema,
            commands::history::list_history,
            commands::history::get_history_entry,
            commands::history::delete_history_entry,
            commands::models::list_models,
            commands::models::start_download,
            commands::models::pause_download,
            commands::models::cancel_download,
            commands::models::delete_model,
            commands::models::use_model,
            commands::models::token_status,
            commands::models::set_token,
            commands::models::clear_token,
            commands::models::open_model_page,
            commands::about::app_info,
            commands::files::inspect_model,
            commands::files::pick_model,
            commands::files::watch_drops,
            commands::files::found_models,
            commands::files::add_model_folder,
            commands::files::remove_model_folder,
            commands::serve::serve_status,
            commands::serve::start_serving,
            commands::serve::stop_serving,
            commands::serve::set_api_key,
            commands::serve::clear_api_key,
        ])
        .setup(move |app| init(app.handle(), &launch))
        .on_window_event(window::on_event)
}

/// What runs once the event loop is up: opens the app's files, manages the state and creates
/// the main window. Separate from `configure` so command tests can call it on a mock app.
pub fn init<R: Runtime>(
    app: &AppHandle<R>,
    launch: &LaunchOptions,
) -> Result<(), Box<dyn std::error::Error>> {
    init_with(app, launch, HubState::from_env())
}

/// `init` with a given hub configuration (tests point it at a local test hub).
pub fn init_with<R: Runtime>(
    app: &AppHandle<R>,
    launch: &LaunchOptions,
    hub: HubState,
) -> Result<(), Box<dyn std::error::Error>> {
    let paths = app_paths(app, launch)?;
    app.manage(AppState::open(paths, launch, hub));
    window::create_main(app)?;
    Ok(())
}

fn app_paths<R: Runtime>(app: &AppHandle<R>, launch: &LaunchOptions) -> tauri::Result<AppPaths> {
    let data_dir = match &launch.data_dir {
        Some(dir) => dir.clone(),
        None => app.path().app_data_dir()?,
    };
    // The CLI's cache (`JSLM_CACHE_DIR` or `<cache>/jslm`), so quantized models are shared.
    let cache = match &launch.cache_dir {
        Some(dir) => dir.clone(),
        None => app.path().cache_dir()?.join("jslm"),
    };
    Ok(AppPaths {
        data_dir,
        quantized_dir: cache.join("quantized"),
    })
}
