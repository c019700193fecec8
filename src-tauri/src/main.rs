// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // Before any thread exists: see `cpu_env`.
    jslm_desktop::cpu_env::apply();
    jslm_desktop::run();
}
