//! `jslm-hubtest`: runs the test hub over a folder of fake repos, so scripts (e.g. Python
//! `huggingface_hub` tests) can use it through `HF_ENDPOINT`.
//!
//! ```text
//! jslm-hubtest --dir repos/ [--gated org/name]... [--token SECRET:USER[:org/a,org/b]]...
//!              [--fault FILE:KIND[:ARG][:TIMES]]... [--port 0]
//! ```
//! Each `repos/<org>/<name>/` folder is a repo. The first stdout line is
//! `HF_ENDPOINT=http://127.0.0.1:<port>`; the server runs until killed.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Parser;
use jslm_hubtest::{FakeRepo, Fault, HubTestServer, ServerConfig, TokenGrant};

#[derive(Parser)]
#[command(about = "A local Hugging Face hub for tests, with fault injection")]
struct Args {
    /// Folder with one `<org>/<name>/` folder per repo.
    #[arg(long)]
    dir: PathBuf,
    /// Repos that are gated (need a token that accepted the terms).
    #[arg(long)]
    gated: Vec<String>,
    /// Accepted tokens: `SECRET:USER[:org/a,org/b]` (the repos whose terms USER accepted).
    #[arg(long)]
    token: Vec<String>,
    /// Faults: `FILE:KIND[:ARG][:TIMES]` with KIND drop|ignore-range|no-content-range|corrupt|status|stall|wrong-size|throttle.
    #[arg(long)]
    fault: Vec<String>,
    /// Hub port (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut repos = Vec::new();
    for org in
        std::fs::read_dir(&args.dir).with_context(|| format!("reading {}", args.dir.display()))?
    {
        let org = org?;
        if !org.path().is_dir() {
            continue;
        }
        for name in std::fs::read_dir(org.path())? {
            let name = name?;
            if !name.path().is_dir() {
                continue;
            }
            let id = format!(
                "{}/{}",
                org.file_name().to_string_lossy(),
                name.file_name().to_string_lossy()
            );
            let mut repo = FakeRepo::from_dir(&id, &name.path())?;
            repo.gated = args.gated.contains(&id);
            repos.push(repo);
        }
    }
    let mut tokens = Vec::new();
    for spec in &args.token {
        let mut parts = spec.splitn(3, ':');
        let (Some(secret), Some(user)) = (parts.next(), parts.next()) else {
            bail!("bad --token `{spec}`")
        };
        let accepted: Vec<&str> = parts
            .next()
            .map(|r| r.split(',').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        tokens.push(TokenGrant::new(secret, user, &accepted));
    }
    let server = HubTestServer::start(ServerConfig {
        repos,
        tokens,
        port: args.port,
        cdn_port: 0,
    })
    .await?;
    for spec in &args.fault {
        server.add_fault(Fault::parse(spec).map_err(anyhow::Error::msg)?);
    }
    println!("HF_ENDPOINT={}", server.endpoint);
    eprintln!("CDN at {}", server.cdn);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
