//! Progress bars on stderr for loading and quantizing.

use indicatif::{ProgressBar, ProgressStyle};
use jslm_engine::LoadProgress;

/// Turns engine load events into an indicatif bar (hidden when stderr is not a terminal).
pub struct LoadBar {
    bar: Option<ProgressBar>,
}

impl LoadBar {
    pub fn new() -> Self {
        Self { bar: None }
    }

    pub fn update(&mut self, event: LoadProgress) {
        match event {
            LoadProgress::Hashing => {
                let bar = ProgressBar::new_spinner().with_message("hashing source files");
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                self.replace(bar);
            }
            LoadProgress::Quantizing(p) => {
                if self
                    .bar
                    .as_ref()
                    .is_none_or(|b| b.length() != Some(p.bytes_total))
                {
                    let bar = ProgressBar::new(p.bytes_total).with_style(
                        ProgressStyle::with_template(
                            "quantizing {bar:30} {binary_bytes}/{binary_total_bytes} {eta} {msg}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    self.replace(bar);
                }
                if let Some(bar) = &self.bar {
                    bar.set_position(p.bytes_done);
                    bar.set_message(p.tensor);
                }
            }
            LoadProgress::QuantizedCacheHit(path) => {
                self.finish();
                eprintln!("using quantized model {}", path.display());
            }
            LoadProgress::LoadingWeights => {
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
