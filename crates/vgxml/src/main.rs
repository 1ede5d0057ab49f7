//! `vgxml`: summaries, CI verdicts and suppressions from Valgrind XML reports.

use anyhow::{bail, Context as _, Result};
use std::collections::HashSet;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use vgxml_judge::formats::{self, gh_escape, TestCase};
use vgxml_judge::{Baseline, CheckConfig, Diff, OurCode};
use vgxml_parse::{read_path_with, records_with, LeakKind, Options, Report, Summary};

const USAGE: &str = "\
vgxml: read Valgrind XML reports (--xml=yes; protocols 4, 5, 6)

USAGE:
  vgxml summary [--json] [--format text|json|junit|github] FILE...
  vgxml check [OURS...] [--fail-on definite,indirect,possible,reachable,errors]
              [--baseline BASELINE.json] [--max definite=0,possible=4KiB,errors=0]
              [--format text|json|junit|github|sarif|gitlab] [--source-root DIR]
              [--summary-file FILE] [--marker-prefix TEXT] [-o FILE] FILE...
  vgxml baseline [OURS...] -o BASELINE.json FILE...
  vgxml diff [OURS...] [--json] OLD NEW   (each a Valgrind XML file, a baseline, or
                                           the JSON of `check --format json`)
  vgxml suppressions FILE...
  vgxml suppressions --unused --supp FILE.supp... FILE...
  vgxml html [OURS...] [--source-root DIR] -o REPORT.html FILE...
  vgxml records FILE          (every parsed item as one JSON object per line)

  OURS: --ours GLOB (object or source path), --ours-obj GLOB, --ours-src PREFIX,
        --ours-fn PATTERN

  summary       leak totals per kind (bytes, blocks; \"not shown\" / null when the
                run did not show that kind), error contexts per kind, suppressed
                counts, processes. Several files (one per process) are combined.
  check         prints the offending records (end-of-run loss records of the
                --fail-on kinds, and non-leak errors with `errors`), with
                normalised stacks. Default --fail-on: definite,indirect,possible,errors.
                With --ours* rules, only records with a frame in our code count:
                --ours GLOB matches an object path or a source path.
                Each record has a stable fingerprint (kind + our frames as
                function@file, no lines/addresses/dirs). --baseline: only
                records whose fingerprint the baseline does not know offend;
                the gone ones are listed. --max: budgets per kind (bytes with
                units B, KB, KiB, MB, MiB; errors: contexts) replace --fail-on;
                a kind the run did not measure fails as \"not measured\".
  baseline      writes the fingerprints of the end-of-run loss records and
                errors (kind, bytes, blocks, first frame, count).
  diff          new, fixed, grown and shrunk fingerprints with byte deltas
                (exit 1 when something is new or grew).
  suppressions  the deduplicated suppressions of --gen-suppressions=all; with
                --unused, the entries of the .supp files that no run used
                (exit 1 when any; 2 on a malformed .supp file).
  html          one self-contained HTML page (no external assets).

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
    Sarif,
    Gitlab,
}

struct Cli {
    cmd: String,
    files: Vec<PathBuf>,
    format: Format,
    ours: OurCode,
    fail_on: Vec<String>,
    stats: bool,
    output: Option<PathBuf>,
    baseline: Option<PathBuf>,
    max: Option<String>,
    supp: Vec<PathBuf>,
    unused: bool,
    source_root: Option<PathBuf>,
    summary_file: Option<PathBuf>,
    marker_prefix: String,
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
        output: None,
        baseline: None,
        max: None,
        supp: Vec::new(),
        unused: false,
        source_root: None,
        summary_file: None,
        marker_prefix: vgxml_judge::check::TEST_MARKER_PREFIX.to_string(),
    };
    let mut files_only = false;
    while let Some(a) = args.next() {
        if a == "-o" {
            cli.output = Some(PathBuf::from(args.next().context("-o needs a value")?));
            continue;
        }
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
                    "sarif" => Format::Sarif,
                    "gitlab" => Format::Gitlab,
                    other => bail!(
                        "unknown --format {other:?} (text, json, junit, github, sarif, gitlab)"
                    ),
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
            "--output" => cli.output = Some(PathBuf::from(value("--output")?)),
            "--baseline" => cli.baseline = Some(PathBuf::from(value("--baseline")?)),
            "--max" => {
                let m = value("--max")?;
                vgxml_judge::parse_budgets(&m).map_err(|e| anyhow::anyhow!("--max: {e}"))?;
                cli.max = Some(m);
            }
            "--supp" => cli.supp.push(PathBuf::from(value("--supp")?)),
            "--unused" => cli.unused = true,
            "--source-root" => cli.source_root = Some(PathBuf::from(value("--source-root")?)),
            "--summary-file" => cli.summary_file = Some(PathBuf::from(value("--summary-file")?)),
            "--marker-prefix" => cli.marker_prefix = value("--marker-prefix")?,
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
    let mut out: Box<dyn Write> = match (&cli.output, cli.cmd.as_str()) {
        (Some(p), "check" | "diff" | "summary" | "suppressions") => Box::new(BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("{}: cannot create", p.display()))?,
        )),
        _ => Box::new(BufWriter::new(io::stdout().lock())),
    };
    let code = match cli.cmd.as_str() {
        "summary" => summary(&cli, &mut out)?,
        "check" => check(&cli, &mut out)?,
        "baseline" => baseline(&cli, &mut out)?,
        "diff" => diff(&cli, &mut out)?,
        "suppressions" if cli.unused => unused_suppressions(&cli, &mut out)?,
        "suppressions" => suppressions(&cli, &mut out)?,
        "html" => html(&cli, &mut out)?,
        "records" => dump_records(&cli, &mut out)?,
        other => bail!(
            "unknown command {other:?} (summary, check, baseline, diff, suppressions, html, records)"
        ),
    };
    out.flush().context("writing the output")?;
    Ok(code)
}

fn warn_diagnostics(s: &Summary) {
    for d in &s.diagnostics {
        eprintln!("vgxml: note: {d}");
    }
}

fn summary(cli: &Cli, out: &mut dyn Write) -> Result<u8> {
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
            let mut cases: Vec<(String, Option<String>, String)> = Vec::new();
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
            let cases: Vec<TestCase> = cases
                .into_iter()
                .map(|(name, failure, _)| TestCase {
                    name,
                    classname: "valgrind".into(),
                    failures: failure.into_iter().collect(),
                })
                .collect();
            write!(out, "{}", formats::junit_xml("vgxml summary", &cases))?;
        }
        Format::Sarif | Format::Gitlab => {
            bail!("--format sarif/gitlab is for `vgxml check`")
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

fn source_root(cli: &Cli) -> PathBuf {
    let r = cli
        .source_root
        .clone()
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::canonicalize(&r).unwrap_or(r)
}

fn check(cli: &Cli, out: &mut dyn Write) -> Result<u8> {
    let reports = read_all(&cli.files, Options::full())?;
    let mut cfg = CheckConfig {
        ours: cli.ours.clone(),
        marker_prefix: cli.marker_prefix.clone(),
        ..CheckConfig::default()
    };
    cfg.fail_on = cli
        .fail_on
        .iter()
        .filter_map(|f| vgxml_judge::Category::parse(f))
        .collect();
    if let Some(m) = &cli.max {
        cfg.budgets = vgxml_judge::parse_budgets(m).map_err(|e| anyhow::anyhow!("--max: {e}"))?;
    }
    if let Some(b) = &cli.baseline {
        cfg.baseline = Some(Baseline::load(b, &cli.ours).map_err(|e| anyhow::anyhow!(e))?);
    }
    let v = vgxml_judge::check(&reports, &cfg);
    for n in &v.notes {
        eprintln!("vgxml: note: {n}");
    }
    let root = source_root(cli);
    match cli.format {
        Format::Text => {
            let mut last_source = "";
            for f in &v.findings {
                if f.source != last_source {
                    writeln!(out, "== {}", f.source)?;
                    last_source = f.source;
                }
                if let Some(t) = &f.test {
                    writeln!(out, "[test: {t}]")?;
                } else if let Some(m) = f.record.marker.as_ref().filter(|_| !f.record.final_search)
                {
                    writeln!(out, "[after client message: {m}]")?;
                }
                write!(out, "{}", vgxml_judge::render_record(f.record, &cli.ours))?;
                writeln!(
                    out,
                    "  fingerprint {}{}",
                    f.fingerprint,
                    if f.failing { "" } else { " (within budget)" }
                )?;
                writeln!(out)?;
            }
            for b in &v.budgets {
                writeln!(out, "budget {}", formats::budget_text(b))?;
            }
            if cfg.baseline.is_some() {
                for g in &v.gone {
                    writeln!(
                        out,
                        "gone (fixed since the baseline): {} at {} [{}]",
                        g.kind, g.first_frame, g.fingerprint
                    )?;
                }
                for (e, n) in &v.more_than_baseline {
                    writeln!(
                        out,
                        "more records than the baseline: {} at {} [{}]: {} -> {}",
                        e.kind, e.first_frame, e.fingerprint, e.count, n
                    )?;
                }
            }
            let failing = v.findings.iter().filter(|f| f.failing).count();
            // One leak site often yields several loss records (different
            // callers): count the distinct fingerprints too.
            let fingerprints: std::collections::BTreeSet<&str> = v
                .findings
                .iter()
                .filter(|f| f.failing)
                .map(|f| f.fingerprint.as_str())
                .collect();
            writeln!(
                out,
                "{} offending record(s){} in {} file(s), {} distinct fingerprint(s){}{}",
                failing,
                if cfg.baseline.is_some() {
                    " new since the baseline"
                } else {
                    ""
                },
                reports.len(),
                fingerprints.len(),
                if v.budgets.iter().any(|b| !b.ok) {
                    "; budget exceeded or not measured"
                } else {
                    ""
                },
                if v.complete { "" } else { "; INCOMPLETE input" }
            )?;
        }
        Format::Json => {
            let recs: Vec<serde_json::Value> = v
                .findings
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "source": f.source,
                        "kind": f.record.kind.as_str(),
                        "fingerprint": f.fingerprint,
                        "key": f.key,
                        "failing": f.failing,
                        "test": f.test,
                        "bytes": f.record.direct_bytes(),
                        "blocks": f.record.leak_kind().and(f.record.leaked_blocks),
                        "first_frame": cli.ours.location_frame(f.record).map(vgxml_judge::render_frame),
                        "rendered": vgxml_judge::render_record(f.record, &cli.ours),
                        "first_frame_of_ours": cli.ours.location_frame(f.record),
                        "record": f.record,
                    })
                })
                .collect();
            let j = serde_json::json!({
                "complete": v.complete,
                "failed": v.failed(),
                "offending": v.findings.iter().filter(|f| f.failing).count(),
                "records": recs,
                "budgets": v.budgets,
                "gone": v.gone,
                "notes": v.notes,
            });
            serde_json::to_writer(&mut *out, &j)?;
            writeln!(out)?;
        }
        Format::Junit => {
            let cases = formats::junit_cases(&v, &reports, &cli.ours, &cli.marker_prefix);
            write!(out, "{}", formats::junit_xml("vgxml check", &cases))?;
        }
        Format::Sarif => {
            let s = formats::sarif(&v, &cli.ours, &root, formats::DEFAULT_INFORMATION_URI);
            serde_json::to_writer_pretty(&mut *out, &s)?;
            writeln!(out)?;
        }
        Format::Gitlab => {
            serde_json::to_writer_pretty(&mut *out, &formats::gitlab(&v, &cli.ours, &root))?;
            writeln!(out)?;
        }
        Format::Github => {
            write!(out, "{}", formats::github_annotations(&v, &cli.ours, &root))?;
            let target = cli
                .summary_file
                .clone()
                .or_else(|| std::env::var_os("GITHUB_STEP_SUMMARY").map(PathBuf::from));
            if let Some(p) = target {
                let md = formats::markdown_summary(&v, &cli.ours, &root);
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)
                    .with_context(|| format!("{}: cannot open the job summary", p.display()))?;
                f.write_all(md.as_bytes())?;
            }
        }
    }
    Ok(v.exit_code())
}

fn baseline(cli: &Cli, out: &mut dyn Write) -> Result<u8> {
    let reports = read_all(&cli.files, Options::full())?;
    let incomplete: Vec<&str> = reports
        .iter()
        .filter(|r| !r.complete)
        .map(|r| r.source.as_str())
        .collect();
    if !incomplete.is_empty() {
        bail!(
            "incomplete report(s), not a baseline: {}",
            incomplete.join(", ")
        );
    }
    let b = Baseline::from_reports(&reports, &cli.ours);
    let text = serde_json::to_string_pretty(&b)? + "\n";
    match &cli.output {
        Some(p) => std::fs::write(p, text).with_context(|| format!("{}", p.display()))?,
        None => out.write_all(text.as_bytes())?,
    }
    eprintln!(
        "vgxml: baseline of {} fingerprint(s) from {} file(s)",
        b.records.len(),
        reports.len()
    );
    Ok(0)
}

fn diff(cli: &Cli, out: &mut dyn Write) -> Result<u8> {
    let [old, new] = cli.files.as_slice() else {
        bail!("diff needs exactly two inputs: OLD NEW");
    };
    let load = |p: &PathBuf| Baseline::load(p, &cli.ours).map_err(|e| anyhow::anyhow!(e));
    let (o, n) = (load(old)?, load(new)?);
    let d = Diff::between(&o, &n);
    if cli.format == Format::Json {
        serde_json::to_writer(&mut *out, &d)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", d.to_text())?;
    }
    Ok(if d.is_worse() { 1 } else { 0 })
}

fn unused_suppressions(cli: &Cli, out: &mut dyn Write) -> Result<u8> {
    if cli.supp.is_empty() {
        bail!("--unused needs at least one --supp FILE.supp");
    }
    let entries = vgxml_judge::supp::parse_files(&cli.supp)?;
    let opts = Options {
        stacks: false,
        suppressions: false,
        collect_errors: false,
    };
    let reports = read_all(&cli.files, opts)?;
    if !reports.iter().any(vgxml_judge::supp::suppcounts_known) {
        bail!("every run was made with -q/--quiet, which leaves <suppcounts> out of the XML: cannot tell which suppressions were used (rerun without -q)");
    }
    for r in reports
        .iter()
        .filter(|r| !vgxml_judge::supp::suppcounts_known(r))
    {
        eprintln!(
            "vgxml: warning: {}: run with -q, no <suppcounts>: ignored for --unused",
            r.source
        );
    }
    for f in &cli.supp {
        if !reports.iter().any(|r| vgxml_judge::supp::loaded_by(r, f)) {
            eprintln!(
                "vgxml: warning: no run loaded {} (--suppressions=...): its entries cannot have been used",
                f.display()
            );
        }
    }
    for (name, es) in vgxml_judge::supp::duplicate_names(&entries) {
        let at: Vec<String> = es
            .iter()
            .map(|e| format!("{}:{}", e.file.display(), e.line))
            .collect();
        eprintln!(
            "vgxml: warning: {} entries named {name:?} ({}): Valgrind counts uses by name, so one used entry hides the others",
            es.len(),
            at.join(", ")
        );
    }
    let unused = vgxml_judge::supp::unused(&entries, &reports);
    if cli.format == Format::Json {
        serde_json::to_writer(&mut *out, &unused)?;
        writeln!(out)?;
    } else {
        for e in &unused {
            writeln!(out, "unused: {e}")?;
        }
        writeln!(
            out,
            "{} of {} suppression(s) unused in {} run(s)",
            unused.len(),
            entries.len(),
            reports.len()
        )?;
    }
    let complete = reports.iter().all(|r| r.complete);
    Ok(if !complete {
        3
    } else if unused.is_empty() {
        0
    } else {
        1
    })
}

fn html(cli: &Cli, out: &mut dyn Write) -> Result<u8> {
    let reports = read_all(&cli.files, Options::full())?;
    let root = source_root(cli);
    let page = vgxml_judge::html::render(&reports, &cli.ours, &root, &cli.marker_prefix);
    match &cli.output {
        Some(p) => std::fs::write(p, page).with_context(|| format!("{}", p.display()))?,
        None => out.write_all(page.as_bytes())?,
    }
    Ok(if reports.iter().all(|r| r.complete) {
        0
    } else {
        3
    })
}

fn suppressions(cli: &Cli, out: &mut dyn Write) -> Result<u8> {
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

fn dump_records(cli: &Cli, out: &mut dyn Write) -> Result<u8> {
    let mut complete = true;
    for f in &cli.files {
        let name = f.display().to_string();
        let file = std::fs::File::open(f).with_context(|| format!("{name}: cannot open"))?;
        let reader = io::BufReader::with_capacity(1 << 20, file);
        for item in records_with(reader, &name, Options::full()) {
            let item = item?;
            if let vgxml_parse::Item::End { complete: c, .. } = item {
                complete &= c;
            }
            serde_json::to_writer(&mut *out, &item)?;
            writeln!(out)?;
        }
    }
    Ok(if complete { 0 } else { 3 })
}
