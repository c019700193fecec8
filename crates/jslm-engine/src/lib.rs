//! JSLM engine: runs Japanese StableLM Instruct Gamma 7B (Mistral architecture) the way its
//! model card does — the card's prompt, `add_special_tokens=False`, `transformers.generate`
//! sampling — from Hugging Face safetensors (`mistral_model`, candle's Mistral with a GPU decode
//! path) or llama.cpp GGUF files (our memory-mapped CPU runner, `gguf_cpu`; candle's quantized
//! llama on GPUs).
//!
//! Knows nothing of windows or networks: front ends (the `jslm` CLI, the Tauri shell) pass
//! paths in and receive [`GenerationEvent`]s.

pub mod bench;
#[cfg(feature = "cuda")]
pub mod cuda_matvec;
pub mod description;
pub mod engine;
pub mod error;
pub mod events;
pub mod file_hash;
pub mod files;
pub(crate) mod gguf_cpu;
pub mod gguf_header;
pub(crate) mod gguf_split;
pub mod gguf_vocab;
pub mod gguf_writer;
pub mod isa;
pub mod mistral_model;
pub mod model;
pub mod prompt;
pub mod quantize;
pub(crate) mod run_lock;
pub mod sampling;
pub mod settings;
pub mod stream;
pub mod synthetic;
pub mod tokenizer;

pub use candle_transformers::models::mistral::Config as MistralConfig;
pub use description::ModelDescription;
pub use engine::{AnswerStart, Engine, GenerationRequest, GgufRunner, LoadOptions, LoadProgress};
pub use error::{EngineError, Result};
pub use events::{CancelFlag, GenerationEvent, GenerationOutput, GenerationStats, StopReason};
pub use files::WeightsFormat;
pub use gguf_cpu::{kernel_timings, KernelTiming, KvCacheType};
pub use isa::Isa;
pub use model::ModelInfo;
pub use prompt::PromptTemplate;
pub use quantize::{QuantizeProgress, SourceInfo};
pub use settings::GenerationSettings;
pub use tokenizer::{JslmTokenizer, TokenizerSource, BOS_ID, EOS_ID};
