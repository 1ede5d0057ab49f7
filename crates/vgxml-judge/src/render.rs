//! A normalised, deterministic text rendering of records, for snapshots.

use crate::ours::OurCode;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use vgxml_parse::{ErrorRecord, Frame};

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// Removes what changes from run to run: addresses, loss-record numbers,
/// trailing whitespace; collapses runs of whitespace.
pub fn normalize_text(s: &str) -> String {
    let s = match s.find(" in loss record ") {
        Some(i) => {
            let rest = &s[i + " in loss record ".len()..];
            let keep_from = rest
                .find(|c: char| {
                    !(c.is_ascii_digit() || c == ' ' || c == ',' || c == 'o' || c == 'f')
                })
                .map_or(s.len(), |j| i + " in loss record ".len() + j);
            format!("{}{}", &s[..i], &s[keep_from..])
        }
        None => s.to_string(),
    };
    let mut out = String::with_capacity(s.len());
    let mut words = s.split_whitespace().peekable();
    while let Some(w) = words.next() {
        let mut w2 = String::new();
        let b = w.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'0'
                && i + 2 < b.len()
                && (b[i + 1] == b'x' || b[i + 1] == b'X')
                && b[i + 2].is_ascii_hexdigit()
            {
                w2.push_str("0x...");
                i += 2;
                while i < b.len() && b[i].is_ascii_hexdigit() {
                    i += 1;
                }
            } else {
                let c = w[i..].chars().next().unwrap_or(' ');
                w2.push(c);
                i += c.len_utf8().max(1);
            }
        }
        out.push_str(&w2);
        if words.peek().is_some() {
            out.push(' ');
        }
    }
    out
}

/// One frame without addresses or absolute paths.
pub fn render_frame(f: &Frame) -> String {
    let func = f.func.as_deref().unwrap_or("???");
    match (&f.file, f.line, &f.obj) {
        (Some(file), Some(line), _) => format!("{func} ({}:{line})", basename(file)),
        (Some(file), None, _) => format!("{func} ({})", basename(file)),
        (None, _, Some(obj)) => format!("{func} (in {})", basename(obj)),
        _ => func.to_string(),
    }
}

fn render_stack(out: &mut String, frames: &[Frame], ours: &OurCode, indent: &str) {
    let mark = !ours.is_empty();
    for f in frames {
        let m = if mark && ours.matches_frame(f) {
            "*"
        } else {
            " "
        };
        let _ = writeln!(out, "{indent}{m} {}", render_frame(f));
    }
}

/// Renders one record (no trailing blank line).
pub fn render_record(r: &ErrorRecord, ours: &OurCode) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}: {}", r.kind, normalize_text(&r.what));
    if let Some(w2) = &r.what2 {
        let _ = writeln!(s, "  {}", normalize_text(w2));
    }
    if let Some(fd) = r.fd {
        let _ = writeln!(s, "  fd {fd}");
    }
    render_stack(&mut s, &r.stack, ours, "  ");
    for a in &r.aux {
        if !a.what.is_empty() {
            let _ = writeln!(s, "  -- {}", normalize_text(&a.what));
        } else {
            let _ = writeln!(s, "  --");
        }
        render_stack(&mut s, &a.stack, ours, "    ");
    }
    s
}

/// A normalised, deterministic rendering of a list of records: no
/// addresses, pids, absolute paths or loss-record numbers; records sorted,
/// identical ones merged with a count. Frames of our code are marked `*`
/// when `ours` has rules.
pub fn render_normalized<'a>(
    records: impl IntoIterator<Item = &'a ErrorRecord>,
    ours: &OurCode,
) -> String {
    let mut blocks: BTreeMap<String, usize> = BTreeMap::new();
    for r in records {
        *blocks.entry(render_record(r, ours)).or_insert(0) += 1;
    }
    let mut out = String::new();
    for (b, n) in blocks {
        if !out.is_empty() {
            out.push('\n');
        }
        if n > 1 {
            let _ = writeln!(out, "[x{n}]");
        }
        out.push_str(&b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(
            normalize_text("64 bytes in 1 blocks are possibly lost in loss record 7 of 11"),
            "64 bytes in 1 blocks are possibly lost"
        );
        assert_eq!(
            normalize_text("Address 0x4a40050 is 0 bytes after a block of size 16 alloc'd"),
            "Address 0x... is 0 bytes after a block of size 16 alloc'd"
        );
        assert_eq!(normalize_text("a\n  b "), "a b");
    }
}
