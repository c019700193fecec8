//! Prompt work ahead of a generation, on a thread of its own, for the front ends that keep a
//! model loaded: right after a load, the card's system sentence and first heading, which
//! start every prompt (`Engine::warm_prompt_cache`; the window and `jslm serve`); in the
//! window, the prompt the user is writing (`Engine::prefill_prompt_ahead`). Generate then runs
//! only what the cache does not hold yet, and its pass no longer pays for reading the weights
//! from disk either.
//!
//! A Generate that comes meanwhile waits for the current pass. The handle holds the model: a
//! front end that replaces the model stops and joins it first, so that two models are never
//! held at once.

use jslm_engine::{CancelFlag, Engine, GenerationRequest};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

/// What a prefill did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prefilled {
    /// The positions of its prompt the cache holds after it: 0 where the model does not reuse
    /// its cache (a GPU, a split model, safetensors), for a warm-up that found a prompt
    /// cached, or for work that stopped before its first pass.
    pub tokens: usize,
    pub seconds: f64,
}

/// A prefill running on its own thread.
#[derive(Debug)]
pub struct BackgroundPrefill {
    thread: JoinHandle<jslm_engine::Result<Prefilled>>,
    stop: CancelFlag,
}

type Report = Box<dyn FnOnce(&jslm_engine::Result<Prefilled>) + Send>;

impl BackgroundPrefill {
    /// Starts warming `model`'s prompt cache after its load; `report` gets the outcome on the
    /// prefill's thread (the front end logs it).
    pub fn warm_up<M: AsRef<Engine> + Send + Sync + 'static>(
        model: Arc<M>,
        report: impl FnOnce(&jslm_engine::Result<Prefilled>) + Send + 'static,
    ) -> std::io::Result<Self> {
        Self::start(model, Box::new(report), |engine, stop| {
            engine.warm_prompt_cache(stop)
        })
    }

    /// Starts running `request`'s prompt into `model`'s cache (a prompt being written).
    pub fn prompt<M: AsRef<Engine> + Send + Sync + 'static>(
        model: Arc<M>,
        request: GenerationRequest,
        report: impl FnOnce(&jslm_engine::Result<Prefilled>) + Send + 'static,
    ) -> std::io::Result<Self> {
        Self::start(model, Box::new(report), move |engine, stop| {
            engine.prefill_prompt_ahead(&request, stop)
        })
    }

    fn start<M: AsRef<Engine> + Send + Sync + 'static>(
        model: Arc<M>,
        report: Report,
        work: impl FnOnce(&Engine, &CancelFlag) -> jslm_engine::Result<usize> + Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = CancelFlag::new();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("jslm-prefill".into())
            .spawn(move || {
                let start = Instant::now();
                let done = work((*model).as_ref(), &flag).map(|tokens| Prefilled {
                    tokens,
                    seconds: start.elapsed().as_secs_f64(),
                });
                drop(model);
                report(&done);
                done
            })?;
        Ok(Self { thread, stop })
    }

    /// Asks it to stop after its current pass.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Whether its thread has ended (and let go of the model).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for it to end and let go of the model.
    pub fn finish(self) -> jslm_engine::Result<Prefilled> {
        self.thread.join().unwrap_or_else(|_| {
            Err(jslm_engine::EngineError::Compute(
                "the prompt prefill panicked".into(),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jslm_engine::{GenerationSettings, LoadOptions};
    use std::path::PathBuf;

    fn fixtures() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
    }

    fn load(path: PathBuf) -> Arc<Engine> {
        let options = LoadOptions {
            tokenizer: Some(fixtures().join("tokenizer/tokenizer.json")),
            ..Default::default()
        };
        Arc::new(Engine::load(&path, &options, |_| {}).unwrap())
    }

    fn request() -> GenerationRequest {
        GenerationRequest {
            instruction: "日本の首都は？".into(),
            input: String::new(),
            settings: GenerationSettings::default(),
        }
    }

    /// What a job that started did, once it ended.
    fn finished(job: std::io::Result<BackgroundPrefill>) -> Prefilled {
        job.unwrap().finish().unwrap()
    }

    #[test]
    fn warms_a_gguf_on_the_cpu_then_runs_a_prompt_and_lets_go_of_the_model() {
        let engine = load(fixtures().join("tiny-mistral-llamacpp/model-q8_0.gguf"));
        let warmed = finished(BackgroundPrefill::warm_up(engine.clone(), |_| {}));
        assert_eq!(warmed.tokens, 68, "the card's header");
        assert!(warmed.seconds > 0.0);
        let prompt = engine.prepare_prompt(&request()).unwrap().1;
        let (tx, rx) = std::sync::mpsc::channel();
        let done = finished(BackgroundPrefill::prompt(
            engine.clone(),
            request(),
            move |r| tx.send(r.as_ref().map(|p| p.tokens).ok()).unwrap(),
        ));
        assert_eq!(done.tokens, prompt.len());
        assert_eq!(rx.recv().unwrap(), Some(prompt.len()), "reported");
        assert_eq!(Arc::strong_count(&engine), 1, "the threads let go of it");
    }

    #[test]
    fn a_model_that_does_not_reuse_its_cache_is_left_alone() {
        let engine = load(fixtures().join("tiny-mistral"));
        let warmed = finished(BackgroundPrefill::warm_up(engine.clone(), |_| {}));
        assert_eq!(warmed.tokens, 0);
        let done = finished(BackgroundPrefill::prompt(engine, request(), |_| {}));
        assert_eq!(done.tokens, 0);
    }
}
