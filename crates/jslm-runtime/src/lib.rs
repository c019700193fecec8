//! The one road from "this model, these choices" to a running engine, shared by the `jslm`
//! CLI, the desktop window and the local server — in the role llama.cpp's
//! `common_init_from_params` plays for its tools. None of them picks a device, a precision, a
//! tokenizer or a thread count itself: they name a model and pass the user's choices.
//!
//! ```text
//! ModelRef ──resolve──▶ ModelSource ──plan──▶ Planned ──load──▶ LoadedModel { engine, report }
//! (path, catalog id,    (files in the        (ModelDescription   (engine on the planned device,
//!  repo id + revision)   hub cache)           read once + plan)   precision and threads)
//! ```
//!
//! See README.md for the path of one request from a front end to the sampler.

pub mod background_prefill;
pub mod catalog;
pub mod choices;
pub mod discover;
pub mod error;
pub mod inspect;
pub mod load;
pub mod model_ref;
pub mod planning;
pub mod resolve;

pub use background_prefill::{BackgroundPrefill, Prefilled};
pub use choices::RunChoices;
pub use error::{Result, RuntimeError};
pub use inspect::{check_files, inspect, Inspection, TokenizerOrigin};
/// Which build runs (CPU or its CUDA twin) is decided before anything else, in `main`.
pub use jslm_hardware::gpu_variant::start_twin_if_usable as start_gpu_variant_if_usable;
pub use load::{hash_store_in, DeviceFallback, LoadEvent, LoadPlaces, LoadedModel, RunReport};
pub use model_ref::{expand_home, ModelRef, ModelSource};
pub use planning::{plan, plan_spec, Planned};
pub use resolve::{resolve, resolve_local};
