//! Renders [`DownloadEvent`]s on stderr: an overall bar and a bar for the current file (bytes,
//! speed, ETA) on a terminal; plain lines for the important events otherwise (logs, CI).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use jslm_hub::units::human_bytes;
use jslm_hub::DownloadEvent;

/// Progress display for one download command.
pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    file: Mutex<Option<ProgressBar>>,
    terminal: bool,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Bars {
    /// Bars on stderr (hidden when stderr is not a terminal).
    pub fn new() -> Self {
        let terminal = std::io::stderr().is_terminal();
        let target = if terminal {
            ProgressDrawTarget::stderr_with_hz(10)
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(style(
            "{msg:30!} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        ));
        overall.set_message("total");
        Self {
            multi,
            overall,
            file: Mutex::new(None),
            terminal,
        }
    }

    fn line(&self, text: String) {
        if self.terminal {
            let _ = self.multi.println(text);
        } else {
            eprintln!("{text}");
        }
    }

    /// Handles one event.
    pub fn on_event(&self, event: &DownloadEvent) {
        match event {
            DownloadEvent::Resolved {
                repo,
                commit,
                files,
                total_bytes,
                present_bytes,
                ..
            } => {
                self.overall.set_length(*total_bytes);
                self.overall.set_position(*present_bytes);
                self.line(format!(
                    "{repo} @ {}: {} files, {} ({} already here)",
                    commit.get(..10).unwrap_or(commit),
                    files.len(),
                    human_bytes(*total_bytes),
                    human_bytes(*present_bytes)
                ));
            }
            DownloadEvent::FileStarted {
                file,
                size,
                resumed_from,
            } => {
                let bar = self.multi.add(ProgressBar::new(*size));
                bar.set_style(style("{msg:30!} [{bar:30}] {bytes}/{total_bytes}"));
                bar.set_message(file.clone());
                bar.set_position(*resumed_from);
                if *resumed_from > 0 {
                    self.line(format!(
                        "{file}: resuming at {}",
                        human_bytes(*resumed_from)
                    ));
                }
                if let Ok(mut slot) = self.file.lock() {
                    if let Some(old) = slot.replace(bar) {
                        old.finish_and_clear();
                    }
                }
            }
            DownloadEvent::Progressed {
                file_done, done, ..
            } => {
                self.overall.set_position(*done);
                if let Ok(slot) = self.file.lock() {
                    if let Some(bar) = slot.as_ref() {
                        bar.set_position(*file_done);
                    }
                }
            }
            DownloadEvent::LockWaited { file } => {
                self.line(format!("{file}: another download is writing it; waiting"))
            }
            DownloadEvent::Retried {
                file,
                attempt,
                delay_ms,
                reason,
            } => self.line(format!(
                "{file}: {reason}; retry {attempt} in {:.1} s",
                *delay_ms as f64 / 1000.0
            )),
            DownloadEvent::Restarted { file, reason } => {
                self.line(format!("{file}: {reason}; starting the file over"))
            }
            DownloadEvent::VerificationFailed {
                file, will_retry, ..
            } => self.line(format!(
                "{file}: checksum mismatch, file deleted{}",
                if *will_retry {
                    "; downloading it again"
                } else {
                    ""
                }
            )),
            DownloadEvent::Verified { .. } => {}
            DownloadEvent::Skipped {
                repo, file, code, ..
            } => self.line(format!("skipped optional {repo}/{file} ({code})")),
            DownloadEvent::FileFinished { .. } => {
                if let Ok(mut slot) = self.file.lock() {
                    if let Some(bar) = slot.take() {
                        bar.finish_and_clear();
                    }
                }
            }
            DownloadEvent::UsedCache { repo, reason, .. } => {
                self.line(format!("{repo}: using the cached copy ({reason})"))
            }
            DownloadEvent::Finished {
                downloaded_bytes, ..
            } => {
                self.overall.finish_and_clear();
                self.line(format!(
                    "done: {} downloaded",
                    human_bytes(*downloaded_bytes)
                ));
            }
        }
    }

    /// Removes the bars (before an error message, so it is the last line).
    pub fn clear(&self) {
        if let Ok(mut slot) = self.file.lock() {
            if let Some(bar) = slot.take() {
                bar.finish_and_clear();
            }
        }
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
        std::thread::sleep(Duration::from_millis(1));
    }
}
