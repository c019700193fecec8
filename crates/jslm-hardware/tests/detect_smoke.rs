//! Detection on the machine running the tests. CI machines have no GPU, so the plan for the
//! 7B must be a CPU plan there; on a developer's GPU machine the GPU assertions are skipped.

use jslm_hardware::{
    doctor_report, plan, DetectOptions, DeviceKind, HardwareProfile, ModelSpec, PlanSettings,
};

#[test]
fn profile_is_sane_and_plan_is_cpu_without_a_gpu() {
    let profile = HardwareProfile::detect(&DetectOptions {
        model_cache_dir: Some(std::env::temp_dir().join("jslm-smoke-cache")),
        probe_backends: true,
    });
    assert!(profile.memory.total_bytes > 0, "{profile:#?}");
    assert!(profile.memory.available_bytes <= profile.memory.total_bytes);
    assert!(profile.cpu.physical_cores > 0 && profile.cpu.logical_cores > 0);
    assert!(profile.model_cache_disk.is_some(), "{profile:#?}");

    let model = ModelSpec::japanese_stablelm_instruct_gamma_7b();
    let plan = plan(&profile, &model, &PlanSettings::default());
    assert!(plan.threads >= 1);
    assert!(plan.memory.total_bytes > plan.memory.weights_bytes);
    if profile.nvidia_gpus.is_empty() && profile.apple_gpu.is_none() {
        assert_eq!(plan.device.kind(), DeviceKind::Cpu, "{plan:#?}");
        assert!(plan.precision.is_quantized(), "{plan:#?}");
    }

    let text = doctor_report(&profile, &[model], &PlanSettings::default()).render_text();
    assert!(text.contains("Japanese StableLM Instruct Gamma 7B"));
    assert!(!text.contains("NaN"));
}
