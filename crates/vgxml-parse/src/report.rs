//! A whole report collected from the item stream.

use crate::item::{Item, Options, ReadError};
use crate::model::*;
use crate::records::records_with;
use serde::Serialize;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// One Valgrind XML report (one process).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub source: String,
    /// 0 when the file ended before `<protocolversion>`.
    pub protocol_version: u32,
    pub protocol_tool: Option<String>,
    pub tool: String,
    pub preamble: Vec<String>,
    pub pid: Option<u64>,
    pub ppid: Option<u64>,
    pub args: Args,
    pub log_file_qualifiers: Vec<(String, String)>,
    pub user_comment: Option<String>,
    pub statuses: Vec<Status>,
    /// True only when the whole document (up to `</valgrindoutput>`) was read.
    pub complete: bool,
    /// True once `<status><state>FINISHED` was read: the end-of-run leak
    /// search follows it.
    pub finished: bool,
    pub errors: Vec<ErrorRecord>,
    /// The `<clientmsg>` texts, as written.
    pub client_msgs: Vec<String>,
    pub client_messages: Vec<ClientMsg>,
    pub suppcounts: Vec<SuppCount>,
    /// `(unique, count)`, later `<errorcounts>` blocks overriding earlier ones.
    pub errorcounts: Vec<(String, u64)>,
    /// Suppressions written outside `<error>`s.
    pub suppressions: Vec<Suppression>,
    pub announced_threads: Vec<AnnounceThread>,
    pub fatal_signal: Option<FatalSignal>,
    pub error_summary: Option<ErrorSummary>,
    pub heap_summary: Option<HeapSummary>,
    pub all_heap_blocks_freed: Option<bool>,
    /// Valgrind's own `<leak_summary>` (protocol 6).
    pub valgrind_leak_summary: Option<ValgrindLeakSummary>,
    pub diagnostics: Vec<Diagnostic>,
    /// Running totals over every record, kept even when the records are
    /// not ([`Options::collect_errors`]).
    pub tally: Tally,
    /// False when records were tallied but not kept in `errors`.
    pub errors_collected: bool,
}

/// How many `unique` ids the tally remembers to attribute `<errorcounts>`.
const UNIQUE_CAP: usize = 20_000;

/// Running totals over a report's records, in bounded memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Direct bytes and blocks of the end-of-run loss records, per kind
    /// (indexed like [`LeakKind::ALL`]).
    pub final_leaks: [Amount; 4],
    /// Which kinds had loss records in the end-of-run search.
    pub final_kinds_seen: [bool; 4],
    /// Indirect bytes owned by end-of-run definitely/possibly lost records.
    pub final_owned_indirect_bytes: u64,
    /// Non-leak error contexts per kind.
    pub memory_errors: std::collections::BTreeMap<String, u64>,
    /// Number of leak searches (intermediate and final).
    pub leak_searches: usize,
    pub records: u64,
    /// `unique` -> kind of non-leak errors (at most 20 000; Valgrind stops at 1 000 contexts unless `--error-limit=no`).
    #[serde(skip)]
    pub unique_kinds: std::collections::HashMap<String, Kind>,
    /// More non-leak errors than `unique_kinds` holds.
    pub unique_overflow: bool,
}

fn leak_index(k: LeakKind) -> usize {
    match k {
        LeakKind::DefinitelyLost => 0,
        LeakKind::IndirectlyLost => 1,
        LeakKind::PossiblyLost => 2,
        LeakKind::StillReachable => 3,
    }
}

impl Tally {
    /// Adds one record.
    pub fn add(&mut self, e: &ErrorRecord) {
        self.records += 1;
        match e.leak_kind() {
            Some(k) => {
                if let Some(s) = e.search {
                    self.leak_searches = self.leak_searches.max(s + 1);
                }
                if e.final_search {
                    let i = leak_index(k);
                    self.final_kinds_seen[i] = true;
                    self.final_leaks[i].add(Amount {
                        bytes: e.direct_bytes().unwrap_or(0),
                        blocks: e.leaked_blocks.unwrap_or(0),
                    });
                    if matches!(k, LeakKind::DefinitelyLost | LeakKind::PossiblyLost) {
                        self.final_owned_indirect_bytes = self
                            .final_owned_indirect_bytes
                            .saturating_add(e.indirect_bytes().unwrap_or(0));
                    }
                }
            }
            None => {
                *self
                    .memory_errors
                    .entry(e.kind.as_str().to_string())
                    .or_insert(0) += 1;
                if self.unique_kinds.len() < UNIQUE_CAP {
                    self.unique_kinds.insert(e.unique.clone(), e.kind.clone());
                } else {
                    self.unique_overflow = true;
                }
            }
        }
    }

    /// Direct bytes and blocks of the end-of-run records of kind `k`.
    pub fn final_leak(&self, k: LeakKind) -> Amount {
        self.final_leaks[leak_index(k)]
    }

    pub fn final_kind_seen(&self, k: LeakKind) -> bool {
        self.final_kinds_seen[leak_index(k)]
    }
}

/// The loss records of one leak search.
#[derive(Debug, Clone, Serialize)]
pub struct LeakSearch<'a> {
    /// 0-based, in file order.
    pub index: usize,
    /// The last client message before the search (e.g. a test name).
    pub marker: Option<&'a str>,
    /// The end-of-run search.
    pub is_final: bool,
    pub records: Vec<&'a ErrorRecord>,
}

/// Reads a whole report from a file.
pub fn read_path(path: &Path) -> Result<Report, ReadError> {
    read_path_with(path, Options::full())
}

/// [`read_path`] with [`Options`].
pub fn read_path_with(path: &Path, opts: Options) -> Result<Report, ReadError> {
    let name = path.display().to_string();
    let f = File::open(path).map_err(|error| ReadError::Io {
        file: name.clone(),
        offset: 0,
        error,
    })?;
    read_with(BufReader::with_capacity(1 << 20, f), &name, opts)
}

/// Reads a whole report.
pub fn read<Rd: BufRead>(reader: Rd, source_name: &str) -> Result<Report, ReadError> {
    read_with(reader, source_name, Options::full())
}

/// [`read`] with [`Options`].
pub fn read_with<Rd: BufRead>(
    reader: Rd,
    source_name: &str,
    opts: Options,
) -> Result<Report, ReadError> {
    let mut r = Report {
        source: source_name.to_string(),
        errors_collected: opts.collect_errors,
        ..Report::default()
    };
    for item in records_with(reader, source_name, opts) {
        r.push(item?);
    }
    Ok(r)
}

impl Report {
    /// An empty report that keeps records (`collect_errors`) or only
    /// tallies them; fill it with [`Report::push`].
    pub fn new(source: &str, collect_errors: bool) -> Report {
        Report {
            source: source.to_string(),
            errors_collected: collect_errors,
            ..Report::default()
        }
    }

    /// Folds one item into the report.
    pub fn push(&mut self, item: Item) {
        match item {
            Item::ProtocolVersion(v) => self.protocol_version = v,
            Item::ProtocolTool(t) => self.protocol_tool = Some(t),
            Item::Preamble(l) => self.preamble = l,
            Item::Pid(p) => self.pid = Some(p),
            Item::Ppid(p) => self.ppid = Some(p),
            Item::Tool(t) => self.tool = t,
            Item::LogFileQualifier { var, value } => self.log_file_qualifiers.push((var, value)),
            Item::UserComment(c) => self.user_comment = Some(c),
            Item::Args(a) => self.args = a,
            Item::Status(s) => {
                if s.state == "FINISHED" {
                    self.finished = true;
                }
                self.statuses.push(s)
            }
            Item::ClientMsg(m) => {
                self.client_msgs.push(m.text.clone());
                self.client_messages.push(m);
            }
            Item::Error(e) => {
                self.tally.add(&e);
                if self.errors_collected {
                    self.errors.push(*e);
                }
            }
            Item::ErrorCounts(pairs) => {
                for (u, c) in pairs {
                    match self.errorcounts.iter_mut().find(|(x, _)| *x == u) {
                        Some(slot) => slot.1 = c,
                        None => self.errorcounts.push((u, c)),
                    }
                }
            }
            Item::SuppCounts(s) => self.suppcounts.extend(s),
            Item::Suppression(s) => self.suppressions.push(s),
            Item::AnnounceThread(a) => self.announced_threads.push(a),
            Item::FatalSignal(f) => self.fatal_signal = Some(f),
            Item::ErrorSummary(e) => self.error_summary = Some(e),
            Item::HeapSummary(h) => self.heap_summary = Some(h),
            Item::AllHeapBlocksFreed(b) => self.all_heap_blocks_freed = Some(b),
            Item::LeakSummary(l) => self.valgrind_leak_summary = Some(l),
            Item::Diagnostic(d) => self.diagnostics.push(d),
            Item::End { complete } => self.complete = complete,
        }
    }

    /// Loss records of the end-of-run leak search only.
    pub fn final_leaks(&self) -> impl Iterator<Item = &ErrorRecord> {
        self.errors.iter().filter(|e| e.is_leak() && e.final_search)
    }

    /// All errors that are not loss records.
    pub fn memory_errors(&self) -> impl Iterator<Item = &ErrorRecord> {
        self.errors.iter().filter(|e| !e.is_leak())
    }

    /// Every leak search (those the program requested while running and
    /// the end-of-run one), in file order.
    pub fn leak_searches(&self) -> Vec<LeakSearch<'_>> {
        let mut out: Vec<LeakSearch<'_>> = Vec::new();
        for e in self.errors.iter().filter(|e| e.is_leak()) {
            let idx = e.search.unwrap_or(0);
            match out.last_mut() {
                Some(s) if s.index == idx => s.records.push(e),
                _ => out.push(LeakSearch {
                    index: idx,
                    marker: e.marker.as_deref(),
                    is_final: e.final_search,
                    records: vec![e],
                }),
            }
        }
        out
    }

    /// The leak kinds for which the XML has loss records, from the command
    /// line recorded in `<args>` (`--leak-check`, `--show-leak-kinds`, and
    /// the old `--show-reachable`, `--show-possibly-lost`). A kind with
    /// records in the final search counts as shown whatever the arguments.
    pub fn shown_leak_kinds(&self) -> Vec<LeakKind> {
        use LeakKind::*;
        let memcheck = self.tool.is_empty() || self.tool == "memcheck";
        let mut check = memcheck;
        let mut shown = vec![DefinitelyLost, PossiblyLost];
        for a in &self.args.valgrind_args {
            let Some((k, v)) = a.split_once('=') else {
                continue;
            };
            match k {
                "--leak-check" => check = !matches!(v, "no" | "off"),
                "--show-leak-kinds" => {
                    shown.clear();
                    for p in v.split(',') {
                        match p.trim() {
                            "definite" => shown.push(DefinitelyLost),
                            "indirect" => shown.push(IndirectlyLost),
                            "possible" => shown.push(PossiblyLost),
                            "reachable" => shown.push(StillReachable),
                            "all" => shown.extend(LeakKind::ALL),
                            _ => {}
                        }
                    }
                }
                "--show-reachable" => {
                    if v == "yes" {
                        shown = LeakKind::ALL.to_vec();
                    } else {
                        shown = vec![DefinitelyLost, PossiblyLost];
                    }
                }
                "--show-possibly-lost" => {
                    if v == "no" {
                        shown.retain(|k| *k != PossiblyLost);
                    } else if !shown.contains(&PossiblyLost) {
                        shown.push(PossiblyLost);
                    }
                }
                _ => {}
            }
        }
        if !check {
            shown.clear();
        }
        for k in LeakKind::ALL {
            if self.tally.final_kind_seen(k) {
                shown.push(k);
            }
        }
        shown.sort();
        shown.dedup();
        shown
    }
}
