//! `jslm bench`: speed of any model file the engine loads; without `--model`, of random-weight
//! models of the exact 7B shape written locally as Q4_K_M and Q8_0 GGUF.

use crate::paths::jslm_cache_dir;
use anyhow::Context;
use jslm_engine::bench::{run_bench, BenchOptions, BenchReport};
use jslm_engine::synthetic::{mistral_7b_config, write_random_gguf};
use jslm_engine::{DType, Device, GgufRunner, Quantization};
use std::path::PathBuf;
use std::process::Command;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// A GGUF file or safetensors folder; default: random 7B-shaped Q4_K_M and Q8_0 GGUFs.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// CPU threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long, default_value_t = 128)]
    pub prompt_tokens: usize,
    #[arg(long, default_value_t = 64)]
    pub decode_tokens: usize,
    /// Element type for safetensors folders: f32, bf16 or f16.
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// Where the random 7B models are written (default: the jslm cache's `bench` folder).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// CPU runner for GGUF files: `mapped` (ours, default) or `candle` (candle's quantized
    /// llama, for comparison). Without `--model`, `both` benchmarks each file with both.
    #[arg(long, default_value = "mapped")]
    pub runner: String,
    /// Without `--model`: which random 7B files to write and run, comma-separated.
    #[arg(long, default_value = "q4_k_m,q8_0")]
    pub quantize: String,
    /// Without `--model`: write the random 7B files, then stop (for the llama.cpp comparison,
    /// which makes its own files from ours).
    #[arg(long)]
    pub prepare_only: bool,
    /// Print one JSON object per model instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let Some(model) = args.model.clone() else {
        return run_synthetic(&args);
    };
    let dtype = match args.dtype.as_str() {
        "f32" => DType::F32,
        "bf16" => DType::BF16,
        "f16" => DType::F16,
        other => anyhow::bail!("--dtype must be f32, bf16 or f16. Given: {other}"),
    };
    let report = run_bench(
        &model,
        &BenchOptions {
            prompt_tokens: args.prompt_tokens,
            decode_tokens: args.decode_tokens,
            device: Device::Cpu,
            dtype,
            prefill_chunk_tokens: jslm_engine::engine::DEFAULT_PREFILL_CHUNK,
            gguf_runner: parse_runner(&args.runner)?,
        },
    )?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&[report]);
    }
    Ok(())
}

fn parse_runner(name: &str) -> anyhow::Result<GgufRunner> {
    match name {
        "mapped" => Ok(GgufRunner::Mapped),
        "candle" => Ok(GgufRunner::Candle),
        other => anyhow::bail!("--runner must be mapped or candle. Given: {other}"),
    }
}

/// Writes the random 7B models once, then benchmarks each in its own process so that every
/// peak-RSS figure belongs to one model alone.
fn run_synthetic(args: &BenchArgs) -> anyhow::Result<()> {
    let dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| jslm_cache_dir().join("bench"));
    let config = mistral_7b_config();
    let exe = std::env::current_exe().context("finding the jslm executable")?;
    let mut reports = Vec::new();
    let quantizations = args
        .quantize
        .split(',')
        .map(|q| q.trim().parse::<Quantization>())
        .collect::<Result<Vec<_>, _>>()?;
    for q in quantizations {
        let path = dir.join(format!("random-7b-{}.gguf", q.name()));
        if !path.is_file() {
            eprintln!(
                "writing a random-weight 7B model as {} to {}",
                q.name(),
                path.display()
            );
            let bar = indicatif::ProgressBar::new(0);
            write_random_gguf(&path, &config, q, 7, |p| {
                bar.set_length(p.bytes_total);
                bar.set_position(p.bytes_done);
            })?;
            bar.finish_and_clear();
        }
        if args.prepare_only {
            println!("{}", path.display());
            continue;
        }
        let runners: Vec<&str> = if args.runner == "both" {
            vec!["mapped", "candle"]
        } else {
            parse_runner(&args.runner)?;
            vec![args.runner.as_str()]
        };
        for runner in &runners {
            let mut cmd = Command::new(&exe);
            cmd.arg("bench")
                .arg("--runner")
                .arg(runner)
                .arg("--model")
                .arg(&path)
                .arg("--json")
                .arg("--prompt-tokens")
                .arg(args.prompt_tokens.to_string())
                .arg("--decode-tokens")
                .arg(args.decode_tokens.to_string());
            if let Some(t) = args.threads {
                cmd.arg("--threads").arg(t.to_string());
            }
            let out = cmd
                .output()
                .context("running the benchmark child process")?;
            if !out.status.success() {
                anyhow::bail!(
                    "benchmark of {} failed: {}",
                    path.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let report: BenchReport = serde_json::from_slice(&out.stdout)
                .with_context(|| format!("parsing the report for {}", path.display()))?;
            if args.json {
                println!("{}", serde_json::to_string(&report)?);
            }
            reports.push(report);
        }
    }
    if !args.json && !args.prepare_only {
        print_table(&reports);
    }
    Ok(())
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

fn print_table(reports: &[BenchReport]) {
    println!(
        "| model | runner | format | file GiB | threads | load s | warm-up s | prompt tok/s | decode tok/s | TTFT ms | peak RSS GiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in reports {
        println!(
            "| {} | {} | {} {} | {:.2} | {} | {:.2} | {:.2} | {:.1} | {:.2} | {:.0} | {:.2} |",
            r.model
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            r.runner,
            r.format,
            r.precision,
            gib(r.file_bytes),
            r.threads,
            r.load_ms / 1e3,
            r.warmup_ms / 1e3,
            r.prompt_tokens_per_s,
            r.decode_tokens_per_s,
            r.ttft_ms,
            gib(r.peak_rss_bytes),
        );
    }
}
