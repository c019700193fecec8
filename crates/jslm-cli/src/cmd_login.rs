//! `jslm login` / `jslm logout`: store the Hugging Face token in jslm's store (OS keychain, or a
//! 0600 file where there is none) after checking it with the hub (`/api/whoami-v2`).

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use jslm_hub::{HfToken, HubClient, TokenSource};

use crate::hub_common;

/// `jslm login` options.
#[derive(clap::Args, Debug)]
pub struct LoginArgs {
    /// Store the token without checking it with the hub (e.g. while offline).
    #[arg(long)]
    pub no_check: bool,
}

/// Reads the token (without echo on a terminal; one line from a pipe), checks and stores it.
pub fn login(args: LoginArgs) -> anyhow::Result<()> {
    hub_common::init_logging();
    let secret = if std::io::stdin().is_terminal() {
        eprintln!("Create a read token at https://huggingface.co/settings/tokens");
        rpassword::prompt_password("Hugging Face token (input hidden): ")
            .context("reading the token")?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the token from stdin")?;
        line
    };
    let token = HfToken::new(secret, TokenSource::Explicit).ok_or_else(|| {
        jslm_hub::HubError::InvalidRequest {
            message: "no token given".into(),
        }
    })?;
    let config = hub_common::config();
    if !args.no_check {
        let client = HubClient::new(config.clone(), Some(token.clone()))?;
        let me = hub_common::runtime()?.block_on(client.whoami())?;
        eprintln!(
            "Token {} is valid: account {}{}",
            token.redacted(),
            me.name,
            me.token_role
                .map(|r| format!(", role {r}"))
                .unwrap_or_default()
        );
    }
    let store = hub_common::token_store(&config);
    let place = store.save(&token)?;
    match place {
        TokenSource::AppFile => eprintln!(
            "Stored in {} (readable only by you; no OS keychain available)",
            store.app_file().display()
        ),
        other => eprintln!("Stored in {other}"),
    }
    // Say which token requests will use (HF_TOKEN, when set, wins over the stored one).
    if let Some(used) = store.find()? {
        if used.source() == place {
            eprintln!("jslm now uses this token");
        } else {
            eprintln!(
                "Note: jslm uses the token from {} ({}), which takes precedence over the stored one",
                used.source(),
                used.redacted()
            );
        }
    }
    Ok(())
}

/// Removes jslm's stored token and says which other sources still provide one.
pub fn logout() -> anyhow::Result<()> {
    hub_common::init_logging();
    let config = hub_common::config();
    let store = hub_common::token_store(&config);
    let (removed, remaining) = store.delete()?;
    if removed.is_empty() {
        eprintln!("No token was stored by jslm");
    } else {
        for place in removed {
            eprintln!("Removed the token from {place}");
        }
    }
    for place in remaining {
        eprintln!("A token is still provided by {place}; jslm logout does not change it");
    }
    Ok(())
}
