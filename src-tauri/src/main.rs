// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // The CPU build hands over to its CUDA twin where this machine can run it (gpu_variant).
    jslm_runtime::start_gpu_variant_if_usable();
    jslm_desktop::run();
}
