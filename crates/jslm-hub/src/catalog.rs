//! The built-in model catalog (`data/catalog.json`, data not code): which repos the app offers,
//! which files make a usable model, how each is stored, and the model's shape (so that a model
//! can be planned before it is downloaded).

use std::sync::OnceLock;

use jslm_core::{Container, ModelShape, Precision};

use crate::error::HubError;

/// One selectable file of a multi-variant repo (a GGUF quantisation).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Variant {
    /// File name in the repo.
    pub file: String,
    /// The precision stored in the file (its `general.file_type`).
    pub precision: Precision,
    /// Size as published, in bytes (approximate; the hub's answer is authoritative).
    pub approx_size_bytes: u64,
}

/// Files fetched from another repo alongside the model (e.g. the tokenizer of a GGUF build).
/// Optional: if that repo refuses access, the download goes on and reports them as skipped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Companion {
    /// Repo id.
    pub repo: String,
    /// Branch or tag to resolve.
    pub revision: String,
    /// File names.
    pub files: Vec<String>,
    /// Why they are needed (shown to users).
    pub why: String,
}

/// One catalog model.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CatalogEntry {
    /// Short id (`jslm-gamma-7b`), accepted wherever a repo id is.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Hugging Face repo id.
    pub repo: String,
    /// Revision policy: the branch resolved at download time; the resolved commit is then pinned
    /// in `refs/` and the download manifest.
    pub revision: String,
    /// Whether the repo asks users to accept terms (needs a token).
    pub gated: bool,
    /// SPDX licence id.
    pub license: String,
    /// How the weights are stored.
    pub container: Container,
    /// The precision of a single-file repo's weights (safetensors); GGUF repos give one per
    /// variant.
    #[serde(default)]
    pub precision: Option<Precision>,
    /// The model's dimensions (its `config.json`), for planning before download.
    pub shape: ModelShape,
    /// Tokens of context the engine computes exactly (Mistral's sliding window).
    pub context_tokens: u32,
    /// Approximate total download size in bytes (for the UI before resolving).
    pub approx_size_bytes: u64,
    /// Files always downloaded.
    #[serde(default)]
    pub files: Vec<String>,
    /// A safetensors index whose `weight_map` names the shards (never hard-coded).
    #[serde(default)]
    pub shard_index: Option<String>,
    /// Selectable single files (GGUF quantisations); one is downloaded.
    #[serde(default)]
    pub variants: Vec<Variant>,
    /// The variant downloaded when none is chosen.
    #[serde(default)]
    pub default_variant: Option<String>,
    /// Files from other repos.
    #[serde(default)]
    pub companions: Vec<Companion>,
}

/// The parsed catalog.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Catalog {
    /// Entries in display order.
    pub models: Vec<CatalogEntry>,
}

const CATALOG_JSON: &str = include_str!("../data/catalog.json");

/// The built-in catalog. The JSON is compiled in and checked by a unit test, so parsing cannot
/// fail at run time; if it ever did, the catalog is empty and an error is logged.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| match serde_json::from_str(CATALOG_JSON) {
        Ok(catalog) => catalog,
        Err(err) => {
            tracing::error!(error = %err, "built-in catalog does not parse");
            Catalog { models: Vec::new() }
        }
    })
}

impl Catalog {
    /// Finds an entry by catalog id or repo id (repo ids compare case-insensitively, as on the hub).
    pub fn find(&self, id_or_repo: &str) -> Option<&CatalogEntry> {
        let key = id_or_repo.trim();
        self.models
            .iter()
            .find(|m| m.id == key || m.repo.eq_ignore_ascii_case(key))
    }
}

impl CatalogEntry {
    /// The variant for `file` (a file name or a quant label such as `Q8_0`), or the default one.
    pub fn variant(&self, choice: Option<&str>) -> Result<Option<&Variant>, HubError> {
        if self.variants.is_empty() {
            return Ok(None);
        }
        let wanted = choice.or(self.default_variant.as_deref());
        let Some(wanted) = wanted else {
            return Ok(self.variants.first());
        };
        self.variants
            .iter()
            .find(|v| v.file == wanted || wanted.parse::<Precision>() == Ok(v.precision))
            .map(Some)
            .ok_or_else(|| HubError::InvalidRequest {
                message: format!(
                    "{} has no file `{wanted}`; choose one of: {}",
                    self.repo,
                    self.variants
                        .iter()
                        .map(|v| v.precision.label())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_parses_and_has_both_models() {
        let parsed: Catalog = serde_json::from_str(CATALOG_JSON).expect("catalog.json parses");
        assert_eq!(parsed, *catalog());
        let official = catalog()
            .find("stabilityai/japanese-stablelm-instruct-gamma-7b")
            .expect("official");
        assert!(official.gated);
        assert_eq!(official.container, Container::Safetensors);
        assert_eq!(official.precision, Some(Precision::Bf16));
        assert_eq!(official.shape.parameter_count(), 7_241_732_096);
        assert_eq!(official.context_tokens, 4096);
        assert_eq!(
            official.shard_index.as_deref(),
            Some("model.safetensors.index.json")
        );
        assert!(
            official.files.iter().all(|f| !f.contains("-of-")),
            "shards must come from the index"
        );
        for f in [
            "config.json",
            "generation_config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
        ] {
            assert!(official.files.iter().any(|x| x == f), "{f}");
        }
        let gguf = catalog().find("jslm-gamma-7b-gguf").expect("gguf");
        assert!(!gguf.gated);
        assert_eq!(gguf.container, Container::Gguf);
        assert_eq!(gguf.shape, official.shape);
        for v in &gguf.variants {
            assert!(
                v.file.ends_with(&format!(".{}.gguf", v.precision.label())),
                "{v:?}"
            );
        }
        assert_eq!(
            catalog()
                .find("thebloke/japanese-stablelm-instruct-gamma-7b-gguf")
                .map(|e| &e.id),
            Some(&gguf.id)
        );
    }

    /// The community conversions: every file TheBloke's repo has (Q2_K to Q8_0, the K-quant
    /// mixes included) and mmnga's, named as each names them.
    #[test]
    fn community_ggufs_list_their_files() {
        let bloke = catalog().find("jslm-gamma-7b-gguf").expect("TheBloke");
        let labels: Vec<&str> = bloke.variants.iter().map(|v| v.precision.label()).collect();
        assert_eq!(
            labels,
            [
                "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_0", "Q4_K_S", "Q4_K_M", "Q5_0", "Q5_K_S",
                "Q5_K_M", "Q6_K", "Q8_0"
            ]
        );
        let sizes: Vec<u64> = bloke.variants.iter().map(|v| v.approx_size_bytes).collect();
        assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "{sizes:?}");
        let mmnga = catalog()
            .find("mmnga/japanese-stablelm-instruct-gamma-7b-gguf")
            .expect("mmnga");
        assert_eq!(mmnga.id, "jslm-gamma-7b-gguf-mmnga");
        assert_eq!(mmnga.shape, bloke.shape);
        for v in &mmnga.variants {
            let label = v.precision.label();
            let lower_q = format!("q{}", &label[1..]);
            assert!(v.file.ends_with(&format!("-{lower_q}.gguf")), "{v:?}");
        }
        assert_eq!(
            mmnga.variant(Some("q8_0")).unwrap().unwrap().file,
            "japanese-stablelm-instruct-gamma-7b-q8_0.gguf"
        );
        assert_eq!(
            mmnga.variant(None).unwrap().unwrap().precision,
            Precision::Q4KM
        );
    }

    #[test]
    fn variants_by_file_or_quant() {
        let gguf = catalog().find("jslm-gamma-7b-gguf").expect("gguf");
        let default = gguf.variant(None).expect("ok").expect("some");
        assert_eq!(
            default.file,
            "japanese-stablelm-instruct-gamma-7b.Q4_K_M.gguf"
        );
        assert_eq!(
            gguf.variant(Some("q8_0")).expect("ok").expect("some").file,
            "japanese-stablelm-instruct-gamma-7b.Q8_0.gguf"
        );
        assert_eq!(
            gguf.variant(Some("Q9")).expect_err("no Q9").code(),
            jslm_core::ErrorCode::InvalidRequest
        );
        let official = catalog().find("jslm-gamma-7b").expect("official");
        assert!(official.variant(None).expect("ok").is_none());
    }
}
