//! Default locations of the CLI's own caches, and how path flags are read.

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

/// clap's parser for every path flag: `~/` expanded and surrounding whitespace trimmed, as
/// `--model` is (`jslm_runtime::expand_home`). The shell expands `~` only at a word's start,
/// so `--tokenizer=~/t.json` reached jslm as it was written.
pub fn user_path() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser as _;
    clap::builder::OsStringValueParser::new().map(|text: OsString| match text.to_str() {
        Some(t) => jslm_runtime::expand_home(t),
        // Not UTF-8: no `~/` to see; the bytes are the path.
        None => PathBuf::from(text),
    })
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

    #[test]
    fn path_flags_expand_home_as_model_does() {
        #[derive(clap::Parser)]
        struct Flags {
            #[arg(long, value_parser = user_path())]
            tokenizer: PathBuf,
        }
        let parse = |arg: &str| {
            <Flags as clap::Parser>::try_parse_from(["jslm", arg])
                .unwrap()
                .tokenizer
        };
        if let Some(home) = std::env::var_os("HOME") {
            let want = PathBuf::from(home).join("t.json");
            assert_eq!(parse("--tokenizer=~/t.json"), want);
            assert_eq!(
                parse("--tokenizer=~/t.json"),
                jslm_runtime::expand_home("~/t.json")
            );
        }
        assert_eq!(parse("--tokenizer=/x/t.json"), PathBuf::from("/x/t.json"));
    }
}
