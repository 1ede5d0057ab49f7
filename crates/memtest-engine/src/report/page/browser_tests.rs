//! The memtest page in a real browser: headless Chromium renders a failing
//! and a clean page at 1,280 × 900 (a laptop's first screen) and the test
//! reads back what it laid out. The screenshots stay under
//! `target/page-shots/` for a person to look at. Skipped, saying so, when
//! no Chromium is installed (`apt-get install chromium`, or `$CHROME`).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use vgxml_judge::{Growth, Place, Point};

use super::{render, Page};
use crate::report::{Curve, Finding, Rule, SnapshotState, StageName, StageReport, Trend, Verdict};

// The page's links and excerpts point into this crate's own sources, which
// stand in for a project's.

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 900;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn chromium() -> Option<PathBuf> {
    if let Some(c) = std::env::var_os("CHROME") {
        return Some(PathBuf::from(c));
    }
    let names = [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ];
    std::env::split_paths(&std::env::var_os("PATH")?)
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

/// What the test reads from the laid-out page: its scroll width and, for
/// each element it names, whether the element starts within the first screen.
/// Appended to a copy of the page only; the page itself measures nothing.
const PROBE: &str = r#"<script>
(function(){
  var d=document.documentElement, b=document.body, h=window.innerHeight;
  b.setAttribute('data-probe-scroll-width', String(d.scrollWidth));
  b.setAttribute('data-probe-inner-width', String(window.innerWidth));
  var seen=[];
  [['verdict','#verdict'],['finding','.card:not(.note) h3'],['test','.card:not(.note) .meta code'],
   ['chain','.card:not(.note) ol.chain li'],['curve','.card:not(.note) svg'],
   ['stages','#stages'],['curves','table.curves svg']].forEach(function(p){
    var e=document.querySelector(p[1]);
    if(e && e.getBoundingClientRect().top < h) seen.push(p[0]);
  });
  b.setAttribute('data-probe-first-screen', seen.join(' '));
})();
</script></body>"#;

struct Shown {
    dom: String,
    screenshot: PathBuf,
}

impl Shown {
    fn attr(&self, name: &str) -> &str {
        let key = format!("{name}=\"");
        let at = self
            .dom
            .find(&key)
            .unwrap_or_else(|| panic!("{name} not in the DOM"));
        let rest = &self.dom[at + key.len()..];
        &rest[..rest.find('"').unwrap()]
    }

    fn first_screen(&self) -> Vec<&str> {
        self.attr("data-probe-first-screen").split(' ').collect()
    }
}

/// Renders `html` in Chromium: the DOM after layout (with the probe) and a
/// screenshot of the first screen, scripts off (the page must read without).
fn show(chrome: &Path, name: &str, html: &str) -> Shown {
    let dir = root().join("../../target/page-shots");
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join(format!("{name}.html"));
    std::fs::write(&page, html).unwrap();
    let probed = dir.join(format!("{name}.probe.html"));
    std::fs::write(&probed, html.replacen("</body>", PROBE, 1)).unwrap();
    let screenshot = dir.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&screenshot);
    let window = format!("--window-size={WIDTH},{HEIGHT}");
    let base = |c: &mut Command| {
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            window.as_str(),
        ]);
        c.arg(format!(
            "--user-data-dir={}",
            dir.join(format!("profile-{name}")).display()
        ));
    };
    let mut dump = Command::new(chrome);
    base(&mut dump);
    let out = dump
        .arg("--dump-dom")
        .arg(format!("file://{}", probed.display()))
        .output()
        .expect("running Chromium");
    assert!(
        out.status.success(),
        "chromium --dump-dom: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    // The screenshot is of the page with its scripts taken out: it must read
    // without them. (Chromium's own switch for that, scriptEnabled=false,
    // stops headless screenshots altogether.)
    let unscripted = dir.join(format!("{name}.noscript.html"));
    std::fs::write(&unscripted, without_scripts(html)).unwrap();
    let mut shot = Command::new(chrome);
    base(&mut shot);
    let out = shot
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(format!("file://{}", unscripted.display()))
        .output()
        .expect("running Chromium");
    assert!(
        out.status.success(),
        "chromium --screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Shown { dom, screenshot }
}

fn without_scripts(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(a) = rest.find("<script") {
        out.push_str(&rest[..a]);
        let end = rest[a..].find("</script>").expect("an unclosed <script>") + a;
        rest = &rest[end + "</script>".len()..];
    }
    out + rest
}

fn place(file: &str, line: u32, func: &str) -> Place {
    Place {
        file: Some(file.into()),
        line: Some(line),
        func: func.into(),
        object: None,
        in_repo: true,
        inlined: false,
    }
}

fn curve(test: &str, metric: &str, values: &[i64], trend: Trend, decides: Option<Rule>) -> Curve {
    let mut labels = vec!["warm-up".to_owned()];
    labels.extend((1..values.len()).map(|n| format!("round {n}")));
    Curve {
        test: test.into(),
        metric: metric.into(),
        labels,
        values: values.to_vec(),
        trend,
        span_at_least: 3200,
        decides,
    }
}

fn stage(name: StageName, findings: Vec<Finding>, curves: Vec<Curve>) -> StageReport {
    let mut st = StageReport::new(name);
    st.tests = 15;
    st.processes = if name == StageName::Valgrind { 2 } else { 1 };
    st.seconds = if name == StageName::Valgrind {
        41.3
    } else {
        8.4
    };
    st.iterations = match name {
        StageName::Valgrind => {
            "warm-up 5, then 3 rounds of 5, 10, 20 iterations, a leak search after each"
        }
        _ => "200 iterations x 4 rounds after warm-up",
    }
    .into();
    st.findings = findings;
    st.curves = curves;
    st.verdict = Verdict::of(&st.findings);
    st.snapshot = SnapshotState::Matches;
    st
}

/// A C++ leak as the Valgrind stage reports it: a site of ours that
/// grows at every checkpoint, with its chain up to the binding.
fn failing_stages() -> Vec<StageReport> {
    let test = "tests/test_buf.py::test_copy";
    let chain = vec![
        place("src/run.rs", 35, "mylib::Buf::clone() const"),
        place("src/plan.rs", 77, "mylib_sys::clone_buf"),
        place("src/project.rs", 252, "_ext::buf::PyBuf::copy"),
    ];
    let points: Vec<Point> = [(0, 4096), (1, 8192), (2, 16384), (3, 32768)]
        .iter()
        .map(|&(round, bytes)| Point {
            round,
            bytes,
            blocks: bytes / 64,
            iterations: (round > 0).then_some(5 << round),
        })
        .collect();
    let leak = Finding {
        test: Some(test.into()),
        location: Some("src/run.rs:35 (mylib::Buf::clone() const)".into()),
        chain,
        bytes: Some(32768),
        blocks: Some(512),
        detail: "grew at every checkpoint: 4096, 8192, 16384, 32768 bytes".into(),
        growth: Some(Growth {
            source: "shard-1-4242.xml".into(),
            stack: "mylib::Buf::clone() const".into(),
            points,
            bytes_per_iteration: Some(409.6),
        }),
        ..Finding::new(Rule::Growth, "still reachable, grows every round")
    };
    let c_heap = Finding {
        test: Some(test.into()),
        bytes: Some(51200),
        detail: "256.0 bytes/iteration".into(),
        ..Finding::new(
            Rule::CHeapGrowth,
            "C heap grows beyond Python's allocations",
        )
    };
    let tm = stage(
        StageName::Tracemalloc,
        vec![c_heap],
        vec![
            curve(
                test,
                "Python bytes since the warm-up (tracemalloc)",
                &[0, 12, -8, 4, 0],
                Trend::Bounded,
                Some(Rule::PythonGrowth),
            ),
            curve(
                test,
                "C heap bytes beyond Python's since the warm-up (mallinfo2)",
                &[0, 51200, 102400, 153600, 204800],
                Trend::Grows,
                Some(Rule::CHeapGrowth),
            ),
            curve(
                "tests/test_buf.py::test_subscribe",
                "Python bytes since the warm-up (tracemalloc)",
                &[0, 0, 0, 0, 0],
                Trend::Bounded,
                Some(Rule::PythonGrowth),
            ),
        ],
    );
    let vg = stage(
        StageName::Valgrind,
        vec![leak],
        vec![curve(
            test,
            "our bytes (Valgrind checkpoints)",
            &[4096, 8192, 16384, 32768],
            Trend::Grows,
            None,
        )],
    );
    vec![tm, vg]
}

fn clean_stages() -> Vec<StageReport> {
    let tests = [
        "tests/test_buf.py::test_copy",
        "tests/test_buf.py::test_subscribe",
        "tests/test_views.py::test_numpy",
    ];
    let tm_curves = tests
        .iter()
        .map(|t| {
            curve(
                t,
                "Python bytes since the warm-up (tracemalloc)",
                &[0, 40, 8, 0, 0],
                Trend::Bounded,
                Some(Rule::PythonGrowth),
            )
        })
        .collect();
    let vg_curves = tests
        .iter()
        .map(|t| {
            curve(
                t,
                "our bytes (Valgrind checkpoints)",
                &[960, 960, 960, 960],
                Trend::Bounded,
                None,
            )
        })
        .collect();
    vec![
        stage(StageName::Tracemalloc, Vec::new(), tm_curves),
        stage(StageName::Valgrind, Vec::new(), vg_curves),
    ]
}

fn html(verdict: &str, failed: bool, stages: &[StageReport]) -> String {
    let root = root();
    render(&Page {
        verdict,
        failed,
        python: "3.11.7",
        seconds: 52.0,
        stages,
        error: None,
        root: &root,
        out_dir: &root.join("target/page-shots"),
    })
}

fn fits(shown: &Shown) {
    let width: u32 = shown.attr("data-probe-scroll-width").parse().unwrap();
    assert!(
        width <= WIDTH,
        "the page is {width} px wide in a {WIDTH} px window (horizontal scroll)"
    );
    let png = std::fs::read(&shown.screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "no screenshot"
    );
}

#[test]
fn failing_and_clean_pages_in_chromium() {
    let Some(chrome) = chromium() else {
        eprintln!(
            "skipped: no Chromium found (apt-get install chromium, or set CHROME=/path/to/chrome)"
        );
        return;
    };
    let failing = show(&chrome, "failing", &html("FAILED", true, &failing_stages()));
    assert!(failing.dom.contains("memtest: FAILED"), "no verdict line");
    assert!(
        failing.dom.contains("src/run.rs:35"),
        "the finding's file:line is not on the page"
    );
    assert!(failing.dom.contains("<svg"), "no curve");
    fits(&failing);
    let seen = failing.first_screen();
    for what in ["verdict", "finding", "test", "chain", "curve"] {
        assert!(
            seen.contains(&what),
            "{what} is not on the first screen (seen: {seen:?})"
        );
    }

    let clean = show(&chrome, "clean", &html("CLEAN", false, &clean_stages()));
    assert!(clean.dom.contains("memtest: CLEAN"), "no verdict line");
    assert!(
        !clean.dom.contains("class=\"card\""),
        "a clean page shows a finding"
    );
    fits(&clean);
    let seen = clean.first_screen();
    for what in ["verdict", "stages", "curves"] {
        assert!(
            seen.contains(&what),
            "{what} is not on the first screen (seen: {seen:?})"
        );
    }
    eprintln!(
        "screenshots: {} and {}",
        failing.screenshot.display(),
        clean.screenshot.display()
    );
}
