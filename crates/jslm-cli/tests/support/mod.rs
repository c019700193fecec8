//! What several end-to-end test files share: sending Ctrl-C to a running `jslm` and waiting
//! for it with a deadline, so that a process that ignores Ctrl-C fails the test instead of
//! hanging it.

#![allow(dead_code)] // each test file uses its own part

use std::io::Read;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Sends SIGINT to `child`, as Ctrl-C in a terminal does (`kill -INT`, no libc needed).
pub fn ctrl_c(child: &Child) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -INT failed");
}

/// Waits up to `limit` for `child` to exit; kills it and panics (with its stderr) past that.
pub fn exit_within(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("poll") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut stderr);
            }
            panic!("{what}: still running {limit:?} after Ctrl-C\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
