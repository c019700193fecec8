//! `jslm`: the JSLM engine from the command line. One module per subcommand; this file only
//! parses arguments and maps errors to exit codes.

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
enum Command {}

fn main() {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {};
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
