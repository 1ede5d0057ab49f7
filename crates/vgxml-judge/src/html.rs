//! A self-contained HTML report: one page, inline CSS and JS, no network.

use crate::judge::judge;
use crate::judgement::{Judged, Policy};
use crate::markers::tests_in;
use crate::ours::OurCode;
use crate::place::repo_relative;
use crate::render::{normalize_text, render_frame};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use vgxml_parse::{Frame, LeakKind, Report, Summary};

/// Lines of context shown around a frame's line.
pub const CONTEXT_LINES: u32 = 3;
/// Source files larger than this are not read.
const MAX_SOURCE_BYTES: u64 = 4 << 20;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Reads source files once, resolving a frame's file via `dir/file`, then
/// relative to the source root.
struct Sources<'r> {
    root: &'r Path,
    cache: HashMap<String, Option<Vec<String>>>,
}

impl Sources<'_> {
    fn lines(&mut self, f: &Frame) -> Option<&Vec<String>> {
        let path = f.path()?;
        if !self.cache.contains_key(&path) {
            let mut candidates: Vec<PathBuf> = vec![PathBuf::from(&path)];
            if let Some(rel) = repo_relative(&path, self.root) {
                candidates.push(self.root.join(rel));
            }
            if let Some(file) = &f.file {
                candidates.push(self.root.join(file));
            }
            let text = candidates.iter().find_map(|p| {
                let md = std::fs::metadata(p).ok()?;
                if !md.is_file() || md.len() > MAX_SOURCE_BYTES {
                    return None;
                }
                let bytes = std::fs::read(p).ok()?;
                Some(
                    String::from_utf8_lossy(&bytes)
                        .lines()
                        .map(str::to_string)
                        .collect(),
                )
            });
            self.cache.insert(path.clone(), text);
        }
        self.cache.get(&path)?.as_ref()
    }
}

fn amount_cell(a: Option<vgxml_parse::Amount>) -> String {
    match a {
        Some(a) => format!("{} B in {} blocks", a.bytes, a.blocks),
        None => "not measured".to_string(),
    }
}

fn render_stack(out: &mut String, frames: &[Frame], ours: &OurCode, sources: &mut Sources<'_>) {
    out.push_str("<ol class=\"stack\">");
    for f in frames {
        let is_ours =
            !ours.is_empty() && ours.matches_frame(f) || ours.is_empty() && f.file.is_some();
        let _ = write!(
            out,
            "<li class=\"{}\"><code>{}</code>",
            if is_ours { "frame ours" } else { "frame" },
            escape(&render_frame(f))
        );
        if is_ours {
            if let (Some(line), Some(lines)) = (f.line, sources.lines(f)) {
                let lo = line.saturating_sub(CONTEXT_LINES).max(1);
                let hi = (line + CONTEXT_LINES).min(lines.len() as u32);
                if lo <= hi && (line as usize) <= lines.len() {
                    out.push_str("<pre class=\"src\">");
                    for n in lo..=hi {
                        let text = &lines[(n - 1) as usize];
                        let _ = writeln!(
                            out,
                            "<span class=\"{}\"><span class=\"ln\">{n:>5}</span> {}</span>",
                            if n == line { "hl" } else { "cl" },
                            escape(text)
                        );
                    }
                    out.push_str("</pre>");
                }
            }
        }
        out.push_str("</li>");
    }
    out.push_str("</ol>");
}

const CSS: &str = r#"
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f2f2f2}
th.sortable{cursor:pointer;text-decoration:underline dotted}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tbody.grp>tr.head{cursor:pointer}
tbody.grp>tr.head:hover{background:#f7f7ff}
tr.details>td{background:#fcfcfc}
tr.details{display:none}
tbody.grp.open>tr.details{display:table-row}
.kind-Leak_DefinitelyLost,.kind-err{color:#a00;font-weight:600}
.kind-Leak_PossiblyLost,.kind-Leak_IndirectlyLost{color:#a60}
.kind-Leak_StillReachable{color:#666}
ol.stack{margin:.3em 0 .6em 0;padding-left:2em}
li.frame{color:#666}
li.ours{color:#000;font-weight:600;background:#fff6d5}
pre.src{font-weight:normal;background:#f6f8fa;border:1px solid #ddd;padding:.3em;margin:.2em 0;overflow-x:auto}
pre.src .hl{background:#ffe08a;display:block}
pre.src .cl{display:block}
.ln{color:#999;user-select:none}
.fp{font-family:monospace;color:#555}
.warn{color:#a00}
"#;

const JS: &str = r#"
(function(){
  var table=document.getElementById('records');
  if(table){
    var dir=-1;
    function sortBy(attr){
      var groups=Array.prototype.slice.call(table.querySelectorAll('tbody.grp'));
      dir=-dir;
      groups.sort(function(a,b){
        var x=Number(a.getAttribute(attr)||0),y=Number(b.getAttribute(attr)||0);
        return dir*(y-x);
      });
      groups.forEach(function(g){table.appendChild(g);});
    }
    var hb=document.getElementById('sort-bytes');
    if(hb){hb.addEventListener('click',function(){sortBy('data-bytes');});}
    var hc=document.getElementById('sort-count');
    if(hc){hc.addEventListener('click',function(){sortBy('data-count');});}
    Array.prototype.forEach.call(table.querySelectorAll('tbody.grp>tr.head'),function(tr){
      tr.addEventListener('click',function(){tr.parentNode.classList.toggle('open');});
    });
    sortBy('data-bytes');
  }
  document.body.setAttribute('data-vgxml-ready','1');
})();
"#;

/// Renders the page. Records: the end-of-run loss records and the non-leak
/// errors (of our code when the policy's `ours` has rules, every kind),
/// grouped by fingerprint, sorted by bytes; stacks with our frames
/// highlighted and, where the source file is readable (`dir/file` of the
/// frame, or under the policy's source root), the lines around each frame
/// of ours.
pub fn render(reports: &[Report], policy: &Policy) -> String {
    let ours = &policy.ours;
    let source_root = policy.source_root.as_path();
    let summary = Summary::from_reports(reports);
    let judgement = judge(reports, &policy.listing_everything());
    let groups = judgement.by_fingerprint();
    let mut sources = Sources {
        root: source_root,
        cache: HashMap::new(),
    };
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n");
    h.push_str("<title>Valgrind report (vgxml)</title>\n<style>");
    h.push_str(CSS);
    h.push_str("</style></head><body>\n");
    let _ = writeln!(
        h,
        "<h1>Valgrind report</h1><p>vgxml {} &middot; {} file(s) &middot; {}</p>",
        env!("CARGO_PKG_VERSION"),
        reports.len(),
        if summary.complete {
            "all files complete".to_string()
        } else {
            "<span class=\"warn\">INCOMPLETE: at least one file was truncated; figures are partial</span>".to_string()
        }
    );
    // totals
    h.push_str("<h2>Totals</h2><table id=\"totals\"><tr><th>kind</th><th>total</th></tr>");
    for k in LeakKind::ALL {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td></tr>",
            k.label(),
            escape(&amount_cell(summary.leaks.get(k)))
        );
    }
    for (k, v) in &summary.errors {
        let _ = write!(
            h,
            "<tr><td class=\"kind-err\">{}</td><td>{v} context(s)</td></tr>",
            escape(k)
        );
    }
    h.push_str("</table>\n");
    // per process
    h.push_str("<h2>Processes</h2><table id=\"processes\"><tr><th>file</th><th>pid</th><th>ppid</th><th>program</th>");
    for k in LeakKind::ALL {
        let _ = write!(h, "<th>{}</th>", k.label());
    }
    h.push_str("<th>errors</th><th>complete</th></tr>");
    for p in &summary.processes {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            escape(&p.source),
            p.pid.map_or(String::new(), |v| v.to_string()),
            p.ppid.map_or(String::new(), |v| v.to_string()),
            escape(p.program.as_deref().unwrap_or(""))
        );
        for k in LeakKind::ALL {
            let _ = write!(h, "<td>{}</td>", escape(&amount_cell(p.leaks.get(k))));
        }
        let _ = write!(
            h,
            "<td>{}</td><td>{}</td></tr>",
            p.errors.values().sum::<u64>(),
            if p.complete {
                "yes"
            } else {
                "<span class=\"warn\">NO</span>"
            }
        );
    }
    h.push_str("</table>\n");
    let tests = tests_in(reports, &policy.markers);
    if !tests.is_empty() {
        let _ = writeln!(h, "<p>{} test(s) announced by markers.</p>", tests.len());
    }
    // records
    let _ = writeln!(
        h,
        "<h2>Records by fingerprint ({})</h2><p>Click a row for its stacks; click a header to sort.{}</p>",
        groups.len(),
        if ours.is_empty() {
            ""
        } else {
            " Only records with a frame of our code; our frames are highlighted."
        }
    );
    h.push_str("<table id=\"records\"><thead><tr><th>kind</th><th class=\"sortable\" id=\"sort-bytes\">bytes</th><th>blocks</th><th class=\"sortable\" id=\"sort-count\">records</th><th>where</th><th>test</th><th>fingerprint</th></tr></thead>\n");
    for (fingerprint, occurrences) in &groups {
        let first: &Judged = occurrences[0];
        let leak = first.record.is_leak();
        let bytes: Option<u64> =
            leak.then(|| occurrences.iter().map(|j| j.bytes.unwrap_or(0)).sum());
        let blocks: Option<u64> = leak.then(|| {
            occurrences
                .iter()
                .map(|j| j.record.leaked_blocks.unwrap_or(0))
                .sum()
        });
        let loc = first.first_frame.clone().unwrap_or_default();
        let mut tests: Vec<&str> = occurrences
            .iter()
            .filter_map(|j| j.test.as_deref())
            .collect();
        tests.sort();
        tests.dedup();
        let kind = first.kind.as_str();
        let _ = write!(
            h,
            "<tbody class=\"grp\" data-bytes=\"{}\" data-count=\"{}\"><tr class=\"head\"><td class=\"kind-{}\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td><code>{}</code></td><td>{}</td><td class=\"fp\" title=\"{}\">{}</td></tr>",
            bytes.unwrap_or(0),
            occurrences.len(),
            if bytes.is_some() {
                escape(kind)
            } else {
                "err".to_string()
            },
            escape(kind),
            bytes.map_or(String::new(), |b| b.to_string()),
            blocks.map_or(String::new(), |b| b.to_string()),
            occurrences.len(),
            escape(&loc),
            escape(&tests.join(", ")),
            escape(&first.key),
            fingerprint
        );
        h.push_str("<tr class=\"details\"><td colspan=\"7\">");
        for j in occurrences {
            let (e, t) = (&j.record, &j.test);
            let _ = write!(
                h,
                "<div class=\"occ\"><p><b>{}</b> &middot; {}{}{}</p>",
                escape(e.kind.as_str()),
                escape(&normalize_text(&e.what)),
                escape(&format!(
                    " · {}{}",
                    j.source,
                    j.pid.map_or(String::new(), |p| format!(" pid {p}"))
                )),
                t.as_ref().map_or(String::new(), |t| format!(
                    " &middot; test <code>{}</code>",
                    escape(t)
                ))
            );
            if j.chain.len() > 1 {
                let _ = write!(
                    h,
                    "<p class=\"chain\">our frames, innermost first: <code>{}</code></p>",
                    escape(&crate::chain_text(&j.chain))
                );
            }
            render_stack(&mut h, &e.stack, ours, &mut sources);
            for a in &e.aux {
                let _ = write!(h, "<p>{}</p>", escape(&normalize_text(&a.what)));
                render_stack(&mut h, &a.stack, ours, &mut sources);
            }
            if let Some(o) = &e.origin {
                let _ = write!(h, "<p>{}</p>", escape(&normalize_text(&o.what)));
                render_stack(&mut h, &o.stack, ours, &mut sources);
            }
            h.push_str("</div>");
        }
        h.push_str("</td></tr></tbody>\n");
    }
    h.push_str("</table>\n");
    if !summary.diagnostics.is_empty() {
        h.push_str("<h2>Notes</h2><ul>");
        for d in &summary.diagnostics {
            let _ = write!(h, "<li>{}</li>", escape(d));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("<script>");
    h.push_str(JS);
    h.push_str("</script>\n</body></html>\n");
    h
}
