//! The main window: created at start with the remembered size; closing it cancels a running
//! generation and remembers the size.

use crate::settings::WindowSize;
use crate::state::AppState;
use tauri::{Manager, Runtime, WebviewWindowBuilder, Window, WindowEvent};

/// The label of the main window (capabilities grant the app's commands to it only).
pub const MAIN: &str = "main";

/// Largest size restored, in logical pixels: guards against a damaged settings file.
const MAX_SIDE: f64 = 16_384.0;

/// Creates the main window from its `tauri.conf.json` entry (`"create": false` there, so that
/// the remembered size applies from the first frame instead of a visible resize).
pub fn create_main<R: Runtime, M: Manager<R>>(manager: &M) -> tauri::Result<()> {
    let Some(config) = manager
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN)
        .cloned()
    else {
        return Ok(());
    };
    let mut builder = WebviewWindowBuilder::from_config(manager, &config)?;
    let saved = manager.state::<AppState>().settings.get().window;
    if let Some(size) = saved.and_then(|s| restorable(s, config.min_width, config.min_height)) {
        builder = builder.inner_size(size.width, size.height);
    }
    builder.build()?;
    Ok(())
}

/// A saved size that is sane, raised to the window's minimum.
fn restorable(size: WindowSize, min_w: Option<f64>, min_h: Option<f64>) -> Option<WindowSize> {
    let ok = |v: f64| v.is_finite() && v > 0.0 && v <= MAX_SIDE;
    if !ok(size.width) || !ok(size.height) {
        return None;
    }
    Some(WindowSize {
        width: size.width.max(min_w.unwrap_or(0.0)),
        height: size.height.max(min_h.unwrap_or(0.0)),
    })
}

pub fn on_event<R: Runtime>(window: &Window<R>, event: &WindowEvent) {
    if window.label() != MAIN {
        return;
    }
    match event {
        WindowEvent::CloseRequested { .. } => {
            let state = window.state::<AppState>();
            // Nobody will read the answer: stop before the next token.
            state.host.stop();
            if let Some(size) = logical_size(window) {
                if let Err(e) = state.settings.update(|s| s.window = Some(size)) {
                    eprintln!("jslm-desktop: could not remember the window size: {e}");
                }
            }
        }
        WindowEvent::Destroyed => {
            window.state::<AppState>().host.stop();
        }
        _ => {}
    }
}

fn logical_size<R: Runtime>(window: &Window<R>) -> Option<WindowSize> {
    let physical = window.inner_size().ok()?;
    let scale = window.scale_factor().ok()?;
    let logical = physical.to_logical::<f64>(scale);
    Some(WindowSize {
        width: logical.width,
        height: logical.height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restorable_sizes() {
        let s = |width, height| WindowSize { width, height };
        let min = (Some(720.0), Some(520.0));
        let cases = [
            (s(1000.0, 800.0), Some(s(1000.0, 800.0))),
            (s(100.0, 100.0), Some(s(720.0, 520.0))),
            (s(f64::NAN, 800.0), None),
            (s(1e9, 800.0), None),
            (s(-5.0, 800.0), None),
        ];
        for (saved, expected) in cases {
            assert_eq!(restorable(saved, min.0, min.1), expected, "{saved:?}");
        }
    }
}
