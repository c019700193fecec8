//! `Container`: how a model's weights are stored on disk. One name from the catalog (which
//! file kind a repo offers) through the planner (what can be converted) to the engine (which
//! loader runs).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Container {
    /// Hugging Face safetensors shards with `config.json` and `tokenizer.json`: loadable as
    /// F32/BF16/F16 and quantizable in the app.
    Safetensors,
    /// One llama.cpp GGUF file: runs at its own precision.
    Gguf,
}

impl Container {
    /// `"safetensors"` / `"gguf"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Safetensors => "safetensors",
            Self::Gguf => "gguf",
        }
    }
}

impl std::fmt::Display for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
