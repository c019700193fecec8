//! The launcher in the CPU build (jslm_hardware::gpu_variant), end to end: a `jslm` with a
//! `jslm-cuda` beside it on a machine where the twin cannot run (no NVIDIA GPU, as in CI, or
//! `JSLM_GPU_VARIANT=off`) runs itself, says why in `jslm doctor`, and never starts the twin.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `jslm` in a folder of its own. A hard link where it can be: a copy is a file this process
/// had open for writing, and a test thread forking at that moment keeps it open in its child,
/// so running the copy can fail with ETXTBSY ("Text file busy"; seen once here).
fn install(dir: &Path) -> PathBuf {
    let jslm = dir.join("jslm");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_jslm"), &jslm).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_jslm"), &jslm).unwrap();
    }
    jslm
}

/// Runs `jslm doctor` with `args` and the launcher's switch as given, retrying the start while
/// a copied binary is still busy (see `install`).
fn doctor(jslm: &Path, args: &[&str], switch: Option<&str>) -> Output {
    for _ in 0..50 {
        let mut cmd = Command::new(jslm);
        cmd.arg("doctor").args(args);
        match switch {
            Some(value) => cmd.env("JSLM_GPU_VARIANT", value),
            None => cmd.env_remove("JSLM_GPU_VARIANT"),
        };
        match cmd.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            result => return result.unwrap(),
        }
    }
    panic!("{} stayed busy", jslm.display())
}

/// `jslm` in its own folder with a fake twin that would leave a mark if started.
fn install_with_twin(dir: &Path) -> (PathBuf, PathBuf) {
    let jslm = install(dir);
    let mark = dir.join("twin-ran");
    let twin = dir.join("jslm-cuda");
    std::fs::write(
        &twin,
        format!("#!/bin/sh\necho ran > '{}'\n", mark.display()),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&twin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (jslm, mark)
}

/// The CUDA build is the twin itself (ThisIsCuda): these tests are about the CPU build, and
/// a machine with a GPU may rightly start the twin.
fn has_nvidia_gpu() -> bool {
    cfg!(feature = "cuda") || Path::new("/dev/nvidia0").exists()
}

#[test]
fn without_a_gpu_the_cpu_build_runs_and_says_why() {
    if has_nvidia_gpu() {
        eprintln!("skipped: this machine has an NVIDIA GPU");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (jslm, mark) = install_with_twin(dir.path());
    let out = doctor(&jslm, &[], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Build:      CPU (no NVIDIA GPU visible to CUDA)"),
        "{stdout}"
    );
    assert!(!mark.exists(), "the CUDA twin was started");
}

#[test]
fn switched_off_keeps_the_cpu_build() {
    if cfg!(feature = "cuda") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (jslm, mark) = install_with_twin(dir.path());
    let out = doctor(&jslm, &["--json"], Some("off"));
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["profile"]["gpu_variant"],
        serde_json::json!({"kind": "stay_on_cpu", "reason": {"reason": "switched_off"}}),
        "{report}"
    );
    assert!(!mark.exists(), "the CUDA twin was started");
}

#[test]
fn an_install_without_a_twin_reports_none() {
    if cfg!(feature = "cuda") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let jslm = install(dir.path());
    let out = doctor(&jslm, &["--json"], None);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason = &report["profile"]["gpu_variant"]["reason"]["reason"];
    let expected = if has_nvidia_gpu() {
        "twin_not_installed"
    } else {
        "no_nvidia_gpu"
    };
    assert_eq!(reason, expected, "{report}");
}
