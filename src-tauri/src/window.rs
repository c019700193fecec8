//! The main window: created at start with the remembered size; closing it cancels a running
//! generation and remembers the size. It shows the app's own pages and nothing else: any
//! navigation away from the app's origin and every `window.open` is refused here (the CSP
//! cannot stop a top-level navigation); the only way out to the web is a backend command with
//! its own allow-list (`open_model_page`, catalog models only).

use crate::settings::WindowSize;
use crate::state::AppState;
use tauri::webview::NewWindowResponse;
use tauri::{Manager, Runtime, Url, WebviewWindowBuilder, Window, WindowEvent};

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
    builder
        .on_navigation(|url| {
            let allowed = is_app_url(url);
            if !allowed {
                eprintln!(
                    "jslm-desktop: refused to navigate the window to {}",
                    origin_of(url)
                );
            }
            allowed
        })
        .on_new_window(|url, _features| {
            eprintln!(
                "jslm-desktop: refused to open a window for {}",
                origin_of(&url)
            );
            NewWindowResponse::Deny
        })
        .build()?;
    Ok(())
}

/// Whether `url` is one of the app's own pages: the origin Tauri serves `ui/` from,
/// `tauri://localhost` (Linux, macOS) or `http(s)://tauri.localhost` (Windows, Android).
pub fn is_app_url(url: &Url) -> bool {
    match url.scheme() {
        "tauri" => url.host_str() == Some("localhost") && url.port().is_none(),
        "http" | "https" => url.host_str() == Some("tauri.localhost") && url.port().is_none(),
        _ => false,
    }
}

/// `scheme://host` of a URL (`scheme:` without a host), for logs: no path or query, those may
/// carry anything.
fn origin_of(url: &Url) -> String {
    match url.host_str() {
        Some(host) => format!("{}://{host}", url.scheme()),
        None => format!("{}:", url.scheme()),
    }
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
        WindowEvent::DragDrop(drag) => window.state::<AppState>().drops.forward(drag),
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
    fn only_the_apps_own_origin_is_shown() {
        for ok in [
            "tauri://localhost/",
            "tauri://localhost/index.html#instruction",
            "http://tauri.localhost/index.html",
            "https://tauri.localhost/js/main.js",
        ] {
            assert!(is_app_url(&Url::parse(ok).unwrap()), "{ok}");
        }
        for bad in [
            "https://huggingface.co/",
            "http://127.0.0.1:8080/",
            "about:blank",
            "data:text/html,<script>1</script>",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "tauri://evil.example/",
            "tauri://localhost:8080/",
            "http://tauri.localhost.evil.example/",
            "https://tauri.localhost:444/",
            "ipc://localhost/generate",
        ] {
            assert!(!is_app_url(&Url::parse(bad).unwrap()), "{bad}");
        }
    }

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
