//! `FitLevel`: whether an estimate fits the memory the device has free, with the numbers.

use crate::units::format_gb;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How well a plan fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FitLevel {
    /// Needs at most 80 % of what is available: room for the OS, the UI and estimate error.
    Comfortable,
    /// Fits, with under 20 % to spare: closing other apps may be needed.
    Tight,
    /// Needs more than is available; loading would fail or swap heavily.
    WillNotFit,
}

impl FitLevel {
    /// Classifies `needed_bytes` against `available_bytes` (integer arithmetic: no NaN).
    pub fn classify(needed_bytes: u64, available_bytes: u64) -> Self {
        let needed = u128::from(needed_bytes);
        let available = u128::from(available_bytes);
        if needed > available {
            Self::WillNotFit
        } else if needed * 5 <= available * 4 {
            Self::Comfortable
        } else {
            Self::Tight
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Comfortable => "fits comfortably",
            Self::Tight => "fits tightly",
            Self::WillNotFit => "will not fit",
        }
    }
}

/// Which memory the estimate was compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryPool {
    /// System RAM available now.
    SystemRam,
    /// Free VRAM of the chosen NVIDIA GPU.
    GpuVram,
    /// Metal's recommended working set on Apple unified memory.
    UnifiedWorkingSet,
}

impl MemoryPool {
    pub fn label(self) -> &'static str {
        match self {
            Self::SystemRam => "RAM available",
            Self::GpuVram => "VRAM free",
            Self::UnifiedWorkingSet => "GPU working set",
        }
    }
}

/// A fit verdict with its numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FitReport {
    pub level: FitLevel,
    /// Estimated peak, in bytes.
    pub needed_bytes: u64,
    /// What the pool has for it, in bytes.
    pub available_bytes: u64,
    pub pool: MemoryPool,
    /// E.g. "will not fit: needs 5.1 GB, 3.2 GB RAM available".
    pub message: String,
}

impl FitReport {
    pub fn new(needed_bytes: u64, available_bytes: u64, pool: MemoryPool) -> Self {
        let level = FitLevel::classify(needed_bytes, available_bytes);
        let message = format!(
            "{}: needs {}, {} {}",
            level.label(),
            format_gb(needed_bytes),
            format_gb(available_bytes),
            pool.label()
        );
        Self {
            level,
            needed_bytes,
            available_bytes,
            pool,
            message,
        }
    }
}

impl fmt::Display for FitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::GB;

    #[test]
    fn classify_table() {
        let cases = [
            (0, 0, FitLevel::Comfortable),
            (1, 0, FitLevel::WillNotFit),
            (8 * GB, 10 * GB, FitLevel::Comfortable),
            (8 * GB + 1, 10 * GB, FitLevel::Tight),
            (10 * GB, 10 * GB, FitLevel::Tight),
            (10 * GB + 1, 10 * GB, FitLevel::WillNotFit),
            (u64::MAX, u64::MAX, FitLevel::Tight),
            (u64::MAX, 0, FitLevel::WillNotFit),
        ];
        for (needed, available, want) in cases {
            assert_eq!(
                FitLevel::classify(needed, available),
                want,
                "{needed} / {available}"
            );
        }
    }

    #[test]
    fn message_carries_the_numbers() {
        let report = FitReport::new(5_100_000_000, 3_200_000_000, MemoryPool::SystemRam);
        assert_eq!(report.level, FitLevel::WillNotFit);
        assert_eq!(
            report.message,
            "will not fit: needs 5.1 GB, 3.2 GB RAM available"
        );
        for (needed, available) in [(0, 0), (u64::MAX, 0), (0, u64::MAX)] {
            let message = FitReport::new(needed, available, MemoryPool::GpuVram).message;
            assert!(
                !message.contains("NaN") && !message.contains('-'),
                "{message}"
            );
        }
    }
}
