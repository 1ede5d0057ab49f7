//! The memcheck command line of the Valgrind stage.

use std::path::PathBuf;

/// How the Valgrind stage runs memcheck.
#[derive(Debug, Clone)]
pub struct MemcheckOptions {
    pub track_origins: bool,
    /// `--track-fds=yes` (Valgrind 3.23 and later write fd errors in XML):
    /// descriptors our code opens and never closes are reported with where
    /// they were opened.
    pub track_fds: bool,
    pub gen_suppressions: bool,
    pub num_callers: u32,
    pub extra_args: Vec<String>,
    pub suppressions: Vec<PathBuf>,
}

impl MemcheckOptions {
    /// The command line without `--xml-file`.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = [
            "--tool=memcheck",
            "--leak-check=full",
            "--show-leak-kinds=all",
            "--errors-for-leak-kinds=definite",
            "--error-limit=no",
            "--xml=yes",
            "--child-silent-after-fork=yes",
        ]
        .map(String::from)
        .to_vec();
        a.push(format!("--num-callers={}", self.num_callers));
        for f in &self.suppressions {
            a.push(format!("--suppressions={}", f.display()));
        }
        if self.track_origins {
            a.push("--track-origins=yes".into());
        }
        if self.gen_suppressions {
            a.push("--gen-suppressions=all".into());
        }
        if self.track_fds {
            a.push("--track-fds=yes".into());
        }
        a.extend(self.extra_args.iter().cloned());
        a
    }
}
