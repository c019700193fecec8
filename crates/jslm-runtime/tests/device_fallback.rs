//! A GPU the plan chose by itself that then does not start (no driver, too old, a build
//! without its backend) must not stop the model: it runs on the CPU and says why. A GPU the
//! user asked for fails with `device_unavailable` instead. Uses the tiny fixture model and
//! this machine's profile with an NVIDIA card added that this build cannot open.

use jslm_core::ErrorCode;
use jslm_hardware::{
    BackendStatus, ComputeDevice, DetectOptions, DeviceKind, HardwareProfile, NvidiaGpu,
};
use jslm_runtime::{plan, LoadEvent, LoadPlaces, ModelSource, RunChoices};
use std::path::PathBuf;

fn tiny_model() -> ModelSource {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-mistral");
    ModelSource::from_path(&dir, None)
}

/// This machine with a 24 GB card whose CUDA backend has not been probed, as a `cuda` build
/// sees it before the first device is opened.
fn with_unopenable_gpu() -> HardwareProfile {
    let mut profile = HardwareProfile::detect(&DetectOptions::default());
    profile.nvidia_gpus = vec![NvidiaGpu {
        nvml_index: 0,
        cuda_ordinal: Some(0),
        name: "NVIDIA GeForce RTX 4090".into(),
        uuid: "GPU-00000000".into(),
        total_vram_bytes: 24 << 30,
        free_vram_bytes: 22 << 30,
        compute_capability: Some((8, 9)),
    }];
    profile.backends.cuda = BackendStatus::NotProbed;
    profile
}

/// Where quantized files go; `None` in a CUDA build, where the card might open (these
/// failures are tested in CPU-only builds).
fn cpu_only_places() -> Option<LoadPlaces> {
    (!cfg!(feature = "cuda")).then(|| LoadPlaces {
        quantized_dir: tempfile::tempdir().unwrap().keep(),
    })
}

#[test]
fn a_gpu_that_does_not_start_falls_back_to_the_cpu() {
    let Some(places) = cpu_only_places() else {
        return;
    };
    let planned = plan(&with_unopenable_gpu(), tiny_model(), &RunChoices::default()).unwrap();
    assert!(
        matches!(planned.plan.device, ComputeDevice::Cuda { .. }),
        "{:?}",
        planned.plan.device
    );
    let mut events = Vec::new();
    let loaded = planned.load(&places, |e| events.push(e)).unwrap();
    assert_eq!(loaded.report.model.device, ComputeDevice::Cpu);
    let fallback = loaded
        .report
        .fallback
        .as_ref()
        .expect("the report says why");
    assert!(matches!(fallback.device, ComputeDevice::Cuda { .. }));
    assert_eq!(fallback.device_name, "NVIDIA GeForce RTX 4090");
    assert!(!fallback.message.is_empty());
    // The window and CLI learn the new plan before its weights load.
    assert!(
        events.iter().any(|e| matches!(
            e,
            LoadEvent::Planned {
                device: ComputeDevice::Cpu,
                ..
            }
        )),
        "{events:?}"
    );
    // And the report (history, --json) carries it.
    let json = serde_json::to_value(&loaded.report).unwrap();
    assert_eq!(json["fallback"]["device_name"], "NVIDIA GeForce RTX 4090");
}

#[test]
fn a_gpu_the_user_asked_for_fails_clearly() {
    let Some(places) = cpu_only_places() else {
        return;
    };
    let choices = RunChoices {
        device: Some(DeviceKind::Cuda),
        ..RunChoices::default()
    };
    let planned = plan(&with_unopenable_gpu(), tiny_model(), &choices).unwrap();
    let err = planned.load(&places, |_| {}).unwrap_err();
    assert_eq!(err.code(), ErrorCode::DeviceUnavailable, "{err}");
}

/// A split the user asked for (`--gpu-layers`) on a GPU that does not start: not run on the
/// CPU instead of what was asked, but refused, naming the setting and the GPU's failure.
#[test]
fn a_split_on_a_gpu_that_does_not_start_is_refused_clearly() {
    let Some(places) = cpu_only_places() else {
        return;
    };
    let gguf = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/tiny-mistral-llamacpp/model-q8_0.gguf");
    let choices = RunChoices {
        gpu_layers: Some(1),
        ..RunChoices::default()
    };
    let planned = plan(
        &with_unopenable_gpu(),
        ModelSource::from_path(&gguf, None),
        &choices,
    )
    .unwrap();
    let split = planned.plan.split.as_ref().expect("a split was planned");
    assert_eq!((split.gpu_layers, split.total_layers), (1, 2));
    let err = planned.load(&places, |_| {}).unwrap_err();
    assert_eq!(err.code(), ErrorCode::OverrideRefused, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("gpu_layers") && message.contains("CUDA did not start"),
        "{message}"
    );
}

/// A GPU the plan chose that does not start, on a machine whose RAM cannot take the model
/// either: `will_not_fit`, saying that the CPU had to take it because the GPU did not start.
#[test]
fn a_gpu_that_does_not_start_and_too_little_ram_say_both() {
    let Some(places) = cpu_only_places() else {
        return;
    };
    let mut profile = with_unopenable_gpu();
    profile.memory.available_bytes = 1 << 20;
    let planned = plan(&profile, tiny_model(), &RunChoices::default()).unwrap();
    assert!(matches!(planned.plan.device, ComputeDevice::Cuda { .. }));
    let err = planned.load(&places, |_| {}).unwrap_err();
    assert_eq!(err.code(), ErrorCode::WillNotFit, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("on the CPU alone, because NVIDIA GeForce RTX 4090 did not start"),
        "{message}"
    );
}
