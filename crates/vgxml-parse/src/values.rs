//! Element texts read as values: numbers, with a note (the byte offset
//! and the text) when the text is not one, never a silent 0.

use crate::cursor::{Cursor, R};
use crate::model::parse_num;
use std::io::BufRead;

/// At most 40 characters of a text, for messages.
pub(crate) fn shown(t: &str) -> String {
    let t = t.trim();
    let mut s: String = t.chars().take(40).collect();
    if s.len() < t.len() {
        s.push_str("...");
    }
    s
}

/// The element's text as a number. A text that is not one is noted (with
/// its offset) and read as `None`, never as 0.
pub(crate) fn num<Rd: BufRead>(x: &mut Cursor<Rd>, empty: bool) -> R<Option<u64>> {
    let at = x.byte_offset();
    x.read_text(empty)?;
    let v = parse_num(x.text());
    if v.is_none() {
        not_a_number(x, at);
    }
    Ok(v)
}

/// [`num`] for signed numbers.
pub(crate) fn inum<Rd: BufRead>(x: &mut Cursor<Rd>, empty: bool) -> R<Option<i64>> {
    let at = x.byte_offset();
    x.read_text(empty)?;
    let s = x.text().trim();
    let v = match s.strip_prefix('-') {
        Some(r) => parse_num(r).and_then(|v| i64::try_from(v).ok()).map(|v| -v),
        None => parse_num(s).and_then(|v| i64::try_from(v).ok()),
    };
    if v.is_none() {
        not_a_number(x, at);
    }
    Ok(v)
}

/// The diagnostic for a number element whose text is not a number: the value
/// is left out (None), never read as 0.
fn not_a_number<Rd: BufRead>(x: &mut Cursor<Rd>, at: u64) {
    let m = format!(
        "<{}> is not a number: {:?}; not read",
        x.text_name(),
        shown(x.text())
    );
    x.note(at, m);
}
