//! Stable fingerprints of records: the same leak or error gets the same
//! fingerprint across runs, machines and build directories.
//!
//! The readable key is `KIND|frame|frame|...` where each frame is
//! `function@file-basename` (or `function@object-basename` without debug
//! info). Only the frames of our code ([`OurCode`]) of the primary stack are
//! used (at most [`MAX_OUR_FRAMES`]); when none matches, the auxiliary
//! stacks' frames of ours; when still none, the top [`FALLBACK_FRAMES`]
//! frames of the primary stack. Addresses, pids, loss-record numbers,
//! directories, byte counts and line numbers are left out: line numbers
//! move whenever unrelated code above the frame changes, which would turn
//! every known leak into a "new" one. Function names are normalised (Rust
//! `::h0123...` hash suffixes and GCC clone suffixes such as `.constprop.0`,
//! `.isra.0`, `.part.0`, `.cold` removed).
//!
//! The fingerprint is the FNV-1a 64-bit hash of the key, as 16 hex digits.

use crate::ours::OurCode;
use vgxml_parse::{ErrorRecord, Frame};

/// At most this many frames of ours go into a key.
pub const MAX_OUR_FRAMES: usize = 8;
/// Frames of the primary stack used when no frame is ours.
pub const FALLBACK_FRAMES: usize = 4;

/// FNV-1a, 64 bits.
pub fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// A function name without what changes between builds: Rust's
/// `::h<16 hex>` hash suffix and GCC's clone suffixes.
pub fn normalize_function(f: &str) -> String {
    let mut s = f.trim();
    // Rust legacy mangling hash: "...::h0123456789abcdef"
    if let Some(i) = s.rfind("::h") {
        let h = &s[i + 3..];
        if h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
            s = &s[..i];
        }
    }
    let mut out = s.to_string();
    // GCC clone suffixes, possibly chained: foo.constprop.0.isra.0, foo.cold
    loop {
        let before = out.len();
        for suf in [".constprop.", ".isra.", ".part.", ".lto_priv.", ".llvm."] {
            if let Some(i) = out.rfind(suf) {
                let tail = &out[i + suf.len()..];
                if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
                    out.truncate(i);
                }
            }
        }
        if out.ends_with(".cold") {
            out.truncate(out.len() - ".cold".len());
        }
        if out.len() == before {
            break;
        }
    }
    out
}

/// One frame's part of a key: `function@file` (basename), else
/// `function@object` (basename), else `function`.
pub fn frame_key(f: &Frame) -> String {
    let func = f
        .func
        .as_deref()
        .map(normalize_function)
        .unwrap_or_else(|| "???".to_string());
    match (&f.file, &f.obj) {
        (Some(file), _) => format!("{func}@{}", basename(file)),
        (None, Some(obj)) => format!("{func}@{}", basename(obj)),
        _ => func,
    }
}

/// The frames a fingerprint is made of (see the module documentation).
pub fn fingerprint_frames<'a>(r: &'a ErrorRecord, ours: &OurCode) -> Vec<&'a Frame> {
    let mut v: Vec<&Frame> = r
        .stack
        .iter()
        .filter(|f| ours.matches_frame(f))
        .take(MAX_OUR_FRAMES)
        .collect();
    if v.is_empty() {
        v = r
            .aux
            .iter()
            .flat_map(|a| a.stack.iter())
            .filter(|f| ours.matches_frame(f))
            .take(MAX_OUR_FRAMES)
            .collect();
    }
    if v.is_empty() {
        v = r.stack.iter().take(FALLBACK_FRAMES).collect();
    }
    v
}

/// The readable fingerprint key of a record, e.g.
/// `Leak_DefinitelyLost|leak_plain@leaks.c|main@leaks.c`.
pub fn fingerprint_key(r: &ErrorRecord, ours: &OurCode) -> String {
    let mut k = r.kind.as_str().to_string();
    for f in fingerprint_frames(r, ours) {
        k.push('|');
        k.push_str(&frame_key(f));
    }
    k
}

/// A short stable fingerprint: 16 hex digits of the FNV-1a hash of
/// [`fingerprint_key`].
pub fn fingerprint(r: &ErrorRecord, ours: &OurCode) -> String {
    fingerprint_of_key(&fingerprint_key(r, ours))
}

/// The fingerprint (16 hex digits) of a key.
pub fn fingerprint_of_key(key: &str) -> String {
    format!("{:016x}", fnv1a64(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names() {
        assert_eq!(
            normalize_function("mylib_core::buf::grow::h0123456789abcdef"),
            "mylib_core::buf::grow"
        );
        assert_eq!(normalize_function("foo.constprop.0.isra.0"), "foo");
        assert_eq!(normalize_function("foo.cold"), "foo");
        assert_eq!(normalize_function("foo.part.12"), "foo");
        assert_eq!(
            normalize_function("std::vector<int>::push_back(int const&)"),
            "std::vector<int>::push_back(int const&)"
        );
        assert_eq!(normalize_function("a::hx"), "a::hx");
    }

    #[test]
    fn fnv() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    }
}
