//! The memtest page (`report.html` in the output directory): one self-contained page
//! for the whole run, drawn from the same findings as the summary,
//! report.json and the GitHub job summary. The verdict and what decided it
//! come first (each finding with its curve, its chain of our frames as
//! links to the source lines around them, its amounts and the rule that
//! fired), then what ran, then our totals apart from the interpreter's,
//! then per-test curves and details. No external assets; readable without
//! JavaScript (a few lines of inline script only open the details and note
//! the layout width for the browser test); fits a 1,280-pixel window.

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use vgxml_judge::html::escape;

use super::{Curve, Finding, RunReport, StageReport, Trend, Verdict};

/// Everything the page shows.
pub struct Page<'a> {
    /// `CLEAN`, `FAILED` (a leak or memory error), `SNAPSHOT CHANGED`, `HARNESS ERROR`,
    /// `INTERRUPTED` ([`Verdict::headline`]).
    pub verdict: &'a str,
    pub failed: bool,
    /// The interpreter (`3.11.7`, `3.13.15t`).
    pub python: &'a str,
    pub seconds: f64,
    pub stages: &'a [StageReport],
    /// Why the run stopped, when it did.
    pub error: Option<&'a str>,
    /// The project root (sources are read from it, links point into it).
    pub root: &'a Path,
    /// Where the page is written: links to sources are relative to it.
    pub out_dir: &'a Path,
}

impl<'a> Page<'a> {
    /// The page of a run.
    pub fn of(r: &'a RunReport, root: &'a Path, out_dir: &'a Path) -> Page<'a> {
        Page {
            verdict: r.verdict.headline(),
            failed: r.verdict != Verdict::Clean,
            python: &r.python,
            seconds: r.seconds,
            stages: &r.stages,
            error: r.error.as_deref(),
            root,
            out_dir,
        }
    }
}

/// Lines of source shown around each frame of a finding.
const CONTEXT: usize = 2;
/// At most this many findings get source excerpts (the rest link only).
const EXCERPTS: usize = 12;
/// Of a chain, the innermost frames with their source lines.
const EXCERPT_FRAMES: usize = 3;
/// Of a chain, the frames shown open; the rest fold under "N more frames".
const CHAIN_OPEN: usize = 6;

const CSS: &str = r#"
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
main{max-width:1200px;margin:0 auto;padding:16px 24px}
h1{font-size:28px;margin:8px 0 4px}
h2{font-size:19px;margin:26px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:16px;margin:0 0 6px}
.verdict{padding:14px 18px;border-radius:8px;color:#fff}
.verdict.failed{background:#b3261e}.verdict.clean{background:#1e7d32}
.verdict p{margin:2px 0 0}
.card{background:#fff;border:1px solid #ddd;border-left:6px solid #b3261e;border-radius:6px;padding:10px 14px;margin:10px 0}
.card.note{border-left-color:#8a8a8a}
.meta{color:#555;font-size:13px}
.rule{font-weight:600}
code,pre{font:13px/1.4 ui-monospace,Menlo,Consolas,monospace}
.chain{margin:6px 0;padding-left:20px}
.chain li{overflow-wrap:anywhere}
pre.src{background:#f4f6f8;border:1px solid #e1e4e8;padding:4px 6px;margin:4px 0 8px;white-space:pre-wrap;overflow-wrap:anywhere}
pre.src .hl{background:#ffe08a;display:block}
table{border-collapse:collapse;width:100%;table-layout:fixed;background:#fff}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.curves td{padding:2px 6px}
.facts{display:flex;gap:16px;align-items:flex-start;margin:6px 0}
.facts p{margin:4px 0}.amount{font-weight:600}
li.more{list-style:none;margin-left:-20px}
.curve{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px 8px;width:286px;margin:6px 0;flex-shrink:0}
.curve .t{font-size:12px;color:#333;overflow-wrap:anywhere}
svg{display:block;max-width:100%;height:auto}
details{margin:6px 0}
summary{cursor:pointer}
"#;

/// A small line chart of a curve, with the decision drawn on it: a rising
/// red line for steady growth, a grey one for bounded memory.
pub fn svg(c: &Curve, width: u32, height: u32) -> String {
    let n = c.values.len();
    let (lo, hi) = c
        .values
        .iter()
        .fold((0i64, 0i64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let span = (hi - lo).max(c.span_at_least).max(1) as f64;
    let (pad_l, pad_r, pad_t, pad_b) = (4.0, 4.0, 6.0, 14.0);
    let w = f64::from(width) - pad_l - pad_r;
    let h = f64::from(height) - pad_t - pad_b;
    let x = |i: usize| {
        pad_l
            + if n > 1 {
                w * i as f64 / (n - 1) as f64
            } else {
                w / 2.0
            }
    };
    let y = |v: i64| pad_t + h - h * (v - lo) as f64 / span;
    let color = match c.trend {
        Trend::Grows => "#b3261e",
        Trend::Bounded => "#6b7280",
    };
    let points: Vec<String> = c
        .values
        .iter()
        .enumerate()
        .map(|(i, &v)| format!("{:.1},{:.1}", x(i), y(v)))
        .collect();
    let mut s = format!(
        "<svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{}\">",
        escape(&format!("{}: {}", c.metric, c.values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")))
    );
    let _ = write!(
        s,
        "<line x1=\"{pad_l}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ccc\"/>",
        y(lo),
        pad_l + w,
        y(lo)
    );
    let _ = write!(
        s,
        "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
        points.join(" ")
    );
    for (i, &v) in c.values.iter().enumerate() {
        let _ = write!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{color}\"><title>{}: {v}</title></circle>",
            x(i),
            y(v),
            escape(c.labels.get(i).map_or("", String::as_str))
        );
    }
    let decision = match c.trend {
        Trend::Grows => "grows every round",
        Trend::Bounded => "bounded",
    };
    let _ = write!(
        s,
        "<text x=\"{pad_l}\" y=\"{}\" font-size=\"10\" fill=\"{color}\">{decision}</text><text x=\"{:.1}\" y=\"{}\" font-size=\"10\" fill=\"#555\" text-anchor=\"end\">{}</text></svg>",
        height - 2,
        pad_l + w,
        height - 2,
        escape(&format!(
            "{} -> {}",
            c.values.first().copied().unwrap_or(0),
            c.values.last().copied().unwrap_or(0)
        ))
    );
    s
}

/// The lines of `file` (repository-relative) around `line`, the line marked.
fn excerpt(root: &Path, file: &str, line: u32) -> Option<String> {
    let text = std::fs::read_to_string(root.join(file)).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let at = usize::try_from(line).ok()?.checked_sub(1)?;
    if at >= lines.len() {
        return None;
    }
    let (from, to) = (
        at.saturating_sub(CONTEXT),
        (at + CONTEXT).min(lines.len() - 1),
    );
    let mut s = String::from("<pre class=\"src\">");
    for (i, l) in lines.iter().enumerate().take(to + 1).skip(from) {
        let text = format!("{:>5} {}", i + 1, escape(l));
        if i == at {
            let _ = write!(s, "<span class=\"hl\">{text}</span>");
        } else {
            let _ = writeln!(s, "{text}");
        }
    }
    s.push_str("</pre>");
    Some(s)
}

/// `../../src/buf.cc` from the page to a project file.
fn link(page: &Page<'_>, file: &str) -> String {
    let depth = page
        .out_dir
        .strip_prefix(page.root)
        .map(|p| p.components().count())
        .unwrap_or(0);
    format!("{}{}", "../".repeat(depth), file)
}

/// A place as a link to its file, `file:line (function)`.
fn place_html(page: &Page<'_>, p: &vgxml_judge::Place) -> String {
    match (&p.file, p.line, p.in_repo) {
        (Some(f), Some(l), true) => format!(
            "<a href=\"{}\"><code>{}:{l}</code></a> <span class=\"meta\">{}</span>",
            escape(&link(page, f)),
            escape(f),
            match (p.inlined, p.func.as_str()) {
                // Valgrind 3.19's name for an inlined function it could not name.
                (true, "UnknownInlinedFun") => "(inlined)".to_owned(),
                (true, func) => escape(&format!("{func} (inlined)")),
                (false, func) => escape(func),
            }
        ),
        _ => format!("<code>{}</code>", escape(&p.to_string())),
    }
}

fn finding_card(
    page: &Page<'_>,
    st: &StageReport,
    f: &Finding,
    note: bool,
    excerpts: &mut usize,
) -> String {
    let mut h = format!(
        "<div class=\"card{}\"><h3>{}</h3><div class=\"meta\">stage {} &middot; <span class=\"rule\">{}</span>{}</div>",
        if note { " note" } else { "" },
        escape(&f.what),
        st.stage,
        f.rule.explained(st.stage),
        f.test
            .as_ref()
            .map(|t| format!(" &middot; test <code>{}</code>", escape(t)))
            .unwrap_or_default()
    );
    // The curve first: what the verdict was drawn from.
    let curve = f.growth.as_ref().map(|g| Curve {
        test: f.test.clone().unwrap_or_default(),
        metric: "bytes at this site (Valgrind checkpoints)".into(),
        labels: g
            .points
            .iter()
            .map(|p| {
                if p.round == 0 {
                    "warm-up".into()
                } else {
                    format!("round {}", p.round)
                }
            })
            .collect(),
        values: g.points.iter().map(|p| p.bytes as i64).collect(),
        trend: Trend::Grows,
        span_at_least: 0,
        decides: Some(f.rule),
    });
    let curve = curve.or_else(|| {
        st.curves
            .iter()
            .find(|c| Some(&c.test) == f.test.as_ref() && c.decides == Some(f.rule))
            .cloned()
    });
    // The curve first, what the verdict was drawn from, beside the amounts.
    h.push_str("<div class=\"facts\">");
    if let Some(c) = &curve {
        let _ = write!(
            h,
            "<div class=\"curve\"><div class=\"t\">{}</div>{}</div>",
            escape(&c.metric),
            svg(c, 270, 70)
        );
    }
    h.push_str("<div>");
    if let Some(a) = f.amount() {
        let _ = write!(h, "<p class=\"amount\">{}</p>", escape(&a));
    }
    if let Some(l) = f
        .chain
        .first()
        .map(ToString::to_string)
        .or_else(|| f.location.clone())
    {
        let _ = write!(h, "<p>at <code>{}</code></p>", escape(&l));
    }
    h.push_str("</div></div>");
    if !f.chain.is_empty() {
        h.push_str("<div>our frames, innermost first:</div><ol class=\"chain\">");
        for (i, p) in f.chain.iter().enumerate() {
            if i == CHAIN_OPEN {
                let _ = write!(
                    h,
                    "<li class=\"more\"><details><summary>{} more frames</summary><ol class=\"chain\" start=\"{}\">",
                    f.chain.len() - CHAIN_OPEN,
                    CHAIN_OPEN + 1
                );
            }
            let _ = write!(h, "<li>{}", place_html(page, p));
            if i < EXCERPT_FRAMES && *excerpts < EXCERPTS {
                if let (Some(file), Some(line), true) = (&p.file, p.line, p.in_repo) {
                    if let Some(x) = excerpt(page.root, file, line) {
                        h.push_str(&x);
                    }
                }
            }
            h.push_str("</li>");
        }
        if f.chain.len() > CHAIN_OPEN {
            h.push_str("</ol></details></li>");
        }
        h.push_str("</ol>");
        *excerpts += 1;
    } else if let Some(l) = &f.location {
        if let Some((file, line)) = l.split(' ').next().and_then(|fl| fl.rsplit_once(':')) {
            if let (Ok(n), true) = (line.parse(), *excerpts < EXCERPTS) {
                if let Some(x) = excerpt(page.root, file, n) {
                    h.push_str(&x);
                    *excerpts += 1;
                }
            }
        }
    }
    if !f.origin.is_empty() {
        h.push_str("<div>the uninitialised value was created at:</div><ol class=\"chain\">");
        for p in &f.origin {
            let _ = write!(h, "<li>{}</li>", place_html(page, p));
        }
        h.push_str("</ol>");
    }
    if !f.detail.is_empty() {
        let _ = write!(
            h,
            "<details><summary>details</summary><pre>{}</pre></details>",
            escape(&f.detail)
        );
    }
    h.push_str("</div>\n");
    h
}

fn totals_table(st: &StageReport) -> Option<String> {
    let v = st.valgrind.as_ref()?;
    let kinds = [
        ("definitely_lost", "definitely lost"),
        ("indirectly_lost", "indirectly lost"),
        ("possibly_lost", "possibly lost"),
        ("still_reachable", "still reachable"),
    ];
    let mut h = String::from(
        "<table id=\"totals\"><tr><th>at exit</th><th>our code</th><th>interpreter and third-party</th></tr>",
    );
    for (key, label) in kinds {
        let ours = &v["leaks_ours"][key];
        let all = &v["leaks_all_code"][key];
        let cell = |bytes: Option<u64>, blocks: Option<u64>| match (bytes, blocks) {
            (Some(b), Some(n)) => format!("{b} B in {n} blocks"),
            _ => "not measured".to_owned(),
        };
        let ours_b = ours["bytes"].as_u64();
        let ours_n = ours["blocks"].as_u64();
        let theirs_b = all["bytes"]
            .as_u64()
            .map(|a| a.saturating_sub(ours_b.unwrap_or(0)));
        let theirs_n = all["blocks"]
            .as_u64()
            .map(|a| a.saturating_sub(ours_n.unwrap_or(0)));
        let _ = write!(
            h,
            "<tr><td>{label}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            cell(ours_b, ours_n),
            cell(theirs_b, theirs_n)
        );
    }
    let _ = write!(
        h,
        "<tr><td>suppressed (interpreter entries)</td><td class=\"num\">—</td><td class=\"num\">{} uses</td></tr></table>",
        v["suppressed"].as_u64().unwrap_or(0)
    );
    h.push_str("<p class=\"meta\">Only our code decides the verdict: the interpreter's own records (start-up, caches, numpy) are never ours, and those the suppressions name are not listed at all.</p>");
    Some(h)
}

/// Per stage, one row per test, one small curve per measured quantity.
fn curves_table(st: &StageReport) -> String {
    let mut metrics: Vec<&str> = Vec::new();
    let mut tests: Vec<&str> = Vec::new();
    for c in &st.curves {
        if !metrics.contains(&c.metric.as_str()) {
            metrics.push(&c.metric);
        }
        if !tests.contains(&c.test.as_str()) {
            tests.push(&c.test);
        }
    }
    let growing = st.curves.iter().filter(|c| c.trend == Trend::Grows).count();
    let mut h = format!(
        "<h2>Curves: {} stage</h2><p class=\"meta\">{} tests; {}</p><table class=\"curves\" id=\"curves-{}\"><tr><th style=\"width:24%\">test</th>",
        st.stage,
        tests.len(),
        if growing == 0 {
            "every curve bounded (flat, or a warm-up that stopped)".to_owned()
        } else {
            format!("{growing} grow every round (red)")
        },
        st.stage
    );
    for m in &metrics {
        let _ = write!(h, "<th>{}</th>", escape(m));
    }
    h.push_str("</tr>");
    for t in &tests {
        let _ = write!(h, "<tr><td><code>{}</code></td>", escape(t));
        for m in &metrics {
            match st.curves.iter().find(|c| c.test == *t && c.metric == *m) {
                Some(c) => {
                    let _ = write!(h, "<td>{}</td>", svg(c, 250, 54));
                }
                None => h.push_str("<td class=\"meta\">not measured</td>"),
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>\n");
    h
}

/// The page.
pub fn render(page: &Page<'_>) -> String {
    let mut h = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width\">\n");
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n");
    let failing: usize = page.stages.iter().map(|s| s.findings.len()).sum();
    let _ = writeln!(
        h,
        "<title>memtest: {} ({} finding{})</title><style>{CSS}</style></head><body><main>",
        page.verdict,
        failing,
        if failing == 1 { "" } else { "s" }
    );
    let valgrind_version = page
        .stages
        .iter()
        .find_map(|s| s.valgrind.as_ref()?["version"].as_str().map(str::to_owned));
    let tests: BTreeMap<&str, usize> = page
        .stages
        .iter()
        .map(|s| (s.stage.as_str(), s.tests))
        .collect();
    let _ = writeln!(
        h,
        "<div class=\"verdict {}\" id=\"verdict\"><h1>memtest: {}</h1><p>{}</p><p>CPython {}{} &middot; {:.1} s</p></div>",
        if page.failed { "failed" } else { "clean" },
        escape(page.verdict),
        if failing == 0 {
            format!(
                "nothing of ours leaks, grows or misuses memory in {} tests",
                tests.values().max().copied().unwrap_or(0)
            )
        } else {
            format!("{failing} finding{} decided it, below", if failing == 1 { "" } else { "s" })
        },
        escape(page.python),
        valgrind_version
            .map(|v| format!(" &middot; Valgrind {}", escape(&v)))
            .unwrap_or_default(),
        page.seconds
    );
    if let Some(e) = page.error {
        let _ = writeln!(h, "<p class=\"card note\" id=\"stopped\">The run stopped: {}. What ran before is below.</p>", escape(e));
    }
    let mut excerpts = 0;
    if failing > 0 {
        h.push_str("<h2 id=\"findings\">What decided it</h2>\n");
        // Findings that name our frames first: they say where to look.
        let mut findings: Vec<(&StageReport, &Finding)> = page
            .stages
            .iter()
            .flat_map(|s| s.findings.iter().map(move |f| (s, f)))
            .collect();
        findings.sort_by_key(|(_, f)| f.chain.is_empty());
        for (st, f) in findings {
            h.push_str(&finding_card(page, st, f, false, &mut excerpts));
        }
    }
    h.push_str("<h2>What ran</h2><table id=\"stages\"><tr><th style=\"width:11%\">stage</th><th style=\"width:9%\">verdict</th><th style=\"width:8%\">time</th><th style=\"width:7%\">tests</th><th>iterations</th><th style=\"width:10%\">processes</th><th style=\"width:20%\">snapshot</th></tr>");
    for st in page.stages {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{:.1} s</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            st.stage,
            st.verdict.as_str(),
            st.seconds,
            st.tests,
            escape(&st.iterations),
            st.processes,
            escape(&st.snapshot.to_string())
        );
    }
    h.push_str("</table>\n");
    for st in page.stages.iter().filter(|s| !s.curves.is_empty()) {
        h.push_str(&curves_table(st));
    }
    for st in page.stages {
        if let Some(t) = totals_table(st) {
            h.push_str("<h2>Ours apart from theirs (Valgrind, end of run)</h2>");
            h.push_str(&t);
        }
    }
    let notes: Vec<(&StageReport, &Finding)> = page
        .stages
        .iter()
        .flat_map(|s| s.notes.iter().map(move |f| (s, f)))
        .collect();
    if !notes.is_empty() {
        h.push_str("<h2>Listed, not failing</h2>");
        for (st, f) in notes {
            h.push_str(&finding_card(page, st, f, true, &mut excerpts));
        }
    }
    h.push_str("<h2>Details</h2><ul>");
    for st in page.stages {
        for a in &st.artifacts {
            let _ = write!(
                h,
                "<li><a href=\"{}\"><code>{}</code></a></li>",
                escape(&link(page, a)),
                escape(a)
            );
        }
    }
    h.push_str("</ul>\n");
    // Printed, the details are open.
    h.push_str("<script>window.addEventListener('beforeprint',function(){document.querySelectorAll('details').forEach(function(d){d.open=true;});});</script>\n");
    h.push_str("</main></body></html>\n");
    h
}

#[cfg(test)]
mod browser_tests;
