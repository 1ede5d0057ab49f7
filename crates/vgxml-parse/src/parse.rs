//! The streaming reader: quick-xml events in, [`Item`]s out, constant memory.
//!
//! Element depth and names are tracked here (not by quick-xml) so that a
//! document that stops mid-way is recognised as truncated, and so that
//! subtrees that are not wanted (stacks and suppressions in
//! [`Options::summary`] mode) can be skipped with a raw `memmem` search for
//! their end tag instead of being tokenised.

use crate::model::*;
use quick_xml::events::Event;
use std::collections::VecDeque;
use std::io::{self, BufRead};

/// Errors that stop reading a file. Truncation and malformed content after a
/// valid start are *not* errors: they end the report with
/// `complete == false` and a [`Diagnostic`].
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{file}: byte {offset}: cannot read: {error}")]
    Io {
        file: String,
        offset: u64,
        #[source]
        error: io::Error,
    },
    #[error("{file}: byte {offset}: not a Valgrind XML report: {reason}")]
    NotValgrindXml {
        file: String,
        offset: u64,
        reason: String,
    },
    #[error(
        "{file}: byte {offset}: unknown Valgrind XML protocol version {version:?} \
         (vgxml reads protocols 4, 5 and 6)"
    )]
    UnknownProtocol {
        file: String,
        offset: u64,
        version: String,
    },
}

/// What to keep while reading.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Keep `<stack>`s (errors, aux, origins, clientmsgs, fatal signals).
    pub stacks: bool,
    /// Keep `<suppression>` blocks.
    pub suppressions: bool,
    /// When collecting a [`Report`](crate::Report): keep every
    /// [`ErrorRecord`] in `Report::errors`. When false, records only update
    /// the report's [`Tally`](crate::Tally) and memory stays flat however
    /// large the file.
    pub collect_errors: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options::full()
    }
}

impl Options {
    /// Everything.
    pub fn full() -> Self {
        Options {
            stacks: true,
            suppressions: true,
            collect_errors: true,
        }
    }
    /// Records without stacks and suppressions: the fast mode.
    pub fn summary() -> Self {
        Options {
            stacks: false,
            suppressions: false,
            collect_errors: true,
        }
    }
    /// Only what [`Summary`](crate::Summary) needs: fast, and constant
    /// memory (records are tallied, not kept).
    pub fn totals() -> Self {
        Options {
            stacks: false,
            suppressions: false,
            collect_errors: false,
        }
    }
}

/// One piece of a report, yielded as soon as it is parsed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Item {
    ProtocolVersion(u32),
    ProtocolTool(String),
    Preamble(Vec<String>),
    Pid(u64),
    Ppid(u64),
    Tool(String),
    LogFileQualifier {
        var: String,
        value: String,
    },
    UserComment(String),
    Args(Args),
    Status(Status),
    ClientMsg(ClientMsg),
    Error(Box<ErrorRecord>),
    ErrorCounts(Vec<(String, u64)>),
    SuppCounts(Vec<SuppCount>),
    /// A `<suppression>` outside an `<error>` (Valgrind 3.19 repeats each
    /// generated suppression after its error).
    Suppression(Suppression),
    AnnounceThread(AnnounceThread),
    FatalSignal(FatalSignal),
    ErrorSummary(ErrorSummary),
    HeapSummary(HeapSummary),
    AllHeapBlocksFreed(bool),
    LeakSummary(ValgrindLeakSummary),
    Diagnostic(Diagnostic),
    /// Always the last item: `complete` is true only when the closing
    /// `</valgrindoutput>` was read.
    End {
        complete: bool,
    },
}

use serde::Serialize;

/// The element names vgxml understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    ValgrindOutput,
    ProtocolVersion,
    ProtocolTool,
    Preamble,
    Line,
    Pid,
    Ppid,
    Tool,
    LogFileQualifier,
    Var,
    Value,
    UserComment,
    Args,
    Vargv,
    Argv,
    Exe,
    Arg,
    Status,
    State,
    Time,
    ClientMsg,
    Tid,
    Text,
    Stack,
    Frame,
    Ip,
    Obj,
    Fn,
    Dir,
    File,
    Error,
    Unique,
    ThreadName,
    Kind,
    What,
    XWhat,
    LeakedBytes,
    LeakedBlocks,
    AuxWhat,
    XAuxWhat,
    Suppression,
    SName,
    SKind,
    SKAux,
    SFrame,
    Fun,
    RawText,
    ErrorCounts,
    Pair,
    Count,
    SuppCounts,
    Name,
    AnnounceThread,
    HThreadId,
    FatalSignal,
    Signo,
    Signame,
    Sicode,
    Event,
    Siaddr,
    ErrorSummary,
    Errors,
    ErrorContexts,
    Suppressed,
    SuppressedContexts,
    HeapSummary,
    MemoryInUseAtExit,
    Bytes,
    Blocks,
    InBlocks,
    TotalHeapUsage,
    Allocs,
    Frees,
    BytesAllocated,
    AllHeapBlocksFreed,
    LeakSummary,
    DefinitelyLost,
    IndirectlyLost,
    PossiblyLost,
    StillReachable,
    Fd,
    Path,
    Other,
}

fn tag(name: &[u8]) -> Tag {
    use Tag::*;
    match name {
        b"frame" => Frame,
        b"ip" => Ip,
        b"obj" => Obj,
        b"fn" => Fn,
        b"dir" => Dir,
        b"file" => File,
        b"line" => Line,
        b"stack" => Stack,
        b"error" => Error,
        b"unique" => Unique,
        b"tid" => Tid,
        b"kind" => Kind,
        b"what" => What,
        b"xwhat" => XWhat,
        b"text" => Text,
        b"leakedbytes" => LeakedBytes,
        b"leakedblocks" => LeakedBlocks,
        b"auxwhat" => AuxWhat,
        b"xauxwhat" => XAuxWhat,
        b"threadname" => ThreadName,
        b"suppression" => Suppression,
        b"sname" => SName,
        b"skind" => SKind,
        b"skaux" => SKAux,
        b"sframe" => SFrame,
        b"fun" => Fun,
        b"rawtext" => RawText,
        b"valgrindoutput" => ValgrindOutput,
        b"protocolversion" => ProtocolVersion,
        b"protocoltool" => ProtocolTool,
        b"preamble" => Preamble,
        b"pid" => Pid,
        b"ppid" => Ppid,
        b"tool" => Tool,
        b"logfilequalifier" => LogFileQualifier,
        b"var" => Var,
        b"value" => Value,
        b"usercomment" => UserComment,
        b"args" => Args,
        b"vargv" => Vargv,
        b"argv" => Argv,
        b"exe" => Exe,
        b"arg" => Arg,
        b"status" => Status,
        b"state" => State,
        b"time" => Time,
        b"clientmsg" => ClientMsg,
        b"errorcounts" => ErrorCounts,
        b"pair" => Pair,
        b"count" => Count,
        b"suppcounts" => SuppCounts,
        b"name" => Name,
        b"announcethread" => AnnounceThread,
        b"hthreadid" => HThreadId,
        b"fatal_signal" => FatalSignal,
        b"signo" => Signo,
        b"signame" => Signame,
        b"sicode" => Sicode,
        b"event" => Event,
        b"siaddr" => Siaddr,
        b"error_summary" => ErrorSummary,
        b"errors" => Errors,
        b"error_contexts" => ErrorContexts,
        b"suppressed" => Suppressed,
        b"suppressed_contexts" => SuppressedContexts,
        b"heap_summary" => HeapSummary,
        b"memory_in_use_at_exit" => MemoryInUseAtExit,
        b"bytes" => Bytes,
        b"blocks" => Blocks,
        b"in_blocks" => InBlocks,
        b"total_heap_usage" => TotalHeapUsage,
        b"allocs" => Allocs,
        b"frees" => Frees,
        b"bytes_allocated" => BytesAllocated,
        b"all_heap_blocks_freed" => AllHeapBlocksFreed,
        b"leak_summary" => LeakSummary,
        b"definitely_lost" => DefinitelyLost,
        b"indirectly_lost" => IndirectlyLost,
        b"possibly_lost" => PossiblyLost,
        b"still_reachable" => StillReachable,
        b"fd" => Fd,
        b"path" => Path,
        _ => Other,
    }
}

/// A tokenised event that does not borrow the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ev {
    /// A start tag (`empty` for `<x/>`, which has no matching end).
    Open {
        tag: Tag,
        empty: bool,
    },
    Close,
    /// Text, CDATA or a reference; appended to `text` when capturing.
    Text,
    Eof,
}

/// Why reading stopped early.
enum Stop {
    /// End of input, or a syntax error caused by it, before the document
    /// ended.
    Truncated(u64, String),
    /// Bytes that are not well-formed XML, after a valid start.
    Malformed(u64, String),
    Io(u64, io::Error),
}

type R<T> = Result<T, Stop>;

#[derive(PartialEq, Eq, Clone, Copy)]
enum Phase {
    /// Before `<valgrindoutput>`.
    Prolog,
    /// Inside `<valgrindoutput>`, before `<protocolversion>`.
    Version,
    Body,
    Done,
}

/// The input, with room to push back a few bytes: lets [`Records::skip_raw`]
/// hand a closing tag that straddled two buffer refills back to quick-xml,
/// so that quick-xml's own stack of open elements stays balanced.
struct Src<Rd> {
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

/// The streaming iterator over a report's [`Item`]s. Yields
/// `Err(ReadError)` at most once (then ends) for input that is not Valgrind
/// XML or has an unknown protocol version; otherwise ends with
/// [`Item::End`].
pub struct Records<Rd: BufRead> {
    xml: quick_xml::Reader<Src<Rd>>,
    /// Bytes skipped without quick-xml counting them.
    uncounted: u64,
    buf: Vec<u8>,
    text: String,
    source: String,
    opts: Options,
    phase: Phase,
    /// Names of the open elements, concatenated, and where each starts.
    names: Vec<u8>,
    name_starts: Vec<usize>,
    pending: VecDeque<Item>,
    // leak-search bookkeeping
    marker: Option<String>,
    finished: bool,
    prev_leak: Option<(u64, u64)>,
    prev_was_leak: bool,
    searches: usize,
}

/// Reads `reader` (a whole report) item by item, in constant memory.
/// `source_name` names the input in errors and diagnostics.
pub fn records<Rd: BufRead>(reader: Rd, source_name: &str) -> Records<Rd> {
    records_with(reader, source_name, Options::full())
}

/// [`records`] with [`Options`] (e.g. [`Options::summary`] to skip stacks).
pub fn records_with<Rd: BufRead>(reader: Rd, source_name: &str, opts: Options) -> Records<Rd> {
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
    Records {
        xml,
        uncounted: 0,
        buf: Vec::with_capacity(4096),
        text: String::new(),
        source: source_name.to_string(),
        opts,
        phase: Phase::Prolog,
        names: Vec::with_capacity(256),
        name_starts: Vec::with_capacity(16),
        pending: VecDeque::new(),
        marker: None,
        finished: false,
        prev_leak: None,
        prev_was_leak: false,
        searches: 0,
    }
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

impl<Rd: BufRead> Records<Rd> {
    /// The byte position reached in the input.
    pub fn byte_offset(&self) -> u64 {
        self.xml.buffer_position() + self.uncounted
    }

    fn error_offset(&self) -> u64 {
        self.xml.error_position() + self.uncounted
    }

    fn depth(&self) -> usize {
        self.name_starts.len()
    }

    /// The next event; text is appended to `self.text` when `capture`.
    fn ev(&mut self, capture: bool) -> R<Ev> {
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
                    } else if self.name_starts.is_empty() && self.phase == Phase::Prolog {
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

    fn truncated(&self) -> Stop {
        Stop::Truncated(self.byte_offset(), "input ends inside an element".into())
    }

    /// Skips the rest of the element just opened (depth already counted).
    fn skip(&mut self) -> R<()> {
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
    fn text_of(&mut self, empty: bool) -> R<String> {
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

    fn num_of(&mut self, empty: bool) -> R<Option<u64>> {
        let t = self.text_of(empty)?;
        Ok(parse_num(&t))
    }

    fn inum_of(&mut self, empty: bool) -> R<Option<i64>> {
        let t = self.text_of(empty)?;
        let t = t.trim();
        Ok(match t.strip_prefix('-') {
            Some(r) => parse_num(r).and_then(|v| i64::try_from(v).ok()).map(|v| -v),
            None => parse_num(t).and_then(|v| i64::try_from(v).ok()),
        })
    }

    /// Calls `f` for each child element of the element just opened, until
    /// it closes. `f` must consume the child (read or skip it).
    fn children(&mut self, empty: bool, mut f: impl FnMut(&mut Self, Tag, bool) -> R<()>) -> R<()> {
        if empty {
            return Ok(());
        }
        let target = self.depth().saturating_sub(1);
        loop {
            match self.ev(false)? {
                Ev::Open { tag, empty } => f(self, tag, empty)?,
                Ev::Close if self.depth() == target => return Ok(()),
                Ev::Close | Ev::Text => {}
                Ev::Eof => return Err(self.truncated()),
            }
        }
    }

    fn read_frame(&mut self, empty: bool) -> R<Frame> {
        let mut fr = Frame::default();
        self.children(empty, |s, t, e| {
            match t {
                Tag::Ip => fr.ip = Some(s.text_of(e)?.trim().to_string()),
                Tag::Obj => fr.obj = Some(s.text_of(e)?),
                Tag::Fn => fr.func = Some(s.text_of(e)?),
                Tag::Dir => fr.dir = Some(s.text_of(e)?),
                Tag::File => fr.file = Some(s.text_of(e)?),
                Tag::Line => {
                    fr.line = s.num_of(e)?.and_then(|v| u32::try_from(v).ok());
                }
                _ => {
                    if !e {
                        s.skip()?
                    }
                }
            }
            Ok(())
        })?;
        Ok(fr)
    }

    fn read_stack(&mut self, empty: bool) -> R<Vec<Frame>> {
        if !self.opts.stacks {
            if !empty {
                self.skip()?;
            }
            return Ok(Vec::new());
        }
        let mut frames = Vec::new();
        self.children(empty, |s, t, e| {
            if t == Tag::Frame {
                frames.push(s.read_frame(e)?);
            } else if !e {
                s.skip()?;
            }
            Ok(())
        })?;
        Ok(frames)
    }

    fn read_suppression(&mut self, empty: bool) -> R<Option<Suppression>> {
        if !self.opts.suppressions {
            if !empty {
                self.skip()?;
            }
            return Ok(None);
        }
        let mut sp = Suppression::default();
        self.children(empty, |s, t, e| {
            match t {
                Tag::SName => sp.name = s.text_of(e)?,
                Tag::SKind => sp.kind = s.text_of(e)?,
                Tag::SKAux => sp.aux = Some(s.text_of(e)?),
                Tag::SFrame => s.children(e, |s, t, e| {
                    match t {
                        Tag::Obj => sp.frames.push(SFrame::Obj(s.text_of(e)?)),
                        Tag::Fun => sp.frames.push(SFrame::Fun(s.text_of(e)?)),
                        _ => {
                            if !e {
                                s.skip()?
                            }
                        }
                    }
                    Ok(())
                })?,
                Tag::RawText => {
                    let raw = s.text_of(e)?;
                    sp.rawtext = raw.trim().to_string();
                    sp.rawtext.push('\n');
                }
                _ => {
                    if !e {
                        s.skip()?
                    }
                }
            }
            Ok(())
        })?;
        Ok(Some(sp))
    }

    /// `<xwhat>` / `<xauxwhat>`: the text and the extra fields.
    fn read_xwhat(&mut self, empty: bool, rec: &mut ErrorRecord) -> R<String> {
        let mut text = String::new();
        self.children(empty, |s, t, e| {
            match t {
                Tag::Text => text = s.text_of(e)?,
                Tag::LeakedBytes => rec.leaked_bytes = s.num_of(e)?,
                Tag::LeakedBlocks => rec.leaked_blocks = s.num_of(e)?,
                Tag::HThreadId => {
                    if let Some(v) = s.num_of(e)? {
                        rec.hthreadids.push(v)
                    }
                }
                _ => {
                    if !e {
                        s.skip()?
                    }
                }
            }
            Ok(())
        })?;
        Ok(text)
    }

    fn read_error(&mut self, empty: bool, offset: u64) -> R<ErrorRecord> {
        let mut rec = ErrorRecord::new(offset);
        let mut seen_stack = false;
        self.children(empty, |s, t, e| {
            match t {
                Tag::Unique => rec.unique = s.text_of(e)?.trim().to_string(),
                Tag::Tid => rec.tid = s.num_of(e)?,
                Tag::ThreadName => rec.thread_name = Some(s.text_of(e)?),
                Tag::Kind => rec.kind = crate::model::Kind::parse(s.text_of(e)?.trim()),
                Tag::What | Tag::XWhat | Tag::AuxWhat | Tag::XAuxWhat => {
                    let text = if matches!(t, Tag::What | Tag::AuxWhat) {
                        s.text_of(e)?
                    } else {
                        // xauxwhat may carry file/line/dir: not kept apart from the text.
                        let mut tmp = ErrorRecord::new(0);
                        let target: &mut ErrorRecord =
                            if t == Tag::XWhat { &mut rec } else { &mut tmp };
                        s.read_xwhat(e, target)?
                    };
                    let primary = matches!(t, Tag::What | Tag::XWhat) && !seen_stack;
                    if primary {
                        if rec.what.is_empty() && rec.what2.is_none() {
                            rec.what = text;
                        } else {
                            rec.what2 = Some(text);
                        }
                    } else {
                        rec.aux.push((text, Vec::new()));
                    }
                }
                Tag::Stack => {
                    let st = s.read_stack(e)?;
                    if !seen_stack {
                        seen_stack = true;
                        rec.stack = st;
                    } else {
                        match rec.aux.last_mut() {
                            Some((_, frames)) if frames.is_empty() => *frames = st,
                            _ => rec.aux.push((String::new(), st)),
                        }
                    }
                }
                Tag::Suppression => rec.suppression = s.read_suppression(e)?,
                Tag::Fd => rec.fd = s.inum_of(e)?,
                Tag::Path => rec.path = Some(s.text_of(e)?),
                _ => {
                    if !e {
                        s.skip()?
                    }
                }
            }
            Ok(())
        })?;
        rec.origin = rec
            .aux
            .iter()
            .find(|(w, _)| w.starts_with("Uninitialised value was created"))
            .map(|(w, st)| Origin {
                what: w.clone(),
                stack: st.clone(),
            });
        if rec.is_leak() {
            rec.loss_record = parse_loss_record(&rec.what);
        }
        Ok(rec)
    }

    fn read_amount(&mut self, empty: bool) -> R<Option<Amount>> {
        let mut bytes = None;
        let mut blocks = None;
        self.children(empty, |s, t, e| {
            match t {
                Tag::Bytes => bytes = s.num_of(e)?,
                Tag::Blocks | Tag::InBlocks => blocks = s.num_of(e)?,
                _ => {
                    if !e {
                        s.skip()?
                    }
                }
            }
            Ok(())
        })?;
        Ok(match (bytes, blocks) {
            (Some(bytes), Some(blocks)) => Some(Amount { bytes, blocks }),
            _ => None,
        })
    }

    /// Reads one top-level element (the `<` already consumed).
    fn top(&mut self, t: Tag, empty: bool, offset: u64) -> R<Option<Item>> {
        Ok(Some(match t {
            Tag::Preamble => {
                let mut lines = Vec::new();
                self.children(empty, |s, t, e| {
                    if t == Tag::Line {
                        lines.push(s.text_of(e)?);
                    } else if !e {
                        s.skip()?;
                    }
                    Ok(())
                })?;
                Item::Preamble(lines)
            }
            Tag::Pid => match self.num_of(empty)? {
                Some(v) => Item::Pid(v),
                None => return Ok(None),
            },
            Tag::Ppid => match self.num_of(empty)? {
                Some(v) => Item::Ppid(v),
                None => return Ok(None),
            },
            Tag::Tool => Item::Tool(self.text_of(empty)?.trim().to_string()),
            Tag::ProtocolTool => Item::ProtocolTool(self.text_of(empty)?.trim().to_string()),
            Tag::UserComment => Item::UserComment(self.text_of(empty)?),
            Tag::LogFileQualifier => {
                let (mut var, mut value) = (String::new(), String::new());
                self.children(empty, |s, t, e| {
                    match t {
                        Tag::Var => var = s.text_of(e)?,
                        Tag::Value => value = s.text_of(e)?,
                        _ => {
                            if !e {
                                s.skip()?
                            }
                        }
                    }
                    Ok(())
                })?;
                Item::LogFileQualifier { var, value }
            }
            Tag::Args => {
                let mut a = Args::default();
                self.children(empty, |s, t, e| {
                    let vg = match t {
                        Tag::Vargv => true,
                        Tag::Argv => false,
                        _ => {
                            if !e {
                                s.skip()?;
                            }
                            return Ok(());
                        }
                    };
                    s.children(e, |s, t, e| {
                        match (t, vg) {
                            (Tag::Exe, true) => a.valgrind_exe = Some(s.text_of(e)?),
                            (Tag::Exe, false) => a.program_exe = Some(s.text_of(e)?),
                            (Tag::Arg, true) => a.valgrind_args.push(s.text_of(e)?),
                            (Tag::Arg, false) => a.program_args.push(s.text_of(e)?),
                            _ => {
                                if !e {
                                    s.skip()?
                                }
                            }
                        }
                        Ok(())
                    })
                })?;
                Item::Args(a)
            }
            Tag::Status => {
                let mut st = Status::default();
                self.children(empty, |s, t, e| {
                    match t {
                        Tag::State => st.state = s.text_of(e)?.trim().to_string(),
                        Tag::Time => st.time = s.text_of(e)?.trim().to_string(),
                        _ => {
                            if !e {
                                s.skip()?
                            }
                        }
                    }
                    Ok(())
                })?;
                Item::Status(st)
            }
            Tag::ClientMsg => {
                let mut m = ClientMsg::default();
                self.children(empty, |s, t, e| {
                    match t {
                        Tag::Tid => m.tid = s.num_of(e)?,
                        Tag::Text => m.text = s.text_of(e)?,
                        Tag::Stack => m.stack = s.read_stack(e)?,
                        _ => {
                            if !e {
                                s.skip()?
                            }
                        }
                    }
                    Ok(())
                })?;
                Item::ClientMsg(m)
            }
            Tag::Error => Item::Error(Box::new(self.read_error(empty, offset)?)),
            Tag::ErrorCounts | Tag::SuppCounts => {
                let mut pairs: Vec<(String, u64)> = Vec::new();
                self.children(empty, |s, t, e| {
                    if t != Tag::Pair {
                        if !e {
                            s.skip()?;
                        }
                        return Ok(());
                    }
                    let (mut count, mut name) = (0u64, String::new());
                    s.children(e, |s, t, e| {
                        match t {
                            Tag::Count => count = s.num_of(e)?.unwrap_or(0),
                            Tag::Unique | Tag::Name => name = s.text_of(e)?.trim().to_string(),
                            _ => {
                                if !e {
                                    s.skip()?
                                }
                            }
                        }
                        Ok(())
                    })?;
                    pairs.push((name, count));
                    Ok(())
                })?;
                if t == Tag::ErrorCounts {
                    Item::ErrorCounts(pairs)
                } else {
                    Item::SuppCounts(
                        pairs
                            .into_iter()
                            .map(|(name, count)| SuppCount { name, count })
                            .collect(),
                    )
                }
            }
            Tag::Suppression => match self.read_suppression(empty)? {
                Some(s) => Item::Suppression(s),
                None => return Ok(None),
            },
            Tag::AnnounceThread => {
                let mut a = AnnounceThread::default();
                self.children(empty, |s, t, e| {
                    match t {
                        Tag::HThreadId => a.hthreadid = s.num_of(e)?,
                        Tag::Stack => a.stack = s.read_stack(e)?,
                        _ => {
                            if !e {
                                s.skip()?
                            }
                        }
                    }
                    Ok(())
                })?;
                Item::AnnounceThread(a)
            }
            Tag::FatalSignal => {
                let mut f = FatalSignal::default();
                self.children(empty, |s, t, e| {
                    match t {
                        Tag::Tid => f.tid = s.num_of(e)?,
                        Tag::Signo => f.signo = s.inum_of(e)?,
                        Tag::Signame => f.signame = Some(s.text_of(e)?.trim().to_string()),
                        Tag::Sicode => f.sicode = s.inum_of(e)?,
                        Tag::Event => f.event = Some(s.text_of(e)?.trim().to_string()),
                        Tag::Siaddr => f.siaddr = Some(s.text_of(e)?.trim().to_string()),
                        Tag::Stack => f.stack = s.read_stack(e)?,
                        _ => {
                            if !e {
                                s.skip()?
                            }
                        }
                    }
                    Ok(())
                })?;
                Item::FatalSignal(f)
            }
            Tag::ErrorSummary => {
                let mut es = ErrorSummary::default();
                self.children(empty, |s, t, e| {
                    match t {
                        Tag::Errors => es.errors = s.num_of(e)?,
                        Tag::ErrorContexts => es.error_contexts = s.num_of(e)?,
                        Tag::Suppressed => es.suppressed = s.num_of(e)?,
                        Tag::SuppressedContexts => es.suppressed_contexts = s.num_of(e)?,
                        _ => {
                            if !e {
                                s.skip()?
                            }
                        }
                    }
                    Ok(())
                })?;
                Item::ErrorSummary(es)
            }
            Tag::HeapSummary => {
                let mut hs = HeapSummary::default();
                self.children(empty, |s, t, e| {
                    match t {
                        Tag::MemoryInUseAtExit => hs.in_use_at_exit = s.read_amount(e)?,
                        Tag::TotalHeapUsage => s.children(e, |s, t, e| {
                            match t {
                                Tag::Allocs => hs.allocs = s.num_of(e)?,
                                Tag::Frees => hs.frees = s.num_of(e)?,
                                Tag::BytesAllocated => hs.bytes_allocated = s.num_of(e)?,
                                _ => {
                                    if !e {
                                        s.skip()?
                                    }
                                }
                            }
                            Ok(())
                        })?,
                        _ => {
                            if !e {
                                s.skip()?
                            }
                        }
                    }
                    Ok(())
                })?;
                Item::HeapSummary(hs)
            }
            Tag::AllHeapBlocksFreed => {
                let t = self.text_of(empty)?;
                match t.trim() {
                    "true" | "yes" | "1" => Item::AllHeapBlocksFreed(true),
                    "false" | "no" | "0" => Item::AllHeapBlocksFreed(false),
                    _ => return Ok(None),
                }
            }
            Tag::LeakSummary => {
                let mut ls = ValgrindLeakSummary::default();
                self.children(empty, |s, t, e| {
                    match t {
                        Tag::DefinitelyLost => ls.totals.definitely_lost = s.read_amount(e)?,
                        Tag::IndirectlyLost => ls.totals.indirectly_lost = s.read_amount(e)?,
                        Tag::PossiblyLost => ls.totals.possibly_lost = s.read_amount(e)?,
                        Tag::StillReachable => ls.totals.still_reachable = s.read_amount(e)?,
                        Tag::Suppressed => ls.suppressed = s.read_amount(e)?,
                        _ => {
                            if !e {
                                s.skip()?
                            }
                        }
                    }
                    Ok(())
                })?;
                Item::LeakSummary(ls)
            }
            _ => {
                if !empty {
                    self.skip()?;
                }
                return Ok(None);
            }
        }))
    }

    /// Leak-search and marker bookkeeping, applied to each item in order.
    fn annotate(&mut self, item: &mut Item) {
        match item {
            Item::Error(rec) => {
                rec.marker = self.marker.clone();
                if rec.is_leak() {
                    let lr = rec.loss_record;
                    let new_search = !self.prev_was_leak
                        || match (self.prev_leak, lr) {
                            (Some((pn, pm)), Some((n, m))) => n <= pn || m != pm,
                            _ => false,
                        };
                    if new_search {
                        self.searches += 1;
                    }
                    rec.search = Some(self.searches.saturating_sub(1));
                    rec.final_search = self.finished;
                    self.prev_leak = lr;
                    self.prev_was_leak = true;
                } else {
                    self.prev_was_leak = false;
                }
            }
            Item::ClientMsg(m) => {
                self.marker = Some(m.text.trim().to_string());
                self.prev_was_leak = false;
            }
            Item::Status(s) => {
                if s.state == "FINISHED" {
                    self.finished = true;
                }
                self.prev_was_leak = false;
            }
            Item::FatalSignal(_) | Item::AnnounceThread(_) => self.prev_was_leak = false,
            _ => {}
        }
    }

    fn stop(&mut self, stop: Stop) -> Option<Result<Item, ReadError>> {
        self.phase = Phase::Done;
        let (offset, message) = match stop {
            Stop::Truncated(o, m) => (o, format!("truncated: {m}; the report is incomplete")),
            Stop::Malformed(o, m) => (
                o,
                format!("malformed XML: {m}; reading stopped, the report is incomplete"),
            ),
            Stop::Io(o, e) => {
                return Some(Err(ReadError::Io {
                    file: self.source.clone(),
                    offset: o,
                    error: e,
                }))
            }
        };
        self.pending.push_back(Item::End { complete: false });
        Some(Ok(Item::Diagnostic(Diagnostic {
            source: self.source.clone(),
            offset: Some(offset),
            message,
        })))
    }

    fn not_valgrind(&mut self, offset: u64, reason: String) -> Option<Result<Item, ReadError>> {
        self.phase = Phase::Done;
        self.pending.clear();
        Some(Err(ReadError::NotValgrindXml {
            file: self.source.clone(),
            offset,
            reason,
        }))
    }

    fn step(&mut self) -> Option<Result<Item, ReadError>> {
        loop {
            if let Some(it) = self.pending.pop_front() {
                return Some(Ok(it));
            }
            match self.phase {
                Phase::Done => return None,
                Phase::Prolog => match self.ev(false) {
                    Ok(Ev::Open {
                        tag: Tag::ValgrindOutput,
                        empty: false,
                    }) => self.phase = Phase::Version,
                    Ok(Ev::Open { .. }) => {
                        let pos = self.byte_offset();
                        return self
                            .not_valgrind(pos, "the root element is not <valgrindoutput>".into());
                    }
                    Ok(Ev::Close) => {
                        let pos = self.byte_offset();
                        return self.not_valgrind(pos, "closing tag before any element".into());
                    }
                    Ok(Ev::Text) => {}
                    Ok(Ev::Eof) => {
                        let pos = self.byte_offset();
                        let msg = if pos == 0 {
                            "the file is empty"
                        } else {
                            "the file ends before <valgrindoutput>"
                        };
                        return self.stop(Stop::Truncated(pos, msg.into()));
                    }
                    Err(Stop::Malformed(pos, m)) => return self.not_valgrind(pos, m),
                    Err(e) => return self.stop(e),
                },
                Phase::Version => match self.ev(false) {
                    Ok(Ev::Open {
                        tag: Tag::ProtocolVersion,
                        empty,
                    }) => {
                        let pos = self.byte_offset();
                        let v = match self.text_of(empty) {
                            Ok(v) => v,
                            Err(e) => return self.stop(e),
                        };
                        match v.trim() {
                            "4" | "5" | "6" => {
                                self.phase = Phase::Body;
                                let n = v.trim().parse().unwrap_or(4);
                                return Some(Ok(Item::ProtocolVersion(n)));
                            }
                            other => {
                                self.phase = Phase::Done;
                                return Some(Err(ReadError::UnknownProtocol {
                                    file: self.source.clone(),
                                    offset: pos,
                                    version: other.to_string(),
                                }));
                            }
                        }
                    }
                    Ok(Ev::Open { .. }) | Ok(Ev::Close) => {
                        let pos = self.byte_offset();
                        return self.not_valgrind(
                            pos,
                            "<valgrindoutput> does not start with <protocolversion>".into(),
                        );
                    }
                    Ok(Ev::Text) => {}
                    Ok(Ev::Eof) => return self.stop(self.truncated()),
                    Err(e) => return self.stop(e),
                },
                Phase::Body => {
                    let offset = self.byte_offset();
                    match self.ev(false) {
                        Ok(Ev::Open { tag, empty }) => match self.top(tag, empty, offset) {
                            Ok(Some(mut item)) => {
                                self.annotate(&mut item);
                                return Some(Ok(item));
                            }
                            Ok(None) => {}
                            Err(e) => return self.stop(e),
                        },
                        Ok(Ev::Close) => {
                            // </valgrindoutput>: the document is complete.
                            self.phase = Phase::Done;
                            return Some(Ok(Item::End { complete: true }));
                        }
                        Ok(Ev::Text) => {}
                        Ok(Ev::Eof) => return self.stop(self.truncated()),
                        Err(e) => return self.stop(e),
                    }
                }
            }
        }
    }
}

impl<Rd: BufRead> Iterator for Records<Rd> {
    type Item = Result<Item, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step()
    }
}
