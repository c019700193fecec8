//! Every command's stdout, written one way: a reader that stops early (`jslm models | head -1`)
//! ends the command quietly with exit 0, where `println!` panicked ("failed printing to
//! stdout: Broken pipe", exit 101). Rust ignores SIGPIPE, so a closed pipe comes back as a
//! `BrokenPipe` error on the write; SIGPIPE is not restored to its default, which would kill
//! `jslm serve` on a client's dropped socket.

use crate::error::CliError;
use std::io::Write;

/// Writes `args` to stdout and flushes, so a closed pipe is seen at once (`out!`, `outln!`).
pub fn print(args: std::fmt::Arguments) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.flush())
        .map_err(error)
}

/// `err` from a write to stdout: a closed pipe as [`CliError::StdoutClosed`] (`main` then exits
/// 0 without a word), anything else as an error that says it was stdout.
pub fn error(err: std::io::Error) -> anyhow::Error {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        CliError::StdoutClosed.into()
    } else {
        anyhow::Error::new(err).context("writing to stdout")
    }
}

/// Whether `err` is stdout's reader having gone: not a failure of the command.
pub fn closed(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| matches!(e.downcast_ref(), Some(CliError::StdoutClosed)))
}

/// `print!` to stdout through [`print`]: `out!("...")?`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::stdout::print(format_args!($($arg)*))
    };
}

/// `println!` to stdout through [`print`]: `outln!("...")?`.
macro_rules! outln {
    () => {
        $crate::stdout::print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::stdout::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_is_quiet_other_errors_are_not() {
        let broken = error(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(closed(&broken));
        assert!(closed(&broken.context("printing the table")));
        let full = error(std::io::Error::other("disk full"));
        assert!(!closed(&full));
        assert!(format!("{full:#}").contains("stdout"), "{full:#}");
    }
}
