//! Download events for a CLI or a UI, and the meter that turns byte counts into speed and ETA.
//! Events serialise as `{"event": "Progressed", "data": {...}}` (Tauri channel friendly).
//! `Progressed` is throttled to one per `progress_interval` (default 100 ms, ≤ 10/s); all other
//! events are rare and always delivered.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jslm_core::ErrorCode;

/// One file of a resolved download plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlannedFile {
    /// Repo-relative name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Bytes already on disk (complete blob or partial download).
    pub present: u64,
}

/// Something that happened during [`crate::DownloadManager::download`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "event", content = "data")]
pub enum DownloadEvent {
    /// The revision was pinned to a commit and the file list, sizes and free space are known.
    Resolved {
        repo: String,
        revision: String,
        commit: String,
        files: Vec<PlannedFile>,
        /// Bytes of all files.
        total_bytes: u64,
        /// Bytes already on disk before this run (resumed or reused).
        present_bytes: u64,
    },
    /// Another process (or task) is downloading this file; waiting for it.
    LockWaited { file: String },
    /// A file starts downloading; `resumed_from` > 0 when continuing a partial file.
    FileStarted {
        file: String,
        size: u64,
        resumed_from: u64,
    },
    /// Bytes arrived. Throttled.
    Progressed {
        file: String,
        file_done: u64,
        file_total: u64,
        done: u64,
        total: u64,
        /// Recent speed in bytes per second (5 s window).
        bytes_per_sec: f64,
        /// Estimated seconds left for the whole download; `None` until a speed is known.
        eta_secs: Option<f64>,
    },
    /// A connection dropped, stalled or got a 5xx; retrying after `delay_ms`, resuming with Range.
    Retried {
        file: String,
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
    /// The server ignored a Range request (answered 200): the file starts over from zero.
    Restarted { file: String, reason: String },
    /// The file's sha256 (LFS) or git oid (small files) matched.
    Verified { file: String, digest: String },
    /// The file did not match and was deleted; `will_retry` says whether it is fetched again.
    VerificationFailed {
        file: String,
        expected: String,
        actual: String,
        will_retry: bool,
    },
    /// An optional file was not downloaded (e.g. a companion tokenizer from a gated repo).
    Skipped {
        repo: String,
        file: String,
        reason: String,
        code: ErrorCode,
    },
    /// A file is complete and linked into the snapshot (`reused`: nothing was downloaded).
    FileFinished {
        file: String,
        path: PathBuf,
        reused: bool,
    },
    /// The hub could not be reached or offline mode is on; a complete cached copy is used.
    UsedCache {
        repo: String,
        commit: String,
        reason: String,
    },
    /// Everything is in place.
    Finished {
        repo: String,
        commit: String,
        snapshot_dir: PathBuf,
        downloaded_bytes: u64,
    },
}

/// Speed over a sliding window and ETA from it.
#[derive(Debug)]
pub struct RateMeter {
    window: Duration,
    samples: VecDeque<(Instant, u64)>,
    transferred: u64,
}

impl RateMeter {
    /// A meter averaging over `window` (5 s in downloads).
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            samples: VecDeque::new(),
            transferred: 0,
        }
    }

    /// Records `bytes` more transferred at `now`.
    pub fn add(&mut self, now: Instant, bytes: u64) {
        self.transferred += bytes;
        self.samples.push_back((now, self.transferred));
        while let Some(&(t, _)) = self.samples.front() {
            if now.duration_since(t) > self.window && self.samples.len() > 2 {
                self.samples.pop_front();
            } else {
                break;
            }
        }
    }

    /// Bytes per second over the window; 0 until two samples 50 ms apart exist.
    pub fn bytes_per_sec(&self) -> f64 {
        match (self.samples.front(), self.samples.back()) {
            (Some(&(t0, b0)), Some(&(t1, b1))) => {
                let secs = t1.duration_since(t0).as_secs_f64();
                if secs < 0.05 {
                    0.0
                } else {
                    (b1 - b0) as f64 / secs
                }
            }
            _ => 0.0,
        }
    }

    /// Seconds to transfer `remaining` bytes at the current speed.
    pub fn eta_secs(&self, remaining: u64) -> Option<f64> {
        let speed = self.bytes_per_sec();
        (speed > 0.0).then(|| remaining as f64 / speed)
    }
}

/// Wraps the caller's callback: throttles `Progressed`, passes everything else through.
pub(crate) struct EventSink<'a> {
    callback: &'a (dyn Fn(DownloadEvent) + Send + Sync),
    interval: Duration,
    last_progress: Mutex<Option<Instant>>,
}

impl<'a> EventSink<'a> {
    pub(crate) fn new(
        callback: &'a (dyn Fn(DownloadEvent) + Send + Sync),
        interval: Duration,
    ) -> Self {
        Self {
            callback,
            interval,
            last_progress: Mutex::new(None),
        }
    }

    /// Delivers a non-progress event.
    pub(crate) fn emit(&self, event: DownloadEvent) {
        (self.callback)(event);
    }

    /// True if a `Progressed` event may be sent now (and records that it is being sent).
    pub(crate) fn progress_due(&self, now: Instant) -> bool {
        let Ok(mut last) = self.last_progress.lock() else {
            return false;
        };
        match *last {
            Some(t) if now.duration_since(t) < self.interval => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn events_serialise_tagged() {
        let e = DownloadEvent::Retried {
            file: "a".into(),
            attempt: 2,
            delay_ms: 100,
            reason: "dropped".into(),
        };
        let json = serde_json::to_value(&e).expect("json");
        assert_eq!(json["event"], "Retried");
        assert_eq!(json["data"]["attempt"], 2);
    }

    #[test]
    fn meter_speed_and_eta() {
        let t0 = Instant::now();
        let mut m = RateMeter::new(Duration::from_secs(5));
        assert_eq!(m.bytes_per_sec(), 0.0);
        assert_eq!(m.eta_secs(100), None);
        m.add(t0, 0);
        m.add(t0 + Duration::from_secs(1), 1_000);
        m.add(t0 + Duration::from_secs(2), 1_000);
        assert!((m.bytes_per_sec() - 1_000.0).abs() < 1e-6);
        assert!((m.eta_secs(5_000).expect("eta") - 5.0).abs() < 1e-6);
        // Old samples leave the window: speed follows the recent rate.
        m.add(t0 + Duration::from_secs(10), 0);
        m.add(t0 + Duration::from_secs(11), 4_000);
        assert!(
            (m.bytes_per_sec() - 4_000.0).abs() < 1e-6,
            "{}",
            m.bytes_per_sec()
        );
    }

    #[test]
    fn progress_is_throttled_to_the_interval() {
        let count = AtomicUsize::new(0);
        let cb = |_e: DownloadEvent| {
            count.fetch_add(1, Ordering::Relaxed);
        };
        let sink = EventSink::new(&cb, Duration::from_millis(100));
        let t0 = Instant::now();
        let mut sent = 0;
        // 1000 chunks over 1 s → at most 10 (plus the first) progress events.
        for i in 0..1000u64 {
            if sink.progress_due(t0 + Duration::from_millis(i)) {
                sent += 1;
            }
        }
        assert!(sent <= 11, "{sent}");
        assert!(sent >= 9, "{sent}");
        sink.emit(DownloadEvent::LockWaited { file: "f".into() });
        assert_eq!(count.load(Ordering::Relaxed), 1);
    }
}
