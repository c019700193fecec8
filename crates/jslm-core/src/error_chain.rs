//! An error's chain of causes, for messages and for finding one kind of cause in it.
//!
//! Why: reqwest's own `Display` says only "error sending request"; what went wrong (a reset
//! connection, an unknown certificate issuer) is in its sources. The hub and the remote client
//! both need the whole chain for messages, and both need to find a TLS failure in it.

use std::error::Error;

/// `err` and its sources joined with ": ", each cause once (wrappers often repeat the text of
/// what they wrap).
pub fn describe(err: &(dyn Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut current = next(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = next(e);
    }
    parts.join(": ")
}

/// The first error of type `T` in `err`'s chain, `err` included.
pub fn find<'a, T: Error + 'static>(err: &'a (dyn Error + 'static)) -> Option<&'a T> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = next(e);
    }
    None
}

/// The cause of `e`. An `io::Error` that wraps another error returns that error's own source
/// from `source()`, skipping the wrapped error itself: it is opened explicitly.
fn next<'a>(e: &'a (dyn Error + 'static)) -> Option<&'a (dyn Error + 'static)> {
    match e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        Some(inner) => Some(inner as &(dyn Error + 'static)),
        None => e.source(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Inner;
    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("invalid peer certificate: UnknownIssuer")
        }
    }
    impl Error for Inner {}

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("error sending request")
        }
    }
    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_cause_inside_an_io_error_is_found_and_told() {
        let err = Outer(std::io::Error::other(Inner));
        assert!(find::<Inner>(&err).is_some(), "behind io::Error");
        assert!(find::<std::fmt::Error>(&err).is_none());
        // io::Error's Display is the wrapped error's: said once.
        assert_eq!(
            describe(&err),
            "error sending request: invalid peer certificate: UnknownIssuer"
        );
    }
}
