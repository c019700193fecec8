//! Ctrl-C for the whole process, handled in one place: `main` installs it before any command
//! runs, and commands register what the first Ctrl-C should stop while it runs (a download's
//! cancellation token, a generation's `CancelFlag`, the server's shutdown).
//!
//! - The first Ctrl-C stops what is registered; the command then prints what it has and ends
//!   with exit code 130 (`jslm serve` shuts down as before). With nothing registered — a load,
//!   a quantization, a command that cannot stop midway — it exits 130 at once.
//! - A second Ctrl-C exits 130 at once, whatever runs.
//!
//! Why one owner: `tokio::signal::ctrl_c()` replaces SIGINT's default action for the whole
//! process the first time it is called, and nothing restores it. Each command used to call it
//! inside a short-lived runtime, so after that runtime was gone (the download before a
//! generation) Ctrl-C was swallowed and a long generation or quantization could no longer be
//! stopped. Here one thread listens for the process's whole life, and no other code listens.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// What the first Ctrl-C calls.
type Stop = Box<dyn FnOnce() + Send>;

/// The registered stops and the Ctrl-Cs seen so far.
#[derive(Default)]
struct Registry {
    next_id: u64,
    stops: Vec<(u64, Stop)>,
    presses: u32,
}

/// What one Ctrl-C does.
enum Action {
    /// Stop these; the command ends by itself.
    Stop(Vec<Stop>),
    /// Nothing can be stopped (or this is the second Ctrl-C): exit now.
    Exit,
}

impl Registry {
    const fn new() -> Self {
        Self {
            next_id: 0,
            stops: Vec::new(),
            presses: 0,
        }
    }

    fn press(&mut self) -> Action {
        self.presses = self.presses.saturating_add(1);
        if self.presses > 1 || self.stops.is_empty() {
            return Action::Exit;
        }
        Action::Stop(self.stops.drain(..).map(|(_, stop)| stop).collect())
    }

    fn register(&mut self, stop: Stop) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.stops.push((id, stop));
        id
    }

    fn unregister(&mut self, id: u64) {
        self.stops.retain(|(i, _)| *i != id);
    }
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry::new());

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    // A stop that panicked leaves nothing half-updated worth refusing Ctrl-C over.
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The exit code of a run stopped by Ctrl-C: 128 + SIGINT, as shells report it.
pub const EXIT_CODE: i32 = 130;

/// Registered while it lives: the first Ctrl-C calls its stop. Dropping it unregisters.
pub struct OnCtrlC {
    id: u64,
    fired: Arc<AtomicBool>,
}

impl OnCtrlC {
    /// Whether Ctrl-C called this stop.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

impl Drop for OnCtrlC {
    fn drop(&mut self) {
        registry().unregister(self.id);
    }
}

/// Calls `stop` on the first Ctrl-C while the returned guard lives.
pub fn on_ctrl_c(stop: impl FnOnce() + Send + 'static) -> OnCtrlC {
    let fired = Arc::new(AtomicBool::new(false));
    let flag = fired.clone();
    let id = registry().register(Box::new(move || {
        flag.store(true, Ordering::SeqCst);
        stop();
    }));
    OnCtrlC { id, fired }
}

/// A download cancellation token cancelled by the first Ctrl-C while the guard lives.
pub fn cancellation_token() -> (jslm_hub::CancellationToken, OnCtrlC) {
    let token = jslm_hub::CancellationToken::new();
    let trigger = token.clone();
    (token, on_ctrl_c(move || trigger.cancel()))
}

/// One Ctrl-C, as the listening thread sees it.
fn pressed() {
    let action = registry().press();
    match action {
        Action::Stop(stops) => {
            eprintln!("\ninterrupted: stopping (Ctrl-C again to quit at once)");
            for stop in stops {
                stop();
            }
        }
        Action::Exit => {
            eprintln!("\nerror: interrupted (Ctrl-C)");
            std::process::exit(EXIT_CODE);
        }
    }
}

/// Starts the one Ctrl-C listener; returns once it listens, so no Ctrl-C falls between.
pub fn install() -> anyhow::Result<()> {
    let (ready, listening) = std::sync::mpsc::channel::<std::io::Result<()>>();
    std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = ready.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let mut signal = match listen() {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let _ = ready.send(Ok(()));
                while signal.recv().await.is_some() {
                    pressed();
                }
            });
        })?;
    listening
        .recv()
        .map_err(|_| anyhow::anyhow!("the Ctrl-C listener did not start"))??;
    Ok(())
}

/// One stream of Ctrl-C events for the process's life (a fresh `ctrl_c()` per press could
/// miss a press that comes between two).
#[cfg(unix)]
fn listen() -> std::io::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
}

#[cfg(windows)]
fn listen() -> std::io::Result<tokio::signal::windows::CtrlC> {
    tokio::signal::windows::ctrl_c()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> (Arc<std::sync::atomic::AtomicU32>, Stop) {
        let count = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let c = count.clone();
        (
            count,
            Box::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
            }),
        )
    }

    #[test]
    fn the_first_press_stops_what_runs_the_second_exits() {
        let mut r = Registry::new();
        let (a, stop_a) = counter();
        let (b, stop_b) = counter();
        r.register(stop_a);
        r.register(stop_b);
        let Action::Stop(stops) = r.press() else {
            panic!("the first press exits")
        };
        stops.into_iter().for_each(|s| s());
        assert_eq!((a.load(Ordering::SeqCst), b.load(Ordering::SeqCst)), (1, 1));
        let (_, stop_c) = counter();
        r.register(stop_c);
        assert!(matches!(r.press(), Action::Exit), "a second press exits");
    }

    #[test]
    fn a_press_with_nothing_to_stop_exits() {
        let mut r = Registry::new();
        let (count, stop) = counter();
        let id = r.register(stop);
        r.unregister(id);
        assert!(matches!(r.press(), Action::Exit));
        assert_eq!(count.load(Ordering::SeqCst), 0);
    }
}
