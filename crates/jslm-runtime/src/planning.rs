//! From a model's files to a plan: the model is read once ([`ModelDescription`]), planned on
//! this machine with the user's [`RunChoices`], and refused early when the plan cannot honour
//! an explicit choice or the model will not fit.

use crate::choices::RunChoices;
use crate::error::{Result, RuntimeError};
use crate::model_ref::ModelSource;
use jslm_engine::ModelDescription;
use jslm_hardware::{ComputeDevice, DevicePlan, FitLevel, HardwareProfile, ModelSpec};

/// A model read and planned, ready to load.
#[derive(Debug, Clone)]
pub struct Planned {
    pub source: ModelSource,
    pub description: ModelDescription,
    pub plan: DevicePlan,
    /// The planned device as people know it: the CPU's brand or the GPU's name.
    pub device_name: String,
    /// What it was planned on and with: a GPU that fails to start is planned again without it.
    pub profile: HardwareProfile,
    pub choices: RunChoices,
}

/// Reads the model at `source` and plans it on `profile`.
///
/// Refused: a precision or device the user asked for and the plan cannot give
/// (`override_refused`: e.g. BF16 for a Q4_K_M GGUF) — never silently something else; a plan
/// whose estimate exceeds the memory, unless `choices.force` (`will_not_fit`).
pub fn plan(
    profile: &HardwareProfile,
    source: ModelSource,
    choices: &RunChoices,
) -> Result<Planned> {
    let description = ModelDescription::read(&source.weights)?;
    let plan = plan_spec(profile, &description.spec(), choices)?;
    if plan.fit.level == FitLevel::WillNotFit && !choices.force {
        return Err(RuntimeError::WillNotFit {
            message: plan.fit.message.clone(),
            needed_bytes: plan.fit.needed_bytes,
            available_bytes: plan.fit.available_bytes,
        });
    }
    Ok(Planned {
        device_name: device_name(profile, plan.device),
        source,
        description,
        plan,
        profile: profile.clone(),
        choices: choices.clone(),
    })
}

/// Plans `spec` with `choices`, refusing an explicit device or precision the plan did not
/// follow (`DevicePlan::strict`); thread and context overrides it adjusted stay notes.
pub fn plan_spec(
    profile: &HardwareProfile,
    spec: &ModelSpec,
    choices: &RunChoices,
) -> Result<DevicePlan> {
    Ok(jslm_hardware::plan(profile, spec, &choices.plan_settings()).strict()?)
}

/// The name people know a device by.
pub fn device_name(profile: &HardwareProfile, device: ComputeDevice) -> String {
    match device {
        ComputeDevice::Cpu => profile.cpu.brand.clone(),
        ComputeDevice::Cuda { nvml_index, .. } => profile
            .nvidia_gpus
            .iter()
            .find(|g| g.nvml_index == nvml_index)
            .map(|g| g.name.clone())
            .unwrap_or_else(|| device.to_string()),
        ComputeDevice::Metal => profile
            .apple_gpu
            .as_ref()
            .map(|g| g.name.clone())
            .unwrap_or_else(|| device.to_string()),
    }
}
