//! One window per data folder. Opening the app again (a second click on its icon, "Open with"
//! on a `.gguf`) brings the running window to the front instead of starting a second process
//! that would load another copy of the model (4–15 GB more memory) and write the same
//! settings and history files. A `--model PATH` given to the second launch reaches the running
//! window as if the file had been dropped on it: its plan is shown, nothing is loaded.
//!
//! Tauri's single-instance plugin does the finding and forwarding (on Linux over the D-Bus
//! session bus; without one, each launch simply runs on its own, as before). Launches with
//! different data folders (`--data-dir`, `JSLM_DATA_DIR`) are different apps: on Linux the
//! name it registers is made from the data folder; on Windows and macOS the plugin knows only
//! the app's identifier, so there a launch with a data folder of its own is not guarded (it
//! would otherwise be handed to the window of another folder and never open).

use crate::launch::LaunchOptions;
use crate::state::AppState;
use crate::window::MAIN;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tauri::{AppHandle, DragDropEvent, Manager, PhysicalPosition, Runtime};

/// Whether a launch is guarded: always on Linux (one guard per data folder), elsewhere only
/// with the default data folder.
pub fn guards(launch: &LaunchOptions) -> bool {
    cfg!(target_os = "linux") || launch.data_dir.is_none()
}

/// The plugin, registered before every other plugin so that a second launch ends before it
/// opens anything.
pub fn plugin<R: Runtime>(
    identifier: &str,
    data_dir: Option<&Path>,
) -> tauri::plugin::TauriPlugin<R> {
    tauri_plugin_single_instance::Builder::new()
        .dbus_id(bus_id(identifier, data_dir))
        .callback(|app, argv, cwd| opened_again(app, &argv, Path::new(&cwd)))
        .build()
}

/// The app's data folder as the running app will use it: `--data-dir`/`JSLM_DATA_DIR`, else
/// the platform's (Tauri's `app_data_dir`: `<data dir>/<identifier>`).
pub fn data_dir(launch: &LaunchOptions, identifier: &str) -> Option<PathBuf> {
    match &launch.data_dir {
        Some(dir) => Some(absolute(dir, &std::env::current_dir().ok()?)),
        None => dirs::data_dir().map(|d| d.join(identifier)),
    }
}

/// The bus name's base: the identifier and a digest of the data folder (bus name elements
/// allow only `[A-Za-z0-9_-]` and must not start with a digit).
pub fn bus_id(identifier: &str, data_dir: Option<&Path>) -> String {
    let Some(dir) = data_dir else {
        return identifier.to_string();
    };
    // The same folder by another spelling (a symlink, `..`) is the same app.
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let digest = Sha256::digest(dir.as_os_str().as_encoded_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{identifier}.d{hex}")
}

/// In the running app: a second launch was made and has ended. Brings the window to the
/// front and shows the model it was asked to open.
fn opened_again<R: Runtime>(app: &AppHandle<R>, argv: &[String], cwd: &Path) {
    if let Some(window) = app.get_webview_window(MAIN) {
        // Each can fail on a window manager that refuses; the launch itself did its part.
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
    let Some(path) = forwarded_model(argv, cwd) else {
        return;
    };
    if let Some(state) = app.try_state::<AppState>() {
        state.drops.forward(&DragDropEvent::Drop {
            paths: vec![path],
            position: PhysicalPosition::default(),
        });
    }
}

/// The `--model` of the second launch's arguments (`argv[0]` is the program), made absolute
/// against the folder it was started in. Its environment (`JSLM_MODEL`) does not travel.
pub fn forwarded_model(argv: &[String], cwd: &Path) -> Option<PathBuf> {
    let args = argv.iter().skip(1).cloned();
    let model = LaunchOptions::parse(args, |_| None).model?;
    Some(absolute(&model, cwd))
}

fn absolute(path: &Path, cwd: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_second_launchs_model_is_found_against_its_own_folder() {
        let cwd = Path::new("/home/u/models");
        let cases: Vec<(&[&str], Option<&str>)> = vec![
            (&["jslm-desktop"], None),
            (
                &["jslm-desktop", "--model", "q4.gguf"],
                Some("/home/u/models/q4.gguf"),
            ),
            (&["jslm-desktop", "--model=/m/q8.gguf"], Some("/m/q8.gguf")),
            (
                &["jslm-desktop", "--data-dir", "/d", "--model", "../x"],
                Some("/home/u/models/../x"),
            ),
            (&["jslm-desktop", "--model"], None),
            // "Open with" passes the file bare.
            (&["jslm-desktop", "q8.gguf"], Some("/home/u/models/q8.gguf")),
            (&["jslm-desktop", "--unknown"], None),
        ];
        for (argv, want) in cases {
            assert_eq!(
                forwarded_model(&args(argv), cwd),
                want.map(PathBuf::from),
                "{argv:?}"
            );
        }
    }

    #[test]
    fn each_data_folder_is_its_own_app() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let id = |dir: Option<&Path>| bus_id("app.jslm.desktop", dir);
        assert_eq!(id(None), "app.jslm.desktop");
        assert_ne!(id(Some(a.path())), id(Some(b.path())));
        assert_eq!(id(Some(a.path())), id(Some(&a.path().join("."))));
        #[cfg(unix)]
        {
            let link = b.path().join("link");
            std::os::unix::fs::symlink(a.path(), &link).unwrap();
            assert_eq!(id(Some(a.path())), id(Some(&link)));
        }
        for dir in [a.path(), b.path(), Path::new("/not/there")] {
            let name = id(Some(dir));
            assert!(name.starts_with("app.jslm.desktop.d"), "{name}");
            // A valid D-Bus well-known name.
            assert!(name.len() <= 255);
            for element in name.split('.') {
                assert!(!element.is_empty() && !element.starts_with(|c: char| c.is_ascii_digit()));
                assert!(element
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
            }
        }
    }

    #[test]
    fn a_relative_data_folder_is_the_one_under_the_launch_folder() {
        let launch = LaunchOptions {
            data_dir: Some(PathBuf::from("rel/data")),
            ..Default::default()
        };
        let dir = data_dir(&launch, "app.jslm.desktop").unwrap();
        assert_eq!(dir, std::env::current_dir().unwrap().join("rel/data"));
        let default = data_dir(&LaunchOptions::default(), "app.jslm.desktop");
        assert_eq!(
            default,
            dirs::data_dir().map(|d| d.join("app.jslm.desktop"))
        );
    }
}
