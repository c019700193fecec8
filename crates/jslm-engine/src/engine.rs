//! The engine: a loaded model and tokenizer, and the generation loop over them. The network
//! runs on the device and at the precision it was loaded with, its CPU work in the engine's
//! own thread pool (the thread count is a load option, not an environment variable).

use crate::description::ModelDescription;
use crate::error::{EngineError, Result};
use crate::events::{CancelFlag, GenerationEvent, GenerationOutput, GenerationStats, StopReason};
use crate::file_hash::HashStore;
use crate::files::{tokenizer_beside, WeightsFormat};
use crate::gguf_cpu::Reuse;
use crate::model::{load_gguf, load_safetensors, LoadedNetwork, ModelInfo, Network};
use crate::prompt::PromptTemplate;
use crate::quantize::{quantize_safetensors, quantized_path, QuantizeProgress, SourceInfo};
use crate::run_lock::{Run, RunLock};
use crate::sampling::Sampler;
use crate::settings::GenerationSettings;
use crate::stream::python_strip;
use crate::tokenizer::{JslmTokenizer, EOS_ID};
use candle_core::Device;
use jslm_core::{Container, Precision};
use jslm_hardware::ComputeDevice;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How to load a model. The runtime fills this from the device plan.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub device: ComputeDevice,
    /// The precision to run at: a GGUF's own; for safetensors a float (converted at load) or
    /// an in-app quantization (Q4_K_M, Q8_0; written once to `quantized_dir`, then reused).
    /// `None`: as stored for a GGUF; f32 on the CPU and bf16 on GPUs for safetensors.
    pub precision: Option<Precision>,
    /// Threads of the engine's CPU pool; `None`: one per logical core.
    pub threads: Option<usize>,
    /// Where in-app quantized GGUFs are kept.
    pub quantized_dir: Option<PathBuf>,
    /// Where the sha256 of quantization sources outside a Hugging Face cache are remembered
    /// (a 14 GB folder is read once, not at every load); `None`: not remembered.
    pub source_hashes: Option<PathBuf>,
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
    /// The instruction set of the mapped runner's kernels; `None`: `JSLM_ISA` if set, else the
    /// best this CPU has. Forcing one the CPU lacks is an `InvalidSetting` error.
    pub isa: Option<crate::isa::Isa>,
    /// How the mapped runner's KV cache stores keys and values (f16 by default, as llama.cpp).
    pub kv_cache: crate::gguf_cpu::KvCacheType,
    /// On a GPU, a GGUF's blocks to run there, the others on the CPU (llama.cpp's `-ngl`,
    /// for a GPU too small for the whole model); `None` or all of them: the whole network on
    /// the GPU. Ignored on the CPU and for safetensors.
    pub gpu_layers: Option<usize>,
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

impl std::str::FromStr for GgufRunner {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mapped" => Ok(Self::Mapped),
            "candle" => Ok(Self::Candle),
            other => Err(EngineError::invalid(
                "runner",
                format!("must be mapped or candle. Given: {other}"),
            )),
        }
    }
}

/// Default prompt chunk: bounds the attention scratch of a 4,096-token prompt.
pub const DEFAULT_PREFILL_CHUNK: usize = 512;

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            device: ComputeDevice::Cpu,
            precision: None,
            threads: None,
            quantized_dir: None,
            source_hashes: None,
            tokenizer: None,
            prefill_chunk_tokens: DEFAULT_PREFILL_CHUNK,
            context_tokens: None,
            gguf_runner: GgufRunner::Mapped,
            isa: None,
            kv_cache: Default::default(),
            gpu_layers: None,
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

impl GenerationRequest {
    /// What is refused before any tokenizing: a blank instruction, settings out of range.
    /// (Front ends that send work ahead of Generate check with it too.)
    pub fn check(&self) -> Result<()> {
        if self.instruction.trim().is_empty() {
            return Err(EngineError::invalid(
                "instruction",
                "must not be empty: write what the model should do (指示を入力してください)",
            ));
        }
        self.settings.validate()
    }
}

/// The longest pass of prompt work ahead of a run: a run that comes meanwhile waits for at
/// most one (about 1.5 s for 32 tokens of a 7B Q4_K_M on 2 AVX2 cores).
pub const AHEAD_PASS_TOKENS: usize = 32;

/// Which prompt work ahead of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ahead {
    /// The card's header after a load: only into an empty cache, in one pass.
    WarmUp,
    /// A prompt being written: over what the cache holds, in passes of [`AHEAD_PASS_TOKENS`].
    Prompt,
}

/// A loaded model, ready to generate. One generation at a time; a second concurrent call gets
/// [`EngineError::Busy`]. One that comes during prompt work ahead of it
/// ([`Engine::warm_prompt_cache`], [`Engine::prefill_prompt_ahead`]) waits for its pass
/// instead.
pub struct Engine {
    runner: Runner,
    tokenizer: JslmTokenizer,
}

/// The loaded network, where it runs and its thread pool: an engine without a tokenizer (the
/// benchmark needs none).
pub(crate) struct Runner {
    /// One run at a time; prompt work ahead of runs holds it a pass at a time.
    network: RunLock<Network>,
    device: Device,
    /// Every forward pass runs in this pool, so the thread count is the load option's.
    pool: rayon::ThreadPool,
    pub(crate) info: ModelInfo,
    prefill_chunk: usize,
}

/// Lets front ends that keep the engine inside their own loaded-model type (the runtime's
/// `LoadedModel`, the window's) hand it to the local server as `Arc<dyn AsRef<Engine>>`.
impl AsRef<Engine> for Engine {
    fn as_ref(&self) -> &Engine {
        self
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("info", &self.runner.info)
            .finish()
    }
}

impl Engine {
    /// Reads the model at `path` (a Hugging Face folder or a GGUF) and loads it.
    pub fn load(
        path: &Path,
        options: &LoadOptions,
        progress: impl FnMut(LoadProgress),
    ) -> Result<Self> {
        Self::load_described(&ModelDescription::read(path)?, options, progress)
    }

    /// Loads a described model on `options.device` at `options.precision`, quantizing
    /// safetensors in the app when asked to.
    pub fn load_described(
        description: &ModelDescription,
        options: &LoadOptions,
        progress: impl FnMut(LoadProgress),
    ) -> Result<Self> {
        let source = tokenizer_beside(&description.weights, options.tokenizer.as_deref())?;
        let tokenizer = JslmTokenizer::load(&source, description.shape.vocab_size as usize)?;
        let runner = Runner::load(description, options, progress)?;
        tokenizer.check_matches(runner.info.vocab_size)?;
        Ok(Self { runner, tokenizer })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.runner.info
    }
}

impl Runner {
    /// The network of `description` on `options.device` at `options.precision`, with its pool.
    pub(crate) fn load(
        description: &ModelDescription,
        options: &LoadOptions,
        mut progress: impl FnMut(LoadProgress),
    ) -> Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(options.threads.unwrap_or(0))
            .thread_name(|i| format!("jslm-engine-{i}"))
            .build()
            .map_err(|e| EngineError::Compute(format!("starting the thread pool: {e}")))?;
        let precision = options.precision.unwrap_or(match description.container {
            Container::Gguf => description.stored,
            Container::Safetensors if options.device == ComputeDevice::Cpu => Precision::F32,
            Container::Safetensors => Precision::Bf16,
        });
        let context = options
            .context_tokens
            .filter(|&c| c > 0)
            .unwrap_or(usize::MAX)
            .min(description.context_tokens as usize);
        let loaded: LoadedNetwork = match (&description.weights, precision.is_quantized()) {
            (WeightsFormat::Gguf { .. }, _) if precision != description.stored => {
                return Err(EngineError::invalid(
                    "precision",
                    format!(
                        "a GGUF runs at its own precision ({}). Given: {precision}",
                        description.stored
                    ),
                ))
            }
            (WeightsFormat::Gguf { .. }, _) => {
                progress(LoadProgress::LoadingWeights);
                load_gguf(description, options, context)?
            }
            (WeightsFormat::Safetensors { config, shards }, true) => {
                let dir = options.quantized_dir.clone().ok_or_else(|| {
                    EngineError::invalid("quantized_dir", "is needed to quantize in the app")
                })?;
                // Partial copies whose writers are gone (Ctrl-C, a crash): gigabytes each,
                // looked for at every load, the copy found or not.
                crate::gguf_writer::remove_abandoned_partials(&dir);
                progress(LoadProgress::Hashing);
                // Files outside a Hugging Face cache are read once per version, not per load.
                let mut hashes = match &options.source_hashes {
                    Some(file) => HashStore::open(file),
                    None => HashStore::in_memory(),
                };
                let source = SourceInfo::describe(config, shards, &mut hashes)?;
                // Only a memo: if it cannot be saved, the next load reads the files again.
                let _ = hashes.save();
                let out = quantized_path(&dir, &source, precision);
                let cached = out
                    .is_file()
                    .then(|| ModelDescription::read(&out).ok())
                    .flatten();
                let quantized = match cached {
                    Some(found) => {
                        progress(LoadProgress::QuantizedCacheHit(out.clone()));
                        found
                    }
                    None => {
                        quantize_safetensors(config, shards, &source, precision, &out, |p| {
                            progress(LoadProgress::Quantizing(p.clone()))
                        })?;
                        // A file that does not read back is not left as the cached copy.
                        let made = ModelDescription::read(&out).inspect_err(|_| {
                            let _ = std::fs::remove_file(&out);
                        })?;
                        // Copies of these weights from an older config or quantizer.
                        crate::quantize::remove_superseded(&dir, &source, precision, &out);
                        made
                    }
                };
                progress(LoadProgress::LoadingWeights);
                load_gguf(&quantized, options, context)?
            }
            (WeightsFormat::Safetensors { .. }, false) => {
                progress(LoadProgress::LoadingWeights);
                load_safetensors(description, precision, options.device)?
            }
        };
        let mut info = loaded.info;
        info.context_length = info.context_length.min(context);
        info.threads = pool.current_num_threads();
        Ok(Self {
            network: RunLock::new(loaded.network),
            device: loaded.device,
            pool,
            info,
            prefill_chunk: options.prefill_chunk_tokens.max(1),
        })
    }

    /// The network for one run, or [`EngineError::Busy`] while another run has it.
    pub(crate) fn take_network(&self) -> Result<Run<'_, Network>> {
        self.network.run()
    }

    /// The whole prompt from position 0, in the engine's pool.
    pub(crate) fn prefill(&self, network: &mut Network, ids: &[u32]) -> Result<Vec<f32>> {
        network.clear_kv_cache();
        let logits =
            self.prefill_from_until(network, ids, 0, self.prefill_chunk, || false, &|| false)?;
        Ok(logits.expect("a prefill that is never stopped ends"))
    }

    /// A prompt, run from where it differs from the prompts in the network's cache (the
    /// card's system sentence is in every one; a regenerated prompt runs no pass at all);
    /// returns its last logits and the positions taken from the cache, or `None` when
    /// `abandon` said so before it ended (Stop pressed during a long prompt).
    pub(crate) fn prefill_reusing(
        &self,
        network: &mut Network,
        ids: &[u32],
        abandon: &(dyn Fn() -> bool + Sync),
    ) -> Result<Option<(Vec<f32>, usize)>> {
        if abandon() {
            return Ok(None);
        }
        let start = match network.reuse(ids) {
            Reuse::Whole(logits) => return Ok(Some((logits, ids.len()))),
            Reuse::Prefix(0) => {
                network.clear_kv_cache();
                0
            }
            Reuse::Prefix(n) => n,
        };
        let chunk = self.prefill_chunk;
        let logits =
            self.prefill_from_until(network, &ids[start..], start, chunk, || false, abandon)?;
        Ok(logits.map(|logits| (logits, start)))
    }

    /// `ids` at positions `start..` in passes of at most `chunk` tokens, in the engine's pool;
    /// `None` when it stopped (see [`Network::prefill`] for `stop` and `abandon`).
    fn prefill_from_until(
        &self,
        network: &mut Network,
        ids: &[u32],
        start: usize,
        chunk: usize,
        stop: impl Fn() -> bool + Send,
        abandon: &(dyn Fn() -> bool + Sync),
    ) -> Result<Option<Vec<f32>>> {
        let device = &self.device;
        self.pool
            .install(|| network.prefill(ids, start, chunk, device, stop, abandon))
    }

    /// `f` in the engine's pool (the benchmark's memory measurement uses its threads).
    pub(crate) fn in_pool<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }

    /// One forward pass at `pos`, in the engine's pool.
    pub(crate) fn forward(
        &self,
        network: &mut Network,
        ids: &[u32],
        pos: usize,
    ) -> Result<Vec<f32>> {
        let device = &self.device;
        self.pool.install(|| network.forward(ids, pos, device))
    }
}

impl Engine {
    pub fn tokenizer(&self) -> &JslmTokenizer {
        &self.tokenizer
    }

    /// The card's prompt for a request, and its token ids.
    pub fn prepare_prompt(&self, request: &GenerationRequest) -> Result<(String, Vec<u32>)> {
        request.check()?;
        let prompt = PromptTemplate.build(&request.instruction, &request.input);
        let ids = self.encode_within_context(&prompt, &request.settings)?;
        Ok((prompt, ids))
    }

    /// The token ids of `prompt` taken as it is (no template; like the card's encode, without
    /// BOS), after checking the settings and that prompt + `max_new_tokens` fit the context.
    pub fn prepare_raw(&self, prompt: &str, settings: &GenerationSettings) -> Result<Vec<u32>> {
        settings.validate()?;
        self.encode_within_context(prompt, settings)
    }

    /// The token ids of `prompt`, refused when it has none or does not leave room in the
    /// context for `max_new_tokens`.
    fn encode_within_context(
        &self,
        prompt: &str,
        settings: &GenerationSettings,
    ) -> Result<Vec<u32>> {
        let ids = self.tokenizer.encode(prompt)?;
        if ids.is_empty() {
            return Err(EngineError::invalid(
                "prompt",
                "must not be empty: it has no tokens",
            ));
        }
        let total = ids.len() + settings.max_new_tokens;
        if total > self.runner.info.context_length {
            return Err(EngineError::ContextOverflow {
                prompt_tokens: ids.len(),
                max_new_tokens: settings.max_new_tokens,
                total,
                context: self.runner.info.context_length,
            });
        }
        Ok(ids)
    }

    /// Runs one generation, calling `on_event` for each event from this thread.
    pub fn generate(
        &self,
        request: &GenerationRequest,
        cancel: &CancelFlag,
        on_event: impl FnMut(&GenerationEvent),
    ) -> Result<GenerationOutput> {
        self.run(
            |engine| engine.prepare_prompt(request),
            AnswerStart::Card,
            &request.settings,
            cancel,
            on_event,
        )
    }

    /// Runs one generation from `prompt` exactly as given, without the card's template: for
    /// front ends that build the card's prompt themselves (the local server's chat route with
    /// a replaced system sentence) or take it from a client (its raw completions route).
    ///
    /// `start`: [`AnswerStart::Continuation`] keeps the first token's leading space
    /// (`" Paris"` after `"The capital of France is"`, as OpenAI's, vLLM's and llama.cpp's
    /// completions give it), so prompt + answer reads as `decode(prompt + answer)`;
    /// [`AnswerStart::Card`] streams the card's `decode(answer)`, which drops it. `text` is
    /// stripped either way.
    pub fn generate_raw(
        &self,
        prompt: &str,
        start: AnswerStart,
        settings: &GenerationSettings,
        cancel: &CancelFlag,
        on_event: impl FnMut(&GenerationEvent),
    ) -> Result<GenerationOutput> {
        self.run(
            |engine| Ok((prompt.to_string(), engine.prepare_raw(prompt, settings)?)),
            start,
            settings,
            cancel,
            on_event,
        )
    }

    /// The generation loop: takes the network (or [`EngineError::Busy`]), prepares the prompt
    /// while holding it, prefills, then samples token by token.
    fn run(
        &self,
        prepare: impl FnOnce(&Self) -> Result<(String, Vec<u32>)>,
        answer_start: AnswerStart,
        settings: &GenerationSettings,
        cancel: &CancelFlag,
        mut on_event: impl FnMut(&GenerationEvent),
    ) -> Result<GenerationOutput> {
        // Timed from here: a wait for the warm-up's pass is part of the time to first token.
        let start = Instant::now();
        let mut network = self.runner.take_network()?;
        let (prompt, prompt_ids) = prepare(self)?;
        let seed = settings.seed_or_draw();
        on_event(&GenerationEvent::Started {
            prompt_tokens: prompt_ids.len(),
            seed,
        });
        let mut sampler = Sampler::new(settings, seed);
        let mut decoder = match answer_start {
            AnswerStart::Card => self.tokenizer.stream_decoder(),
            AnswerStart::Continuation => self.tokenizer.continuation_decoder(),
        };
        let mut context: Vec<u32> = prompt_ids.clone();
        let mut generated: Vec<u32> = Vec::with_capacity(settings.max_new_tokens);
        let mut stats = GenerationStats {
            prompt_tokens: prompt_ids.len(),
            seed,
            ..Default::default()
        };
        let reason;
        let mut first_token_at = None;
        let mut tokens_after_stop = 0usize;
        let prefill_start = Instant::now();
        // Stop is asked between the prompt's passes and blocks too, not only per token.
        let stopped = || cancel.is_cancelled();
        let prefilled = self
            .runner
            .prefill_reusing(&mut network, &prompt_ids, &stopped)?;
        if let Some((mut logits, reused)) = prefilled {
            let prefill = prefill_start.elapsed().as_secs_f64();
            stats.reused_prompt_tokens = reused;
            stats.prompt_tokens_per_s = rate(prompt_ids.len() - reused, prefill);
            loop {
                // A broken file or an overflow: NaN (or +inf) scores would pick token 0 over
                // and over and end in an empty answer that looks like a success.
                if let Some(bad) = logits.iter().find(|v| v.is_nan() || **v == f32::INFINITY) {
                    return Err(EngineError::Compute(format!(
                        "the model computed {bad} scores for answer token {}: its weights \
                         are damaged or too large for this precision",
                        generated.len() + 1
                    )));
                }
                let id = sampler.next_token(&mut logits, &context);
                if first_token_at.is_none() {
                    first_token_at = Some(Instant::now());
                    stats.ttft_ms = start.elapsed().as_secs_f64() * 1e3;
                }
                generated.push(id);
                context.push(id);
                let mut text = decoder.push(id);
                // Stop ends the run here, unless that would cut a character in half: then up
                // to three more tokens finish it (a cut one would make the whole byte run
                // U+FFFD, characters already shown included, as `decode` does).
                let stopped = cancel.is_cancelled();
                let stop_here = stopped
                    && (!decoder.cuts_a_character()
                        || tokens_after_stop >= MAX_TOKENS_TO_END_A_CHARACTER);
                tokens_after_stop += usize::from(stopped);
                // Decided before the event, so that the last token carries the end of the text
                // (a byte run the decoder held).
                let last = if id == EOS_ID {
                    Some(StopReason::Eos)
                } else if generated.len() >= settings.max_new_tokens {
                    Some(StopReason::MaxTokens)
                } else if stop_here {
                    Some(StopReason::Cancelled)
                } else {
                    None
                };
                if last.is_some() {
                    text.push_str(&decoder.finish());
                }
                on_event(&GenerationEvent::Token { id, text });
                if let Some(last) = last {
                    reason = last;
                    break;
                }
                // Stop during the event: at once, unless a byte run is held — then the next
                // token (or the few that end its character) carries the run's end, so no text
                // is lost.
                if cancel.is_cancelled() && !decoder.holds_bytes() {
                    reason = StopReason::Cancelled;
                    break;
                }
                let pos = context.len() - 1;
                logits = self.runner.forward(&mut network, &[id], pos)?;
            }
        } else {
            reason = StopReason::Cancelled;
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
        self.runner.prefill(&mut *self.runner.take_network()?, ids)
    }

    /// Logits at the last position of `ids` as a generation computes them: from the positions
    /// the cache holds of earlier prompts on. Also returns how many positions it reused.
    pub fn logits_reusing(&self, ids: &[u32]) -> Result<(Vec<f32>, usize)> {
        let network = &mut *self.runner.take_network()?;
        let done = self.runner.prefill_reusing(network, ids, &|| false)?;
        Ok(done.expect("a prefill that is never abandoned ends"))
    }

    /// Runs the tokens every instruction prompt starts with (the card's system sentence and
    /// the `### 指示:` heading, 68 tokens with the model's tokenizer) into an empty KV cache,
    /// so that the first generation after a load runs only from its instruction on. Front
    /// ends that keep the engine loaded call it on a thread of their own right after the
    /// load. Work ahead of a run, as [`Self::prefill_prompt_ahead`], but in one pass: a
    /// generation that comes meanwhile needs all of it, and one pass of 68 tokens is faster
    /// than three. A cache that already holds a prompt is left alone.
    pub fn warm_prompt_cache(&self, stop: &CancelFlag) -> Result<usize> {
        let header = self.prompt_header()?;
        if header.len() >= self.runner.info.context_length {
            return Ok(0);
        }
        self.prefill_ahead(&header, stop, Ahead::WarmUp)
    }

    /// Runs the prompt of `request` into the KV cache before it is asked for, from where the
    /// cache differs from it: the window calls it while the user writes, so that Generate
    /// finds most of its prompt there, or all of it (then it runs no pass at all). The logits
    /// stay bit for bit those of an empty cache (`gguf_cpu/cached_tokens.rs`).
    ///
    /// Not a run: it does nothing while a run goes, and a run that comes meanwhile stops it
    /// after its current pass of at most [`AHEAD_PASS_TOKENS`] (`stop`, set for a newer
    /// prompt or a load, stops it between two blocks); the run waits for that pass rather
    /// than getting [`EngineError::Busy`]. Returns how many of the prompt's positions the cache holds after
    /// it: 0 where the network does not reuse its cache (GPUs, the split, safetensors).
    /// Refuses what [`Self::prepare_prompt`] refuses.
    pub fn prefill_prompt_ahead(
        &self,
        request: &GenerationRequest,
        stop: &CancelFlag,
    ) -> Result<usize> {
        let (_, ids) = self.prepare_prompt(request)?;
        self.prefill_ahead(&ids, stop, Ahead::Prompt)
    }

    /// `ids` into the cache ahead of a run, from where the cache differs; the positions of
    /// `ids` the cache then holds.
    fn prefill_ahead(&self, ids: &[u32], stop: &CancelFlag, kind: Ahead) -> Result<usize> {
        let lock = &self.runner.network;
        if lock.is_running() {
            return Ok(0);
        }
        let mut network = lock.lock();
        let start = match network.cached_tokens() {
            None => return Ok(0),
            Some(n) if kind == Ahead::WarmUp && n > 0 => return Ok(0),
            Some(_) => match network.reuse(ids) {
                Reuse::Whole(_) => return Ok(ids.len()),
                Reuse::Prefix(n) => n,
            },
        };
        // A run that comes waits for the current pass, whose positions it then reuses; a
        // newer prompt or a load (`stop`) drops it at once.
        let run_waits = || lock.is_running();
        let abandoned = || stop.is_cancelled();
        let done = self.runner.prefill_from_until(
            &mut network,
            &ids[start..],
            start,
            match kind {
                Ahead::WarmUp => self.runner.prefill_chunk,
                Ahead::Prompt => AHEAD_PASS_TOKENS,
            },
            run_waits,
            &abandoned,
        )?;
        Ok(match done {
            Some(_) => ids.len(),
            // Only passes that continued `ids` from `start` extended the cached positions.
            None => network.cached_tokens().unwrap_or(0).min(ids.len()),
        })
    }

    /// The ids every card prompt starts with: the common start of two prompts whose
    /// instructions share nothing (so the heading's last piece is not merged with an
    /// instruction's first).
    fn prompt_header(&self) -> Result<Vec<u32>> {
        let a = self.tokenizer.encode(&PromptTemplate.build("日本", ""))?;
        let b = self.tokenizer.encode(&PromptTemplate.build("A", ""))?;
        let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
        Ok(a[..common].to_vec())
    }
}

fn rate(tokens: usize, seconds: f64) -> f64 {
    if seconds > 0.0 && tokens > 0 {
        tokens as f64 / seconds
    } else {
        0.0
    }
}

/// A UTF-8 character is at most 4 bytes: a Stop after its first byte token needs 3 more.
const MAX_TOKENS_TO_END_A_CHARACTER: usize = 3;

/// Where a streamed answer's text starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerStart {
    /// The card's `decode(answer)`: one leading space of the answer dropped (an answer to
    /// the card's prompt: the window, the CLI, the server's chat route).
    Card,
    /// A continuation of the prompt's text: nothing dropped (raw completions).
    Continuation,
}
