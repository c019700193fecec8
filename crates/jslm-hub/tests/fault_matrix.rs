//! The fault matrix: one 4 MiB LFS file downloaded under each injected fault, counting the bytes
//! the server sent. Resumable faults must cost < 1.1× the file size; faults that force a restart
//! (a 200 answer to a Range request, corruption, an oversized body) cost at most the bytes before
//! the fault plus one full file. Run with `--nocapture` to see the table.

mod support;

use jslm_hub::{CancellationToken, DownloadEvent, DownloadRequest};
use jslm_hubtest::{Fault, FaultKind};
use support::*;

#[derive(Clone, Copy, PartialEq)]
enum Class {
    /// Must resume: < 1.1× the size.
    Resume,
    /// Restarts once: ≤ (bytes before the fault) + size + one chunk of slack.
    Restart(u64),
}

/// (name, faults with how many requests each affects, expected cost class)
type Trial = (&'static str, Vec<(FaultKind, u32)>, Class);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix() {
    let hub = server().await;
    let file = "model.safetensors";
    let size = (4 * MIB) as u64;
    let k = 1024u64;
    let m = MIB as u64;
    let trials: Vec<Trial> = vec![
        (
            "drop after 1 byte",
            vec![(FaultKind::DropAfter(1), 1)],
            Class::Resume,
        ),
        (
            "drop after 100 KiB",
            vec![(FaultKind::DropAfter(100 * k), 1)],
            Class::Resume,
        ),
        (
            "drop after 1 MiB",
            vec![(FaultKind::DropAfter(m), 1)],
            Class::Resume,
        ),
        (
            "drop after 2 MiB",
            vec![(FaultKind::DropAfter(2 * m), 1)],
            Class::Resume,
        ),
        (
            "drop 1 byte before the end",
            vec![(FaultKind::DropAfter(size - 1), 1)],
            Class::Resume,
        ),
        (
            "3 drops after 1 MiB each",
            vec![(FaultKind::DropAfter(m), 3)],
            Class::Resume,
        ),
        (
            "10 drops after 256 KiB each",
            vec![(FaultKind::DropAfter(256 * k), 10)],
            Class::Resume,
        ),
        (
            "stall at byte 0",
            vec![(FaultKind::StallAfter(0), 1)],
            Class::Resume,
        ),
        (
            "stall after 1 MiB",
            vec![(FaultKind::StallAfter(m), 1)],
            Class::Resume,
        ),
        ("500 ×3", vec![(FaultKind::Status(500), 3)], Class::Resume),
        (
            "503 ×5 (one short of giving up)",
            vec![(FaultKind::Status(503), 5)],
            Class::Resume,
        ),
        ("429 ×1", vec![(FaultKind::Status(429), 1)], Class::Resume),
        (
            "body 1000 bytes short (clean end)",
            vec![(FaultKind::WrongSize(-1000), 1)],
            Class::Resume,
        ),
        (
            "drop at 1 MiB, then 200 for the Range",
            vec![(FaultKind::DropAfter(m), 1), (FaultKind::IgnoreRange, 1)],
            Class::Restart(m),
        ),
        (
            "drop at 3 MiB, then 200 for the Range",
            vec![
                (FaultKind::DropAfter(3 * m), 1),
                (FaultKind::IgnoreRange, 1),
            ],
            Class::Restart(3 * m),
        ),
        (
            "corrupt byte 0",
            vec![(FaultKind::CorruptByte(0), 1)],
            Class::Restart(size),
        ),
        (
            "corrupt the last byte",
            vec![(FaultKind::CorruptByte(size - 1), 1)],
            Class::Restart(size),
        ),
        (
            "body 100 bytes too long",
            vec![(FaultKind::WrongSize(100), 1)],
            Class::Restart(size),
        ),
    ];
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for (name, faults, class) in &trials {
        let dir = tempfile::tempdir().expect("tempdir");
        let mgr = manager(&hub.endpoint, dir.path().join("hub"), None);
        hub.reset_stats();
        hub.clear_faults();
        for (kind, times) in faults {
            hub.add_fault(Fault::new(file, *kind, *times));
        }
        let rec = Recorder::default();
        let result = mgr
            .download(
                DownloadRequest::new("org/plain"),
                rec.callback(),
                CancellationToken::new(),
            )
            .await;
        let served = hub.bytes_served(file);
        let ratio = served as f64 / size as f64;
        let ok = match &result {
            Ok(model) => {
                let path = model.file(file).expect("file");
                jslm_hubtest::sha256_hex(&std::fs::read(path).expect("read"))
                    == hub.repo("org/plain").expect("repo").files[file].sha256
            }
            Err(_) => false,
        };
        let within = match class {
            Class::Resume => ratio < 1.1,
            Class::Restart(before) => served <= before + size + 64 * k,
        };
        let retries = rec.count("Retried");
        let restarts = rec.count("Restarted")
            + rec
                .events()
                .iter()
                .filter(|e| matches!(e, DownloadEvent::VerificationFailed { .. }))
                .count();
        rows.push(format!(
            "| {name} | {} | {served} | {size} | {ratio:.3} | {retries} | {restarts} | {} |",
            if ok { "ok, sha256 verified" } else { "FAILED" },
            match class {
                Class::Resume => "< 1.1×".to_string(),
                Class::Restart(b) => format!("≤ {:.2}×", (*b + size) as f64 / size as f64),
            }
        ));
        if !ok || !within {
            failures.push(format!(
                "{name}: ok={ok} served={served} result={:?}",
                result.err()
            ));
        }
    }
    println!("\n| fault | result | bytes served | file size | served/size | retries | restarts | bound |");
    println!("|---|---|---|---|---|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
