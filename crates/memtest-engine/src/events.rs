//! Reading a test process's events file: while it runs (progress: tests done
//! of total, elapsed, the slowest so far) and after (every check's result,
//! how each test ended, and the test a crash interrupted).

use std::path::Path;

use crate::error::{harness, Result};
use crate::protocol::{BeginEvent, EndEvent, Event, Outcome, ResultLine, SessionEvent};

/// What one process wrote.
#[derive(Debug, Default)]
pub struct Events {
    pub session: Option<SessionEvent>,
    pub begun: Vec<BeginEvent>,
    pub ended: Vec<EndEvent>,
    /// Every check's result, with the raw line (report.json keeps it whole).
    pub results: Vec<(ResultLine, serde_json::Value)>,
}

impl Events {
    /// Reads `path` (missing: nothing written yet). A last line cut short (the
    /// process died while writing) is left out; any other bad line is an error.
    pub fn read(path: &Path) -> Result<Events> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(harness!("reading {}: {e}", path.display())),
        };
        let mut ev = Events::default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        for (i, line) in lines.iter().enumerate() {
            let last_cut = i + 1 == lines.len() && !text.ends_with('\n');
            let event: Event = match serde_json::from_str(line) {
                Ok(e) => e,
                Err(_) if last_cut => break,
                Err(e) => {
                    return Err(harness!(
                        "{}:{}: an event this engine does not read ({e}); are the memtest command and its Python package of one version?",
                        path.display(),
                        i + 1
                    ))
                }
            };
            match event {
                Event::Session(s) => ev.session = Some(s),
                Event::Begin(b) => ev.begun.push(b),
                Event::End(e) => ev.ended.push(e),
                Event::Result(r) => {
                    let raw = serde_json::from_str(line).unwrap_or_default();
                    ev.results.push((*r, raw));
                }
            }
        }
        Ok(ev)
    }

    /// Adds another process's events (its session is kept when none was).
    pub fn absorb(&mut self, other: Events) {
        self.session = self.session.take().or(other.session);
        self.begun.extend(other.begun);
        self.ended.extend(other.ended);
        self.results.extend(other.results);
    }

    /// The test that began and never ended: what a crash interrupted.
    pub fn unfinished(&self) -> Option<&str> {
        let last = self.begun.last()?;
        (!self.ended.iter().any(|e| e.test == last.test)).then_some(last.test.as_str())
    }

    /// Tests ended, with how.
    pub fn outcome_of(&self, test: &str) -> Option<Outcome> {
        self.ended
            .iter()
            .rev()
            .find(|e| e.test == test)
            .map(|e| e.outcome)
    }

    /// `12/40 tests, slowest tests/t.py::test_x 8.1 s`.
    pub fn progress(&self, total: usize) -> String {
        let mut s = format!("{}/{} tests", self.ended.len(), total);
        if let Some(slow) = self
            .ended
            .iter()
            .max_by(|a, b| a.seconds.total_cmp(&b.seconds))
        {
            s += &format!(", slowest {} {:.1}s", slow.test, slow.seconds);
        }
        if let Some(t) = self.unfinished() {
            s += &format!(", running {t}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_last_line_is_left_out_and_the_unfinished_test_named() {
        let dir = std::env::temp_dir().join(format!("memtest-events-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("e.jsonl");
        std::fs::write(
            &f,
            "{\"kind\":\"begin\",\"test\":\"t1\",\"index\":0,\"total\":2}\n\
             {\"kind\":\"end\",\"test\":\"t1\",\"outcome\":\"passed\",\"seconds\":1.5,\"message\":\"\"}\n\
             {\"kind\":\"begin\",\"test\":\"t2\",\"index\":1,\"total\":2}\n{\"kind\":\"res",
        )
        .unwrap();
        let ev = Events::read(&f).unwrap();
        assert_eq!(ev.unfinished(), Some("t2"));
        assert_eq!(ev.outcome_of("t1"), Some(Outcome::Passed));
        assert_eq!(ev.progress(2), "1/2 tests, slowest t1 1.5s, running t2");
        std::fs::write(&f, "{\"kind\":\"nonsense\"}\n").unwrap();
        assert!(Events::read(&f).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
