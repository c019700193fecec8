//! The prompt warm-up after a load, for the front ends that keep a model loaded (the window,
//! `jslm serve`): the card's system sentence and first heading start every prompt, so they
//! run into the KV cache on a thread of their own while the user writes the first
//! instruction (`Engine::warm_prompt_cache`). The first Generate then runs only from its
//! instruction on, and its pass no longer pays for reading the weights from disk either.
//!
//! A Generate that comes during the warm-up waits for its pass. The handle holds the model:
//! a front end that replaces the model joins it first, so that two are never held at once.

use jslm_engine::Engine;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

/// What a warm-up did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WarmedPrompt {
    /// Positions cached: 0 where the model does not reuse its cache (a GPU, a split model,
    /// safetensors) or a generation came first.
    pub tokens: usize,
    pub seconds: f64,
}

/// A warm-up running on its own thread.
#[derive(Debug)]
pub struct PromptWarmUp {
    thread: JoinHandle<jslm_engine::Result<WarmedPrompt>>,
}

impl PromptWarmUp {
    /// Starts warming `model`'s prompt cache; `report` gets the outcome on the warm-up's
    /// thread (the front end logs it).
    pub fn start<M: AsRef<Engine> + Send + Sync + 'static>(
        model: Arc<M>,
        report: impl FnOnce(&jslm_engine::Result<WarmedPrompt>) + Send + 'static,
    ) -> std::io::Result<Self> {
        let thread = std::thread::Builder::new()
            .name("jslm-warm-up".into())
            .spawn(move || {
                let start = Instant::now();
                let warmed = (*model)
                    .as_ref()
                    .warm_prompt_cache()
                    .map(|tokens| WarmedPrompt {
                        tokens,
                        seconds: start.elapsed().as_secs_f64(),
                    });
                drop(model);
                report(&warmed);
                warmed
            })?;
        Ok(Self { thread })
    }

    /// Waits for it to end and releases its hold on the model.
    pub fn finish(self) -> jslm_engine::Result<WarmedPrompt> {
        self.thread.join().unwrap_or_else(|_| {
            Err(jslm_engine::EngineError::Compute(
                "the prompt warm-up panicked".into(),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jslm_engine::LoadOptions;
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

    #[test]
    fn warms_a_gguf_on_the_cpu_and_lets_go_of_the_model() {
        let engine = load(fixtures().join("tiny-mistral-llamacpp/model-q8_0.gguf"));
        let warmed = PromptWarmUp::start(engine.clone(), |_| {})
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(warmed.tokens, 68, "the card's header");
        assert!(warmed.seconds > 0.0);
        assert_eq!(Arc::strong_count(&engine), 1, "the thread let go of it");
    }

    #[test]
    fn a_model_that_does_not_reuse_its_cache_is_left_alone() {
        let engine = load(fixtures().join("tiny-mistral"));
        let warmed = PromptWarmUp::start(engine, |_| {})
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(warmed.tokens, 0);
    }
}
