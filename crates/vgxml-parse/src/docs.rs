//! Which report the items belong to: the open documents (a report written
//! inside another nests in it when it is that process's child), the
//! switches between them ([`Item::Document`]), and how each ends.

use crate::cursor::Cursor;
use crate::item::Item;
use crate::model::Diagnostic;
use crate::state::ReportState;
use std::collections::VecDeque;
use std::io::BufRead;

#[derive(PartialEq, Eq, Clone, Copy)]
pub(crate) enum Phase {
    /// Inside `<valgrindoutput>`, before `<protocolversion>`.
    Version,
    Body,
}

/// An open document.
pub(crate) struct Doc {
    pub(crate) index: usize,
    /// Where it starts (its `<?xml`, else its `<valgrindoutput>`).
    pub(crate) start: u64,
    /// Open elements with its `<valgrindoutput>` (1 for an outermost one).
    pub(crate) depth: usize,
    pub(crate) phase: Phase,
    pub(crate) pid: Option<u64>,
    /// Where another document started inside it, while that one is open.
    interrupted_at: Option<u64>,
    /// A document nested in it that ended complete: `(index, pid)`.
    child_done: Option<(usize, Option<u64>)>,
}

/// The documents of a file and the items queued for the reader.
pub(crate) struct Docs {
    source: String,
    /// Open documents, the current (innermost) last.
    pub(crate) open: Vec<Doc>,
    /// Documents started so far.
    pub(crate) started: usize,
    /// Per document started: where it starts, and whether its items have
    /// begun (then a switch back to it is a resumption).
    seen: Vec<(u64, bool)>,
    /// The document the last items went to.
    shown: Option<usize>,
    pub(crate) pending: VecDeque<Item>,
}

impl Docs {
    pub(crate) fn new(source: &str) -> Docs {
        Docs {
            source: source.to_string(),
            open: Vec::new(),
            started: 0,
            seen: Vec::new(),
            shown: None,
            pending: VecDeque::new(),
        }
    }

    /// The current document.
    pub(crate) fn current(&self) -> Option<&Doc> {
        self.open.last()
    }

    pub(crate) fn current_mut(&mut self) -> Option<&mut Doc> {
        self.open.last_mut()
    }

    /// Queues an item of document `index`, with an [`Item::Document`]
    /// before it when the previous items were another document's.
    pub(crate) fn emit<Rd: BufRead>(&mut self, x: &Cursor<Rd>, index: usize, item: Item) {
        if self.shown != Some(index) {
            if let Some(&(start, begun)) = self.seen.get(index) {
                if begun || index > 0 {
                    let offset = if begun { x.byte_offset() } else { start };
                    self.pending.push_back(Item::Document {
                        index,
                        offset,
                        resumed: begun,
                    });
                }
                self.seen[index].1 = true;
            }
            self.shown = Some(index);
        }
        self.pending.push_back(item);
    }

    pub(crate) fn diagnostic(&self, offset: u64, message: String) -> Item {
        Item::Diagnostic(Diagnostic {
            source: self.source.clone(),
            offset: Some(offset),
            message,
        })
    }

    /// Queues a diagnostic of the current document (outside any, between
    /// documents).
    pub(crate) fn diag<Rd: BufRead>(&mut self, x: &Cursor<Rd>, offset: u64, message: String) {
        let d = self.diagnostic(offset, message);
        match self.open.last() {
            Some(doc) => {
                let i = doc.index;
                self.emit(x, i, d)
            }
            None => self.pending.push_back(d),
        }
    }

    /// Queues an item of the current document.
    pub(crate) fn item<Rd: BufRead>(&mut self, x: &Cursor<Rd>, item: Item) {
        let i = self.open.last().map_or(0, |d| d.index);
        self.emit(x, i, item);
    }

    /// Starts a document whose `<valgrindoutput>` was just read.
    pub(crate) fn open<Rd: BufRead>(&mut self, x: &mut Cursor<Rd>, start: u64) {
        let index = self.started;
        self.started += 1;
        self.seen.push((start, false));
        if let Some(d) = self.open.last_mut() {
            d.interrupted_at = Some(start);
        }
        let depth = x.depth();
        self.open.push(Doc {
            index,
            start,
            depth,
            phase: Phase::Version,
            pid: None,
            interrupted_at: None,
            child_done: None,
        });
        x.set_doc_depth(depth);
    }

    /// Ends the current document (the diagnostic, if any, already queued);
    /// the enclosing one, if any, resumes.
    pub(crate) fn end<Rd: BufRead>(&mut self, x: &mut Cursor<Rd>, state: ReportState) {
        let Some(d) = self.open.pop() else { return };
        self.emit(
            x,
            d.index,
            Item::End {
                complete: state.is_complete(),
                state: state.clone(),
            },
        );
        x.truncate_depth(d.depth.saturating_sub(1));
        self.resume(x, state.is_complete().then_some((d.index, d.pid)));
    }

    /// The enclosing document, if any, is current again.
    pub(crate) fn resume<Rd: BufRead>(
        &mut self,
        x: &mut Cursor<Rd>,
        child_done: Option<(usize, Option<u64>)>,
    ) {
        match self.open.last_mut() {
            Some(p) => {
                p.interrupted_at = None;
                if child_done.is_some() {
                    p.child_done = child_done;
                }
                let depth = p.depth;
                x.set_doc_depth(depth);
            }
            None => x.set_doc_depth(0),
        }
    }

    /// Ends the enclosing documents at positions `from..to` of the stack
    /// (not the current one): abandoned when another report started inside
    /// them.
    fn abandon<Rd: BufRead>(&mut self, x: &mut Cursor<Rd>, from: usize, to: usize, why: &str) {
        if from >= to {
            return;
        }
        let removed: Vec<Doc> = self.open.drain(from..to).collect();
        // their elements leave the cursor's stack; the current document's
        // stay open
        let first_depth = removed[0].depth - 1;
        let next_depth = self.open.get(from).map_or(x.depth(), |d| d.depth - 1);
        x.remove_open(first_depth, next_depth);
        let shift = next_depth - first_depth;
        for d in &mut self.open[from..] {
            d.depth -= shift;
        }
        for d in removed {
            let at = d.interrupted_at.unwrap_or(d.start);
            let who = d.pid.map_or(String::new(), |p| format!(" of pid {p}"));
            let msg = self.diagnostic(
                at,
                format!(
                    "truncated: the report{who} (starting at byte {}) is interrupted here by the report {why}, and does not continue; the report is incomplete",
                    d.start
                ),
            );
            self.emit(x, d.index, msg);
            self.emit(
                x,
                d.index,
                Item::End {
                    complete: false,
                    state: ReportState::Cut { offset: at },
                },
            );
        }
        if let Some(cur) = self.open.last() {
            let depth = cur.depth;
            x.set_doc_depth(depth);
        }
    }

    /// The current document read its `<ppid>`: place it among the open ones.
    pub(crate) fn place<Rd: BufRead>(&mut self, x: &mut Cursor<Rd>, ppid: u64) {
        let n = self.open.len();
        if n < 2 {
            return;
        }
        let parent = self.open[..n - 1].iter().rposition(|d| d.pid == Some(ppid));
        match parent {
            // nested in its parent: documents between are siblings that stopped
            Some(j) => self.abandon(x, j + 1, n - 1, "of a sibling process"),
            // not a child of any open report: those were abandoned
            None => self.abandon(x, 0, n - 1, "of another process"),
        }
    }

    /// At the end of the input: every open document is cut.
    pub(crate) fn end_all<Rd: BufRead>(&mut self, x: &mut Cursor<Rd>, offset: u64, message: &str) {
        let mut first = true;
        while let Some(d) = self.open.pop() {
            x.truncate_depth(d.depth.saturating_sub(1));
            let who = d.pid.map_or(String::new(), |p| format!(" of pid {p}"));
            let msg = if first {
                format!("truncated: {message}; the report is incomplete")
            } else {
                format!(
                    "truncated: the report{who} (starting at byte {}) does not finish: another report was written inside it; the report is incomplete",
                    d.start
                )
            };
            let msg = self.diagnostic(offset, msg);
            self.emit(x, d.index, msg);
            if let Some((ci, cpid)) = d.child_done {
                let them = d
                    .pid
                    .map_or("this report".to_string(), |p| format!("pid {p}"));
                let c = cpid.map_or(format!("report {ci}"), |p| format!("the report of pid {p}"));
                let msg = self.diagnostic(
                    offset,
                    format!("{c} was written inside the report of {them} and read as complete, but {them} does not finish: the records {c} holds after its header may be {them}'s (both wrote to the same output)"),
                );
                self.emit(x, d.index, msg);
            }
            self.emit(
                x,
                d.index,
                Item::End {
                    complete: false,
                    state: ReportState::Cut { offset },
                },
            );
            first = false;
        }
        x.set_doc_depth(0);
    }

    /// A report starting at `start` whose `<valgrindoutput>` never came:
    /// the input ends at `pos`.
    pub(crate) fn cut_before_root<Rd: BufRead>(
        &mut self,
        x: &Cursor<Rd>,
        start: u64,
        pos: u64,
        msg: &str,
    ) {
        let index = self.started;
        self.started += 1;
        self.seen.push((start, false));
        let d = self.diagnostic(pos, format!("truncated: {msg}; the report is incomplete"));
        self.emit(x, index, d);
        self.emit(
            x,
            index,
            Item::End {
                complete: false,
                state: ReportState::Cut { offset: pos },
            },
        );
    }
}
