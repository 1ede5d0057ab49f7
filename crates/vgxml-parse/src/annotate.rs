//! The meaning of leak searches and markers, as an iterator adaptor over
//! items: sets each record's `marker` (the text of the last
//! `<clientmsg>`), the `search` index of loss records and `final_search`
//! (the search after `<status>FINISHED`).
//!
//! A leak search is a run of consecutive loss records; a new one starts
//! after any other item that ends a search (a client message, a status, a
//! non-leak error, a fatal signal, a thread announcement) or when the loss
//! record numbers start again ("loss record 1 of N" after "3 of 3", or a
//! different N). Diagnostics and suppressions repeated after their error do
//! not end a search. A protocol 6 `<leak_summary>` closes the search whose
//! records precede it, or is a search of its own when none do (a search
//! that showed no record). Markers are whatever the program printed: no
//! harness's prefix is known here.
//!
//! Each report of a file has its own state: [`Item::Document`] switches.

use crate::item::Item;

/// The bookkeeping state, applied to each item in order.
#[derive(Debug, Default)]
pub(crate) struct Annotator {
    marker: Option<String>,
    finished: bool,
    prev_leak: Option<(u64, u64)>,
    prev_was_leak: bool,
    searches: usize,
}

impl Annotator {
    /// Annotates `item` and updates the state.
    pub(crate) fn annotate(&mut self, item: &mut Item) {
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
            Item::LeakSummary(ls) => {
                if !self.prev_was_leak {
                    self.searches += 1;
                }
                ls.search = Some(self.searches.saturating_sub(1));
                ls.final_search = self.finished;
                ls.marker = self.marker.clone();
                self.prev_was_leak = false;
            }
            Item::FatalSignal(_) | Item::AnnounceThread(_) => self.prev_was_leak = false,
            _ => {}
        }
    }
}

/// An iterator adaptor that runs an [`Annotator`] per report over `Ok`
/// items.
pub(crate) struct Annotated<I> {
    inner: I,
    /// One state per report, by index.
    states: Vec<Annotator>,
    current: usize,
}

impl<I> Annotated<I> {
    pub(crate) fn new(inner: I) -> Self {
        Annotated {
            inner,
            states: vec![Annotator::default()],
            current: 0,
        }
    }

    pub(crate) fn get_ref(&self) -> &I {
        &self.inner
    }
}

impl<E, I: Iterator<Item = Result<Item, E>>> Iterator for Annotated<I> {
    type Item = Result<Item, E>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut r = self.inner.next()?;
        match &mut r {
            Ok(Item::Document { index, .. }) => {
                self.current = *index;
                if self.states.len() <= *index {
                    self.states.resize_with(*index + 1, Annotator::default);
                }
            }
            Ok(item) => self.states[self.current].annotate(item),
            Err(_) => {}
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientMsg, ErrorRecord, Kind, Status};

    fn err(kind: Kind, what: &str) -> Item {
        let mut e = ErrorRecord::new(0);
        e.kind = kind;
        e.what = what.to_string();
        if e.is_leak() {
            e.loss_record = crate::model::parse_loss_record(what);
        }
        Item::Error(Box::new(e))
    }

    fn leak(n: u64, m: u64) -> Item {
        err(
            Kind::LeakDefinitelyLost,
            &format!("8 bytes in 1 blocks are definitely lost in loss record {n} of {m}"),
        )
    }

    fn msg(text: &str) -> Item {
        Item::ClientMsg(ClientMsg {
            text: text.to_string(),
            ..ClientMsg::default()
        })
    }

    fn status(state: &str) -> Item {
        Item::Status(Status {
            state: state.to_string(),
            time: String::new(),
        })
    }

    /// (marker, search, final) of every record.
    fn run(items: Vec<Item>) -> Vec<(Option<String>, Option<usize>, bool)> {
        Annotated::new(items.into_iter().map(Ok::<Item, ()>))
            .filter_map(|i| match i.unwrap() {
                Item::Error(e) => Some((e.marker, e.search, e.final_search)),
                _ => None,
            })
            .collect()
    }

    fn m(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn markers_are_the_trimmed_text_of_the_last_client_message() {
        let got = run(vec![
            err(Kind::InvalidRead, "Invalid read"),
            msg("  test: a\n"),
            err(Kind::InvalidRead, "Invalid read"),
            msg("anything at all\n"),
            leak(1, 1),
        ]);
        assert_eq!(
            got,
            vec![
                (None, None, false),
                (m("test: a"), None, false),
                (m("anything at all"), Some(0), false),
            ]
        );
    }

    #[test]
    fn searches_split_on_other_items_and_on_renumbering() {
        let got = run(vec![
            leak(1, 2),
            leak(2, 2),
            leak(1, 3), // numbering restarts: a new search
            err(Kind::InvalidWrite, "Invalid write"),
            leak(2, 3), // after a non-leak error: a new search
            msg("x\n"),
            leak(3, 3), // after a client message: a new search
            status("FINISHED"),
            leak(1, 1),
        ]);
        let searches: Vec<Option<usize>> = got.iter().map(|g| g.1).collect();
        assert_eq!(
            searches,
            vec![Some(0), Some(0), Some(1), None, Some(2), Some(3), Some(4)]
        );
        let finals: Vec<bool> = got.iter().map(|g| g.2).collect();
        assert_eq!(finals, vec![false, false, false, false, false, false, true]);
    }

    #[test]
    fn suppressions_and_diagnostics_do_not_end_a_search() {
        let got = run(vec![
            leak(1, 2),
            Item::Suppression(crate::model::Suppression::default()),
            Item::Diagnostic(crate::model::Diagnostic {
                source: "x".into(),
                offset: None,
                message: "note".into(),
            }),
            leak(2, 2),
        ]);
        assert_eq!(got, vec![(None, Some(0), false), (None, Some(0), false)]);
    }

    fn summary() -> Item {
        Item::LeakSummary(crate::model::ValgrindLeakSummary::default())
    }

    /// (search, final, marker) of every leak summary.
    fn summaries(items: Vec<Item>) -> Vec<(Option<usize>, bool, Option<String>)> {
        Annotated::new(items.into_iter().map(Ok::<Item, ()>))
            .filter_map(|i| match i.unwrap() {
                Item::LeakSummary(s) => Some((s.search, s.final_search, s.marker)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_leak_summary_closes_its_search_or_is_one() {
        let items = vec![
            msg("test: a\n"),
            Item::AllHeapBlocksFreed(false),
            leak(1, 1),
            summary(), // closes search 0
            msg("test: clean\n"),
            Item::AllHeapBlocksFreed(false),
            summary(), // a search with no records: 1
            Item::AllHeapBlocksFreed(false),
            leak(1, 2), // after a summary: a new search, 2
            leak(2, 2),
            summary(),
            status("FINISHED"),
            Item::HeapSummary(crate::model::HeapSummary::default()),
            leak(1, 1), // 3, final
            summary(),
        ];
        assert_eq!(
            summaries(items.clone()),
            vec![
                (Some(0), false, m("test: a")),
                (Some(1), false, m("test: clean")),
                (Some(2), false, m("test: clean")),
                (Some(3), true, m("test: clean")),
            ]
        );
        let searches: Vec<Option<usize>> = run(items).iter().map(|g| g.1).collect();
        assert_eq!(searches, vec![Some(0), Some(2), Some(2), Some(3)]);
    }

    #[test]
    fn each_report_of_a_file_has_its_own_state() {
        let items = vec![
            msg("first report\n"),
            status("FINISHED"),
            leak(1, 1),
            Item::Document {
                index: 1,
                offset: 100,
                resumed: false,
            },
            leak(1, 1), // report 1: no marker, not final, its search 0
            Item::Document {
                index: 0,
                offset: 200,
                resumed: true,
            },
            leak(1, 1), // back in report 0: its own marker, final, search 1
        ];
        assert_eq!(
            run(items),
            vec![
                (m("first report"), Some(0), true),
                (None, Some(0), false),
                (m("first report"), Some(1), true),
            ]
        );
    }

    #[test]
    fn errors_pass_through() {
        let items = vec![Ok(leak(1, 1)), Err("boom"), Ok(leak(1, 1))];
        let out: Vec<Result<Item, &str>> = Annotated::new(items.into_iter()).collect();
        assert!(out[1].is_err());
        match &out[2] {
            Ok(Item::Error(e)) => assert_eq!(e.search, Some(1)),
            other => panic!("{other:?}"),
        }
    }
}
