//! Disk full on a real small file system: a 3 MiB tmpfs (needs root or CAP_SYS_ADMIN to mount;
//! skipped with a printed reason otherwise — `download.rs` covers the check with an injected
//! free-space value everywhere).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use jslm_hub::disk::FixedFreeSpace;
use jslm_hub::{CancellationToken, DownloadRequest};
use support::*;

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(dir: &Path, size: &str) -> Result<Mount, String> {
    if !cfg!(target_os = "linux") {
        return Err("tmpfs mounts are Linux-only".into());
    }
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if out.status.success() {
        Ok(Mount(dir.to_path_buf()))
    } else {
        Err(format!(
            "mount failed (not root / no CAP_SYS_ADMIN?): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_on_a_small_tmpfs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mount_point = dir.path().join("small");
    let _mount = match mount_tmpfs(&mount_point, "3m") {
        Ok(m) => m,
        Err(reason) => {
            println!("SKIPPED disk_full_on_a_small_tmpfs: {reason}");
            return;
        }
    };
    let hub = server().await;
    let cache = mount_point.join("hub");

    // 1. The real free-space check refuses before the first byte (4 MiB needed, < 3 MiB free).
    let m = manager(&hub.endpoint, cache.clone(), None);
    let err = m
        .download(
            DownloadRequest::new("org/plain"),
            |_| {},
            CancellationToken::new(),
        )
        .await
        .expect_err("too big");
    assert_eq!(err.code(), "disk_full");
    assert!(err.to_string().contains("free on"), "{err}");
    assert_eq!(hub.total_bytes_served(), 0);

    // 2. The disk fills up during the download (as if another program took the space after the
    //    check, simulated by bypassing the check): a clear error, and nothing marked complete.
    let m = manager(&hub.endpoint, cache.clone(), None)
        .with_free_space(Arc::new(FixedFreeSpace(u64::MAX)));
    let err = m
        .download(
            DownloadRequest::new("org/plain"),
            |_| {},
            CancellationToken::new(),
        )
        .await
        .expect_err("fills up");
    assert_eq!(err.code(), "disk_full", "{err}");
    assert!(err.to_string().contains("filled up"), "{err}");
    assert!(m
        .find_local(&DownloadRequest::new("org/plain"))
        .expect("lookup")
        .is_none());
    let sha = &hub.repo("org/plain").expect("repo").files["model.safetensors"].sha256;
    assert!(
        !cache.join("models--org--plain/blobs").join(sha).exists(),
        "no complete blob"
    );
    let snapshot = cache.join("models--org--plain/snapshots");
    let linked = std::fs::read_dir(&snapshot)
        .map(|d| {
            d.flatten()
                .any(|c| c.path().join("model.safetensors").exists())
        })
        .unwrap_or(false);
    assert!(!linked, "nothing in the snapshot for the incomplete file");
    let listed = jslm_hub::list_installed(m.cache()).expect("list");
    assert!(
        matches!(
            listed[0].revisions[0].status,
            jslm_hub::InstallStatus::Partial { .. }
        ),
        "{listed:?}"
    );
}
