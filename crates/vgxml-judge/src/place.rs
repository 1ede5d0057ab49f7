//! Where a finding points: a frame as a place in the source tree.

use crate::fingerprint::normalize_function;
use crate::ours::OurCode;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Component, Path, PathBuf};
use vgxml_parse::{ErrorRecord, Frame};

/// One frame, as a reader looks for it: the file (repository-relative when
/// it is under the source root), the line and the function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    /// Repository-relative when `in_repo`, else the path Valgrind gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The function, without Rust hash or GCC clone suffixes; `???` when
    /// Valgrind did not know it.
    pub func: String,
    /// The file name of the ELF object, for frames without a source file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The file was found under the source root.
    pub in_repo: bool,
    /// Inlined into the frame after it (the two share an instruction
    /// address). Valgrind names such functions from the inline debug info,
    /// and not always: 3.19 often writes `UnknownInlinedFun` where 3.27
    /// names the function, so a stable text shows only `file:line` for them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inlined: bool,
}

impl Place {
    /// The place of `f`, with its file made relative to `root`.
    pub fn of(f: &Frame, root: &Path) -> Place {
        let (file, in_repo) = match f.path() {
            Some(p) => match repo_relative(&p, root) {
                Some(rel) => (Some(rel), true),
                None => (Some(p), false),
            },
            None => (None, false),
        };
        Place {
            file,
            line: f.line,
            func: f
                .func
                .as_deref()
                .map(normalize_function)
                .unwrap_or_else(|| "???".to_string()),
            object: f.obj.as_deref().map(|o| basename(o).to_string()),
            in_repo,
            inlined: false,
        }
    }

    /// `file:line`, when both are known.
    pub fn file_line(&self) -> Option<String> {
        match (&self.file, self.line) {
            (Some(f), Some(l)) => Some(format!("{}:{l}", self.shown_file(f))),
            _ => None,
        }
    }

    fn shown_file<'a>(&self, f: &'a str) -> &'a str {
        if self.in_repo {
            f
        } else {
            basename(f)
        }
    }
}

/// `file:line (function)`; a file outside the repository shows its name
/// only; without a file, `function (in object)`.
impl fmt::Display for Place {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file_line(), &self.object) {
            (Some(fl), _) => write!(out, "{fl} ({})", self.func),
            (None, Some(obj)) => write!(out, "{} (in {obj})", self.func),
            (None, None) => write!(out, "{}", self.func),
        }
    }
}

/// The chain of our frames of a record: the frames of its primary stack
/// in source files of ours (a source rule claims them), innermost first,
/// up to the outermost (the binding entry point); a frame repeated by
/// inlining shows once.
pub fn chain(r: &ErrorRecord, ours: &OurCode, root: &Path) -> Vec<Place> {
    chain_of(&r.stack, ours, root)
}

fn chain_of(stack: &[Frame], ours: &OurCode, root: &Path) -> Vec<Place> {
    let mut out: Vec<Place> = Vec::new();
    for (i, f) in stack
        .iter()
        .enumerate()
        .filter(|(_, f)| ours.matches_source(f))
    {
        let mut p = Place::of(f, root);
        p.inlined = f.ip.is_some() && stack.get(i + 1).is_some_and(|next| next.ip == f.ip);
        if out.last().map(Place::file_line) != Some(p.file_line()) {
            out.push(p);
        }
    }
    out
}

/// Where an uninitialised value was created (`--track-origins=yes`): the
/// chain of our frames of the origin stack, innermost first.
pub fn origin(r: &ErrorRecord, ours: &OurCode, root: &Path) -> Vec<Place> {
    r.origin
        .as_ref()
        .map(|o| chain_of(&o.stack, ours, root))
        .unwrap_or_default()
}

impl Place {
    /// `file:line (function)`, or only `file:line` for an inlined frame:
    /// the same text from every Valgrind version.
    pub fn stable_text(&self) -> String {
        match (self.inlined, self.file_line()) {
            (true, Some(fl)) => fl,
            _ => self.to_string(),
        }
    }
}

/// `a:1 <- b:2 <- c:3`: a chain as one line.
pub fn chain_text(chain: &[Place]) -> String {
    chain
        .iter()
        .map(|p| p.file_line().unwrap_or_else(|| p.to_string()))
        .collect::<Vec<_>>()
        .join(" <- ")
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// `a/b/../c/./d` as `a/c/d`, without touching the file system (debug info
/// often names sources as `crate/../../src/x.cc`).
pub fn normalize_lexically(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// A source path relative to the repository root `root`: the path with
/// `root` stripped; else the longest tail of the path that names a file
/// under `root` (the report came from another checkout or build
/// directory); else `None`. Relative paths are kept as they are.
pub fn repo_relative(path: &str, root: &Path) -> Option<String> {
    let p = normalize_lexically(Path::new(path));
    if p.is_relative() {
        return Some(path.trim_start_matches("./").to_string());
    }
    if let Ok(rest) = p.strip_prefix(root) {
        return Some(rest.to_string_lossy().into_owned());
    }
    let comps: Vec<_> = p.components().skip(1).collect();
    for i in 0..comps.len() {
        let tail: PathBuf = comps[i..].iter().collect();
        if root.join(&tail).is_file() {
            return Some(tail.to_string_lossy().into_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_normalisation() {
        assert_eq!(
            normalize_lexically(Path::new("/w/crates/core/../../cpp/src/a.cc")),
            PathBuf::from("/w/cpp/src/a.cc")
        );
        assert_eq!(
            repo_relative("/w/crates/core/../../cpp/src/a.cc", Path::new("/w")).as_deref(),
            Some("cpp/src/a.cc")
        );
        assert_eq!(
            repo_relative("crates/x/src/lib.rs", Path::new("/w")).as_deref(),
            Some("crates/x/src/lib.rs")
        );
    }

    #[test]
    fn inlined_frames_share_the_next_frames_address_and_show_no_function() {
        let frame = |ip: &str, func: &str, line: u32| Frame {
            func: Some(func.into()),
            dir: Some("/w/src".into()),
            file: Some("a.rs".into()),
            line: Some(line),
            obj: None,
            ip: Some(ip.into()),
        };
        let stack = [
            frame("0x10", "UnknownInlinedFun", 3),
            frame("0x10", "caller", 9),
            frame("0x20", "outer", 20),
        ];
        let chain = chain_of(
            &stack,
            &OurCode::new().source_prefix("/w/"),
            Path::new("/w"),
        );
        assert_eq!(
            chain.iter().map(|p| p.inlined).collect::<Vec<_>>(),
            [true, false, false]
        );
        assert_eq!(chain[0].stable_text(), "src/a.rs:3");
        assert_eq!(chain[1].stable_text(), "src/a.rs:9 (caller)");
    }

    #[test]
    fn display() {
        let f = Frame {
            func: Some("m::f::h0123456789abcdef".into()),
            dir: Some("/w/src".into()),
            file: Some("a.rs".into()),
            line: Some(3),
            obj: Some("/w/lib/libx.so".into()),
            ip: None,
        };
        assert_eq!(
            Place::of(&f, Path::new("/w")).to_string(),
            "src/a.rs:3 (m::f)"
        );
        assert_eq!(
            Place::of(&f, Path::new("/elsewhere")).to_string(),
            "a.rs:3 (m::f)"
        );
        let no_file = Frame {
            dir: None,
            file: None,
            line: None,
            ..f
        };
        assert_eq!(
            Place::of(&no_file, Path::new("/w")).to_string(),
            "m::f (in libx.so)"
        );
    }
}
