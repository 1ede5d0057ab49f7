//! `cargo xtask bench --vgxml`: throughput (MB/s) and peak RSS of the
//! release `vgxml summary --json` on generated reports, against Python's
//! `xml.etree.ElementTree.iterparse` computing the same totals, a bare
//! quick-xml event loop and a memchr pass over the same bytes, in one run.
//!
//! The reports are built by replicating real memcheck records from
//! `tests/fixtures` (leaks of every kind with indirect children, invalid
//! reads/writes/frees, uninitialised values with origins, C++ stacks with
//! generated suppressions): memory errors before `<status>FINISHED`, loss
//! records (renumbered "loss record N of M") after it. The expected totals
//! are known to the generator and checked against both parsers' output.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const PY: &str = r#"
import sys, json, re, resource
import xml.etree.ElementTree as ET
path = sys.argv[1]
leaks = {k: [0, 0] for k in ("Leak_DefinitelyLost", "Leak_IndirectlyLost", "Leak_PossiblyLost", "Leak_StillReachable")}
errors = {}
finished = False
complete = False
depth = 0
direct_re = re.compile(r"\(([0-9,]+) (?:\(\+[0-9,]+\) )?direct, ")
it = ET.iterparse(path, events=("start", "end"))
root = None
try:
    for ev, el in it:
        if ev == "start":
            if root is None:
                root = el
            depth += 1
            continue
        depth -= 1
        tag = el.tag
        if depth == 1:
            if tag == "status":
                if el.findtext("state") == "FINISHED":
                    finished = True
            elif tag == "error":
                kind = el.findtext("kind")
                if kind in leaks:
                    if finished:
                        text = el.findtext("xwhat/text") or ""
                        m = direct_re.search(text)
                        b = int(m.group(1).replace(",", "")) if m else int(el.findtext("xwhat/leakedbytes") or 0)
                        leaks[kind][0] += b
                        leaks[kind][1] += int(el.findtext("xwhat/leakedblocks") or 0)
                else:
                    errors[kind] = errors.get(kind, 0) + 1
            root.clear()
        elif depth == 0:
            complete = True
except ET.ParseError:
    complete = False
names = {"Leak_DefinitelyLost": "definitely_lost", "Leak_IndirectlyLost": "indirectly_lost",
         "Leak_PossiblyLost": "possibly_lost", "Leak_StillReachable": "still_reachable"}
print(json.dumps({"complete": complete,
                  "leaks": {names[k]: {"bytes": v[0], "blocks": v[1]} for k, v in leaks.items()},
                  "errors": errors,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"#;

struct Block {
    text: String,
    leak: Option<(String, u64, u64)>, // kind, direct bytes, blocks
    kind: String,
}

fn blocks_of(path: &Path) -> (Vec<Block>, String) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut rest = &text[..];
    while let Some(i) = rest.find("<error>") {
        let j = rest[i..].find("</error>").unwrap() + i + "</error>".len();
        let mut block = rest[i..j].to_string();
        // 3.19 repeats the suppression after the error: keep it with it
        let after = &rest[j..];
        let trimmed = after.trim_start();
        if trimmed.starts_with("<suppression>") {
            let k = after.find("</suppression>").unwrap() + "</suppression>".len();
            block.push_str(&after[..k]);
            rest = &after[k..];
        } else {
            rest = after;
        }
        block.push('\n');
        let r = vgxml_parse::read(
            format!("<?xml version=\"1.0\"?><valgrindoutput><protocolversion>4</protocolversion><status><state>FINISHED</state></status>{block}</valgrindoutput>").as_bytes(),
            "block",
        )
        .unwrap();
        let e = &r.errors[0];
        out.push(Block {
            leak: e.leak_kind().map(|_| {
                (
                    e.kind.as_str().to_string(),
                    e.direct_bytes().unwrap_or(0),
                    e.leaked_blocks.unwrap_or(0),
                )
            }),
            kind: e.kind.as_str().to_string(),
            text: block,
        });
    }
    let header_end = text.find("<status>").unwrap();
    (out, text[..header_end].to_string())
}

#[derive(Default, Debug, PartialEq)]
struct Expected {
    leaks: std::collections::BTreeMap<String, (u64, u64)>,
    errors: std::collections::BTreeMap<String, u64>,
}

fn generate(path: &Path, target: u64, fixtures: &Path) -> Expected {
    let mut errs = Vec::new();
    let mut leaks = Vec::new();
    let mut header = String::new();
    for f in [
        "leaks-all.xml",
        "memerr.xml",
        "cxx.xml",
        "supp.xml",
        "supp-leaks.xml",
    ] {
        let (b, h) = blocks_of(&fixtures.join(f));
        if f == "leaks-all.xml" {
            header = h;
        }
        for b in b {
            if b.leak.is_some() {
                leaks.push(b)
            } else {
                errs.push(b)
            }
        }
    }
    let cycle: u64 = errs.iter().chain(&leaks).map(|b| b.text.len() as u64).sum();
    let reps = (target / cycle).max(1);
    let n_leaks = reps * leaks.len() as u64;
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let mut exp = Expected::default();
    w.write_all(header.as_bytes()).unwrap();
    w.write_all(
        b"<status>\n  <state>RUNNING</state>\n  <time>00:00:00:00.030 </time>\n</status>\n\n",
    )
    .unwrap();
    let mut unique = 0u64;
    let put = |w: &mut BufWriter<File>, text: &str, unique: &mut u64, lr: Option<u64>| {
        let a = text.find("<unique>").unwrap() + "<unique>".len();
        let b = text.find("</unique>").unwrap();
        w.write_all(&text.as_bytes()[..a]).unwrap();
        write!(w, "0x{:x}", *unique).unwrap();
        *unique += 1;
        let mut rest = &text[b..];
        if let Some(n) = lr {
            let i = rest.find("loss record ").unwrap() + "loss record ".len();
            let j = rest[i..].find("</text>").unwrap() + i;
            w.write_all(&rest.as_bytes()[..i]).unwrap();
            write!(w, "{n} of {n_leaks}").unwrap();
            rest = &rest[j..];
        }
        w.write_all(rest.as_bytes()).unwrap();
        w.write_all(b"\n").unwrap();
    };
    for _ in 0..reps {
        for b in &errs {
            put(&mut w, &b.text, &mut unique, None);
            *exp.errors.entry(b.kind.clone()).or_default() += 1;
        }
    }
    w.write_all(
        b"<status>\n  <state>FINISHED</state>\n  <time>00:01:00:00.000 </time>\n</status>\n\n",
    )
    .unwrap();
    let mut n = 0;
    for _ in 0..reps {
        for b in &leaks {
            n += 1;
            put(&mut w, &b.text, &mut unique, Some(n));
            let (k, by, bl) = b.leak.clone().unwrap();
            let e = exp.leaks.entry(k).or_default();
            e.0 += by;
            e.1 += bl;
        }
    }
    w.write_all(
        b"<errorcounts>\n</errorcounts>\n\n<suppcounts>\n</suppcounts>\n\n</valgrindoutput>\n\n",
    )
    .unwrap();
    w.flush().unwrap();
    exp
}

fn check_output(json: &serde_json::Value, exp: &Expected, who: &str) {
    let names = [
        ("Leak_DefinitelyLost", "definitely_lost"),
        ("Leak_IndirectlyLost", "indirectly_lost"),
        ("Leak_PossiblyLost", "possibly_lost"),
        ("Leak_StillReachable", "still_reachable"),
    ];
    assert_eq!(json["complete"], true, "{who}");
    for (k, key) in names {
        let (by, bl) = exp.leaks.get(k).copied().unwrap_or((0, 0));
        assert_eq!(json["leaks"][key]["bytes"], by, "{who} {key}");
        assert_eq!(json["leaks"][key]["blocks"], bl, "{who} {key}");
    }
    for (k, v) in &exp.errors {
        assert_eq!(json["errors"][k], *v, "{who} {k}");
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// What to measure.
pub struct Options {
    /// Report sizes in MB.
    pub sizes: Vec<u64>,
    pub runs: usize,
    pub dir: PathBuf,
    /// The interpreter for the ElementTree comparison (a real binary, not a shim).
    pub python: PathBuf,
    /// The release `vgxml` binary.
    pub vgxml: PathBuf,
    /// The release `floors` example of vgxml-parse (a bare quick-xml loop
    /// and a memchr pass: what any parser's speed is measured against).
    pub floors: PathBuf,
    pub fixtures: PathBuf,
}

pub fn run(opts: &Options) {
    let Options {
        sizes,
        runs,
        dir,
        python,
        vgxml: bin,
        floors: floors_bin,
        fixtures,
    } = opts;
    let runs = *runs;
    assert!(
        bin.exists(),
        "{} missing: cargo build --release -p vgxml",
        bin.display()
    );
    std::fs::create_dir_all(dir).unwrap();
    let py_script = dir.join("etree_totals.py");
    std::fs::write(&py_script, PY).unwrap();
    println!(
        "{:>8} {:>12} {:>10} {:>12} {:>10} {:>8} {:>14} {:>12}",
        "size",
        "vgxml MB/s",
        "vgxml RSS",
        "etree MB/s",
        "etree RSS",
        "ratio",
        "quick-xml MB/s",
        "memchr MB/s"
    );
    for &mb in sizes {
        let path = dir.join(format!("report-{mb}MB.xml"));
        let exp = generate(&path, mb * 1_000_000, fixtures);
        let len = std::fs::metadata(&path).unwrap().len() as f64;
        let mut times = Vec::new();
        let mut rss = 0u64;
        for _ in 0..runs {
            let t = Instant::now();
            let o = Command::new(bin)
                .args(["summary", "--json", "--stats"])
                .arg(&path)
                .output()
                .unwrap();
            times.push(t.elapsed().as_secs_f64());
            assert_eq!(
                o.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
            let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            check_output(&json, &exp, "vgxml");
            let err = String::from_utf8_lossy(&o.stderr);
            let kib = err
                .split("peak_rss_kib=")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            rss = rss.max(kib);
        }
        let vg = len / 1e6 / median(times);
        let py_runs = if mb >= 1000 { 1 } else { runs };
        let mut ptimes = Vec::new();
        let mut prss = 0u64;
        for _ in 0..py_runs {
            let t = Instant::now();
            let o = Command::new(python)
                .arg(&py_script)
                .arg(&path)
                .output()
                .unwrap();
            ptimes.push(t.elapsed().as_secs_f64());
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            check_output(&json, &exp, "etree");
            prss = prss.max(json["peak_rss_kib"].as_u64().unwrap_or(0));
        }
        let py = if ptimes.is_empty() {
            f64::NAN
        } else {
            len / 1e6 / median(ptimes)
        };
        let (qx, mc) = floors(floors_bin, &path, runs);
        println!(
            "{:>6.0}MB {:>12.0} {:>7.1}MiB {:>12.1} {:>7.1}MiB {:>7.1}x {:>14.0} {:>12.0}",
            len / 1e6,
            vg,
            rss as f64 / 1024.0,
            py,
            prss as f64 / 1024.0,
            vg / py,
            qx,
            mc
        );
        let _ = std::fs::remove_file(&path);
    }
}

/// The median MB/s of the bare quick-xml loop and of the memchr pass over
/// `path`, from the release `floors` example.
fn floors(bin: &Path, path: &Path, runs: usize) -> (f64, f64) {
    let o = Command::new(bin)
        .arg(path)
        .arg(runs.to_string())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    (
        v["quick_xml_mb_s"].as_f64().unwrap_or(f64::NAN),
        v["memchr_mb_s"].as_f64().unwrap_or(f64::NAN),
    )
}
