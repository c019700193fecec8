//! The Apple Silicon GPU: its name and how much unified memory Metal lets one process keep
//! resident (the "recommended max working set").

use serde::{Deserialize, Serialize};

/// An Apple GPU sharing RAM with the CPU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppleGpu {
    /// E.g. "Apple M2"; the chip name, since the GPU has none of its own.
    pub name: String,
    /// Bytes Metal recommends one process keeps resident on the GPU; a model above it pages
    /// or fails to allocate.
    pub working_set_bytes: u64,
    /// Where `working_set_bytes` came from.
    pub working_set_source: WorkingSetSource,
    /// Whether the GPU has native bf16 (M2 / Apple8 family and newer); otherwise the plan uses
    /// f16, which every Apple GPU has.
    pub supports_bf16: bool,
}

/// How the working-set size was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkingSetSource {
    /// `MTLDevice.recommendedMaxWorkingSetSize`.
    Metal,
    /// Estimated from installed RAM by [`estimated_working_set`]; used because this crate
    /// does not link Metal itself.
    EstimatedFromRam,
}

/// Estimates `recommendedMaxWorkingSetSize` from installed RAM, in bytes.
///
/// Apple does not document the fraction. The values macOS reports (as printed by llama.cpp's
/// Metal backend, e.g. 5461 MiB on 8 GiB, 11453 MiB on 16 GiB, 49152 MiB on 64 GiB machines)
/// are two thirds of RAM up to 32 GiB and three quarters above, so that is the estimate.
/// Reading the real value needs `objc2-metal`, which this crate avoids so it builds anywhere;
/// the `metal` feature checks that a candle Metal device initialises.
pub fn estimated_working_set(total_ram_bytes: u64) -> u64 {
    const THRESHOLD: u64 = 36 * crate::units::GIB;
    if total_ram_bytes >= THRESHOLD {
        crate::units::scale(total_ram_bytes, 3, 4)
    } else {
        crate::units::scale(total_ram_bytes, 2, 3)
    }
}

/// The Apple GPU, on Apple Silicon Macs only.
pub(crate) fn detect(cpu_brand: &str, total_ram_bytes: u64) -> Option<AppleGpu> {
    if !(cfg!(target_os = "macos") && cfg!(target_arch = "aarch64")) {
        return None;
    }
    Some(AppleGpu {
        name: cpu_brand.to_owned(),
        working_set_bytes: estimated_working_set(total_ram_bytes),
        working_set_source: WorkingSetSource::EstimatedFromRam,
        supports_bf16: brand_supports_bf16(cpu_brand),
    })
}

/// bf16 arrived with the Apple8 GPU family (M2). Chip names are "Apple M<n> [Pro|Max|Ultra]";
/// an unknown name gets `false` (f16 always works).
pub(crate) fn brand_supports_bf16(brand: &str) -> bool {
    brand
        .split_whitespace()
        .find_map(|word| word.strip_prefix('M').and_then(|n| n.parse::<u32>().ok()))
        .is_some_and(|generation| generation >= 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{GIB, MIB};

    #[test]
    fn working_set_matches_reported_values() {
        // (RAM, value macOS reports), MiB
        let cases = [
            (8 * GIB, 5461 * MIB),
            (16 * GIB, 11453 * MIB),
            (64 * GIB, 49152 * MIB),
        ];
        for (ram, reported) in cases {
            let estimate = estimated_working_set(ram);
            let diff = estimate.abs_diff(reported);
            // Within 5 %; the 16 GiB estimate (10922 MiB) errs on the safe side.
            assert!(diff * 20 <= reported, "ram {ram}: {estimate} vs {reported}");
        }
        assert_eq!(estimated_working_set(0), 0);
    }

    #[test]
    fn bf16_by_chip_name() {
        let cases = [
            ("Apple M1", false),
            ("Apple M1 Max", false),
            ("Apple M2", true),
            ("Apple M3 Max", true),
            ("Apple M4 Pro", true),
            ("Apple processor", false),
            ("", false),
        ];
        for (brand, want) in cases {
            assert_eq!(brand_supports_bf16(brand), want, "{brand}");
        }
    }
}
