//! The CPU thread count the engine's thread pool (rayon's, shared with candle) reads from the
//! environment when it starts: `RAYON_NUM_THREADS`.
//!
//! They are set from the device plan in `main`, before Tauri starts any thread: changing the
//! environment later would race with GTK and WebKit threads reading it. The plan is made for
//! Japanese StableLM Instruct Gamma 7B, the model this app is for; the thread count depends on
//! the CPU only. A value the user set is kept.

use jslm_hardware::{plan, DetectOptions, DevicePlan, HardwareProfile, ModelSpec, PlanSettings};

/// The variables to set for `plan`, leaving out those `is_set` says exist already.
pub fn variables(plan: &DevicePlan, is_set: impl Fn(&str) -> bool) -> Vec<(&'static str, String)> {
    let mut vars = Vec::new();
    if !is_set("RAYON_NUM_THREADS") {
        vars.push(("RAYON_NUM_THREADS", plan.threads.max(1).to_string()));
    }
    vars
}

/// Plans the 7B model on this machine and sets the variables. Call only while the process
/// has a single thread.
pub fn apply() {
    let profile = HardwareProfile::detect(&DetectOptions::default());
    let plan = plan(
        &profile,
        &ModelSpec::japanese_stablelm_instruct_gamma_7b(),
        &PlanSettings::default(),
    );
    for (name, value) in variables(&plan, |k| std::env::var_os(k).is_some()) {
        std::env::set_var(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_follow_the_plan_unless_set() {
        let profile = HardwareProfile::detect(&DetectOptions::default());
        let mut p = plan(
            &profile,
            &ModelSpec::japanese_stablelm_instruct_gamma_7b(),
            &PlanSettings::default(),
        );
        p.threads = 6;
        assert_eq!(
            variables(&p, |_| false),
            vec![("RAYON_NUM_THREADS", "6".to_string())]
        );
        assert_eq!(variables(&p, |_| true), vec![]);
        p.threads = 0;
        assert_eq!(
            variables(&p, |_| false),
            vec![("RAYON_NUM_THREADS", "1".to_string())]
        );
    }
}
