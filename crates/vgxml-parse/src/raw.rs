//! The bytes under the cursor: the source quick-xml reads from (with room
//! to push bytes back), and raw scans that consume input without
//! tokenising it. Bytes consumed through quick-xml's `stream()` are counted
//! by quick-xml; the others are added to `uncounted` by the scans.

use std::io::{self, BufRead};

/// The input, with room to push back a few bytes: lets a raw scan hand a
/// tag that straddled two buffer refills back to quick-xml, so that
/// quick-xml's own stack of open elements stays balanced.
pub(crate) struct Src<Rd> {
    /// `None` only while the quick-xml reader is being replaced.
    inner: Option<Rd>,
    back: Vec<u8>,
    pos: usize,
}

impl<Rd> Src<Rd> {
    pub(crate) fn new(inner: Rd) -> Self {
        Src {
            inner: Some(inner),
            back: Vec::new(),
            pos: 0,
        }
    }

    /// A source with nothing in it (a placeholder).
    pub(crate) fn detached() -> Self {
        Src {
            inner: None,
            back: Vec::new(),
            pos: 0,
        }
    }

    /// Makes `bytes` the next bytes read, before whatever was pushed back.
    fn push_back(&mut self, bytes: &[u8]) {
        let rest = self.back.split_off(self.pos.min(self.back.len()));
        self.back.clear();
        self.back.extend_from_slice(bytes);
        self.back.extend_from_slice(&rest);
        self.pos = 0;
    }
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
            match &mut self.inner {
                Some(r) => r.fill_buf(),
                None => Ok(&[]),
            }
        }
    }

    fn consume(&mut self, n: usize) {
        if self.pos < self.back.len() {
            self.pos += n;
            if self.pos >= self.back.len() {
                self.back.clear();
                self.pos = 0;
            }
        } else if let Some(r) = &mut self.inner {
            r.consume(n)
        }
    }
}

pub(crate) type Xml<Rd> = quick_xml::Reader<Src<Rd>>;

fn fill<Rd: BufRead>(xml: &mut Xml<Rd>) -> io::Result<&[u8]> {
    loop {
        match xml.get_mut().fill_buf() {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    xml.get_mut().fill_buf()
}

/// Consumes input up to (not including) `needle` (found with `finder`),
/// which starts with `<` and holds no other `<`, so it cannot overlap
/// itself. Returns false when the input ends first.
pub(crate) fn skip_to<Rd: BufRead>(
    xml: &mut Xml<Rd>,
    uncounted: &mut u64,
    finder: &memchr::memmem::Finder<'_>,
    needle: &[u8],
) -> io::Result<bool> {
    // bytes of needle matched at the end of the previous chunk (consumed
    // without being counted)
    let mut matched = 0usize;
    loop {
        let chunk = fill(xml)?;
        if chunk.is_empty() {
            *uncounted += matched as u64;
            return Ok(false);
        }
        if matched > 0 {
            let rest = &needle[matched..];
            let k = rest.len().min(chunk.len());
            if chunk[..k] == rest[..k] {
                xml.get_mut().consume(k);
                matched += k;
                if matched == needle.len() {
                    // hand the whole needle back to quick-xml
                    xml.get_mut().push_back(needle);
                    return Ok(true);
                }
                continue;
            }
            *uncounted += matched as u64;
        }
        let len = chunk.len();
        if let Some(i) = finder.find(chunk) {
            xml.stream().consume(i);
            return Ok(true);
        }
        // Longest suffix of chunk that is a prefix of needle.
        let mut m = (needle.len() - 1).min(len);
        while m > 0 && chunk[len - m..] != needle[..m] {
            m -= 1;
        }
        xml.stream().consume(len - m);
        xml.get_mut().consume(m);
        matched = m;
    }
}

/// Consumes blank text. Returns false at the end of the input.
pub(crate) fn skip_blank<Rd: BufRead>(xml: &mut Xml<Rd>) -> io::Result<bool> {
    loop {
        let chunk = fill(xml)?;
        if chunk.is_empty() {
            return Ok(false);
        }
        let n = chunk.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let more = n < chunk.len();
        xml.stream().consume(n);
        if more {
            return Ok(true);
        }
    }
}

/// What [`skip_to_document`] stopped at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// A `<?xml` or `<valgrindoutput` is next.
    Document,
    /// The end of the input.
    End,
    /// The input ends inside what may be the start of a document (`<?xm`),
    /// that many bytes before the end.
    CutStart(u64),
}

/// Consumes input up to (not including) the next `<?xml` or
/// `<valgrindoutput`: the start of the next document (everything, when the
/// input ends first). The first bytes skipped are kept in `first` (at most
/// 40), for messages.
pub(crate) fn skip_to_document<Rd: BufRead>(
    xml: &mut Xml<Rd>,
    uncounted: &mut u64,
    first: &mut Vec<u8>,
) -> io::Result<Next> {
    const NEEDLES: [&[u8]; 2] = [b"<?xml", b"<valgrindoutput"];
    let is_prefix = |t: &[u8]| NEEDLES.iter().any(|n| n.starts_with(t));
    let is_match = |t: &[u8]| NEEDLES.iter().any(|n| t.starts_with(n));
    let keep = |first: &mut Vec<u8>, b: &[u8]| {
        let n = b.len().min(40usize.saturating_sub(first.len()));
        first.extend_from_slice(&b[..n]);
    };
    // bytes consumed (uncounted) that may begin a needle
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let chunk = fill(xml)?;
        if chunk.is_empty() {
            if tail.is_empty() {
                return Ok(Next::End);
            }
            *uncounted += tail.len() as u64;
            return Ok(Next::CutStart(tail.len() as u64));
        }
        if !tail.is_empty() {
            keep(first, &chunk[..chunk.len().min(40)]);
            // extend the partial match one byte at a time: Some(true) a
            // needle, Some(false) junk, None the chunk ended first
            let mut k = 0;
            let mut outcome = None;
            while k < chunk.len() {
                tail.push(chunk[k]);
                if is_match(&tail) {
                    k += 1;
                    outcome = Some(true);
                    break;
                }
                if !is_prefix(&tail) {
                    tail.pop();
                    outcome = Some(false);
                    break;
                }
                k += 1;
            }
            xml.get_mut().consume(k);
            match outcome {
                Some(true) => {
                    // hand the needle back to quick-xml
                    xml.get_mut().push_back(&tail);
                    return Ok(Next::Document);
                }
                None => continue,
                Some(false) => {
                    *uncounted += tail.len() as u64;
                    tail.clear();
                    continue;
                }
            }
        }
        let len = chunk.len();
        let mut cut = None;
        for i in memchr::memchr_iter(b'<', chunk) {
            let rest = &chunk[i..];
            if is_match(rest) {
                cut = Some((i, true));
                break;
            }
            if rest.len() < NEEDLES[1].len() && is_prefix(rest) {
                cut = Some((i, false));
                break;
            }
        }
        match cut {
            Some((i, true)) => {
                keep(first, &chunk[..i]);
                xml.stream().consume(i);
                return Ok(Next::Document);
            }
            Some((i, false)) => {
                keep(first, &chunk[..i]);
                tail.extend_from_slice(&chunk[i..]);
                xml.stream().consume(i);
                xml.get_mut().consume(len - i);
            }
            None => {
                keep(first, chunk);
                xml.stream().consume(len)
            }
        }
    }
}
