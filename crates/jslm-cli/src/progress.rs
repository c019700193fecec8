//! Progress bars on stderr for loading and quantizing.

use indicatif::{ProgressBar, ProgressStyle};
use jslm_runtime::LoadEvent;

/// Turns load events into an indicatif bar (hidden when stderr is not a terminal).
pub struct LoadBar {
    bar: Option<ProgressBar>,
}

impl LoadBar {
    pub fn new() -> Self {
        Self { bar: None }
    }

    pub fn update(&mut self, event: LoadEvent) {
        match event {
            LoadEvent::Started { .. } | LoadEvent::Planned { .. } => {}
            LoadEvent::Hashing { .. } => {
                let bar = ProgressBar::new_spinner().with_message("hashing source files");
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                self.replace(bar);
            }
            LoadEvent::Quantizing {
                bytes_done,
                bytes_total,
                tensors_done,
                tensors_total,
            } => {
                if self
                    .bar
                    .as_ref()
                    .is_none_or(|b| b.length() != Some(bytes_total))
                {
                    let bar = ProgressBar::new(bytes_total).with_style(
                        ProgressStyle::with_template(
                            "quantizing {bar:30} {binary_bytes}/{binary_total_bytes} {eta} {msg}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    self.replace(bar);
                }
                if let Some(bar) = &self.bar {
                    bar.set_position(bytes_done);
                    bar.set_message(format!("tensor {tensors_done}/{tensors_total}"));
                }
            }
            LoadEvent::CacheHit => {
                self.finish();
                eprintln!("using the quantized copy made earlier");
            }
            LoadEvent::LoadingWeights => {
                let bar = ProgressBar::new_spinner().with_message("loading weights");
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                self.replace(bar);
            }
        }
    }

    fn replace(&mut self, bar: ProgressBar) {
        self.finish();
        self.bar = Some(bar);
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
