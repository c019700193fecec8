//! `jslm bench`: speed of any model file the engine loads; without `--model`, of random-weight
//! models of the exact 7B shape written locally as Q4_K_M and Q8_0 GGUF.

use crate::error::CliError;
use crate::load::LoadArgs;
use crate::paths::jslm_cache_dir;
use anyhow::Context;
use jslm_core::Precision;
use jslm_engine::bench::{run_bench, BenchReport};
use jslm_engine::synthetic::{mistral_7b_config, write_random_gguf};
use jslm_engine::{GgufRunner, Isa};
use jslm_runtime::LoadPlaces;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// A GGUF file or safetensors folder; default: random 7B-shaped Q4_K_M and Q8_0 GGUFs.
    /// Loaded as the plan says (device, precision, threads), like `generate`.
    #[arg(long, value_parser = crate::paths::user_path())]
    pub model: Option<PathBuf>,
    #[arg(long, default_value_t = 128)]
    pub prompt_tokens: usize,
    #[arg(long, default_value_t = 64)]
    pub decode_tokens: usize,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Where the random 7B models are written (default: the jslm cache's `bench` folder).
    #[arg(long, value_parser = crate::paths::user_path())]
    pub work_dir: Option<PathBuf>,
    /// CPU runner for GGUF files: `mapped` (ours, default) or `candle` (candle's quantized
    /// llama, for comparison). Without `--model`, `both` benchmarks each file with both.
    #[arg(long, default_value = "mapped")]
    pub runner: String,
    /// Kernels of the mapped runner: avx512, avxvnni, avx2 or generic (default: the best this
    /// CPU has), e.g. to measure an AVX2-only machine's speed on an AVX-512 one.
    #[arg(long)]
    pub isa: Option<Isa>,
    /// Without `--model`: which random 7B files to write and run, comma-separated.
    #[arg(long, default_value = "q4_k_m,q8_0", value_delimiter = ',')]
    pub files: Vec<Precision>,
    /// Without `--model`: write the random 7B files, then stop (for the llama.cpp comparison,
    /// which makes its own files from ours).
    #[arg(long)]
    pub prepare_only: bool,
    /// Time each row kernel and prompt tile this CPU can run on weight rows that stay in cache
    /// (ns per block, tiles per block and token, one thread) instead of a model: the kernels'
    /// instructions without the memory and threads a model run mixes in.
    #[arg(long, conflicts_with_all = ["model", "prepare_only"])]
    pub kernels: bool,
    /// Print one JSON object per model (or kernel) instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.kernels {
        return run_kernels(args.json);
    }
    let Some(model) = args.model.clone() else {
        return run_synthetic(&args);
    };
    let source = jslm_runtime::ModelSource::from_path(&model, None);
    let planned = crate::load::plan(source, &args.load)?;
    let places = LoadPlaces {
        quantized_dir: jslm_cache_dir().join("quantized"),
    };
    let mut options = planned.load_options(&places);
    options.gguf_runner = parse_runner(&args.runner)?;
    options.isa = args.isa;
    // The prompt in the plan's passes (512 tokens by default), as a generation runs it and as
    // llama-bench does (its default micro-batch is 512). One pass of 2,048 tokens made every
    // matmul stream 30–60 MB of quantized activations per 16 weight rows from DRAM, and its
    // intermediate activations took RSS ~0.5 GB over the budget.
    let report = run_bench(
        &planned.description,
        &options,
        args.prompt_tokens,
        args.decode_tokens,
    )?;
    if args.json {
        outln!("{}", serde_json::to_string(&report)?)?;
    } else {
        print_table(&[report])?;
    }
    Ok(())
}

/// `--kernels`: best of 7 passes of 1,000 sweeps over 64 rows of 4,096 columns (prompt tiles:
/// 10 sweeps of 128 tokens).
fn run_kernels(json: bool) -> anyhow::Result<()> {
    let timings = jslm_engine::kernel_timings(7, 1000);
    if json {
        for t in &timings {
            outln!("{}", serde_json::to_string(t)?)?;
        }
        return Ok(());
    }
    outln!("| weights | kernels | path | ns per block (tiles: and token) |")?;
    outln!("|---|---|---|---|")?;
    for t in &timings {
        outln!(
            "| {} | {} | {} | {:.2} |",
            t.weights,
            t.kernels,
            t.path,
            t.ns_per_block
        )?;
    }
    Ok(())
}

fn parse_runner(name: &str) -> anyhow::Result<GgufRunner> {
    Ok(name.parse()?)
}

/// Writes the random 7B models once, then benchmarks each in its own process so that every
/// peak-RSS figure belongs to one model alone.
fn run_synthetic(args: &BenchArgs) -> anyhow::Result<()> {
    // Each random file runs at its own precision: the files are the choice.
    if let Some(precision) = args.load.precision {
        return Err(jslm_engine::EngineError::InvalidSetting {
            field: "precision",
            message: format!(
                "applies only with --model; without it each random file runs at its own \
                 precision: choose them with --files (e.g. --files {}). Given: {precision}",
                precision.as_str()
            ),
        }
        .into());
    }
    let dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| jslm_cache_dir().join("bench"));
    let config = mistral_7b_config();
    let exe = std::env::current_exe().context("finding the jslm executable")?;
    let mut reports = Vec::new();
    for &q in &args.files {
        let path = dir.join(format!("random-7b-{}.gguf", q.as_str()));
        if !path.is_file() {
            eprintln!(
                "writing a random-weight 7B model as {q} to {}",
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
            outln!("{}", path.display())?;
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
            // Every load flag, so the child loads as asked (`--device cuda` without a GPU is
            // refused there, not run on the CPU), and `--isa`.
            cmd.args(args.load.to_args());
            if let Some(isa) = args.isa {
                cmd.arg("--isa").arg(isa.as_str());
            }
            // Its plan, notes and errors go straight to our stderr, as it writes them.
            let out = cmd
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .output()
                .context("running the benchmark child process")?;
            if !out.status.success() {
                return Err(child_failed(&path, out.status));
            }
            let report: BenchReport = serde_json::from_slice(&out.stdout)
                .with_context(|| format!("parsing the report for {}", path.display()))?;
            if args.json {
                outln!("{}", serde_json::to_string(&report)?)?;
            }
            reports.push(report);
        }
    }
    if !args.json && !args.prepare_only {
        print_table(&reports)?;
    }
    Ok(())
}

/// A benchmark child that failed: its own exit code, its error already on stderr; or, killed
/// by a signal (out of memory), an error that says so.
fn child_failed(path: &std::path::Path, status: ExitStatus) -> anyhow::Error {
    match status.code() {
        Some(code) => CliError::ChildFailed { code }.into(),
        None => anyhow::anyhow!("the benchmark of {} was killed ({status})", path.display()),
    }
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

/// Decode's bound from memory and the share of it decode reached, e.g. `6.92 (94 %)`; `–`
/// where not measured (candle's runners).
fn roofline(r: &BenchReport) -> String {
    if r.decode_roofline_tokens_per_s > 0.0 {
        let share = 100.0 * r.decode_tokens_per_s / r.decode_roofline_tokens_per_s;
        format!("{:.2} ({share:.0} %)", r.decode_roofline_tokens_per_s)
    } else {
        "–".into()
    }
}

fn print_table(reports: &[BenchReport]) -> anyhow::Result<()> {
    outln!(
        "| model | device | runner | kernels | format | file GiB | threads | load s | warm-up s | prompt tok/s | decode tok/s | decode roofline tok/s | TTFT ms | peak RSS GiB |"
    )?;
    outln!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")?;
    for r in reports {
        outln!(
            "| {} | {} | {} | {} | {} {} | {:.2} | {} | {:.2} | {:.2} | {:.1} | {:.2} | {} | {:.0} | {:.2} |",
            r.model
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            r.device,
            r.runner,
            if r.isa.is_empty() { "–" } else { &r.isa },
            r.container,
            r.precision,
            gib(r.file_bytes),
            r.threads,
            r.load_ms / 1e3,
            r.warmup_ms / 1e3,
            r.prompt_tokens_per_s,
            r.decode_tokens_per_s,
            roofline(r),
            r.ttft_ms,
            gib(r.peak_rss_bytes),
        )?;
    }
    Ok(())
}
