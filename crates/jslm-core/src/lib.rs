//! The vocabulary every JSLM crate shares, so that engine, hub, hardware planner, runtime and
//! front ends name the same things the same way:
//! - [`ErrorCode`]: the one list of stable error codes (the CLI maps it to exit codes, the
//!   window to Japanese/English messages, each in one table);
//! - [`Precision`]: how weights are stored or run (`F32` … `Q2_K`), from the catalog to the UI;
//! - [`ModelShape`]: a Mistral/Llama decoder's dimensions;
//! - [`Container`]: safetensors or GGUF;
//! - [`abandoned`]: temporary files a killed writer left behind;
//! - [`error_chain`]: an error's causes, for messages and for finding one kind among them.
//!
//! A leaf crate (serde, and fs4 for file locks), so the hub can use it without the engine or
//! the planner.

pub mod abandoned;
mod container;
pub mod error_chain;
mod error_code;
mod precision;
mod shape;

pub use container::Container;
pub use error_code::ErrorCode;
pub use precision::{Precision, UnknownPrecision};
pub use shape::ModelShape;
