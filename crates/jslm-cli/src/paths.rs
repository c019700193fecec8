//! Default locations of the CLI's own caches.

use std::path::PathBuf;

/// `$XDG_CACHE_HOME/jslm` (or the platform cache dir) — quantized models and bench files.
pub fn jslm_cache_dir() -> PathBuf {
    std::env::var_os("JSLM_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("jslm")))
        .unwrap_or_else(|| PathBuf::from(".jslm-cache"))
}
