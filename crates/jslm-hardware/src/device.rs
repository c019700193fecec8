//! Where the model runs.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The kind of device, for overrides and assertions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Cpu,
    Cuda,
    Metal,
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
            Self::Metal => "metal",
        })
    }
}

impl FromStr for DeviceKind {
    type Err = String;

    /// Parses "cpu", "cuda" or "metal" (any case), as typed on the command line.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda),
            "metal" | "mps" => Ok(Self::Metal),
            other => Err(format!(
                "unknown device {other:?}; expected cpu, cuda or metal"
            )),
        }
    }
}

/// A concrete device: what the engine passes to candle (`Device::Cpu`,
/// `Device::new_cuda(ordinal)`, `Device::new_metal(0)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ComputeDevice {
    Cpu,
    Cuda {
        /// CUDA ordinal for `Device::new_cuda`.
        ordinal: u32,
        /// NVML index of the same GPU, to find it in the profile.
        nvml_index: u32,
    },
    Metal,
}

impl ComputeDevice {
    pub fn kind(&self) -> DeviceKind {
        match self {
            Self::Cpu => DeviceKind::Cpu,
            Self::Cuda { .. } => DeviceKind::Cuda,
            Self::Metal => DeviceKind::Metal,
        }
    }
}

impl fmt::Display for ComputeDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda { ordinal, .. } => write!(f, "cuda:{ordinal}"),
            Self::Metal => f.write_str("metal"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let cases = [
            ("cpu", Ok(DeviceKind::Cpu)),
            (" CUDA ", Ok(DeviceKind::Cuda)),
            ("gpu", Ok(DeviceKind::Cuda)),
            ("metal", Ok(DeviceKind::Metal)),
            ("mps", Ok(DeviceKind::Metal)),
            ("tpu", Err(())),
            ("", Err(())),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<DeviceKind>().map_err(|_| ()), want, "{text:?}");
        }
        for kind in [DeviceKind::Cpu, DeviceKind::Cuda, DeviceKind::Metal] {
            assert_eq!(kind.to_string().parse::<DeviceKind>(), Ok(kind));
        }
    }
}
