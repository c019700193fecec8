//! Detection on the machine running the tests. CI machines have no GPU, so the plan for the
//! 7B must be a CPU plan there; on a developer's GPU machine the GPU assertions are skipped.

use jslm_hardware::{
    doctor_report, plan, Container, DetectOptions, DeviceKind, HardwareProfile, ModelShape,
    ModelSpec, PlanSettings, Precision, WeightFile,
};

#[test]
fn profile_is_sane_and_plan_is_cpu_without_a_gpu() {
    let profile = HardwareProfile::detect(&DetectOptions {
        model_cache_dir: Some(std::env::temp_dir().join("jslm-smoke-cache")),
        probe_backends: true,
        ..Default::default()
    });
    assert!(profile.memory.total_bytes > 0, "{profile:#?}");
    assert!(profile.memory.available_bytes <= profile.memory.total_bytes);
    assert!(profile.cpu.physical_cores > 0 && profile.cpu.logical_cores > 0);
    assert!(profile.model_cache_disk.is_some(), "{profile:#?}");

    // The 7B's shape and its official bf16 shards (the catalog's numbers).
    let model = ModelSpec::new(
        "Japanese StableLM Instruct Gamma 7B",
        ModelShape {
            hidden_size: 4096,
            intermediate_size: 14336,
            num_hidden_layers: 32,
            num_attention_heads: 32,
            num_key_value_heads: 8,
            head_dim: 128,
            vocab_size: 32000,
        },
        4096,
        vec![WeightFile {
            container: Container::Safetensors,
            precision: Precision::Bf16,
            size_bytes: 14_480_000_000,
        }],
    );
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
