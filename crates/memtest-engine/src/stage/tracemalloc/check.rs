//! A fast-stage check's result line as the report shows it: findings with
//! the curves that decided them.

use std::path::Path;

use crate::files::rel;
use crate::protocol::{Decision, ResultLine, RoundLine, ThreadKind};
use crate::report::{Curve, Finding, Rule, Trend};

/// `pkg._ext.open_log, called at /abs/tests/test_x.py:17` as the
/// function's last name (what the finding says) and the caller's place,
/// relative to the project root.
fn opener(root: &Path, where_: Option<&String>) -> (String, Option<String>) {
    let Some(w) = where_ else {
        return (String::new(), None);
    };
    let (func, at) = w.rsplit_once(", called at ").unwrap_or((w.as_str(), ""));
    let short = func.rsplit('.').next().unwrap_or(func);
    let place = at
        .rsplit_once(':')
        .map(|(file, line)| format!("{}:{line}", rel(root, Path::new(file))));
    (short.to_owned(), place)
}

/// What an fd points to, without what changes from run to run
/// (`pipe:[81234]` -> `pipe`).
fn fd_kind(target: &str) -> String {
    for kind in ["pipe", "socket"] {
        if target.starts_with(&format!("{kind}:[")) {
            return kind.to_owned();
        }
    }
    // `/proc/self/statm` reads back as `/proc/21744/statm`: the pid is not
    // what leaked, and the message must be the same in every run.
    if let Some(rest) = target.strip_prefix("/proc/") {
        if let Some((pid, tail)) = rest.split_once('/') {
            if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
                return format!("/proc/<pid>/{tail}");
            }
        }
    }
    target.to_owned()
}

/// A check's result as the report shows it.
pub(super) struct Check<'a> {
    pub(super) line: &'a ResultLine,
    /// The report's name of its test.
    pub(super) test: String,
    /// How the live-objects hook is named in messages (`pkg.counts()`).
    pub(super) live: &'a str,
}

impl Check<'_> {
    /// Python bytes and the C heap beyond them, from the end of the warm-up
    /// (0) through every measured round; live objects at the baseline and
    /// after the rounds.
    pub(super) fn curves(&self) -> Vec<Curve> {
        let mut out = Vec::new();
        let trend = |leaking: bool| {
            if leaking {
                Trend::Grows
            } else {
                Trend::Bounded
            }
        };
        let mut cumulative = |growth: fn(&RoundLine) -> Option<i64>,
                              metric: &str,
                              verdict: &Decision,
                              leaking: bool,
                              rule: Rule| {
            // The logged warm-up is the baseline: the curve starts at 0 there.
            let rounds: Vec<&RoundLine> = self.line.round_log.iter().skip(1).collect();
            if rounds.is_empty() || rounds.iter().any(|r| growth(r).is_none()) {
                return;
            }
            let mut total = 0;
            let mut values = vec![0];
            values.extend(rounds.iter().map(|r| {
                total += growth(r).unwrap_or(0);
                total
            }));
            let mut labels = vec!["warm-up".to_owned()];
            labels.extend(rounds.iter().map(|r| r.label.clone()));
            let iterations: u32 = rounds.iter().map(|r| r.iterations).sum();
            out.push(Curve {
                test: self.test.clone(),
                metric: metric.into(),
                labels,
                values,
                trend: trend(leaking),
                span_at_least: (verdict.threshold * f64::from(iterations)).round() as i64,
                decides: Some(rule),
            });
        };
        cumulative(
            |r| r.python_bytes,
            "Python bytes since the warm-up (tracemalloc)",
            &self.line.python,
            self.line.leaking,
            Rule::PythonGrowth,
        );
        cumulative(
            |r| r.c_heap_beyond_python_bytes,
            "C heap bytes beyond Python's since the warm-up (mallinfo2)",
            &self.line.c_heap,
            self.line.c_heap_leaking,
            Rule::CHeapGrowth,
        );
        let l = self.line;
        if !l.live_baseline.is_empty() || !l.live_final.is_empty() {
            out.push(Curve {
                test: self.test.clone(),
                metric: format!("native objects alive ({})", self.live),
                labels: vec!["baseline".into(), "after the rounds".into()],
                values: vec![l.live_baseline.values().sum(), l.live_final.values().sum()],
                trend: trend(!l.live_leaking.is_empty()),
                span_at_least: 1,
                decides: Some(Rule::LiveObjects),
            });
        }
        out
    }

    pub(super) fn findings(&self, root: &Path) -> Vec<Finding> {
        let mut v = Vec::new();
        let test = Some(self.test.clone());
        let l = self.line;
        if l.leaking {
            v.push(Finding {
                test: test.clone(),
                location: l.top_sites.first().map(|s| rel(root, Path::new(&s.site))),
                bytes: Some((l.bytes_per_iteration * f64::from(l.iterations)).round() as u64),
                detail: format!(
                    "{:.1} bytes/iteration; per round: {:?} bytes; {}",
                    l.bytes_per_iteration, l.growth_bytes, l.python.reason
                ),
                ..Finding::new(Rule::PythonGrowth, "python memory grows every round")
            });
        }
        if l.c_heap_leaking {
            v.push(Finding {
                test: test.clone(),
                bytes: Some(
                    (l.c_heap.bytes_per_iteration * f64::from(l.iterations)).round() as u64,
                ),
                detail: format!(
                    "{:.1} bytes/iteration; per round: {:?} bytes; {}; the Valgrind stage shows where",
                    l.c_heap.bytes_per_iteration, l.c_heap_growth_bytes, l.c_heap.reason
                ),
                ..Finding::new(
                    Rule::CHeapGrowth,
                    "C heap grows beyond Python's allocations (native memory: C++ new, Rust)",
                )
            });
        }
        for (ty, n) in &l.live_leaking {
            v.push(Finding {
                test: test.clone(),
                blocks: Some(*n),
                detail: format!("{}[{ty:?}] stayed {n} above its baseline", self.live),
                ..Finding::new(Rule::LiveObjects, format!("native {ty} objects not freed"))
            });
        }
        for fd in &l.fd_leaks {
            let (func, place) = opener(root, fd.opened_in.as_ref());
            let by = if func.is_empty() {
                String::new()
            } else {
                format!(", opened in {func}")
            };
            v.push(Finding {
                test: test.clone(),
                location: place,
                detail: format!(
                    "fd {} -> {} was opened during the check and is still open{}",
                    fd.fd,
                    fd.target,
                    fd.opened_in
                        .as_ref()
                        .map(|w| format!(" (opened in {w})"))
                        .unwrap_or_default()
                ),
                ..Finding::new(
                    Rule::FdLeak,
                    format!("file descriptor left open: {}{by}", fd_kind(&fd.target)),
                )
            });
        }
        for t in &l.thread_leaks {
            let (kind, id) = match t.kind {
                ThreadKind::Python => (
                    if t.daemon == Some(true) {
                        "Python daemon thread"
                    } else {
                        "Python thread"
                    },
                    String::new(),
                ),
                ThreadKind::Native => (
                    "native thread",
                    t.tid.map(|n| format!(", tid {n}")).unwrap_or_default(),
                ),
            };
            let (func, place) = opener(root, t.started_in.as_ref());
            let by = if func.is_empty() {
                String::new()
            } else {
                format!(", started in {func}")
            };
            v.push(Finding {
                test: test.clone(),
                location: place,
                detail: format!(
                    "{kind} {:?}{id} was started during the check and still runs after it{}",
                    t.name,
                    t.started_in
                        .as_ref()
                        .map(|w| format!(" (started in {w})"))
                        .unwrap_or_default()
                ),
                ..Finding::new(
                    Rule::ThreadLeak,
                    format!("thread left running: {:?} ({kind}){by}", t.name),
                )
            });
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::tracemalloc::{live_name, normalize};

    #[test]
    fn the_opener_is_its_last_name_and_a_project_place() {
        let root = Path::new("/w");
        let w = "pkg._ext.open_log, called at /w/tests/test_x.py:217".to_owned();
        assert_eq!(
            opener(root, Some(&w)),
            (
                "open_log".to_owned(),
                Some("tests/test_x.py:217".to_owned())
            )
        );
        assert_eq!(opener(root, None), (String::new(), None));
    }

    #[test]
    fn fd_targets_without_pids() {
        assert_eq!(fd_kind("pipe:[123]"), "pipe");
        assert_eq!(fd_kind("/proc/21744/statm"), "/proc/<pid>/statm");
        assert_eq!(fd_kind("/proc/self/statm"), "/proc/self/statm");
        assert_eq!(fd_kind("/tmp/x.log"), "/tmp/x.log");
    }

    fn line(json: serde_json::Value) -> ResultLine {
        let mut base = serde_json::json!({
            "name": "test_x", "iterations": 200, "rounds": 4, "warmup_rounds": 2,
            "tracemalloc": true, "seconds": 0.1, "growth_bytes": [0, 0, 0, 0],
            "growth_blocks": [0, 0, 0, 0], "bytes_per_iteration": 0.0, "confirmed": false,
            "confirm_rounds": 0, "confirm_iterations": 0,
            "python": {"leaking": false, "bytes_per_iteration": 0.0, "screen_bytes_per_iteration": 0.0,
                       "confirm_bytes_per_iteration": null, "threshold": 4.0, "reason": "flat"},
            "c_heap_mode": "judge", "c_heap_growth_bytes": [],
            "c_heap": {"leaking": false, "bytes_per_iteration": 0.0, "screen_bytes_per_iteration": 0.0,
                       "confirm_bytes_per_iteration": null, "threshold": 16.0, "reason": "flat"},
            "round_log": [], "live_baseline": {}, "live_final": {}, "leaking": false,
            "c_heap_leaking": false, "live_leaking": {}, "fd_leaks": [], "thread_leaks": [],
            "top_sites": [],
            "activity": {"imports_per_round": [], "module_execs_per_round": [], "forks": 0, "spawns": 0, "examples": []},
            "not_a_leak_test": null, "test": null, "message": "", "ok": true
        });
        base.as_object_mut()
            .unwrap()
            .extend(json.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    fn check(l: &ResultLine) -> Check<'_> {
        Check {
            line: l,
            test: l.name.clone(),
            live: "pkg.counts()",
        }
    }

    #[test]
    fn each_verdict_is_a_finding_naming_what_leaked() {
        let l = line(serde_json::json!({
            "c_heap_leaking": true,
            "c_heap": {"leaking": true, "bytes_per_iteration": 80.0, "screen_bytes_per_iteration": 80.0,
                       "confirm_bytes_per_iteration": 80.0, "threshold": 16.0, "reason": "steady: ..."},
            "c_heap_growth_bytes": [16000, 16000, 16000, 16000],
            "live_leaking": {"Block": 2},
            "fd_leaks": [{"fd": 7, "target": "pipe:[123]"}, {"fd": 8, "target": "/tmp/x"}],
            "thread_leaks": [
                {"kind": "python", "name": "worker", "daemon": true, "native_id": 5},
                {"kind": "native", "name": "python3", "tid": 9}
            ]
        }));
        let f = check(&l).findings(Path::new("/"));
        let rules: Vec<Rule> = f.iter().map(|f| f.rule).collect();
        assert_eq!(
            rules,
            [
                Rule::CHeapGrowth,
                Rule::LiveObjects,
                Rule::FdLeak,
                Rule::FdLeak,
                Rule::ThreadLeak,
                Rule::ThreadLeak
            ]
        );
        assert_eq!(f[0].bytes, Some(16000));
        assert_eq!(
            f[1].detail,
            "pkg.counts()[\"Block\"] stayed 2 above its baseline"
        );
        assert_eq!(f[2].what, "file descriptor left open: pipe");
        assert!(f[2].detail.contains("fd 7 -> pipe:[123]"));
        assert_eq!(f[3].what, "file descriptor left open: /tmp/x");
        assert_eq!(
            f[4].what,
            "thread left running: \"worker\" (Python daemon thread)"
        );
        assert_eq!(
            f[5].what,
            "thread left running: \"python3\" (native thread)"
        );
        assert!(f[5].detail.contains("tid 9"));
    }

    #[test]
    fn a_clean_run_keeps_its_snapshot_text() {
        let l = line(serde_json::json!({}));
        assert_eq!(
            normalize(
                &check(&l).findings(Path::new("/")),
                &live_name(Some("mylib:counts"))
            ),
            "no leaks: Python memory and mylib.counts() stay flat in every test\n"
        );
    }
}
