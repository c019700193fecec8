//! Records the commit `jslm --version` reports (see `build_info.rs`).

include!("build_info.rs");

fn main() {
    record_commit();
}
