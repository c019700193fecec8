//! The engine: a loaded model and tokenizer, and the generation loop over them.

use crate::error::{EngineError, Result};
use crate::events::{CancelFlag, GenerationEvent, GenerationOutput, GenerationStats, StopReason};
use crate::files::{ModelFiles, WeightsFormat};
use crate::model::{load_gguf, load_safetensors, LoadedNetwork, ModelInfo, Network};
use crate::prompt::PromptTemplate;
use crate::quantize::{
    quantize_safetensors, quantized_path, Quantization, QuantizeProgress, SourceInfo,
};
use crate::sampling::Sampler;
use crate::settings::GenerationSettings;
use crate::stream::{python_strip, StreamDecoder};
use crate::tokenizer::{JslmTokenizer, EOS_ID};
use candle_core::{DType, Device};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// How to load a model.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub device: Device,
    /// Element type for safetensors weights (default: f32 on CPU, bf16 on GPUs).
    pub dtype: Option<DType>,
    /// Quantize safetensors weights to a GGUF in `quantized_dir` first (written once, reused).
    pub quantize: Option<Quantization>,
    /// Where in-app quantized GGUFs are kept.
    pub quantized_dir: Option<PathBuf>,
    /// `tokenizer.json` to use instead of the one beside the weights.
    pub tokenizer: Option<PathBuf>,
    /// Longest prompt piece processed in one forward pass (default 512, as the device plan
    /// budgets activation memory for).
    pub prefill_chunk_tokens: usize,
    /// Caps the context (prompt + new tokens) below the model's own, e.g. to the KV cache the
    /// device plan reserved memory for.
    pub context_tokens: Option<usize>,
    /// Which implementation runs a GGUF on the CPU (GPUs always use candle's).
    pub gguf_runner: GgufRunner,
}

/// The CPU implementations of a GGUF network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GgufRunner {
    /// Ours: weights read in place from a memory map (file-sized memory, instant load).
    #[default]
    Mapped,
    /// candle's `quantized_llama`: copies and repacks the weights; kept for comparison.
    Candle,
}

impl GgufRunner {
    /// `JSLM_GGUF_RUNNER=candle` selects candle's runner (used by the benchmark's A/B rows).
    pub fn from_env() -> Self {
        match std::env::var("JSLM_GGUF_RUNNER").as_deref() {
            Ok("candle") => GgufRunner::Candle,
            _ => GgufRunner::Mapped,
        }
    }
}

/// Default prompt chunk: bounds the attention scratch of a 4,096-token prompt.
pub const DEFAULT_PREFILL_CHUNK: usize = 512;

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            dtype: None,
            quantize: None,
            quantized_dir: None,
            tokenizer: None,
            prefill_chunk_tokens: DEFAULT_PREFILL_CHUNK,
            context_tokens: None,
            gguf_runner: GgufRunner::from_env(),
        }
    }
}

/// Reported while loading.
#[derive(Debug, Clone)]
pub enum LoadProgress {
    /// Hashing the source files to find or name the quantized cache file.
    Hashing,
    Quantizing(QuantizeProgress),
    /// Reusing an existing quantized file.
    QuantizedCacheHit(PathBuf),
    LoadingWeights,
}

/// What to generate.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct GenerationRequest {
    /// 指示: required, must contain non-whitespace text.
    pub instruction: String,
    /// 入力: optional context; left out of the prompt when empty.
    #[serde(default)]
    pub input: String,
    #[serde(default)]
    pub settings: GenerationSettings,
}

/// A loaded model, ready to generate. One generation at a time; a second concurrent call gets
/// [`EngineError::Busy`].
pub struct Engine {
    network: Mutex<Network>,
    device: Device,
    tokenizer: JslmTokenizer,
    info: ModelInfo,
    prefill_chunk: usize,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("info", &self.info).finish()
    }
}

impl Engine {
    /// Loads a Hugging Face folder (safetensors) or a GGUF, optionally quantizing safetensors.
    pub fn load(
        path: &Path,
        options: &LoadOptions,
        mut progress: impl FnMut(LoadProgress),
    ) -> Result<Self> {
        let files = ModelFiles::locate(path, options.tokenizer.as_deref())?;
        let tokenizer = JslmTokenizer::from_file(&files.tokenizer)?;
        let loaded: LoadedNetwork = match (&files.weights, options.quantize) {
            (WeightsFormat::Gguf { file }, _) => {
                progress(LoadProgress::LoadingWeights);
                load_gguf(file, &options.device, options.gguf_runner)?
            }
            (WeightsFormat::Safetensors { config, shards }, Some(q)) => {
                let dir = options.quantized_dir.clone().ok_or_else(|| {
                    EngineError::invalid("quantized_dir", "is needed to quantize in the app")
                })?;
                progress(LoadProgress::Hashing);
                let source = SourceInfo::describe(shards)?;
                let out = quantized_path(&dir, &source, q);
                if out.is_file() && crate::model::read_gguf_header(&out).is_ok() {
                    progress(LoadProgress::QuantizedCacheHit(out.clone()));
                } else {
                    quantize_safetensors(config, shards, &source, q, &out, |p| {
                        progress(LoadProgress::Quantizing(p.clone()))
                    })?;
                }
                progress(LoadProgress::LoadingWeights);
                load_gguf(&out, &options.device, options.gguf_runner)?
            }
            (WeightsFormat::Safetensors { config, shards }, None) => {
                let dtype = options.dtype.unwrap_or(if options.device.is_cpu() {
                    DType::F32
                } else {
                    DType::BF16
                });
                progress(LoadProgress::LoadingWeights);
                load_safetensors(config, shards, dtype, &options.device)?
            }
        };
        tokenizer.check_matches(loaded.info.vocab_size)?;
        let mut loaded = loaded;
        if let Some(cap) = options.context_tokens.filter(|&c| c > 0) {
            loaded.info.context_length = loaded.info.context_length.min(cap);
        }
        Ok(Self {
            network: Mutex::new(loaded.network),
            device: loaded.device,
            tokenizer,
            info: loaded.info,
            prefill_chunk: options.prefill_chunk_tokens,
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn tokenizer(&self) -> &JslmTokenizer {
        &self.tokenizer
    }

    /// The card's prompt for a request, and its token ids.
    pub fn prepare_prompt(&self, request: &GenerationRequest) -> Result<(String, Vec<u32>)> {
        if request.instruction.trim().is_empty() {
            return Err(EngineError::invalid(
                "instruction",
                "must not be empty: write what the model should do (指示を入力してください)",
            ));
        }
        request.settings.validate()?;
        let prompt = PromptTemplate.build(&request.instruction, &request.input);
        let ids = self.tokenizer.encode(&prompt)?;
        let total = ids.len() + request.settings.max_new_tokens;
        if total > self.info.context_length {
            return Err(EngineError::ContextOverflow {
                prompt_tokens: ids.len(),
                max_new_tokens: request.settings.max_new_tokens,
                total,
                context: self.info.context_length,
            });
        }
        Ok((prompt, ids))
    }

    /// Runs one generation, calling `on_event` for each event from this thread.
    pub fn generate(
        &self,
        request: &GenerationRequest,
        cancel: &CancelFlag,
        mut on_event: impl FnMut(&GenerationEvent),
    ) -> Result<GenerationOutput> {
        let mut network = match self.network.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::WouldBlock) => return Err(EngineError::Busy),
            // A panic during an earlier generation poisoned the lock; the cache is cleared below.
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
        };
        let start = Instant::now();
        let (prompt, prompt_ids) = self.prepare_prompt(request)?;
        let settings = &request.settings;
        let seed = settings.seed.unwrap_or_else(rand::random);
        on_event(&GenerationEvent::Started {
            prompt_tokens: prompt_ids.len(),
            seed,
        });
        let mut sampler = Sampler::new(settings, seed);
        let mut decoder = StreamDecoder::new(self.tokenizer.pieces());
        let mut context: Vec<u32> = prompt_ids.clone();
        let mut generated: Vec<u32> = Vec::with_capacity(settings.max_new_tokens);
        let mut stats = GenerationStats {
            prompt_tokens: prompt_ids.len(),
            seed,
            ..Default::default()
        };
        network.clear_kv_cache();
        let mut reason = StopReason::MaxTokens;
        let mut first_token_at = None;
        if cancel.is_cancelled() {
            reason = StopReason::Cancelled;
        } else {
            let prefill_start = Instant::now();
            let mut logits = network.prefill(&prompt_ids, self.prefill_chunk, &self.device)?;
            let prefill = prefill_start.elapsed().as_secs_f64();
            stats.prompt_tokens_per_s = rate(prompt_ids.len(), prefill);
            loop {
                let id = sampler.next_token(&mut logits, &context);
                if first_token_at.is_none() {
                    first_token_at = Some(Instant::now());
                    stats.ttft_ms = start.elapsed().as_secs_f64() * 1e3;
                }
                generated.push(id);
                context.push(id);
                let text = decoder.push(id);
                on_event(&GenerationEvent::Token { id, text });
                if id == EOS_ID {
                    reason = StopReason::Eos;
                    break;
                }
                if generated.len() >= settings.max_new_tokens {
                    break;
                }
                if cancel.is_cancelled() {
                    reason = StopReason::Cancelled;
                    break;
                }
                let pos = context.len() - 1;
                logits = network.forward(&[id], pos, &self.device)?;
            }
        }
        let tail = decoder.finish();
        if !tail.is_empty() {
            // Incomplete bytes at the very end: surfaced as U+FFFD, like `decode`.
            on_event(&GenerationEvent::Token {
                id: EOS_ID,
                text: tail,
            });
        }
        let end = Instant::now();
        stats.generated_tokens = generated.len();
        stats.total_ms = (end - start).as_secs_f64() * 1e3;
        if let Some(t0) = first_token_at {
            stats.decode_tokens_per_s =
                rate(generated.len().saturating_sub(1), (end - t0).as_secs_f64());
        }
        let raw = self.tokenizer.decode(&generated)?;
        let output = GenerationOutput {
            prompt,
            prompt_token_ids: prompt_ids,
            generated_token_ids: generated,
            text: python_strip(&raw).to_string(),
            stop_reason: reason,
            stats: stats.clone(),
        };
        on_event(&GenerationEvent::Finished { reason, stats });
        Ok(output)
    }

    /// Logits at the last position of `ids` from a fresh cache (for reference tests and bench).
    pub fn logits(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let mut network = self.network.try_lock().map_err(|_| EngineError::Busy)?;
        network.clear_kv_cache();
        network.prefill(ids, self.prefill_chunk, &self.device)
    }

    /// Prefills `prompt`, then runs `steps` one forward pass each; returns (prefill seconds,
    /// decode seconds). Used by the benchmark to time the network without sampling.
    pub fn decode_steps(&self, prompt: &[u32], steps: &[u32]) -> Result<(f64, f64)> {
        let mut network = self.network.try_lock().map_err(|_| EngineError::Busy)?;
        network.clear_kv_cache();
        let t0 = Instant::now();
        network.prefill(prompt, self.prefill_chunk, &self.device)?;
        let prefill = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        for (i, &id) in steps.iter().enumerate() {
            network.forward(&[id], prompt.len() + i, &self.device)?;
        }
        Ok((prefill, t1.elapsed().as_secs_f64()))
    }
}

fn rate(tokens: usize, seconds: f64) -> f64 {
    if seconds > 0.0 && tokens > 0 {
        tokens as f64 / seconds
    } else {
        0.0
    }
}
