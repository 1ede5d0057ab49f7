//! Step headers and times on the terminal.

use std::time::{Duration, Instant};

pub fn fmt_secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// A named step: prints a header when it starts and its time when it ends.
pub struct Step {
    name: String,
    start: Instant,
}

impl Step {
    pub fn start(name: impl Into<String>) -> Step {
        let name = name.into();
        println!("\n==> {name}");
        Step {
            name,
            start: Instant::now(),
        }
    }

    pub fn done(self) -> Duration {
        let d = self.start.elapsed();
        println!("<== {} ({})", self.name, fmt_secs(d));
        d
    }
}
