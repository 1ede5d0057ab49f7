//! Telling the program's own frames from the interpreter's and the system
//! libraries' by caller-given rules.

use vgxml_parse::{ErrorRecord, Frame};

/// Matches `text` against a glob: `*` matches any run of characters
/// (including `/`), `?` any one character; everything else literally.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Rules that say which frames are "our code". A frame matches when any
/// rule matches and no exclusion does; a record matches when any of its
/// frames (primary stack, auxiliary stacks) matches. With no rules at all,
/// every frame matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OurCode {
    object_globs: Vec<String>,
    source_prefixes: Vec<String>,
    source_globs: Vec<String>,
    function_patterns: Vec<String>,
    /// Globs over the function or the source path of frames that are never
    /// ours, though other rules claim them: allocation wrappers, which are
    /// never the place of a leak.
    exclusions: Vec<String>,
}

impl OurCode {
    pub fn new() -> Self {
        Self::default()
    }

    /// A glob over the frame's `<obj>` (the ELF object path).
    pub fn object_glob(mut self, g: &str) -> Self {
        self.object_globs.push(g.to_string());
        self
    }

    /// A prefix of the frame's source path (`dir/file`, or `file`).
    pub fn source_prefix(mut self, p: &str) -> Self {
        self.source_prefixes.push(p.to_string());
        self
    }

    /// A glob over the frame's source path (`dir/file`, or `file`).
    pub fn source_glob(mut self, g: &str) -> Self {
        self.source_globs.push(g.to_string());
        self
    }

    /// A glob over the function name (`<fn>`), e.g. `mylib::*`.
    pub fn function_pattern(mut self, p: &str) -> Self {
        self.function_patterns.push(p.to_string());
        self
    }

    /// A glob over the function name or the source path of frames that
    /// are not ours even when another rule matches them (e.g. a counting
    /// allocator wrapper: it is on every allocation's stack and is never
    /// where a leak is).
    pub fn exclude(mut self, g: &str) -> Self {
        self.exclusions.push(g.to_string());
        self
    }

    /// True when no rule was given.
    pub fn is_empty(&self) -> bool {
        self.object_globs.is_empty()
            && self.source_prefixes.is_empty()
            && self.source_globs.is_empty()
            && self.function_patterns.is_empty()
    }

    pub fn matches_frame(&self, f: &Frame) -> bool {
        if self.is_empty() {
            return true;
        }
        if self.excluded(f) {
            return false;
        }
        if self.matches_source(f) {
            return true;
        }
        if let Some(obj) = &f.obj {
            if self.object_globs.iter().any(|g| glob_match(g, obj)) {
                return true;
            }
        }
        if let Some(func) = &f.func {
            if self.function_patterns.iter().any(|g| glob_match(g, func)) {
                return true;
            }
        }
        false
    }

    fn excluded(&self, f: &Frame) -> bool {
        !self.exclusions.is_empty()
            && (f
                .func
                .as_deref()
                .is_some_and(|func| self.exclusions.iter().any(|g| glob_match(g, func)))
                || f.path()
                    .is_some_and(|p| self.exclusions.iter().any(|g| glob_match(g, &p))))
    }

    /// True when a source rule (prefix or glob over the source path) claims
    /// the frame: our own source file, not a dependency's code inlined into
    /// our object.
    pub fn matches_source(&self, f: &Frame) -> bool {
        if self.excluded(f) {
            return false;
        }
        let Some(path) = f.path() else {
            return false;
        };
        self.source_prefixes
            .iter()
            .any(|p| path.starts_with(p.as_str()))
            || self.source_globs.iter().any(|g| glob_match(g, &path))
            || f.file.as_ref().is_some_and(|file| {
                self.source_prefixes
                    .iter()
                    .any(|p| file.starts_with(p.as_str()))
            })
    }

    fn frames(r: &ErrorRecord) -> impl Iterator<Item = &Frame> {
        r.stack
            .iter()
            .chain(r.aux.iter().flat_map(|a| a.stack.iter()))
    }

    pub fn matches_record(&self, r: &ErrorRecord) -> bool {
        Self::frames(r).any(|f| self.matches_frame(f))
    }

    /// The first frame of ours (primary stack first, then auxiliary stacks).
    pub fn first_frame<'a>(&self, r: &'a ErrorRecord) -> Option<&'a Frame> {
        Self::frames(r).find(|f| self.matches_frame(f))
    }

    /// Where to point a user (annotations, SARIF locations, summaries): the
    /// first frame in a source file of ours (a source rule claims it); else
    /// the first frame of ours with a source file; else the first frame of
    /// the primary stack with a source file; else the first frame of ours;
    /// else the top frame.
    pub fn location_frame<'a>(&self, r: &'a ErrorRecord) -> Option<&'a Frame> {
        Self::frames(r)
            .find(|f| self.matches_source(f))
            .or_else(|| Self::frames(r).find(|f| f.file.is_some() && self.matches_frame(f)))
            .or_else(|| r.stack.iter().find(|f| f.file.is_some()))
            .or_else(|| self.first_frame(r))
            .or_else(|| r.stack.first())
    }

    /// The rules as text (`obj:GLOB`, `src:PREFIX`, `srcglob:GLOB`,
    /// `fn:PATTERN`), e.g. to record them beside fingerprints.
    pub fn rules(&self) -> Vec<String> {
        let mut v = Vec::new();
        v.extend(self.object_globs.iter().map(|g| format!("obj:{g}")));
        v.extend(self.source_prefixes.iter().map(|g| format!("src:{g}")));
        v.extend(self.source_globs.iter().map(|g| format!("srcglob:{g}")));
        v.extend(self.function_patterns.iter().map(|g| format!("fn:{g}")));
        v.extend(self.exclusions.iter().map(|g| format!("not:{g}")));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*/libmylib*.so", "/a/b/libmylib_core.so"));
        assert!(glob_match("main", "main"));
        assert!(!glob_match("main", "mainx"));
        assert!(glob_match("a?c*", "abcdef"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("*.so", "x.so.6"));
        assert!(glob_match("*.so*", "x.so.6"));
    }
}
