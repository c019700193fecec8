//! `jslm`: the JSLM engine from the command line. One module per subcommand; this file only
//! parses arguments and maps errors to exit codes.

// First: the `out!`/`outln!` macros every command prints with.
#[macro_use]
mod stdout;

mod cmd_download;
mod cmd_login;
mod cmd_models;
mod error;
mod exit_code;
mod hub_common;
mod interrupt;
mod load;
mod progress_bars;

use clap::{Parser, Subcommand};

mod cmd_bench;
mod cmd_doctor;
mod cmd_generate;
mod cmd_generate_remote;
mod cmd_serve;
mod paths;
mod progress;
mod text_file;

#[derive(Parser)]
#[command(
    name = "jslm",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("JSLM_COMMIT"), ")"),
    about = "Japanese StableLM Instruct Gamma 7B, locally"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate an answer with the model card's prompt and sampling, streamed to stdout.
    Generate(cmd_generate::GenerateArgs),
    /// Serve the model over an OpenAI-compatible HTTP API (loopback only unless --api-key).
    Serve(cmd_serve::ServeArgs),
    /// Measure load time, prompt and decode speed, TTFT and peak memory.
    Bench(cmd_bench::BenchArgs),
    /// Show this machine's hardware and how each model would run on it.
    Doctor(cmd_doctor::DoctorArgs),
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
    // The CPU build hands over to its CUDA twin where this machine can run it (gpu_variant).
    jslm_runtime::start_gpu_variant_if_usable();
    let cli = Cli::parse();
    // Before any command: one Ctrl-C handling for the process's life (interrupt.rs).
    if let Err(err) = interrupt::install() {
        eprintln!("warning: Ctrl-C is not handled ({err:#}): it ends jslm at once");
    }
    let result: anyhow::Result<()> = match cli.command {
        Command::Generate(args) => cmd_generate::run(args),
        Command::Serve(args) => cmd_serve::run(args),
        Command::Bench(args) => cmd_bench::run(args),
        Command::Doctor(args) => cmd_doctor::run(args),
        Command::Login(args) => cmd_login::login(args),
        Command::Logout => cmd_login::logout(),
        Command::Download(args) => cmd_download::download(args),
        Command::Models(args) => cmd_models::models(args),
        Command::Rm(args) => cmd_models::rm(args),
    };
    if let Err(err) = result {
        // The reader of stdout stopped (`| head`): nothing went wrong.
        if stdout::closed(&err) {
            std::process::exit(0);
        }
        // A child jslm (bench) failed: its hint and error are the last lines already.
        if let Some(code) = exit_code::child_exit(&err) {
            std::process::exit(code);
        }
        // The last stderr line says what went wrong (after a hint of what to do, where there
        // is one); the exit code says which class (README).
        if let Some(advice) = exit_code::advice_for(&err) {
            eprintln!("hint: {advice}");
        }
        eprintln!("error: {err:#}");
        std::process::exit(exit_code::exit_status(&err));
    }
}
