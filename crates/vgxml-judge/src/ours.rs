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
/// rule matches; a record matches when any of its frames (primary stack,
/// auxiliary stacks) matches. With no rules at all, every frame matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OurCode {
    object_globs: Vec<String>,
    source_prefixes: Vec<String>,
    source_globs: Vec<String>,
    function_patterns: Vec<String>,
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

    /// A glob over the function name (`<fn>`), e.g. `sluice::*`.
    pub fn function_pattern(mut self, p: &str) -> Self {
        self.function_patterns.push(p.to_string());
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
        if let Some(path) = f.path() {
            if self
                .source_prefixes
                .iter()
                .any(|p| path.starts_with(p.as_str()))
                || self.source_globs.iter().any(|g| glob_match(g, &path))
            {
                return true;
            }
            if let Some(file) = &f.file {
                if self
                    .source_prefixes
                    .iter()
                    .any(|p| file.starts_with(p.as_str()))
                {
                    return true;
                }
            }
        }
        false
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

    /// Where to point a user (annotations, SARIF locations): the first
    /// frame of ours with a source file; else the first frame of the
    /// primary stack with a source file; else the first frame of ours;
    /// else the top frame.
    pub fn location_frame<'a>(&self, r: &'a ErrorRecord) -> Option<&'a Frame> {
        Self::frames(r)
            .find(|f| f.file.is_some() && self.matches_frame(f))
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
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*/libsluice*.so", "/a/b/libsluice_core.so"));
        assert!(glob_match("main", "main"));
        assert!(!glob_match("main", "mainx"));
        assert!(glob_match("a?c*", "abcdef"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("*.so", "x.so.6"));
        assert!(glob_match("*.so*", "x.so.6"));
    }
}
