//! Default locations of the CLI's own caches.

use std::ffi::OsString;
use std::path::PathBuf;

/// `$JSLM_CACHE_DIR`, else `$XDG_CACHE_HOME/jslm` (or the platform cache dir) — quantized
/// models and bench files.
pub fn jslm_cache_dir() -> PathBuf {
    cache_dir_from(std::env::var_os("JSLM_CACHE_DIR"), dirs::cache_dir())
}

/// The cache folder from `JSLM_CACHE_DIR`'s value and the platform's cache dir. Set but empty
/// counts as unset, as in the window: an empty path put quantized models into `./quantized`
/// of whatever folder the command ran in.
fn cache_dir_from(variable: Option<OsString>, platform: Option<PathBuf>) -> PathBuf {
    variable
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| platform.map(|d| d.join("jslm")))
        .unwrap_or_else(|| PathBuf::from(".jslm-cache"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_variable_is_unset() {
        let platform = || Some(PathBuf::from("/home/u/.cache"));
        let cases = [
            (Some("/data/jslm"), platform(), "/data/jslm"),
            (Some(""), platform(), "/home/u/.cache/jslm"),
            (None, platform(), "/home/u/.cache/jslm"),
            (Some(""), None, ".jslm-cache"),
        ];
        for (variable, platform, want) in cases {
            assert_eq!(
                cache_dir_from(variable.map(OsString::from), platform),
                PathBuf::from(want),
                "{variable:?}"
            );
        }
    }
}
