//! The streaming reader: a [`Cursor`] walks the document, the decoders turn
//! its elements into [`Item`]s, the [`Annotated`] adaptor adds the meaning
//! of markers and leak searches.

use crate::annotate::Annotated;
use crate::cursor::{Cursor, Ev, Stop};
use crate::decode;
use crate::item::{Item, Options, ReadError};
use crate::model::Diagnostic;
use crate::tags::Tag;
use std::collections::VecDeque;
use std::io::BufRead;

#[derive(PartialEq, Eq, Clone, Copy)]
enum Phase {
    /// Before `<valgrindoutput>`.
    Prolog,
    /// Inside `<valgrindoutput>`, before `<protocolversion>`.
    Version,
    Body,
    Done,
}

/// The document walk, without annotation.
struct Reader<Rd: BufRead> {
    x: Cursor<Rd>,
    source: String,
    opts: Options,
    phase: Phase,
    pending: VecDeque<Item>,
}

/// The streaming iterator over a report's [`Item`]s. Yields
/// `Err(ReadError)` at most once (then ends) for input that is not Valgrind
/// XML or has an unknown protocol version; otherwise ends with
/// [`Item::End`].
pub struct Records<Rd: BufRead> {
    inner: Annotated<Reader<Rd>>,
}

/// Reads `reader` (a whole report) item by item, in constant memory.
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
            phase: Phase::Prolog,
            pending: VecDeque::new(),
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

impl<Rd: BufRead> Reader<Rd> {
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
}

impl<Rd: BufRead> Iterator for Reader<Rd> {
    type Item = Result<Item, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(it) = self.pending.pop_front() {
                return Some(Ok(it));
            }
            match self.phase {
                Phase::Done => return None,
                Phase::Prolog => match self.x.ev(false) {
                    Ok(Ev::Open {
                        tag: Tag::ValgrindOutput,
                        empty: false,
                    }) => self.phase = Phase::Version,
                    Ok(Ev::Open { .. }) => {
                        let pos = self.x.byte_offset();
                        return self
                            .not_valgrind(pos, "the root element is not <valgrindoutput>".into());
                    }
                    Ok(Ev::Close) => {
                        let pos = self.x.byte_offset();
                        return self.not_valgrind(pos, "closing tag before any element".into());
                    }
                    Ok(Ev::Text) => {}
                    Ok(Ev::Eof) => {
                        let pos = self.x.byte_offset();
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
                Phase::Version => match self.x.ev(false) {
                    Ok(Ev::Open {
                        tag: Tag::ProtocolVersion,
                        empty,
                    }) => {
                        let pos = self.x.byte_offset();
                        let v = match self.x.text_of(empty) {
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
                        let pos = self.x.byte_offset();
                        return self.not_valgrind(
                            pos,
                            "<valgrindoutput> does not start with <protocolversion>".into(),
                        );
                    }
                    Ok(Ev::Text) => {}
                    Ok(Ev::Eof) => {
                        let t = self.x.truncated();
                        return self.stop(t);
                    }
                    Err(e) => return self.stop(e),
                },
                Phase::Body => {
                    let offset = self.x.byte_offset();
                    match self.x.ev(false) {
                        Ok(Ev::Open { tag, empty }) => {
                            match decode::top(&mut self.x, self.opts, tag, empty, offset) {
                                Ok(Some(item)) => return Some(Ok(item)),
                                Ok(None) => {}
                                Err(e) => return self.stop(e),
                            }
                        }
                        Ok(Ev::Close) => {
                            // </valgrindoutput>: the document is complete.
                            self.phase = Phase::Done;
                            return Some(Ok(Item::End { complete: true }));
                        }
                        Ok(Ev::Text) => {}
                        Ok(Ev::Eof) => {
                            let t = self.x.truncated();
                            return self.stop(t);
                        }
                        Err(e) => return self.stop(e),
                    }
                }
            }
        }
    }
}
