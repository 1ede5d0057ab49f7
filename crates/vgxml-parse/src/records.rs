//! The streaming reader: a [`Cursor`] walks the file, the decoders turn
//! its elements into [`Item`]s, the [`Annotated`] adaptor adds the meaning
//! of markers and leak searches.
//!
//! A file is a sequence of documents (reports). Between documents only
//! blank text is expected: anything else is stray (an [`Item::Stray`] and a
//! diagnostic), skipped to the next `<?xml` or `<valgrindoutput`. A document
//! that starts inside another (an XML declaration or a `<valgrindoutput>`
//! where the other has its top-level elements) is a process writing into
//! the same output: when its `<ppid>` is the `<pid>` of a document still
//! open, it is that process's child and nested in it (the parent resumes
//! when the child's report ends); otherwise the documents it interrupted
//! were abandoned (killed runs, header-only reports of exec'd children) and
//! end as cut. A malformed document ends with its records kept and reading
//! goes on at the next document.

use crate::annotate::Annotated;
use crate::cursor::{Cursor, Ev, Next, Stop};
use crate::decode;
use crate::docs::{Docs, Phase};
use crate::item::{Item, Options, ReadError};
use crate::state::{ReportState, Stray};
use crate::tags::Tag;
use std::io::BufRead;

/// The file walk, without annotation.
struct Reader<Rd: BufRead> {
    x: Cursor<Rd>,
    source: String,
    opts: Options,
    d: Docs,
    /// An XML declaration whose `<valgrindoutput>` has not come yet.
    decl: Option<u64>,
    done: bool,
}

/// The streaming iterator over the [`Item`]s of a file (one or several
/// reports). Yields `Err(ReadError)` at most once (then ends): for input
/// that is not Valgrind XML or whose first report has an unknown protocol
/// version, and for I/O errors; otherwise every report ends with
/// [`Item::End`].
pub struct Records<Rd: BufRead> {
    inner: Annotated<Reader<Rd>>,
}

/// Reads `reader` (a whole file) item by item, in constant memory.
/// `source_name` names the input in errors and diagnostics.
pub fn records<Rd: BufRead>(reader: Rd, source_name: &str) -> Records<Rd> {
    records_with(reader, source_name, Options::full())
}

/// [`records`] with [`Options`] (e.g. [`Options::summary`] to skip stacks).
pub fn records_with<Rd: BufRead>(reader: Rd, source_name: &str, opts: Options) -> Records<Rd> {
    Records {
        inner: Annotated::new(Reader {
            x: Cursor::new(reader),
            source: source_name.to_string(),
            opts,
            d: Docs::new(source_name),
            decl: None,
            done: false,
        }),
    }
}

impl<Rd: BufRead> Records<Rd> {
    /// The byte position reached in the input.
    pub fn byte_offset(&self) -> u64 {
        self.inner.get_ref().x.byte_offset()
    }
}

impl<Rd: BufRead> Iterator for Records<Rd> {
    type Item = Result<Item, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

impl<Rd: BufRead> Iterator for Reader<Rd> {
    type Item = Result<Item, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(it) = self.d.pending.pop_front() {
                return Some(Ok(it));
            }
            if self.done {
                return None;
            }
            let r = if self.d.open.is_empty() {
                self.between()
            } else {
                self.in_doc()
            };
            if let Err(e) = r {
                self.done = true;
                self.d.pending.clear();
                return Some(Err(e));
            }
        }
    }
}

impl<Rd: BufRead> Reader<Rd> {
    fn flush_notes(&mut self) {
        if self.x.has_notes() {
            for (o, m) in self.x.take_notes() {
                self.d.diag(&self.x, o, m);
            }
        }
    }
    fn not_valgrind(&self, offset: u64, reason: String) -> ReadError {
        ReadError::NotValgrindXml {
            file: self.source.clone(),
            offset,
            reason,
        }
    }
    fn io(&self, offset: u64, error: std::io::Error) -> ReadError {
        ReadError::Io {
            file: self.source.clone(),
            offset,
            error,
        }
    }

    /// Skips to the next document (raw: nothing in the way is parsed, so
    /// nothing can swallow it). Bytes skipped from `from` belong to no
    /// report (unless `quiet`, for the rest of a malformed report).
    /// Returns whether a document follows.
    fn skip_stray(&mut self, from: u64) -> Result<bool, ReadError> {
        self.x
            .truncate_depth(self.d.current().map_or(0, |d| d.depth));
        self.x.restart();
        let mut first = Vec::new();
        let next = match self.x.skip_to_document(&mut first) {
            Ok(n) => n,
            Err(Stop::Io(o, e)) => return Err(self.io(o, e)),
            Err(_) => Next::End,
        };
        let end = match next {
            Next::CutStart(at) => at,
            _ => self.x.byte_offset(),
        };
        let len = end.saturating_sub(from);
        if len > 0 {
            let shown: String = String::from_utf8_lossy(&first)
                .chars()
                .map(|c| if c.is_control() && c != '\n' { '.' } else { c })
                .collect();
            if self.d.started == 0 && next == Next::End {
                return Err(self.not_valgrind(
                    from,
                    format!(
                        "no Valgrind report (<?xml ...> <valgrindoutput>) in the file, which starts with {:?}",
                        shown.trim()
                    ),
                ));
            }
            self.d
                .pending
                .push_back(Item::Stray(Stray { offset: from, len }));
            self.d.diag(
                &self.x,
                from,
                format!(
                    "{len} bytes belong to no report ({}; they start with {:?}): skipped{}",
                    if self.d.started == 0 {
                        "before the first report"
                    } else {
                        "after the end of a report"
                    },
                    shown.trim(),
                    match next {
                        Next::Document => " to the next report",
                        Next::End => " to the end of the file",
                        Next::CutStart(_) => " to the start of a cut report",
                    }
                ),
            );
        }
        if let Next::CutStart(at) = next {
            let pos = self.x.byte_offset();
            self.d
                .cut_before_root(&self.x, at, pos, "input ends inside markup");
            self.done = true;
            return Ok(false);
        }
        Ok(next == Next::Document)
    }

    /// No document open: between documents (or before the first). Read
    /// raw up to the next `<?xml` or `<valgrindoutput`, so that what is in
    /// the way cannot swallow it.
    fn between(&mut self) -> Result<(), ReadError> {
        let more = match self.x.skip_blank() {
            Ok(m) => m,
            Err(Stop::Io(o, e)) => return Err(self.io(o, e)),
            Err(_) => false,
        };
        let from = self.x.byte_offset();
        if !more {
            if self.d.started == 0 {
                let msg = if from == 0 {
                    "the file is empty"
                } else {
                    "the file ends before <valgrindoutput>"
                };
                let start = self.decl.take().unwrap_or(0);
                self.d.cut_before_root(&self.x, start, from, msg);
            } else if let Some(d) = self.decl.take() {
                // a report cut right after its declaration
                self.d
                    .cut_before_root(&self.x, d, from, "the file ends before <valgrindoutput>");
            }
            self.done = true;
            return Ok(());
        }
        let stray_from = match self.decl {
            // a declaration, then something else than <valgrindoutput>
            Some(d) => d,
            None => from,
        };
        let found = if self.decl.is_some() {
            // only <valgrindoutput> may follow a declaration
            true
        } else {
            self.skip_stray(from)?
        };
        if !found {
            self.done = true;
            return Ok(());
        }
        let ev = self.x.ev(false);
        let start = self.x.last_start();
        match ev {
            Ok(Ev::Text) => Ok(()),
            Ok(Ev::Decl) => {
                if let Some(d) = self.decl.replace(start) {
                    self.d.pending.push_back(Item::Stray(Stray {
                        offset: d,
                        len: start - d,
                    }));
                    self.d.diag(
                        &self.x,
                        d,
                        "an XML declaration with no <valgrindoutput> after it: skipped".into(),
                    );
                }
                Ok(())
            }
            Ok(Ev::Open {
                tag: Tag::ValgrindOutput,
                empty: false,
            }) => {
                let s = self.decl.take().unwrap_or(start);
                self.d.open(&mut self.x, s);
                Ok(())
            }
            Err(Stop::Io(o, e)) => Err(self.io(o, e)),
            Err(Stop::Truncated(pos, m)) => {
                // the input ends inside the start of a report
                let s = self.decl.take().unwrap_or(start.min(from));
                self.d.cut_before_root(&self.x, s, pos, &m);
                self.done = true;
                Ok(())
            }
            other => {
                // after a declaration: not a Valgrind report
                if self.d.started == 0 && self.decl.is_some() {
                    let pos = self.x.byte_offset();
                    let reason = match other {
                        Ok(Ev::Close) => "closing tag before any element".to_string(),
                        Ok(Ev::Open { .. }) => {
                            "the root element is not <valgrindoutput>".to_string()
                        }
                        Err(Stop::Malformed(_, m)) | Err(Stop::Truncated(_, m)) => m,
                        _ => "no <valgrindoutput> after the XML declaration".to_string(),
                    };
                    return Err(self.not_valgrind(pos, reason));
                }
                self.decl = None;
                self.skip_stray(stray_from).map(|_| ())
            }
        }
    }

    /// Inside the current document.
    fn in_doc(&mut self) -> Result<(), ReadError> {
        let d = self.d.current().expect("a document");
        let (phase, index) = (d.phase, d.index);
        let offset = self.x.byte_offset();
        let ev = self.x.ev(false);
        match (phase, ev) {
            (_, Ok(Ev::Text)) => {
                self.flush_notes();
                Ok(())
            }
            (_, Ok(Ev::Decl)) => {
                self.decl = Some(self.x.last_start());
                Ok(())
            }
            (
                _,
                Ok(Ev::Open {
                    tag: Tag::ValgrindOutput,
                    empty: false,
                }),
            ) => {
                let s = self.decl.take().unwrap_or_else(|| self.x.last_start());
                self.d.open(&mut self.x, s);
                Ok(())
            }
            (
                Phase::Version,
                Ok(Ev::Open {
                    tag: Tag::ProtocolVersion,
                    empty,
                }),
            ) => {
                let pos = self.x.byte_offset();
                let v = match self.x.text_of(empty) {
                    Ok(v) => v,
                    Err(e) => return self.stopped(e),
                };
                match v.trim() {
                    "4" | "5" | "6" => {
                        self.d.current_mut().expect("a document").phase = Phase::Body;
                        let n = v.trim().parse().unwrap_or(4);
                        self.d.item(&self.x, Item::ProtocolVersion(n));
                        Ok(())
                    }
                    other if index == 0 => Err(ReadError::UnknownProtocol {
                        file: self.source.clone(),
                        offset: pos,
                        version: other.to_string(),
                    }),
                    other => {
                        let other = other.to_string();
                        self.malformed(
                            pos,
                            format!("unknown Valgrind XML protocol version {other:?} (vgxml reads protocols 4, 5 and 6)"),
                        )
                    }
                }
            }
            (Phase::Version, Ok(Ev::Open { .. })) | (Phase::Version, Ok(Ev::Close)) => {
                let pos = self.x.byte_offset();
                let reason = "<valgrindoutput> does not start with <protocolversion>".to_string();
                if index == 0 {
                    return Err(self.not_valgrind(pos, reason));
                }
                self.malformed(pos, reason)
            }
            (Phase::Body, Ok(Ev::Open { tag, empty })) => {
                if self.decl.is_some() {
                    let d = self.decl.take().unwrap_or(offset);
                    self.d.diag(
                        &self.x,
                        d,
                        "an XML declaration not followed by <valgrindoutput>: ignored".into(),
                    );
                }
                match decode::top(&mut self.x, self.opts, tag, empty, offset) {
                    Ok(Some(item)) => {
                        self.flush_notes();
                        match item {
                            Item::Pid(p) => {
                                self.d.current_mut().expect("a document").pid = Some(p);
                                self.d.item(&self.x, item);
                            }
                            Item::Ppid(p) => {
                                self.d.item(&self.x, item);
                                self.d.place(&mut self.x, p);
                            }
                            other => self.d.item(&self.x, other),
                        }
                        Ok(())
                    }
                    Ok(None) => {
                        self.flush_notes();
                        Ok(())
                    }
                    Err(e) => {
                        self.flush_notes();
                        self.stopped(e)
                    }
                }
            }
            (Phase::Body, Ok(Ev::Close)) => {
                // </valgrindoutput>: the document is complete.
                self.flush_notes();
                self.d.end(&mut self.x, ReportState::Complete);
                Ok(())
            }
            (_, Ok(Ev::Eof)) => {
                self.flush_notes();
                let pos = self.x.byte_offset();
                self.d
                    .end_all(&mut self.x, pos, "input ends inside an element");
                self.done = true;
                Ok(())
            }
            (_, Err(e)) => {
                self.flush_notes();
                self.stopped(e)
            }
        }
    }

    /// Reading the current document stopped on `e`.
    fn stopped(&mut self, e: Stop) -> Result<(), ReadError> {
        match e {
            Stop::Io(o, e) => Err(self.io(o, e)),
            Stop::Truncated(pos, m) => {
                self.d.end_all(&mut self.x, pos, &m);
                self.done = true;
                Ok(())
            }
            Stop::Malformed(pos, m) => self.malformed(pos, m),
            Stop::Interrupted { offset, root } => {
                // another report starts inside an element of this one
                let depth = self.d.current().expect("a document").depth;
                self.d.diag(
                    &self.x,
                    offset,
                    "another report starts inside an element of this one: that element is lost"
                        .into(),
                );
                self.x.truncate_depth(depth);
                if root {
                    self.x.push_name(b"valgrindoutput");
                    let s = self.decl.take().unwrap_or(offset);
                    self.d.open(&mut self.x, s);
                } else {
                    self.decl = Some(offset);
                }
                Ok(())
            }
        }
    }

    /// The current document is malformed at `pos`: it ends there (records
    /// kept) and reading goes on at the next document.
    fn malformed(&mut self, pos: u64, m: String) -> Result<(), ReadError> {
        self.d.diag(&self.x,
            pos,
            format!("malformed XML: {m}; reading stopped, the report is incomplete (the records before are kept; the rest, up to the next report, is skipped)"),
        );
        // end it; the enclosing document resumes after the skip
        let d = self.d.open.pop().expect("a document");
        self.d.emit(
            &self.x,
            d.index,
            Item::End {
                complete: false,
                state: ReportState::Malformed {
                    offset: pos,
                    reason: m,
                },
            },
        );
        self.x.truncate_depth(d.depth.saturating_sub(1));
        self.x.restart();
        let found = match self.x.skip_to_document(&mut Vec::new()) {
            Ok(n) => n == Next::Document,
            Err(Stop::Io(o, e)) => return Err(self.io(o, e)),
            Err(_) => false,
        };
        self.d.resume(&mut self.x, None);
        if !found {
            let pos = self.x.byte_offset();
            if self.d.open.is_empty() {
                self.done = true;
            } else {
                self.d
                    .end_all(&mut self.x, pos, "input ends inside an element");
                self.done = true;
            }
        }
        Ok(())
    }
}
