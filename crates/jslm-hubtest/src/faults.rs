//! Fault injection for content answers.

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Send this many body bytes, then reset the connection.
    DropAfter(u64),
    /// Answer a `Range` request with `200` and the whole file.
    IgnoreRange,
    /// Flip the byte at this file offset.
    CorruptByte(u64),
    /// Answer with this status and no content (500, 503, 429, ...).
    Status(u16),
    /// Send this many body bytes, then go silent (the client's read timeout must fire).
    StallAfter(u64),
    /// Serve a body this many bytes longer (> 0) or shorter (< 0) than the file, with a
    /// matching `Content-Length`: a server or proxy that gets the size wrong.
    WrongSize(i64),
    /// Limit the speed to this many bytes per second (for kill-mid-file tests).
    Throttle(u64),
    /// Answer a `Range` request with `206` and the right bytes but no `Content-Range` header
    /// (a broken proxy): the client cannot know where the body starts.
    NoContentRange,
}

/// A fault for the next `times` content requests of `file` (`"*"`: any file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Repo-relative file name, or `*`.
    pub file: String,
    /// What goes wrong.
    pub kind: FaultKind,
    /// How many requests it affects (`u32::MAX`: all).
    pub times: u32,
}

impl Fault {
    /// A fault on `file` for `times` requests.
    pub fn new(file: &str, kind: FaultKind, times: u32) -> Self {
        Self {
            file: file.to_string(),
            kind,
            times,
        }
    }

    /// Parses `file:kind[:arg][:times]`, e.g. `model.gguf:drop:1048576:1`, `*:throttle:1000000`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let (file, kind) = match parts.as_slice() {
            [file, kind, ..] => (*file, *kind),
            _ => {
                return Err(format!(
                    "bad fault `{text}`: expected file:kind[:arg][:times]"
                ))
            }
        };
        let num = |i: usize| -> Result<i64, String> {
            parts
                .get(i)
                .ok_or_else(|| format!("fault `{text}` needs an argument"))?
                .parse()
                .map_err(|e| format!("{e}"))
        };
        let (kind, times_at) = match kind {
            "drop" => (FaultKind::DropAfter(num(2)? as u64), 3),
            "ignore-range" => (FaultKind::IgnoreRange, 2),
            "no-content-range" => (FaultKind::NoContentRange, 2),
            "corrupt" => (FaultKind::CorruptByte(num(2)? as u64), 3),
            "status" => (FaultKind::Status(num(2)? as u16), 3),
            "stall" => (FaultKind::StallAfter(num(2)? as u64), 3),
            "wrong-size" => (FaultKind::WrongSize(num(2)?), 3),
            "throttle" => (FaultKind::Throttle(num(2)? as u64), 3),
            other => return Err(format!("unknown fault kind `{other}`")),
        };
        let times = match parts.get(times_at) {
            Some(t) => t.parse().map_err(|e| format!("{e}"))?,
            None if matches!(kind, FaultKind::Throttle(_)) => u32::MAX,
            None => 1,
        };
        Ok(Self::new(file, kind, times))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_faults() {
        assert_eq!(
            Fault::parse("m.gguf:drop:100:2"),
            Ok(Fault::new("m.gguf", FaultKind::DropAfter(100), 2))
        );
        assert_eq!(
            Fault::parse("*:throttle:1000"),
            Ok(Fault::new("*", FaultKind::Throttle(1000), u32::MAX))
        );
        assert_eq!(
            Fault::parse("f:ignore-range"),
            Ok(Fault::new("f", FaultKind::IgnoreRange, 1))
        );
        assert_eq!(
            Fault::parse("f:wrong-size:-5"),
            Ok(Fault::new("f", FaultKind::WrongSize(-5), 1))
        );
        assert_eq!(
            Fault::parse("f:no-content-range:3"),
            Ok(Fault::new("f", FaultKind::NoContentRange, 3))
        );
        assert!(Fault::parse("f").is_err());
        assert!(Fault::parse("f:explode").is_err());
    }
}
