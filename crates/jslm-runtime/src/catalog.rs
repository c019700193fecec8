//! Catalog models as the planner sees them before they are downloaded: the shape and files
//! the catalog lists, so the window's model list and `jslm doctor` plan each one exactly as a
//! downloaded copy would be planned.

use crate::error::{Result, RuntimeError};
use jslm_core::{Container, Precision};
use jslm_hardware::{ModelSpec, WeightFile};
use jslm_hub::{catalog, CatalogEntry};

/// The catalog entry `id` (a catalog id or its repo id).
pub fn entry(id: &str) -> Result<&'static CatalogEntry> {
    catalog()
        .find(id)
        .ok_or_else(|| RuntimeError::UnknownModel(id.to_string()))
}

/// The entry with the file `variant` names (a file name or precision; `None`: the default
/// file), or with every file it offers when `variant` is `Some("*")`.
pub fn spec(entry: &CatalogEntry, variant: Option<&str>) -> Result<ModelSpec> {
    let files = match entry.container {
        Container::Safetensors => vec![WeightFile {
            container: Container::Safetensors,
            precision: entry.precision.unwrap_or(Precision::Bf16),
            size_bytes: entry.approx_size_bytes,
        }],
        Container::Gguf => {
            let chosen: Vec<_> = if variant == Some("*") {
                entry.variants.iter().collect()
            } else {
                entry.variant(variant)?.into_iter().collect()
            };
            chosen
                .into_iter()
                .map(|v| WeightFile {
                    container: Container::Gguf,
                    precision: v.precision,
                    size_bytes: v.approx_size_bytes,
                })
                .collect()
        }
    };
    Ok(ModelSpec::new(
        entry.name.clone(),
        entry.shape,
        entry.context_tokens,
        files,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_of_the_catalog() {
        let official = entry("jslm-gamma-7b").unwrap();
        let s = spec(official, None).unwrap();
        assert_eq!(s.shape.parameter_count(), 7_241_732_096);
        assert_eq!(s.files[0].precision, Precision::Bf16);
        assert_eq!(s.files[0].container, Container::Safetensors);

        let gguf = entry("jslm-gamma-7b-gguf").unwrap();
        let default = spec(gguf, None).unwrap();
        assert_eq!(default.files.len(), 1);
        assert_eq!(default.files[0].precision, Precision::Q4KM);
        let q8 = spec(gguf, Some("Q8_0")).unwrap();
        assert_eq!(q8.files[0].precision, Precision::Q8_0);
        let all = spec(gguf, Some("*")).unwrap();
        assert_eq!(all.files.len(), gguf.variants.len());
        assert_eq!(entry("nope").unwrap_err().code(), "unknown_model");
    }
}
