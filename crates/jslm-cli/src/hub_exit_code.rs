//! Exit codes of the hub commands: one per error class, so scripts can react without parsing
//! messages. Hub errors use 10–25 and 130, clear of clap's 2 and the engine's 2–9. The table is
//! in the crate README; a unit test keeps both in sync.

use jslm_hub::HubError;

/// Exit code for a hub error code (see `HubError::code`).
pub fn for_hub_code(code: &str) -> i32 {
    match code {
        "invalid_request" => 25,
        "gated_no_token" => 10,
        "token_invalid" => 11,
        "gated_not_accepted" => 12,
        "forbidden" => 13,
        "not_found" => 14,
        "disk_full" => 15,
        "checksum" => 16,
        "offline" => 17,
        "network" => 18,
        "server" => 19,
        "protocol" => 20,
        "busy" => 21,
        "token_store" => 22,
        "io" => 23,
        "setup" => 24,
        "cancelled" => 130,
        _ => 1,
    }
}

/// Exit code for an error that has a [`HubError`] inside; `None` for other errors.
pub fn for_hub_error(err: &anyhow::Error) -> Option<i32> {
    err.chain()
        .find_map(|e| e.downcast_ref::<HubError>())
        .map(|e| for_hub_code(e.code()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_documented() {
        let codes = [
            "invalid_request",
            "gated_no_token",
            "token_invalid",
            "gated_not_accepted",
            "forbidden",
            "not_found",
            "disk_full",
            "checksum",
            "offline",
            "network",
            "server",
            "protocol",
            "busy",
            "token_store",
            "io",
            "setup",
            "cancelled",
        ];
        let mut seen = std::collections::BTreeSet::new();
        let readme = include_str!("../README.md");
        for code in codes {
            let exit = for_hub_code(code);
            assert!(seen.insert(exit), "{code} shares exit code {exit}");
            assert!(
                readme.contains(&format!("| {exit} | `{code}`")),
                "README lacks the row for {code} ({exit})"
            );
        }
        assert_eq!(for_hub_code("something new"), 1);
        let err = anyhow::Error::new(HubError::Offline {
            message: "x".into(),
        })
        .context("downloading");
        assert_eq!(for_hub_error(&err), Some(17));
        assert_eq!(for_hub_error(&anyhow::anyhow!("other")), None);
    }
}
