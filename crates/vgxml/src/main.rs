//! `vgxml`: summaries, CI verdicts and suppressions from Valgrind XML reports.

use anyhow::{bail, Context as _, Result};
use std::collections::HashSet;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use vgxml::{
    read_path_with, records_with, ErrorRecord, Frame, LeakKind, Options, OurCode, Report, Summary,
};

const USAGE: &str = "\
vgxml: read Valgrind XML reports (--xml=yes; protocols 4, 5, 6)

USAGE:
  vgxml summary [--json] [--format text|json|junit|github] FILE...
  vgxml check [--ours GLOB]... [--ours-obj GLOB]... [--ours-src PREFIX]...
              [--ours-fn PATTERN]... [--fail-on definite,indirect,possible,reachable,errors]
              [--format text|json|junit|github] FILE...
  vgxml suppressions FILE...
  vgxml records FILE          (every parsed item as one JSON object per line)

  summary       leak totals per kind (bytes, blocks; \"not shown\" / null when the
                run did not show that kind), error contexts per kind, suppressed
                counts, processes. Several files (one per process) are combined.
  check         prints the offending records (end-of-run loss records of the
                --fail-on kinds, and non-leak errors with `errors`), with
                normalised stacks. Default --fail-on: definite,indirect,possible,errors.
                With --ours* rules, only records with a frame in our code count:
                --ours GLOB matches an object path or a source path.
  suppressions  the deduplicated suppressions of --gen-suppressions=all.

EXIT STATUS:
  0  read completely (check: nothing offending)
  1  check found offending records
  2  unreadable input, not Valgrind XML, unknown protocol, bad usage
  3  some file was incomplete (truncated: Valgrind killed, disk full)
";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
    Junit,
    Github,
}

struct Cli {
    cmd: String,
    files: Vec<PathBuf>,
    format: Format,
    ours: OurCode,
    fail_on: Vec<String>,
    stats: bool,
}

fn parse_args() -> Result<Option<Cli>> {
    let mut args = std::env::args().skip(1);
    let mut cli = Cli {
        cmd: String::new(),
        files: Vec::new(),
        format: Format::Text,
        ours: OurCode::new(),
        fail_on: ["definite", "indirect", "possible", "errors"]
            .map(String::from)
            .to_vec(),
        stats: false,
    };
    let mut files_only = false;
    while let Some(a) = args.next() {
        if files_only || !a.starts_with("--") || a == "-" {
            if cli.cmd.is_empty() {
                cli.cmd = a;
            } else {
                cli.files.push(PathBuf::from(a));
            }
            continue;
        }
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut value = |name: &str| -> Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => args.next().with_context(|| format!("{name} needs a value")),
            }
        };
        match key.as_str() {
            "--" => files_only = true,
            "--help" | "-h" => return Ok(None),
            "--version" => {
                println!("vgxml {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            "--json" => cli.format = Format::Json,
            "--stats" => cli.stats = true,
            "--format" => {
                cli.format = match value("--format")?.as_str() {
                    "text" => Format::Text,
                    "json" => Format::Json,
                    "junit" => Format::Junit,
                    "github" => Format::Github,
                    other => bail!("unknown --format {other:?} (text, json, junit, github)"),
                }
            }
            "--ours" => {
                let g = value("--ours")?;
                cli.ours = cli.ours.object_glob(&g).source_glob(&g);
            }
            "--ours-obj" => cli.ours = cli.ours.object_glob(&value("--ours-obj")?),
            "--ours-src" => cli.ours = cli.ours.source_prefix(&value("--ours-src")?),
            "--ours-fn" => cli.ours = cli.ours.function_pattern(&value("--ours-fn")?),
            "--fail-on" => {
                cli.fail_on = value("--fail-on")?
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                for f in &cli.fail_on {
                    if !["definite", "indirect", "possible", "reachable", "errors"]
                        .contains(&f.as_str())
                    {
                        bail!("unknown --fail-on item {f:?} (definite, indirect, possible, reachable, errors)");
                    }
                }
            }
            other => bail!("unknown option {other}"),
        }
    }
    if cli.cmd.is_empty() {
        return Ok(None);
    }
    Ok(Some(cli))
}

fn main() -> ExitCode {
    let start = std::time::Instant::now();
    let cli = match parse_args() {
        Ok(Some(c)) => c,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::from(0);
        }
        Err(e) => {
            eprintln!("vgxml: {e:#}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let stats = cli.stats;
    let code = match run(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vgxml: error: {e:#}");
            2
        }
    };
    if stats {
        eprintln!(
            "vgxml-stats: elapsed_s={:.3} peak_rss_kib={}",
            start.elapsed().as_secs_f64(),
            peak_rss_kib().unwrap_or(0)
        );
    }
    ExitCode::from(code)
}

/// Peak resident set size of this process (Linux: VmHWM).
fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn read_all(files: &[PathBuf], opts: Options) -> Result<Vec<Report>> {
    if files.is_empty() {
        bail!("no input files");
    }
    files
        .iter()
        .map(|f| read_path_with(f, opts).map_err(anyhow::Error::from))
        .collect()
}

fn run(cli: Cli) -> Result<u8> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let code = match cli.cmd.as_str() {
        "summary" => summary(&cli, &mut out)?,
        "check" => check(&cli, &mut out)?,
        "suppressions" => suppressions(&cli, &mut out)?,
        "records" => dump_records(&cli, &mut out)?,
        other => bail!("unknown command {other:?} (summary, check, suppressions, records)"),
    };
    out.flush().context("writing to stdout")?;
    Ok(code)
}

fn warn_diagnostics(s: &Summary) {
    for d in &s.diagnostics {
        eprintln!("vgxml: note: {d}");
    }
}

fn summary(cli: &Cli, out: &mut impl Write) -> Result<u8> {
    let reports = read_all(&cli.files, Options::totals())?;
    let s = Summary::from_reports(&reports);
    match cli.format {
        Format::Text => write!(out, "{}", s.to_text())?,
        Format::Json => {
            serde_json::to_writer(&mut *out, &s)?;
            writeln!(out)?;
        }
        Format::Junit => {
            warn_diagnostics(&s);
            let mut cases = Vec::new();
            for k in LeakKind::ALL {
                let (failure, text) = match s.leaks.get(k) {
                    Some(a) => (
                        a.bytes > 0 && k != LeakKind::StillReachable,
                        format!("{} bytes in {} blocks", a.bytes, a.blocks),
                    ),
                    None => (false, "not shown".to_string()),
                };
                cases.push((k.label().to_string(), failure.then_some(text.clone()), text));
            }
            for (k, v) in &s.errors {
                cases.push((k.clone(), Some(format!("{v} contexts")), String::new()));
            }
            if !s.complete {
                cases.push((
                    "complete".into(),
                    Some("at least one report is incomplete".into()),
                    String::new(),
                ));
            }
            write_junit(out, "vgxml summary", &cases)?;
        }
        Format::Github => {
            warn_diagnostics(&s);
            let mut parts = Vec::new();
            for k in LeakKind::ALL {
                parts.push(match s.leaks.get(k) {
                    Some(a) => format!("{}: {} bytes in {} blocks", k.label(), a.bytes, a.blocks),
                    None => format!("{}: not shown", k.label()),
                });
            }
            for (k, v) in &s.errors {
                parts.push(format!("{k}: {v} contexts"));
            }
            writeln!(
                out,
                "::notice title=Valgrind summary::{}",
                gh_escape(&parts.join("; "))
            )?;
            if !s.complete {
                writeln!(
                    out,
                    "::error title=Valgrind report incomplete::at least one report is incomplete"
                )?;
            }
        }
    }
    if cli.format == Format::Text || cli.format == Format::Json {
        // diagnostics are part of the output already; also tell stderr about truncation
        if !s.complete {
            eprintln!("vgxml: at least one report is incomplete");
        }
    }
    Ok(if s.complete { 0 } else { 3 })
}

struct Offender<'a> {
    source: &'a str,
    record: &'a ErrorRecord,
}

fn check(cli: &Cli, out: &mut impl Write) -> Result<u8> {
    let reports = read_all(&cli.files, Options::full())?;
    let s = Summary::from_reports(&reports);
    let want = |k: &str| cli.fail_on.iter().any(|f| f == k);
    let mut offenders = Vec::new();
    let mut notes = s.diagnostics.clone();
    for r in &reports {
        for e in &r.errors {
            let selected = match e.leak_kind() {
                Some(LeakKind::DefinitelyLost) => want("definite") && e.final_search,
                Some(LeakKind::IndirectlyLost) => want("indirect") && e.final_search,
                Some(LeakKind::PossiblyLost) => want("possible") && e.final_search,
                Some(LeakKind::StillReachable) => want("reachable") && e.final_search,
                None => want("errors"),
            };
            if selected && (cli.ours.is_empty() || cli.ours.matches_record(e)) {
                offenders.push(Offender {
                    source: &r.source,
                    record: e,
                });
            }
        }
        let shown = r.shown_leak_kinds();
        for (key, k) in [
            ("definite", LeakKind::DefinitelyLost),
            ("indirect", LeakKind::IndirectlyLost),
            ("possible", LeakKind::PossiblyLost),
            ("reachable", LeakKind::StillReachable),
        ] {
            if want(key) && !shown.contains(&k) && r.valgrind_leak_summary.is_none() {
                notes.push(format!(
                    "{}: {} records were not shown by this run; rerun Valgrind with --show-leak-kinds=all to check them",
                    r.source,
                    k.label()
                ));
            }
        }
    }
    for n in &notes {
        eprintln!("vgxml: note: {n}");
    }
    match cli.format {
        Format::Text => {
            let mut last_source = "";
            for o in &offenders {
                if o.source != last_source {
                    writeln!(out, "== {}", o.source)?;
                    last_source = o.source;
                }
                if let Some(m) = &o.record.marker {
                    writeln!(out, "[after client message: {m}]")?;
                }
                write!(out, "{}", vgxml::render_record(o.record, &cli.ours))?;
                writeln!(out)?;
            }
            writeln!(
                out,
                "{} offending record(s) in {} file(s){}",
                offenders.len(),
                reports.len(),
                if s.complete { "" } else { "; INCOMPLETE input" }
            )?;
        }
        Format::Json => {
            let recs: Vec<serde_json::Value> = offenders
                .iter()
                .map(|o| {
                    serde_json::json!({
                        "source": o.source,
                        "kind": o.record.kind.as_str(),
                        "rendered": vgxml::render_record(o.record, &cli.ours),
                        "first_frame_of_ours": first_frame(&cli.ours, o.record),
                        "record": o.record,
                    })
                })
                .collect();
            let v = serde_json::json!({
                "complete": s.complete,
                "offending": recs.len(),
                "records": recs,
                "notes": notes,
            });
            serde_json::to_writer(&mut *out, &v)?;
            writeln!(out)?;
        }
        Format::Junit => {
            let mut cases = Vec::new();
            for o in &offenders {
                let loc = first_frame(&cli.ours, o.record)
                    .map(vgxml::render_frame)
                    .unwrap_or_default();
                cases.push((
                    format!("{} {}", o.record.kind, loc),
                    Some(vgxml::render_record(o.record, &cli.ours)),
                    o.source.to_string(),
                ));
            }
            if !s.complete {
                cases.push((
                    "complete".into(),
                    Some("at least one report is incomplete".into()),
                    String::new(),
                ));
            }
            if cases.is_empty() {
                cases.push(("valgrind".into(), None, String::new()));
            }
            write_junit(out, "vgxml check", &cases)?;
        }
        Format::Github => {
            for o in &offenders {
                let f = first_frame(&cli.ours, o.record);
                let mut props = String::new();
                if let Some(f) = f {
                    if let Some(p) = f.path() {
                        props.push_str(&format!("file={}", gh_prop(&relative(&p))));
                        if let Some(l) = f.line {
                            props.push_str(&format!(",line={l}"));
                        }
                        props.push(',');
                    }
                }
                props.push_str(&format!(
                    "title={}",
                    gh_prop(&format!("Valgrind {}", o.record.kind))
                ));
                writeln!(
                    out,
                    "::error {props}::{}",
                    gh_escape(&vgxml::render_record(o.record, &cli.ours))
                )?;
            }
            if !s.complete {
                writeln!(
                    out,
                    "::error title=Valgrind report incomplete::at least one report is incomplete"
                )?;
            }
        }
    }
    Ok(if !offenders.is_empty() {
        1
    } else if !s.complete {
        3
    } else {
        0
    })
}

fn first_frame<'a>(ours: &OurCode, r: &'a ErrorRecord) -> Option<&'a Frame> {
    ours.first_frame(r)
        .filter(|f| f.file.is_some())
        .or_else(|| {
            r.stack
                .iter()
                .find(|f| f.file.is_some() && ours.matches_frame(f))
        })
        .or_else(|| r.stack.iter().find(|f| f.file.is_some()))
}

fn relative(p: &str) -> String {
    if let Ok(cwd) = std::env::current_dir() {
        let cwd = cwd.display().to_string();
        if let Some(rest) = p.strip_prefix(&cwd) {
            return rest.trim_start_matches('/').to_string();
        }
    }
    p.to_string()
}

fn gh_escape(s: &str) -> String {
    s.trim_end()
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn gh_prop(s: &str) -> String {
    gh_escape(s).replace(':', "%3A").replace(',', "%2C")
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => o.push('?'),
            c => o.push(c),
        }
    }
    o
}

/// `(name, failure text, classname)` test cases.
fn write_junit(
    out: &mut impl Write,
    suite: &str,
    cases: &[(String, Option<String>, String)],
) -> Result<()> {
    let failures = cases.iter().filter(|c| c.1.is_some()).count();
    writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(
        out,
        "<testsuites name=\"{0}\" tests=\"{1}\" failures=\"{2}\">\n  <testsuite name=\"{0}\" tests=\"{1}\" failures=\"{2}\">",
        xml_escape(suite),
        cases.len(),
        failures
    )?;
    for (name, failure, class) in cases {
        let class = if class.is_empty() { "valgrind" } else { class };
        match failure {
            None => writeln!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\"/>",
                xml_escape(name),
                xml_escape(class)
            )?,
            Some(text) => writeln!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                xml_escape(name),
                xml_escape(class),
                xml_escape(text.lines().next().unwrap_or("")),
                xml_escape(text)
            )?,
        }
    }
    writeln!(out, "  </testsuite>\n</testsuites>")?;
    Ok(())
}

fn suppressions(cli: &Cli, out: &mut impl Write) -> Result<u8> {
    let opts = Options {
        stacks: false,
        suppressions: true,
        collect_errors: true,
    };
    let reports = read_all(&cli.files, opts)?;
    let mut seen = HashSet::new();
    let mut complete = true;
    for r in &reports {
        complete &= r.complete;
        for d in &r.diagnostics {
            eprintln!("vgxml: note: {d}");
        }
        let inner = r.errors.iter().filter_map(|e| e.suppression.as_ref());
        for s in inner.chain(r.suppressions.iter()) {
            if s.rawtext.trim().is_empty() {
                continue;
            }
            if seen.insert(s.rawtext.clone()) {
                writeln!(out, "{}", s.rawtext.trim_end())?;
            }
        }
    }
    Ok(if complete { 0 } else { 3 })
}

fn dump_records(cli: &Cli, out: &mut impl Write) -> Result<u8> {
    let mut complete = true;
    for f in &cli.files {
        let name = f.display().to_string();
        let file = std::fs::File::open(f).with_context(|| format!("{name}: cannot open"))?;
        let reader = io::BufReader::with_capacity(1 << 20, file);
        for item in records_with(reader, &name, Options::full()) {
            let item = item?;
            if let vgxml::Item::End { complete: c } = item {
                complete &= c;
            }
            serde_json::to_writer(&mut *out, &item)?;
            writeln!(out)?;
        }
    }
    Ok(if complete { 0 } else { 3 })
}
