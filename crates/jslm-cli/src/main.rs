//! `jslm`: the JSLM engine from the command line. One module per subcommand; this file only
//! parses arguments and maps errors to exit codes.

mod cmd_download;
mod cmd_login;
mod cmd_models;
mod exit_code;
mod hub_common;
mod progress_bars;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "jslm",
    version,
    about = "Japanese StableLM Instruct Gamma 7B, locally"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Store a Hugging Face token (read from stdin without echo) after checking it with the hub.
    Login(cmd_login::LoginArgs),
    /// Remove the token stored by `jslm login`.
    Logout,
    /// Download a model (catalog id or repo id) into the Hugging Face cache.
    Download(cmd_download::DownloadArgs),
    /// List downloaded models (status, size) and the catalog.
    Models(cmd_models::ModelsArgs),
    /// Delete a downloaded model from the cache.
    Rm(cmd_models::RmArgs),
}

fn main() {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Login(args) => cmd_login::login(args),
        Command::Logout => cmd_login::logout(),
        Command::Download(args) => cmd_download::download(args),
        Command::Models(args) => cmd_models::models(args),
        Command::Rm(args) => cmd_models::rm(args),
    };
    if let Err(err) = result {
        // The last stderr line says what went wrong; the exit code says which class (README).
        eprintln!("error: {err:#}");
        std::process::exit(exit_code::for_hub_error(&err).unwrap_or(1));
    }
}
