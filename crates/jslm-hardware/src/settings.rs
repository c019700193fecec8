//! `PlanSettings`: what the user asked for. Every field is optional or has the default the
//! plan would choose, so `PlanSettings::default()` means "decide for me".

use crate::device::DeviceKind;
use jslm_core::Precision;
use serde::{Deserialize, Serialize};

/// Context length the plan aims for when the user sets none, in tokens.
pub const DEFAULT_CONTEXT_TOKENS: u32 = 4096;
/// Shortest context the plan shrinks to before declaring that the model will not fit, in
/// tokens; below this a Japanese chat turn with its system prompt no longer fits.
pub const MIN_AUTO_CONTEXT_TOKENS: u32 = 1024;
/// Default prompt tokens per forward pass during prefill.
pub const DEFAULT_PREFILL_CHUNK_TOKENS: u32 = 512;

/// The user's choices, from settings or the command line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanSettings {
    /// Force a device; `None` picks CUDA, then Metal, then CPU.
    pub device: Option<DeviceKind>,
    /// Force a precision (and with it the weight file); `None` picks per device.
    pub precision: Option<Precision>,
    /// CPU threads; `None` uses the physical core count.
    pub threads: Option<u32>,
    /// Context to reserve KV cache for, in tokens. `None` aims for
    /// [`DEFAULT_CONTEXT_TOKENS`] and shrinks (down to [`MIN_AUTO_CONTEXT_TOKENS`]) when
    /// memory is short; a number is used as given (capped at the model's maximum).
    pub context_tokens: Option<u32>,
    /// Prompt tokens per forward pass. Attention scores take
    /// `heads × chunk × context × bytes`, so an unchunked 4096-token prompt needs 4.3 GB of
    /// f32 scratch on top of the weights; the engine must feed prompts in chunks of this size
    /// for the estimate to hold.
    pub prefill_chunk_tokens: u32,
    /// On CPU, prefer Q8_0 (closer to the original, 1.8× the memory, slower) over Q4_K_M when
    /// it fits comfortably.
    pub prefer_quality: bool,
    /// Accept what would otherwise be refused: a precision that is very slow on CPU, a device
    /// or precision whose estimate does not fit, more threads than logical cores.
    pub force: bool,
    /// Blocks of a quantized model to run on the NVIDIA GPU, the others on the CPU (llama.cpp's
    /// `-ngl`). `None`: the plan's (all of them on a GPU that holds the model, a split on one
    /// that does not); 0: the CPU only; the model's block count or more: all on the GPU.
    pub gpu_layers: Option<u32>,
}

impl Default for PlanSettings {
    fn default() -> Self {
        Self {
            device: None,
            precision: None,
            threads: None,
            context_tokens: None,
            prefill_chunk_tokens: DEFAULT_PREFILL_CHUNK_TOKENS,
            prefer_quality: false,
            force: false,
            gpu_layers: None,
        }
    }
}
