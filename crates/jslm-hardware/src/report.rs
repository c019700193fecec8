//! Rendering for `jslm doctor`: the profile and, per model, the recommended plan plus one plan
//! per weight file, as text for people or (through serde) JSON for tools and the UI.

use crate::backend::BackendStatus;
use crate::gpu_variant::{VariantDecision, CUDA_VARIANT_MAJOR};
use crate::model::{ModelSpec, WeightFile};
use crate::plan::{plan, DevicePlan};
use crate::profile::HardwareProfile;
use crate::refusal::OverrideSetting;
use crate::settings::PlanSettings;
use crate::units::format_gb;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Everything `jslm doctor` shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoctorReport {
    pub profile: HardwareProfile,
    pub models: Vec<ModelPlans>,
}

/// The plans for one model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPlans {
    pub model: String,
    /// What the app would do with the user's settings.
    pub recommended: DevicePlan,
    /// One plan per known weight file, with the precision stored in that file requested (so a
    /// row shows why a file is refused here, e.g. bf16 on a CPU).
    pub per_file: Vec<FilePlan>,
}

/// A plan with one weight file's precision requested.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePlan {
    pub file: WeightFile,
    pub plan: DevicePlan,
}

/// Plans every model for `profile` under `settings`.
pub fn doctor_report(
    profile: &HardwareProfile,
    models: &[ModelSpec],
    settings: &PlanSettings,
) -> DoctorReport {
    let models = models
        .iter()
        .map(|model| ModelPlans {
            model: model.name.clone(),
            recommended: plan(profile, model, settings),
            per_file: model
                .files
                .iter()
                .map(|file| {
                    let settings = PlanSettings {
                        precision: Some(file.precision),
                        ..settings.clone()
                    };
                    FilePlan {
                        file: *file,
                        plan: plan(profile, model, &settings),
                    }
                })
                .collect(),
        })
        .collect();
    DoctorReport {
        profile: profile.clone(),
        models,
    }
}

impl DoctorReport {
    /// The human-readable report. Every size is in decimal GB.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        render_profile(&mut out, &self.profile);
        for model in &self.models {
            render_model(&mut out, model);
        }
        out
    }
}

fn render_profile(out: &mut String, p: &HardwareProfile) {
    let cpu = &p.cpu;
    let features = cpu.features.names().join(" ");
    let _ = writeln!(out, "Machine");
    let _ = writeln!(out, "  OS:         {} ({})", p.os, cpu.arch);
    let _ = writeln!(
        out,
        "  CPU:        {}, {} physical / {} logical cores; SIMD: {}",
        cpu.brand,
        cpu.physical_cores,
        cpu.logical_cores,
        if features.is_empty() {
            "none"
        } else {
            &features
        }
    );
    let _ = writeln!(
        out,
        "  RAM:        {} total, {} available",
        format_gb(p.memory.total_bytes),
        format_gb(p.memory.available_bytes)
    );
    if p.nvidia_gpus.is_empty() {
        let _ = writeln!(out, "  NVIDIA GPU: none found");
    }
    for gpu in &p.nvidia_gpus {
        let cc = gpu
            .compute_capability
            .map(|(major, minor)| format!("compute {major}.{minor}"))
            .unwrap_or_else(|| "compute capability unknown".to_owned());
        let ordinal = gpu
            .cuda_ordinal
            .map(|o| format!("cuda:{o}"))
            .unwrap_or_else(|| "hidden by CUDA_VISIBLE_DEVICES".to_owned());
        let _ = writeln!(
            out,
            "  NVIDIA GPU: {} ({}), {} VRAM, {} free, {}",
            gpu.name,
            ordinal,
            format_gb(gpu.total_vram_bytes),
            format_gb(gpu.free_vram_bytes),
            cc
        );
    }
    if let Some(driver) = &p.nvidia_driver {
        let cuda = p
            .nvidia_driver_cuda
            .map(|v| format!(" (CUDA {}.{})", v / 1000, v % 1000 / 10))
            .unwrap_or_default();
        let _ = writeln!(out, "  Driver:     NVIDIA {driver}{cuda}");
    }
    if let Some(libraries) = &p.cuda_libraries {
        if libraries.all_present() {
            let _ = writeln!(
                out,
                "  CUDA libs:  CUDA {} runtime found",
                libraries.cuda_major
            );
        } else {
            let _ = writeln!(
                out,
                "  CUDA libs:  missing {} (the CUDA build of JSLM cannot start)",
                libraries.missing.join(", ")
            );
        }
    }
    match &p.gpu_variant {
        Some(VariantDecision::ThisIsCuda) => {
            let _ = writeln!(out, "  Build:      CUDA {CUDA_VARIANT_MAJOR}");
        }
        Some(VariantDecision::StartTwin { path }) => {
            let _ = writeln!(out, "  Build:      CPU; starts {}", path.display());
        }
        Some(VariantDecision::StayOnCpu { reason }) => {
            let _ = writeln!(out, "  Build:      CPU ({})", reason.describe());
        }
        None => {}
    }
    match &p.apple_gpu {
        Some(gpu) => {
            let _ = writeln!(
                out,
                "  Apple GPU:  {}, working set {} ({:?}), bf16: {}",
                gpu.name,
                format_gb(gpu.working_set_bytes),
                gpu.working_set_source,
                if gpu.supports_bf16 { "yes" } else { "no" }
            );
        }
        None => {
            let _ = writeln!(out, "  Apple GPU:  none");
        }
    }
    let _ = writeln!(
        out,
        "  Backends:   cuda {}, metal {}",
        backend_label(&p.backends.cuda),
        backend_label(&p.backends.metal)
    );
    match &p.model_cache_disk {
        Some(disk) => {
            let _ = writeln!(
                out,
                "  Disk:       {} (on {}): {} free of {}",
                disk.path.display(),
                disk.mount_point.display(),
                format_gb(disk.available_bytes),
                format_gb(disk.total_bytes)
            );
        }
        None => {
            let _ = writeln!(out, "  Disk:       unknown");
        }
    }
    for note in &p.notes {
        let _ = writeln!(out, "  Note:       [{}] {}", note.code, note.message);
    }
}

fn backend_label(status: &BackendStatus) -> String {
    match status {
        BackendStatus::NotBuilt => "not built".to_owned(),
        BackendStatus::NotProbed => "built, not probed".to_owned(),
        BackendStatus::Available => "available".to_owned(),
        BackendStatus::Failed { message } => format!("failed: {message}"),
    }
}

fn render_model(out: &mut String, model: &ModelPlans) {
    let plan = &model.recommended;
    let m = &plan.memory;
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", model.model);
    let _ = writeln!(
        out,
        "  Plan:       {}, {} (from {}), {} threads, context {} tokens, prefill {} tokens/pass",
        plan.device,
        plan.precision,
        plan.source.label(),
        plan.threads,
        plan.context_tokens,
        plan.prefill_chunk_tokens
    );
    let _ = writeln!(out, "  Why:        {}", plan.reason);
    let _ = writeln!(out, "  Memory:     {}", plan.fit);
    if let Some(split) = &plan.split {
        let _ = writeln!(out, "  Split:      {split}");
    }
    let mut parts = vec![format!("weights {}", format_gb(m.weights_bytes))];
    if m.dequantized_embedding_bytes > 0 {
        parts.push(format!(
            "f32 embedding {}",
            format_gb(m.dequantized_embedding_bytes)
        ));
    }
    parts.push(format!("KV cache {}", format_gb(m.kv_cache_bytes)));
    parts.push(format!("activations {}", format_gb(m.activation_bytes)));
    parts.push(format!("overhead {}", format_gb(m.overhead_bytes)));
    let _ = writeln!(out, "              {}", parts.join(" + "));
    if let Some(download) = &plan.download {
        let _ = writeln!(
            out,
            "  Download:   {} needed, {} free: {}",
            format_gb(download.file_bytes),
            format_gb(download.available_bytes),
            if download.enough_space {
                "enough space"
            } else {
                "NOT enough space"
            }
        );
    }
    for warning in &plan.warnings {
        let _ = writeln!(out, "  Warning:    [{}] {}", warning.code(), warning);
    }
    for refused in &plan.refused {
        let _ = writeln!(out, "  Refused:    [{}] {}", refused.reason.code(), refused);
    }
    let _ = writeln!(out, "  By weight file:");
    for row in &model.per_file {
        let p = &row.plan;
        // Only the precision refusal explains this row; device/thread refusals show above.
        let refused: Vec<String> = p
            .refused
            .iter()
            .filter(|r| r.setting == OverrideSetting::Precision)
            .map(|r| r.reason.to_string())
            .collect();
        if p.precision != row.file.precision && !refused.is_empty() {
            let _ = writeln!(
                out,
                "    {:<20} refused: {}",
                row.file.label(),
                refused.join("; ")
            );
        } else {
            let _ = writeln!(
                out,
                "    {:<20} {} {:<7} {:>5} tokens  {}",
                row.file.label(),
                p.device,
                p.precision.to_string(),
                p.context_tokens,
                p.fit
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::seven_b;
    use crate::plan::tests::machines;

    #[test]
    fn text_report_has_profile_plan_and_every_format() {
        let profile = machines::no_gpu_32gb();
        let report = doctor_report(&profile, &[seven_b()], &PlanSettings::default());
        let text = report.render_text();
        for fragment in [
            "Machine",
            "RAM:        34.4 GB total",
            "NVIDIA GPU: none found",
            "Japanese StableLM Instruct Gamma 7B",
            "Plan:       cpu, Q4_K_M (from GGUF Q4_K_M), 12 threads, context 4096 tokens",
            "Why:        the best precision for this device",
            "fits comfortably: needs 5.3 GB",
            "weights 4.4 GB + KV cache 0.54 GB",
            "safetensors (BF16)   refused: BF16 on the CPU",
            "GGUF Q4_K_M          cpu Q4_K_M",
            "GGUF Q8_0            cpu Q8_0",
        ] {
            assert!(text.contains(fragment), "missing {fragment:?} in:\n{text}");
        }
        assert!(!text.contains("NaN"));
    }

    /// A GPU too small for the whole model: the plan names the GPU and says how it is split.
    #[test]
    fn text_report_says_how_a_model_is_split() {
        let profile = machines::card(4, 36 * crate::units::GIB / 10);
        let report = doctor_report(&profile, &[seven_b()], &PlanSettings::default());
        let text = report.render_text();
        // The 128-token passes that leave the GPU room for more blocks.
        assert!(
            text.contains("Plan:       cuda:0, Q4_K_M (from GGUF Q4_K_M), 16 threads, context 4096 tokens, prefill 128 tokens/pass"),
            "{text}"
        );
        assert!(
            text.contains(
                "Split:      11 of 32 blocks on the GPU, 21 on the CPU; the GPU's part fits \
                 comfortably: needs 3.0 GB, 3.9 GB VRAM free"
            ),
            "{text}"
        );
        let plain = doctor_report(
            &machines::no_gpu_32gb(),
            &[seven_b()],
            &PlanSettings::default(),
        );
        assert!(!plain.render_text().contains("Split:"));
    }

    #[test]
    fn json_round_trips() {
        let report = doctor_report(
            &machines::rtx_4090(),
            &[seven_b()],
            &PlanSettings::default(),
        );
        let json = serde_json::to_string(&report).expect("serialises");
        let back: DoctorReport = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, report);
        let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(value["models"][0]["recommended"]["device"]["kind"], "cuda");
        assert_eq!(
            value["models"][0]["recommended"]["fit"]["level"],
            "comfortable"
        );
    }
}
