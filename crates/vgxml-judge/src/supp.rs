//! Valgrind suppression files (`.supp`): parsing, and finding the entries
//! no run used.
//!
//! The format (Valgrind manual, "Suppressing errors"):
//!
//! ```text
//! # comment
//! {
//!    name-of-the-entry
//!    Memcheck:Leak                  (tool[,tool...]:kind)
//!    match-leak-kinds: definite     (optional extra line; the syscall for Param)
//!    fun:malloc                     (fun:GLOB, obj:GLOB, src:FILE[:LINE], or ...)
//!    ...
//!    fun:main
//! }
//! ```
//!
//! Valgrind reports the entries it used in `<suppcounts>` (by name, with a
//! count) and says nothing about the others: an entry is *unused* when its
//! name is in no report's `<suppcounts>`.

use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use vgxml_parse::{ErrorRecord, Report, Suppression};

/// At most this many frame lines (Valgrind's `VG_DEEPEST_BACKTRACE`).
pub const MAX_FRAMES: usize = 500;

/// One frame pattern of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppFrame {
    /// `fun:GLOB`
    Fun(String),
    /// `obj:GLOB`
    Obj(String),
    /// `src:FILE[:LINE]` (Valgrind 3.19+)
    Src { file: String, line: Option<u32> },
    /// `...`: zero or more frames
    Ellipsis,
}

/// One `{ ... }` entry of a suppression file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuppEntry {
    pub file: PathBuf,
    /// 1-based line of the opening `{`.
    pub line: usize,
    pub name: String,
    /// `Memcheck` (several: `Memcheck,Helgrind:...`).
    pub tools: Vec<String>,
    /// `Leak`, `Cond`, `Param`, `Addr4`, ...
    pub kind: String,
    /// The optional extra line (`match-leak-kinds: definite`, the syscall
    /// parameter of a `Param` entry).
    pub extra: Option<String>,
    pub frames: Vec<SuppFrame>,
}

impl SuppEntry {
    /// True when the entry applies to the Valgrind tool (`memcheck`,
    /// `helgrind`, ...); `CoreError` entries apply to every tool.
    pub fn applies_to_tool(&self, tool: &str) -> bool {
        let tool = if tool.is_empty() { "memcheck" } else { tool };
        self.tools
            .iter()
            .any(|t| t.eq_ignore_ascii_case(tool) || t == "CoreError" || t == "*")
    }
}

/// A malformed suppression file: the file, the 1-based line, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", file.display())]
pub struct SuppError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

/// Parses one suppression file.
pub fn parse_file(path: &Path) -> Result<Vec<SuppEntry>, SuppError> {
    let text = std::fs::read(path).map_err(|e| SuppError {
        file: path.to_path_buf(),
        line: 0,
        message: format!("cannot read: {e}"),
    })?;
    parse_str(&String::from_utf8_lossy(&text), path)
}

/// Parses the text of a suppression file; `file` names it in errors.
pub fn parse_str(text: &str, file: &Path) -> Result<Vec<SuppEntry>, SuppError> {
    let err = |line: usize, message: String| SuppError {
        file: file.to_path_buf(),
        line,
        message,
    };
    // (line number, trimmed text) of the lines that are neither blank nor comments
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let mut out = Vec::new();
    while let Some((open_line, l)) = lines.next() {
        if l != "{" {
            return Err(err(
                open_line,
                format!("expected '{{' to open an entry, found {l:?}"),
            ));
        }
        let unterminated = |what: &str| {
            err(
                open_line,
                format!("entry opened here is not closed: end of file while reading {what}"),
            )
        };
        let (_, name) = lines.next().ok_or_else(|| unterminated("its name"))?;
        if name == "}" || name == "{" {
            return Err(err(open_line, "entry without a name".into()));
        }
        let (kl, kindline) = lines
            .next()
            .ok_or_else(|| unterminated("its tool:kind line"))?;
        let Some((tools, kind)) = kindline.split_once(':') else {
            return Err(err(
                kl,
                format!("expected TOOL:KIND (e.g. Memcheck:Leak), found {kindline:?}"),
            ));
        };
        let tools: Vec<String> = tools.split(',').map(|t| t.trim().to_string()).collect();
        if tools.iter().any(|t| t.is_empty()) || kind.trim().is_empty() || kind.contains(' ') {
            return Err(err(
                kl,
                format!("expected TOOL:KIND (e.g. Memcheck:Leak), found {kindline:?}"),
            ));
        }
        let kind = kind.trim().to_string();
        let mut extra = None;
        let mut frames = Vec::new();
        let mut closed = false;
        let mut first = true;
        for (ln, l) in lines.by_ref() {
            if l == "}" {
                closed = true;
                break;
            }
            if l == "{" {
                return Err(err(
                    ln,
                    "'{' inside an entry (missing '}' before it?)".into(),
                ));
            }
            let frame = if l == "..." {
                Some(SuppFrame::Ellipsis)
            } else if let Some(g) = l.strip_prefix("fun:") {
                Some(SuppFrame::Fun(g.to_string()))
            } else if let Some(g) = l.strip_prefix("obj:") {
                Some(SuppFrame::Obj(g.to_string()))
            } else if let Some(g) = l.strip_prefix("src:") {
                let (file, line) = match g.rsplit_once(':') {
                    Some((f, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                        (f.to_string(), n.parse().ok())
                    }
                    _ => (g.to_string(), None),
                };
                Some(SuppFrame::Src { file, line })
            } else {
                None
            };
            let frame = if first && kind == "Param" {
                None
            } else {
                frame
            };
            match frame {
                Some(f) => {
                    if frames.len() >= MAX_FRAMES {
                        return Err(err(ln, format!("more than {MAX_FRAMES} frame lines")));
                    }
                    frames.push(f)
                }
                None if first => extra = Some(l.to_string()),
                None => {
                    return Err(err(
                        ln,
                        format!("expected fun:, obj:, src:, '...' or '}}', found {l:?}"),
                    ))
                }
            }
            first = false;
        }
        if !closed {
            return Err(unterminated("its frames"));
        }
        if kind == "Param" && extra.is_none() {
            return Err(err(
                kl,
                "a Param entry needs the syscall parameter line after it".into(),
            ));
        }
        if let Some(x) = &extra {
            if let Some(kinds) = x.strip_prefix("match-leak-kinds:") {
                for k in kinds.split(',').map(str::trim) {
                    if !matches!(
                        k,
                        "definite" | "indirect" | "possible" | "reachable" | "all" | "none"
                    ) {
                        return Err(err(
                            kl + 1,
                            format!("unknown leak kind {k:?} in match-leak-kinds"),
                        ));
                    }
                }
            }
        }
        if frames.is_empty() {
            return Err(err(open_line, format!("entry {name:?} has no frame lines")));
        }
        out.push(SuppEntry {
            file: file.to_path_buf(),
            line: open_line,
            name: name.to_string(),
            tools,
            kind,
            extra,
            frames,
        });
    }
    Ok(out)
}

/// Parses several files; the first malformed one is the error.
pub fn parse_files<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<SuppEntry>, SuppError> {
    let mut v = Vec::new();
    for p in paths {
        v.extend(parse_file(p.as_ref())?);
    }
    Ok(v)
}

/// False when the report cannot tell which suppressions were used:
/// Valgrind run with `-q`/`--quiet` leaves `<suppcounts>` out of the XML
/// (seen with 3.19).
pub fn suppcounts_known(r: &Report) -> bool {
    !r.args
        .valgrind_args
        .iter()
        .any(|a| a == "-q" || a == "--quiet")
}

/// The entries that no report used: their name is in no `<suppcounts>`,
/// and some report that records its suppression counts (see
/// [`suppcounts_known`]) ran a tool they apply to. (Entries for tools no
/// report ran are not unused, only not applicable.)
pub fn unused<'a>(entries: &'a [SuppEntry], reports: &[Report]) -> Vec<&'a SuppEntry> {
    let reports: Vec<&Report> = reports.iter().filter(|r| suppcounts_known(r)).collect();
    let used: HashSet<&str> = reports
        .iter()
        .flat_map(|r| r.suppcounts.iter())
        .filter(|s| s.count > 0)
        .map(|s| s.name.trim())
        .collect();
    entries
        .iter()
        .filter(|e| reports.iter().any(|r| e.applies_to_tool(&r.tool)))
        .filter(|e| !used.contains(e.name.trim()))
        .collect()
}

/// Names given to more than one entry (Valgrind counts uses by name, so
/// one used entry hides an unused one of the same name).
pub fn duplicate_names(entries: &[SuppEntry]) -> Vec<(String, Vec<&SuppEntry>)> {
    let mut m: BTreeMap<&str, Vec<&SuppEntry>> = BTreeMap::new();
    for e in entries {
        m.entry(e.name.trim()).or_default().push(e);
    }
    m.into_iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// True when the report's Valgrind command line loaded the file
/// (`--suppressions=PATH`): the same canonical path, or the same file name.
/// The file name is enough on its own because reports travel: a report made
/// in another checkout or on a CI machine names the file at a path that may
/// not exist here, or may be another copy of it.
pub fn loaded_by(report: &Report, file: &Path) -> bool {
    let canon = std::fs::canonicalize(file).ok();
    let base = file.file_name();
    report.args.valgrind_args.iter().any(|a| {
        let Some(p) = a.strip_prefix("--suppressions=") else {
            return false;
        };
        let p = Path::new(p);
        p.file_name() == base || (canon.is_some() && std::fs::canonicalize(p).ok() == canon)
    })
}

/// The suppressions Valgrind generated (`--gen-suppressions=all`), each
/// once (by its text), in report order; with the record it was generated
/// for when it came inside one.
pub fn generated(reports: &[Report]) -> Vec<(Option<&ErrorRecord>, &Suppression)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for r in reports {
        let inner = r
            .errors
            .iter()
            .filter_map(|e| e.suppression.as_ref().map(|s| (Some(e), s)));
        let outer = r.suppressions.iter().map(|s| (None, s));
        for (e, s) in inner.chain(outer) {
            if !s.rawtext.trim().is_empty() && seen.insert(s.rawtext.as_str()) {
                out.push((e, s));
            }
        }
    }
    out
}

impl fmt::Display for SuppEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} ({}:{})",
            self.file.display(),
            self.line,
            self.name,
            self.tools.join(","),
            self.kind
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Vec<SuppEntry>, SuppError> {
        parse_str(s, Path::new("x.supp"))
    }

    #[test]
    fn parses_entries() {
        let v = p("# c\n{\n  a\n  Memcheck:Leak\n  match-leak-kinds: definite,possible\n  fun:malloc\n  ...\n  obj:/lib/*.so\n  src:foo.c:12\n}\n\n{\n b\n Memcheck:Param\n write(buf)\n fun:write\n}\n").unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].line, 2);
        assert_eq!(
            v[0].extra.as_deref(),
            Some("match-leak-kinds: definite,possible")
        );
        assert_eq!(v[0].frames.len(), 4);
        assert_eq!(
            v[0].frames[3],
            SuppFrame::Src {
                file: "foo.c".into(),
                line: Some(12)
            }
        );
        assert_eq!(v[1].kind, "Param");
        assert_eq!(v[1].extra.as_deref(), Some("write(buf)"));
    }

    #[test]
    fn malformed_entries_name_the_line() {
        let e = p("{\n a\n Memcheck:Leak\n fun:x\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.to_string().starts_with("x.supp:1: "), "{e}");
        let e = p("{\n a\n MemcheckLeak\n fun:x\n}\n").unwrap_err();
        assert_eq!(e.line, 3);
        let e = p("{\n a\n Memcheck:Leak\n match-leak-kinds: definite\n bogus\n}\n").unwrap_err();
        assert_eq!(e.line, 5);
        let e = p("fun:x\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = p("{\n a\n Memcheck:Leak\n}\n").unwrap_err();
        assert!(e.message.contains("no frame"), "{e}");
        let e = p("{\n a\n Memcheck:Leak\n match-leak-kinds: bogus\n fun:x\n}\n").unwrap_err();
        assert_eq!(e.line, 4);
        // a Param entry's first line is the syscall parameter: no frames left
        let e = p("{\n a\n Memcheck:Param\n fun:x\n}\n").unwrap_err();
        assert!(e.message.contains("no frame"), "{e}");
    }
}
