//! One run at a time on the loaded network. A second run (a generation, a logits call, a
//! benchmark) that comes while one goes is refused with [`EngineError::Busy`] rather than
//! queued: the window and the server say so, or queue it themselves. Prompt work ahead of a
//! run (`Engine::warm_prompt_cache`, `Engine::prefill_prompt_ahead`) is not a run: it only
//! holds the lock for a pass at a time and stops when it sees a run waiting, which waits for
//! that one pass.

use crate::error::{EngineError, Result};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug)]
pub(crate) struct RunLock<T> {
    value: Mutex<T>,
    /// Set from when a run is let in until it ends, its wait for the lock included.
    running: AtomicBool,
}

/// A run's hold: the lock, and the `running` flag, cleared when it drops.
pub(crate) struct Run<'a, T> {
    guard: MutexGuard<'a, T>,
    _running: RunningFlag<'a>,
}

struct RunningFlag<'a>(&'a AtomicBool);

impl<T> RunLock<T> {
    pub fn new(value: T) -> Self {
        Self {
            value: Mutex::new(value),
            running: AtomicBool::new(false),
        }
    }

    /// The value for one run, or [`EngineError::Busy`] while another run has it. While
    /// something else holds the lock (prompt work ahead of runs), waits for it.
    pub fn run(&self) -> Result<Run<'_, T>> {
        if self.running.swap(true, Ordering::Acquire) {
            return Err(EngineError::Busy);
        }
        let running = RunningFlag(&self.running);
        Ok(Run {
            guard: self.lock(),
            _running: running,
        })
    }

    /// Whether a run has the value or waits for it: work ahead of runs stops for it.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// The lock alone, waiting for a run that has it (what prompt work ahead of runs takes).
    pub fn lock(&self) -> MutexGuard<'_, T> {
        // A panic during an earlier pass poisoned it. The network's cache holds only what its
        // passes finished (`Network::reuse`), so the network is safe to use.
        self.value.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for RunningFlag<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl<T> Deref for Run<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for Run<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_second_run_is_refused_and_the_next_one_let_in() {
        let lock = RunLock::new(0u32);
        let mut first = lock.run().unwrap();
        *first += 1;
        assert!(matches!(lock.run(), Err(EngineError::Busy)));
        assert!(lock.is_running());
        drop(first);
        assert!(!lock.is_running());
        assert_eq!(*lock.run().unwrap(), 1);
    }

    #[test]
    fn a_run_waits_for_the_warm_up_and_a_second_is_still_refused() {
        let lock = RunLock::new(Vec::<&str>::new());
        let mut warm_up = lock.lock();
        let (started, waiting) = mpsc::channel();
        std::thread::scope(|s| {
            let run = s.spawn(|| {
                started.send(()).unwrap();
                lock.run().unwrap().push("run");
            });
            waiting.recv().unwrap();
            // Until the run has claimed its turn, a second claim could still win: wait for it
            // (or for its end, should it not wait).
            while !lock.is_running() && !run.is_finished() {
                std::thread::yield_now();
            }
            assert!(matches!(lock.run(), Err(EngineError::Busy)));
            std::thread::sleep(Duration::from_millis(20));
            assert!(!run.is_finished(), "the run waits for the warm-up's pass");
            warm_up.push("warm-up");
            drop(warm_up);
            run.join().unwrap();
        });
        assert_eq!(*lock.lock(), ["warm-up", "run"]);
        assert!(lock.run().is_ok(), "the run ended");
    }

    #[test]
    fn a_run_that_panicked_leaves_the_lock_usable() {
        let lock = RunLock::new(7u32);
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _run = lock.run().unwrap();
            panic!("a kernel bug");
        }));
        assert_eq!(*lock.run().unwrap(), 7);
    }
}
