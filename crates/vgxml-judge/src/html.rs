//! A self-contained HTML report: one page, inline CSS and JS, no network.

use crate::baseline::counted_records;
use crate::check::{tests_in, Attribution};
use crate::formats::repo_relative;
use crate::ours::OurCode;
use crate::render::{normalize_text, render_frame};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use vgxml_parse::Report;
use vgxml_parse::Summary;
use vgxml_parse::{ErrorRecord, Frame, LeakKind};

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

struct Group<'a> {
    fingerprint: String,
    key: String,
    kind: String,
    bytes: Option<u64>,
    blocks: Option<u64>,
    occurrences: Vec<(&'a Report, &'a ErrorRecord, Option<String>)>,
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
/// errors (of our code when `ours` has rules), grouped by fingerprint,
/// sorted by bytes; stacks with our frames highlighted and, where the source
/// file is readable (`dir/file` of the frame, or under `source_root`), the
/// lines around each frame of ours.
pub fn render(
    reports: &[Report],
    ours: &OurCode,
    source_root: &Path,
    marker_prefix: &str,
) -> String {
    let summary = Summary::from_reports(reports);
    let mut sources = Sources {
        root: source_root,
        cache: HashMap::new(),
    };
    let mut groups: BTreeMap<String, Group<'_>> = BTreeMap::new();
    // One attribution per report, not per record: a report holds many records.
    let mut attributions: HashMap<*const Report, Attribution> = HashMap::new();
    for (r, e) in counted_records(reports, ours) {
        let key = crate::fingerprint::fingerprint_key(e, ours);
        let fp = crate::fingerprint::fingerprint_of_key(&key);
        let test = attributions
            .entry(r as *const Report)
            .or_insert_with(|| Attribution::new(r, ours, marker_prefix))
            .test_of(e, ours);
        let g = groups.entry(fp.clone()).or_insert_with(|| Group {
            fingerprint: fp,
            key,
            kind: e.kind.as_str().to_string(),
            bytes: e.is_leak().then_some(0),
            blocks: e.is_leak().then_some(0),
            occurrences: Vec::new(),
        });
        if let Some(b) = g.bytes.as_mut() {
            *b += e.direct_bytes().unwrap_or(0);
        }
        if let Some(b) = g.blocks.as_mut() {
            *b += e.leaked_blocks.unwrap_or(0);
        }
        g.occurrences.push((r, e, test));
    }
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
    let tests = tests_in(reports, marker_prefix);
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
    for g in groups.values() {
        let (_, first, _) = g.occurrences[0];
        let loc = ours
            .location_frame(first)
            .map(render_frame)
            .unwrap_or_default();
        let mut tests: Vec<&str> = g
            .occurrences
            .iter()
            .filter_map(|(_, _, t)| t.as_deref())
            .collect();
        tests.sort();
        tests.dedup();
        let _ = write!(
            h,
            "<tbody class=\"grp\" data-bytes=\"{}\" data-count=\"{}\"><tr class=\"head\"><td class=\"kind-{}\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td><code>{}</code></td><td>{}</td><td class=\"fp\" title=\"{}\">{}</td></tr>",
            g.bytes.unwrap_or(0),
            g.occurrences.len(),
            if g.bytes.is_some() {
                escape(&g.kind)
            } else {
                "err".to_string()
            },
            escape(&g.kind),
            g.bytes.map_or(String::new(), |b| b.to_string()),
            g.blocks.map_or(String::new(), |b| b.to_string()),
            g.occurrences.len(),
            escape(&loc),
            escape(&tests.join(", ")),
            escape(&g.key),
            g.fingerprint
        );
        h.push_str("<tr class=\"details\"><td colspan=\"7\">");
        for (r, e, t) in &g.occurrences {
            let _ = write!(
                h,
                "<div class=\"occ\"><p><b>{}</b> &middot; {}{}{}</p>",
                escape(e.kind.as_str()),
                escape(&normalize_text(&e.what)),
                escape(&format!(
                    " · {}{}",
                    r.source,
                    r.pid.map_or(String::new(), |p| format!(" pid {p}"))
                )),
                t.as_ref().map_or(String::new(), |t| format!(
                    " &middot; test <code>{}</code>",
                    escape(t)
                ))
            );
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
