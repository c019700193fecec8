//! `--instruction-file` / `--input-file`: a file's text as the shell's `$(cat FILE)` gives it,
//! so that a file and the same words typed as `--instruction` make the same prompt, token for
//! token. Editors add a trailing newline, Windows ones CRLF and sometimes a UTF-8 BOM; used
//! byte for byte, each changed the model card's prompt (an extra `\n` before `### 応答:`).
//! A file of only whitespace holds no text: an input file then adds no 入力 section, as no
//! `--input` does (and an instruction file is refused as empty).

use crate::error::CliError;
use std::path::Path;

/// The text of `path` (UTF-8), as [`as_typed`] gives it; errors name the file and exit with
/// the `io` code.
pub fn read(path: &Path, what: &'static str) -> Result<String, CliError> {
    let failed = |error| CliError::ReadFile {
        what,
        path: path.to_path_buf(),
        error,
    };
    let bytes = std::fs::read(path).map_err(failed)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        failed(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        ))
    })?;
    Ok(as_typed(&text))
}

/// `text` as `$(cat FILE)` gives it: no leading BOM, CRLF as LF, no trailing newlines; empty
/// when only whitespace. Other whitespace is the user's and stays.
pub fn as_typed(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return String::new();
    }
    let text = text.replace("\r\n", "\n");
    text.trim_end_matches('\n').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_read_as_the_shell_gives_them() {
        let cases = [
            ("ことわざ", "ことわざ"),
            ("ことわざ\n", "ことわざ"),
            ("ことわざ\n\n\n", "ことわざ"),
            ("\u{feff}ことわざ\r\n", "ことわざ"),
            ("一行目\r\n二行目\r\n", "一行目\n二行目"),
            ("  字下げ \n", "  字下げ "),
            ("\n先頭の改行\n", "\n先頭の改行"),
            ("a\rb\n", "a\rb"),
            ("\u{feff}", ""),
            (" \r\n\t\n", ""),
            ("\u{feff}\u{3000}\n", ""),
            ("", ""),
        ];
        for (file, typed) in cases {
            assert_eq!(as_typed(file), typed, "{file:?}");
        }
    }

    #[test]
    fn unreadable_files_are_io_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.txt");
        let err = read(&missing, "instruction").unwrap_err();
        assert_eq!(err.code(), Some(jslm_core::ErrorCode::Io));
        assert!(err.to_string().contains("missing.txt"), "{err}");
        let latin1 = dir.path().join("latin1.txt");
        std::fs::write(&latin1, b"caf\xe9").unwrap();
        let err = read(&latin1, "input").unwrap_err();
        assert_eq!(err.code(), Some(jslm_core::ErrorCode::Io));
        let text = err.to_string();
        assert!(
            text.contains("latin1.txt") && text.contains("UTF-8"),
            "{text}"
        );
    }
}
