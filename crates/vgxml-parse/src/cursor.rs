//! A generic XML cursor over quick-xml events: element depth and names,
//! subtree skipping (a raw `memmem` search for the closing tag where the
//! content can hold no CDATA or comments), and text capture.
//!
//! Depth and names are tracked here (not by quick-xml) so that a document
//! that stops mid-way is recognised as truncated, and so that subtrees can be
//! skipped without being tokenised.

pub(crate) use crate::raw::Next;
use crate::raw::{self, Src, Xml};
use crate::tags::{tag, Tag};
use quick_xml::events::Event;
use std::io::{self, BufRead};

/// A tokenised event that does not borrow the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ev {
    /// A start tag (`empty` for `<x/>`, which has no matching end).
    Open {
        tag: Tag,
        empty: bool,
    },
    Close,
    /// Text, CDATA or a reference; appended to the text buffer when
    /// capturing.
    Text,
    /// An XML declaration (`<?xml ...?>`): in Valgrind output, the start of
    /// a document.
    Decl,
    Eof,
}

/// Why reading stopped early.
pub(crate) enum Stop {
    /// End of input, or a syntax error caused by it, before the document
    /// ended.
    Truncated(u64, String),
    /// Bytes that are not well-formed XML, after a valid start.
    Malformed(u64, String),
    /// Another document starts (at the offset) inside an element of the
    /// current one; `root` when the `<valgrindoutput>` start tag was read
    /// (then it is open), else an XML declaration.
    Interrupted {
        offset: u64,
        root: bool,
    },
    Io(u64, io::Error),
}

pub(crate) type R<T> = Result<T, Stop>;

/// The cursor: quick-xml underneath, depth and names tracked here.
pub(crate) struct Cursor<Rd: BufRead> {
    xml: Xml<Rd>,
    /// Bytes skipped without quick-xml counting them.
    uncounted: u64,
    buf: Vec<u8>,
    text: String,
    /// The name of the element whose text is in `text`.
    text_name: Vec<u8>,
    /// Names of the open elements, concatenated, and where each starts.
    names: Vec<u8>,
    name_starts: Vec<usize>,
    /// Input before the current quick-xml reader (see [`Cursor::restart`]).
    base: u64,
    /// The depth of the current document's root element: another
    /// document starting deeper interrupts an element
    /// ([`Stop::Interrupted`]).
    doc_depth: usize,
    /// Problems found on the way that do not stop reading: `(offset,
    /// message)`, taken by the reader.
    notes: Vec<(u64, String)>,
    /// Searchers for the closing tags of [`RAW`] elements, built once.
    finders: Vec<memchr::memmem::Finder<'static>>,
}

/// Elements whose content never holds CDATA, comments or their own closing
/// tag in Valgrind output: skipped by a raw search for their closing tag.
const RAW: [&[u8]; 4] = [b"</stack>", b"</suppression>", b"</frame>", b"</error>"];

/// An XML name as Valgrind writes them (ASCII letters, digits, `_`, `-`,
/// `.`, `:`; not starting with a digit, `-` or `.`). Names outside this are
/// damage: `<<<<<<< HEAD` reads as a start tag named `<<<<<<`.
fn plausible_name(name: &[u8]) -> bool {
    match name.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b':' || *c >= 0x80 => {}
        _ => return false,
    }
    name.iter()
        .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':') || c >= 0x80)
}

fn new_reader<Rd: BufRead>(src: Src<Rd>) -> Xml<Rd> {
    let mut xml = quick_xml::Reader::from_reader(src);
    let c = xml.config_mut();
    c.check_end_names = false; // checked here, so that subtrees can be skipped raw
    c.check_comments = false;
    c.allow_dangling_amp = true;
    c.allow_unmatched_ends = true;
    c.expand_empty_elements = false;
    c.trim_text_start = false;
    c.trim_text_end = false;
    xml
}

fn resolve_ref(name: &[u8], out: &mut String) {
    let s = match name {
        b"lt" => "<",
        b"gt" => ">",
        b"amp" => "&",
        b"quot" => "\"",
        b"apos" => "'",
        _ => {
            let parsed = if let Some(hex) = name.strip_prefix(b"#x") {
                std::str::from_utf8(hex)
                    .ok()
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
            } else if let Some(dec) = name.strip_prefix(b"#") {
                std::str::from_utf8(dec).ok().and_then(|d| d.parse().ok())
            } else {
                None
            };
            match parsed.and_then(char::from_u32) {
                Some(c) => {
                    out.push(c);
                    return;
                }
                None => {
                    out.push('&');
                    out.push_str(&String::from_utf8_lossy(name));
                    out.push(';');
                    return;
                }
            }
        }
    };
    out.push_str(s);
}

impl<Rd: BufRead> Cursor<Rd> {
    pub(crate) fn new(reader: Rd) -> Self {
        Cursor {
            xml: new_reader(Src::new(reader)),
            uncounted: 0,
            buf: Vec::with_capacity(4096),
            text: String::new(),
            text_name: Vec::new(),
            names: Vec::with_capacity(256),
            name_starts: Vec::with_capacity(16),
            base: 0,
            doc_depth: 0,
            notes: Vec::new(),
            finders: RAW
                .iter()
                .map(|n| memchr::memmem::Finder::new(*n))
                .collect(),
        }
    }

    /// A fresh quick-xml reader over the rest of the input, after a syntax
    /// error (quick-xml reads nothing more after one). Open elements are
    /// kept.
    pub(crate) fn restart(&mut self) {
        let pos = self.byte_offset();
        let src = std::mem::replace(self.xml.get_mut(), Src::detached());
        self.xml = new_reader(src);
        self.base = pos;
        self.uncounted = 0;
    }

    /// The byte position reached in the input.
    pub(crate) fn byte_offset(&self) -> u64 {
        self.base + self.xml.buffer_position() + self.uncounted
    }

    fn error_offset(&self) -> u64 {
        self.base + self.xml.error_position() + self.uncounted
    }

    /// Number of open elements.
    pub(crate) fn depth(&self) -> usize {
        self.name_starts.len()
    }

    /// Closes the open elements deeper than `depth` (their content is
    /// abandoned).
    pub(crate) fn truncate_depth(&mut self, depth: usize) {
        if depth < self.name_starts.len() {
            self.names.truncate(self.name_starts[depth]);
            self.name_starts.truncate(depth);
        }
    }

    /// Forgets the open elements `from..to` (0 = the outermost), keeping
    /// those inside them open: when an outer document is abandoned while a
    /// document written inside it goes on.
    pub(crate) fn remove_open(&mut self, from: usize, to: usize) {
        let to = to.min(self.name_starts.len());
        if from >= to {
            return;
        }
        let a = self.name_starts[from];
        let b = self
            .name_starts
            .get(to)
            .copied()
            .unwrap_or(self.names.len());
        self.names.drain(a..b);
        self.name_starts.drain(from..to);
        for s in &mut self.name_starts[from..] {
            *s -= b - a;
        }
    }

    /// Where the event just read starts (`buf` holds its markup or text).
    pub(crate) fn last_start(&self) -> u64 {
        self.byte_offset().saturating_sub(self.buf.len() as u64)
    }

    /// Opens an element by name, as if its start tag had been read.
    pub(crate) fn push_name(&mut self, name: &[u8]) {
        self.name_starts.push(self.names.len());
        self.names.extend_from_slice(name);
    }

    /// Sets the depth of the current document's root (see [`Stop::Interrupted`]).
    pub(crate) fn set_doc_depth(&mut self, depth: usize) {
        self.doc_depth = depth;
    }

    /// The name of the innermost open element.
    pub(crate) fn current_name(&self) -> String {
        let start = self.name_starts.last().copied().unwrap_or(self.names.len());
        String::from_utf8_lossy(&self.names[start..]).into_owned()
    }

    /// Records a problem that does not stop reading.
    pub(crate) fn note(&mut self, offset: u64, message: String) {
        self.notes.push((offset, message));
    }

    /// The problems noted since the last call.
    pub(crate) fn take_notes(&mut self) -> Vec<(u64, String)> {
        std::mem::take(&mut self.notes)
    }

    pub(crate) fn has_notes(&self) -> bool {
        !self.notes.is_empty()
    }

    /// The next event; text is appended to the text buffer when `capture`.
    /// Non-blank text outside every element is malformed.
    pub(crate) fn ev(&mut self, capture: bool) -> R<Ev> {
        loop {
            self.buf.clear();
            let ev = match self.xml.read_event_into(&mut self.buf) {
                Ok(e) => e,
                Err(e) => {
                    let pos = self.error_offset();
                    return Err(match e {
                        quick_xml::Error::Io(io) => {
                            Stop::Io(pos, io::Error::new(io.kind(), io.to_string()))
                        }
                        quick_xml::Error::Syntax(s) => {
                            // Most syntax errors are "unclosed X" at the end of input.
                            let at_end =
                                matches!(self.xml.stream().fill_buf(), Ok(b) if b.is_empty());
                            if at_end {
                                Stop::Truncated(pos, format!("input ends inside markup ({s})"))
                            } else {
                                Stop::Malformed(pos, s.to_string())
                            }
                        }
                        other => Stop::Malformed(pos, other.to_string()),
                    });
                }
            };
            match ev {
                Event::Start(e) => {
                    let name = e.local_name();
                    let t = tag(name.as_ref().as_bytes());
                    let full = e.name();
                    let full = full.as_ref().as_bytes();
                    if t == Tag::Other && !plausible_name(full) {
                        let n = full.to_vec();
                        return Err(self.bad_name(&n));
                    }
                    let depth = self.name_starts.len();
                    self.name_starts.push(self.names.len());
                    self.names.extend_from_slice(full);
                    if t == Tag::ValgrindOutput && depth > self.doc_depth {
                        let offset = self.start_offset();
                        return Err(Stop::Interrupted { offset, root: true });
                    }
                    return Ok(Ev::Open {
                        tag: t,
                        empty: false,
                    });
                }
                Event::Empty(e) => {
                    let t = tag(e.local_name().as_ref().as_bytes());
                    let full = e.name();
                    let full = full.as_ref().as_bytes();
                    if t == Tag::Other && !plausible_name(full) {
                        let n = full.to_vec();
                        return Err(self.bad_name(&n));
                    }
                    return Ok(Ev::Open {
                        tag: t,
                        empty: true,
                    });
                }
                Event::End(e) => {
                    let Some(start) = self.name_starts.pop() else {
                        let msg = format!("unexpected closing tag </{}>", e.name().as_ref());
                        return Err(Stop::Malformed(self.byte_offset(), msg));
                    };
                    if self.names[start..] != *e.name().as_ref().as_bytes() {
                        let msg = format!(
                            "closing tag </{}> does not match <{}>",
                            e.name().as_ref(),
                            String::from_utf8_lossy(&self.names[start..])
                        );
                        self.names.truncate(start);
                        return Err(Stop::Malformed(self.byte_offset(), msg));
                    }
                    self.names.truncate(start);
                    return Ok(Ev::Close);
                }
                Event::Text(t) => {
                    let len = t.len() as u64;
                    // NUL is never XML: the hole a file leaves when another
                    // process truncates it and writes again from the start.
                    let nul = memchr::memchr(0, t.as_bytes());
                    let stray = nul.is_none()
                        && !capture
                        && self.name_starts.len() <= 1
                        && t.bytes().any(|b| !b.is_ascii_whitespace());
                    let (shown, lead): (String, u64) = if stray {
                        let lead = t.len() - t.trim_start().len();
                        (t.trim().chars().take(40).collect(), lead as u64)
                    } else {
                        (String::new(), 0)
                    };
                    if capture && nul.is_none() {
                        self.text.push_str(&t);
                    }
                    if let Some(i) = nul {
                        let at = self.byte_offset() - len + i as u64;
                        return Err(Stop::Malformed(
                            at,
                            "NUL bytes (the file was truncated and written again, \
                             typically by another process writing to the same file)"
                                .into(),
                        ));
                    }
                    if stray {
                        if self.name_starts.is_empty() {
                            // Stray text before the root: not what we think it is.
                            return Err(Stop::Malformed(
                                self.byte_offset(),
                                "text outside any element".into(),
                            ));
                        }
                        // Text directly in the document element, where
                        // Valgrind writes only elements.
                        let at = self.byte_offset() - len + lead;
                        self.note(at, format!("text outside any element ignored: {shown:?}"));
                    }
                    return Ok(Ev::Text);
                }
                Event::CData(t) => {
                    if capture {
                        self.text.push_str(&t);
                    }
                    return Ok(Ev::Text);
                }
                Event::GeneralRef(r) => {
                    if capture {
                        resolve_ref(r.as_bytes(), &mut self.text);
                    }
                    return Ok(Ev::Text);
                }
                Event::Eof => return Ok(Ev::Eof),
                Event::Decl(_) => {
                    if self.name_starts.len() > self.doc_depth {
                        let offset = self.start_offset();
                        return Err(Stop::Interrupted {
                            offset,
                            root: false,
                        });
                    }
                    return Ok(Ev::Decl);
                }
                Event::Comment(_) | Event::PI(_) | Event::DocType(_) => continue,
            }
        }
    }

    /// Where the markup just read starts (its `<`): `buf` holds it whole.
    fn start_offset(&self) -> u64 {
        self.byte_offset().saturating_sub(self.buf.len() as u64)
    }

    fn bad_name(&self, name: &[u8]) -> Stop {
        let shown: String = String::from_utf8_lossy(name).chars().take(40).collect();
        Stop::Malformed(
            self.start_offset(),
            format!("<{shown}...> is not an element name (damage, e.g. a merge-conflict marker)"),
        )
    }

    /// The stop for an input that ends inside an element.
    pub(crate) fn truncated(&self) -> Stop {
        Stop::Truncated(self.byte_offset(), "input ends inside an element".into())
    }

    /// Skips the rest of the element just opened (depth already counted).
    pub(crate) fn skip(&mut self) -> R<()> {
        let target = self.depth().saturating_sub(1);
        self.skip_rest_raw()?;
        while self.depth() > target {
            if self.ev(false)? == Ev::Eof {
                return Err(self.truncated());
            }
        }
        Ok(())
    }

    /// For the [`RAW`] elements: consumes the rest of the innermost open
    /// element up to (not including) its closing tag, which is then read as
    /// an event. Does nothing for other elements.
    pub(crate) fn skip_rest_raw(&mut self) -> R<()> {
        let start = *self.name_starts.last().unwrap_or(&0);
        let name = &self.names[start..];
        let Some(i) = RAW.iter().position(|n| &n[2..n.len() - 1] == name) else {
            return Ok(());
        };
        self.skip_raw(i)
    }

    /// Consumes input up to (not including) the closing tag `RAW[which]`.
    fn skip_raw(&mut self, which: usize) -> R<()> {
        let pos = self.byte_offset();
        match raw::skip_to(
            &mut self.xml,
            &mut self.uncounted,
            &self.finders[which],
            RAW[which],
        ) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Stop::Truncated(
                self.byte_offset(),
                "input ends inside an element".into(),
            )),
            Err(e) => Err(Stop::Io(pos, e)),
        }
    }

    /// Consumes blank text. Returns false at the end of the input.
    pub(crate) fn skip_blank(&mut self) -> R<bool> {
        let pos = self.byte_offset();
        raw::skip_blank(&mut self.xml).map_err(|e| Stop::Io(pos, e))
    }

    /// Consumes input up to the start of the next document (see
    /// [`raw::skip_to_document`]); `CutStart` holds the offset of the cut
    /// start.
    pub(crate) fn skip_to_document(&mut self, first: &mut Vec<u8>) -> R<Next> {
        let pos = self.byte_offset();
        match raw::skip_to_document(&mut self.xml, &mut self.uncounted, first) {
            Ok(Next::CutStart(n)) => Ok(Next::CutStart(self.byte_offset() - n)),
            Ok(n) => Ok(n),
            Err(e) => Err(Stop::Io(pos, e)),
        }
    }

    /// Reads the text content of the element just opened, up to its end.
    /// Text of nested elements is included.
    pub(crate) fn text_of(&mut self, empty: bool) -> R<String> {
        self.read_text(empty)?;
        Ok(std::mem::take(&mut self.text))
    }

    /// [`Cursor::text_of`] into the cursor's own buffer ([`Cursor::text`]),
    /// without allocating; the element's name is kept too
    /// ([`Cursor::text_name`]).
    pub(crate) fn read_text(&mut self, empty: bool) -> R<()> {
        self.text.clear();
        let start = self.name_starts.last().copied().unwrap_or(self.names.len());
        self.text_name.clear();
        self.text_name.extend_from_slice(&self.names[start..]);
        if empty {
            return Ok(());
        }
        let target = self.depth().saturating_sub(1);
        loop {
            match self.ev(true)? {
                Ev::Close if self.depth() == target => break,
                Ev::Eof => return Err(self.truncated()),
                _ => {}
            }
        }
        Ok(())
    }

    /// The text [`Cursor::read_text`] read.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The name of the element [`Cursor::read_text`] read.
    pub(crate) fn text_name(&self) -> String {
        String::from_utf8_lossy(&self.text_name).into_owned()
    }

    /// Calls `f` for each child element of the element just opened, until
    /// it closes. `f` may read the child (text, children) or leave it: a
    /// child `f` did not consume is skipped.
    pub(crate) fn children(
        &mut self,
        empty: bool,
        mut f: impl FnMut(&mut Self, Tag, bool) -> R<()>,
    ) -> R<()> {
        if empty {
            return Ok(());
        }
        let target = self.depth().saturating_sub(1);
        loop {
            match self.ev(false)? {
                Ev::Open { tag, empty } => {
                    let open = self.depth();
                    f(self, tag, empty)?;
                    if !empty && self.depth() == open {
                        self.skip()?;
                    }
                }
                Ev::Close if self.depth() == target => return Ok(()),
                Ev::Close | Ev::Text | Ev::Decl => {}
                Ev::Eof => return Err(self.truncated()),
            }
        }
    }
}
