//! `app_info`: the version and commit the window's About line shows — the same pair
//! `jslm --version` prints, recorded by the same build script code (`build_info.rs`).

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AppInfo {
    pub name: &'static str,
    pub version: &'static str,
    pub commit: &'static str,
}

impl AppInfo {
    pub const CURRENT: AppInfo = AppInfo {
        name: "JSLM Desktop",
        version: env!("CARGO_PKG_VERSION"),
        commit: env!("JSLM_COMMIT"),
    };
}

#[tauri::command]
pub fn app_info() -> AppInfo {
    AppInfo::CURRENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_about_line_names_the_workspace_version_and_a_commit() {
        let info = app_info();
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        assert!(!info.commit.is_empty());
        // A build from git records a hex hash; "unknown" only without git and $JSLM_COMMIT.
        assert!(
            info.commit == "unknown" || info.commit.chars().all(|c| c.is_ascii_hexdigit()),
            "{}",
            info.commit
        );
    }
}
