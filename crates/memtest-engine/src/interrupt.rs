//! Ctrl-C: the first one asks the run to stop and report what it has
//! (marked incomplete); a second one ends the process at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

/// Installs the handler (once per process; a no-op when another handler
/// was installed first).
pub fn install() {
    INSTALL.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if REQUESTED.swap(true, Ordering::SeqCst) {
                eprintln!("\nmemtest: interrupted twice, exiting now");
                std::process::exit(130);
            }
            eprintln!("\nmemtest: interrupted; stopping the tests and writing what was found (Ctrl-C again to quit now)");
        });
    });
}

/// Ctrl-C was pressed.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Sends SIGINT to a child (in a process group of its own, it does not get
/// the terminal's): pytest and unittest end the run, Valgrind writes its report.
pub fn forward(pid: u32) {
    // No libc binding for kill(2): the coreutils command does it.
    let _ = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
}
