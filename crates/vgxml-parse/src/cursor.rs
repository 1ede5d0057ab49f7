//! A generic XML cursor over quick-xml events: element depth and names,
//! subtree skipping (a raw `memmem` search for the closing tag where the
//! content can hold no CDATA or comments), and text capture.
//!
//! Depth and names are tracked here (not by quick-xml) so that a document
//! that stops mid-way is recognised as truncated, and so that subtrees can be
//! skipped without being tokenised.

use crate::model::parse_num;
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
    Eof,
}

/// Why reading stopped early.
pub(crate) enum Stop {
    /// End of input, or a syntax error caused by it, before the document
    /// ended.
    Truncated(u64, String),
    /// Bytes that are not well-formed XML, after a valid start.
    Malformed(u64, String),
    Io(u64, io::Error),
}

pub(crate) type R<T> = Result<T, Stop>;

/// The input, with room to push back a few bytes: lets [`Cursor::skip_raw`]
/// hand a closing tag that straddled two buffer refills back to quick-xml,
/// so that quick-xml's own stack of open elements stays balanced.
pub(crate) struct Src<Rd> {
    inner: Rd,
    back: Vec<u8>,
    pos: usize,
}

impl<Rd: BufRead> io::Read for Src<Rd> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let avail = self.fill_buf()?;
            let n = avail.len().min(buf.len());
            buf[..n].copy_from_slice(&avail[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<Rd: BufRead> BufRead for Src<Rd> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos < self.back.len() {
            Ok(&self.back[self.pos..])
        } else {
            self.inner.fill_buf()
        }
    }

    fn consume(&mut self, n: usize) {
        if self.pos < self.back.len() {
            self.pos += n;
            if self.pos >= self.back.len() {
                self.back.clear();
                self.pos = 0;
            }
        } else {
            self.inner.consume(n)
        }
    }
}

/// The cursor: quick-xml underneath, depth and names tracked here.
pub(crate) struct Cursor<Rd: BufRead> {
    xml: quick_xml::Reader<Src<Rd>>,
    /// Bytes skipped without quick-xml counting them.
    uncounted: u64,
    buf: Vec<u8>,
    text: String,
    /// Names of the open elements, concatenated, and where each starts.
    names: Vec<u8>,
    name_starts: Vec<usize>,
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
        let mut xml = quick_xml::Reader::from_reader(Src {
            inner: reader,
            back: Vec::new(),
            pos: 0,
        });
        {
            let c = xml.config_mut();
            c.check_end_names = false; // checked here, so that subtrees can be skipped raw
            c.check_comments = false;
            c.allow_dangling_amp = true;
            c.allow_unmatched_ends = true;
            c.expand_empty_elements = false;
            c.trim_text_start = false;
            c.trim_text_end = false;
        }
        Cursor {
            xml,
            uncounted: 0,
            buf: Vec::with_capacity(4096),
            text: String::new(),
            names: Vec::with_capacity(256),
            name_starts: Vec::with_capacity(16),
        }
    }

    /// The byte position reached in the input.
    pub(crate) fn byte_offset(&self) -> u64 {
        self.xml.buffer_position() + self.uncounted
    }

    fn error_offset(&self) -> u64 {
        self.xml.error_position() + self.uncounted
    }

    /// Number of open elements.
    pub(crate) fn depth(&self) -> usize {
        self.name_starts.len()
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
                    self.name_starts.push(self.names.len());
                    self.names.extend_from_slice(e.name().as_ref().as_bytes());
                    return Ok(Ev::Open {
                        tag: t,
                        empty: false,
                    });
                }
                Event::Empty(e) => {
                    return Ok(Ev::Open {
                        tag: tag(e.local_name().as_ref().as_bytes()),
                        empty: true,
                    })
                }
                Event::End(e) => {
                    let Some(start) = self.name_starts.pop() else {
                        return Err(Stop::Malformed(
                            self.xml.buffer_position() + self.uncounted,
                            format!("unexpected closing tag </{}>", e.name().as_ref()),
                        ));
                    };
                    if self.names[start..] != *e.name().as_ref().as_bytes() {
                        let msg = format!(
                            "closing tag </{}> does not match <{}>",
                            e.name().as_ref(),
                            String::from_utf8_lossy(&self.names[start..])
                        );
                        self.names.truncate(start);
                        return Err(Stop::Malformed(
                            self.xml.buffer_position() + self.uncounted,
                            msg,
                        ));
                    }
                    self.names.truncate(start);
                    return Ok(Ev::Close);
                }
                Event::Text(t) => {
                    if capture {
                        self.text.push_str(&t);
                    } else if self.name_starts.is_empty() {
                        // Stray text before the root: not what we think it is.
                        if t.bytes().any(|b| !b.is_ascii_whitespace()) {
                            return Err(Stop::Malformed(
                                self.xml.buffer_position() + self.uncounted,
                                "text outside any element".into(),
                            ));
                        }
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
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => continue,
            }
        }
    }

    /// The stop for an input that ends inside an element.
    pub(crate) fn truncated(&self) -> Stop {
        Stop::Truncated(self.byte_offset(), "input ends inside an element".into())
    }

    /// Skips the rest of the element just opened (depth already counted).
    pub(crate) fn skip(&mut self) -> R<()> {
        let target = self.depth().saturating_sub(1);
        // Fast path: elements whose content never holds CDATA or comments in
        // Valgrind output: search the raw bytes for the closing tag.
        let start = *self.name_starts.last().unwrap_or(&0);
        let name = &self.names[start..];
        if matches!(name, b"stack" | b"suppression" | b"frame") {
            let mut needle = [0u8; 16];
            needle[0] = b'<';
            needle[1] = b'/';
            needle[2..2 + name.len()].copy_from_slice(name);
            needle[2 + name.len()] = b'>';
            let n = name.len() + 3;
            // Stops just before the closing tag, which is then read as an event.
            self.skip_raw(&needle[..n])?;
        }
        while self.depth() > target {
            if self.ev(false)? == Ev::Eof {
                return Err(self.truncated());
            }
        }
        Ok(())
    }

    /// Consumes input up to (not including) `needle`, which starts with `<`
    /// and holds no other `<`, so it cannot overlap itself.
    fn skip_raw(&mut self, needle: &[u8]) -> R<()> {
        let finder = memchr::memmem::Finder::new(needle);
        // bytes of needle matched at the end of the previous chunk (consumed
        // without being counted)
        let mut matched = 0usize;
        loop {
            let pos = self.byte_offset();
            let chunk = match self.xml.get_mut().fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Stop::Io(pos, e)),
            };
            if chunk.is_empty() {
                self.uncounted += matched as u64;
                return Err(Stop::Truncated(
                    self.byte_offset(),
                    "input ends inside an element".into(),
                ));
            }
            if matched > 0 {
                let rest = &needle[matched..];
                let k = rest.len().min(chunk.len());
                if chunk[..k] == rest[..k] {
                    self.xml.get_mut().consume(k);
                    matched += k;
                    if matched == needle.len() {
                        // hand the whole closing tag back to quick-xml
                        let src = self.xml.get_mut();
                        src.back.clear();
                        src.back.extend_from_slice(needle);
                        src.pos = 0;
                        return Ok(());
                    }
                    continue;
                }
                self.uncounted += matched as u64;
            }
            let len = chunk.len();
            if let Some(i) = finder.find(chunk) {
                self.xml.stream().consume(i);
                return Ok(());
            }
            // Longest suffix of chunk that is a prefix of needle.
            let mut m = (needle.len() - 1).min(len);
            while m > 0 && chunk[len - m..] != needle[..m] {
                m -= 1;
            }
            self.xml.stream().consume(len - m);
            self.xml.get_mut().consume(m);
            matched = m;
        }
    }

    /// Reads the text content of the element just opened, up to its end.
    /// Text of nested elements is included.
    pub(crate) fn text_of(&mut self, empty: bool) -> R<String> {
        self.text.clear();
        if empty {
            return Ok(String::new());
        }
        let target = self.depth().saturating_sub(1);
        loop {
            match self.ev(true)? {
                Ev::Close if self.depth() == target => break,
                Ev::Eof => return Err(self.truncated()),
                _ => {}
            }
        }
        Ok(std::mem::take(&mut self.text))
    }

    /// The element's text as an unsigned number (thousands separators
    /// allowed), `None` when it is not one.
    pub(crate) fn num_of(&mut self, empty: bool) -> R<Option<u64>> {
        let t = self.text_of(empty)?;
        Ok(parse_num(&t))
    }

    /// The element's text as a signed number.
    pub(crate) fn inum_of(&mut self, empty: bool) -> R<Option<i64>> {
        let t = self.text_of(empty)?;
        let t = t.trim();
        Ok(match t.strip_prefix('-') {
            Some(r) => parse_num(r).and_then(|v| i64::try_from(v).ok()).map(|v| -v),
            None => parse_num(t).and_then(|v| i64::try_from(v).ok()),
        })
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
                Ev::Close | Ev::Text => {}
                Ev::Eof => return Err(self.truncated()),
            }
        }
    }
}
