//! How the app was started: the model to load (`--model PATH`, a bare `PATH` as "Open with"
//! passes it, or `JSLM_MODEL`), where to keep
//! its data (`--data-dir DIR` or `JSLM_DATA_DIR`) and its caches (`--cache-dir DIR` or
//! `JSLM_CACHE_DIR`, shared with the CLI). Tests use fresh folders per run.

use std::path::PathBuf;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LaunchOptions {
    /// Overrides the remembered model for this run.
    pub model: Option<PathBuf>,
    /// Overrides the platform's app data dir (settings, history, hashes).
    pub data_dir: Option<PathBuf>,
    /// Overrides `<cache dir>/jslm` (in-app quantized models).
    pub cache_dir: Option<PathBuf>,
}

impl LaunchOptions {
    /// Reads the process's arguments and environment.
    pub fn from_process() -> Self {
        Self::parse(std::env::args().skip(1), |k| std::env::var_os(k))
    }

    /// Arguments win over the environment. Unknown arguments are reported and ignored: the
    /// app must open even when a launcher adds arguments of its own.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Self {
        let mut options = Self {
            model: non_empty(env("JSLM_MODEL")),
            data_dir: non_empty(env("JSLM_DATA_DIR")),
            cache_dir: non_empty(env("JSLM_CACHE_DIR")),
        };
        let mut args = args.into_iter();
        let mut positional = false;
        while let Some(arg) = args.next() {
            // A bare path is the model: what a file manager's "Open with" passes (`%f`).
            if !arg.starts_with('-') && !positional {
                positional = true;
                if !arg.is_empty() {
                    options.model = Some(path_of(&arg));
                }
                continue;
            }
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (arg.clone(), None),
            };
            let slot = match name.as_str() {
                "--model" => &mut options.model,
                "--data-dir" => &mut options.data_dir,
                "--cache-dir" => &mut options.cache_dir,
                _ => {
                    eprintln!("jslm-desktop: ignoring unknown argument {arg:?}");
                    continue;
                }
            };
            match inline.or_else(|| args.next()) {
                Some(v) if !v.is_empty() => *slot = Some(path_of(&v)),
                _ => eprintln!("jslm-desktop: {name} needs a path"),
            }
        }
        options
    }
}

fn non_empty(v: Option<std::ffi::OsString>) -> Option<PathBuf> {
    v.filter(|s| !s.is_empty())
        .map(|s| path_of(&s.to_string_lossy()))
}

/// A path as given, with a leading `~/` expanded: the shell leaves `--model=~/m.gguf` and
/// desktop files leave `~` as it is (the CLI and the window's path field expand it too).
fn path_of(text: &str) -> PathBuf {
    jslm_runtime::expand_home(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> LaunchOptions {
        let env: Vec<(String, OsString)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        LaunchOptions::parse(args.iter().map(|s| s.to_string()), |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn table() {
        let p = |s: &str| Some(PathBuf::from(s));
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], LaunchOptions);
        let cases: Vec<Case> = vec![
            (&[], &[], LaunchOptions::default()),
            (
                &["--model", "/m"],
                &[],
                LaunchOptions {
                    model: p("/m"),
                    ..Default::default()
                },
            ),
            (
                &["--model=/a", "--data-dir=/d", "--cache-dir", "/c"],
                &[("JSLM_MODEL", "/env"), ("JSLM_CACHE_DIR", "/envc")],
                LaunchOptions {
                    model: p("/a"),
                    data_dir: p("/d"),
                    cache_dir: p("/c"),
                },
            ),
            (
                &[],
                &[
                    ("JSLM_MODEL", "/env"),
                    ("JSLM_DATA_DIR", ""),
                    ("JSLM_CACHE_DIR", "/envc"),
                ],
                LaunchOptions {
                    model: p("/env"),
                    data_dir: None,
                    cache_dir: p("/envc"),
                },
            ),
            (&["--unknown", "--model"], &[], LaunchOptions::default()),
            // "Open with": the file as a bare argument (the first only).
            (
                &["/m/q4.gguf", "/m/other.gguf", "--data-dir", "/d"],
                &[("JSLM_MODEL", "/env")],
                LaunchOptions {
                    model: p("/m/q4.gguf"),
                    data_dir: p("/d"),
                    ..Default::default()
                },
            ),
        ];
        for (args, env, expected) in cases {
            assert_eq!(parse(args, env), expected, "{args:?} {env:?}");
        }
        // `~/` is expanded in arguments and the environment alike.
        if let Some(home) = std::env::var_os("HOME") {
            let home = PathBuf::from(home);
            let given = parse(&["--model=~/m.gguf"], &[("JSLM_DATA_DIR", "~/d")]);
            assert_eq!(given.model, Some(home.join("m.gguf")));
            assert_eq!(given.data_dir, Some(home.join("d")));
        }
    }
}
