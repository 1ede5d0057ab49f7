//! One report (one process) collected from the item stream.

use crate::item::Item;
use crate::model::*;
use crate::state::{ReportState, Stray};
use serde::Serialize;
use std::collections::HashMap;

/// How many diagnostics a report keeps (the others are counted): memory
/// stays flat whatever the input.
pub const MAX_DIAGNOSTICS: usize = 1000;

/// One Valgrind XML report (one process, one `<valgrindoutput>` document).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub source: String,
    /// Its position among the reports of the file (0-based, in the order
    /// they start).
    pub index: usize,
    /// Byte offset where its document starts in the file.
    pub offset: u64,
    /// How its document ended.
    pub state: ReportState,
    /// Bytes of the file next to it that belong to no report (after it, or
    /// before it for the first report): what they held is lost.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stray: Vec<Stray>,
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
    /// True only when the whole document (up to `</valgrindoutput>`) was
    /// read ([`ReportState::Complete`]) and no stray bytes follow it.
    pub complete: bool,
    /// True once `<status><state>FINISHED` was read: the end-of-run leak
    /// search follows it.
    pub finished: bool,
    pub errors: Vec<ErrorRecord>,
    /// The `<clientmsg>` texts, as written.
    pub client_msgs: Vec<String>,
    pub client_messages: Vec<ClientMsg>,
    pub suppcounts: Vec<SuppCount>,
    /// `(unique, count)`, later `<errorcounts>` pairs overriding earlier ones.
    pub errorcounts: Vec<(String, u64)>,
    #[serde(skip)]
    errorcounts_index: HashMap<String, usize>,
    /// Suppressions written outside `<error>`s.
    pub suppressions: Vec<Suppression>,
    pub announced_threads: Vec<AnnounceThread>,
    pub fatal_signal: Option<FatalSignal>,
    pub error_summary: Option<ErrorSummary>,
    pub heap_summary: Option<HeapSummary>,
    pub all_heap_blocks_freed: Option<bool>,
    /// Valgrind's own `<leak_summary>` of the end-of-run search (protocol 6).
    pub valgrind_leak_summary: Option<ValgrindLeakSummary>,
    /// Every `<leak_summary>` (Valgrind 3.27 writes one per leak search), in
    /// order; kept with [`Options::collect_errors`](crate::Options).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub leak_summaries: Vec<ValgrindLeakSummary>,
    /// At most [`MAX_DIAGNOSTICS`].
    pub diagnostics: Vec<Diagnostic>,
    /// Diagnostics beyond [`MAX_DIAGNOSTICS`], counted.
    #[serde(skip_serializing_if = "is_zero")]
    pub diagnostics_dropped: u64,
    /// Running totals over every record, kept even when the records are
    /// not ([`Options::collect_errors`]).
    pub tally: Tally,
    /// False when records were tallied but not kept in `errors`.
    pub errors_collected: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
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
    /// Loss records per kind in every search (indexed like
    /// [`LeakKind::ALL`]): those of the kinds `--errors-for-leak-kinds`
    /// names count in Valgrind's error summary.
    pub leak_records: [u64; 4],
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
                self.leak_records[leak_index(k)] += 1;
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
                match self.memory_errors.get_mut(e.kind.as_str()) {
                    Some(n) => *n += 1,
                    None => {
                        self.memory_errors.insert(e.kind.as_str().to_string(), 1);
                    }
                }
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

    /// Loss records of kind `k` in every search.
    pub fn leak_records_of(&self, k: LeakKind) -> u64 {
        self.leak_records[leak_index(k)]
    }

    /// The end-of-run search showed at least one loss record.
    pub fn final_records_seen(&self) -> bool {
        self.final_kinds_seen.iter().any(|s| *s)
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
    /// Valgrind's `<leak_summary>` of the search (protocol 6), with the
    /// deltas of an added leak search.
    pub leak_summary: Option<&'a ValgrindLeakSummary>,
}

/// `definite,possible`, `all`, `none` as Valgrind's options take them.
fn parse_leak_kinds(v: &str) -> Vec<LeakKind> {
    use LeakKind::*;
    let mut kinds = Vec::new();
    for p in v.split(',') {
        match p.trim() {
            "definite" => kinds.push(DefinitelyLost),
            "indirect" => kinds.push(IndirectlyLost),
            "possible" => kinds.push(PossiblyLost),
            "reachable" => kinds.push(StillReachable),
            "all" => kinds.extend(LeakKind::ALL),
            _ => {}
        }
    }
    kinds.sort();
    kinds.dedup();
    kinds
}

impl Report {
    /// An empty report that keeps records (`collect_errors`) or only
    /// tallies them; fill it with [`Report::push`].
    pub fn new(source: &str, collect_errors: bool) -> Report {
        Report {
            source: source.to_string(),
            errors_collected: collect_errors,
            state: ReportState::Cut { offset: 0 },
            ..Report::default()
        }
    }

    /// Adds a diagnostic (counted beyond [`MAX_DIAGNOSTICS`]).
    pub fn add_diagnostic(&mut self, d: Diagnostic) {
        if self.diagnostics.len() < MAX_DIAGNOSTICS {
            self.diagnostics.push(d);
        } else {
            self.diagnostics_dropped += 1;
        }
    }

    /// Folds one item into the report. [`Item::Document`] is for a file's
    /// reader ([`read_input`](crate::read_input)): ignored here.
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
                    match self.errorcounts_index.get(&u) {
                        Some(&i) => self.errorcounts[i].1 = c,
                        None => {
                            self.errorcounts_index
                                .insert(u.clone(), self.errorcounts.len());
                            self.errorcounts.push((u, c));
                        }
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
            Item::LeakSummary(l) => {
                if let Some(i) = l.search {
                    // a search may show no record, only its summary
                    self.tally.leak_searches = self.tally.leak_searches.max(i + 1);
                }
                if l.final_search {
                    self.valgrind_leak_summary = Some(l.clone());
                }
                if self.errors_collected {
                    self.leak_summaries.push(l);
                }
            }
            Item::Diagnostic(d) => self.add_diagnostic(d),
            Item::Document { .. } => {}
            Item::Stray(s) => {
                self.stray.push(s);
                self.complete = false;
            }
            Item::End { state, .. } => {
                self.complete = state.is_complete() && self.stray.is_empty();
                self.state = state;
                if self.diagnostics_dropped > 0 {
                    let n = self.diagnostics_dropped;
                    self.diagnostics.push(Diagnostic {
                        source: self.source.clone(),
                        offset: None,
                        message: format!("{n} more diagnostics not kept"),
                    });
                }
            }
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
    /// the end-of-run one), in file order, each with Valgrind's
    /// `<leak_summary>` of it when there is one (protocol 6; a search that
    /// showed no record then appears with none).
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
                    leak_summary: None,
                }),
            }
        }
        for l in &self.leak_summaries {
            let idx = l.search.unwrap_or(0);
            match out.iter_mut().find(|s| s.index == idx) {
                Some(s) => s.leak_summary = Some(l),
                None => out.push(LeakSearch {
                    index: idx,
                    marker: l.marker.as_deref(),
                    is_final: l.final_search,
                    records: Vec::new(),
                    leak_summary: Some(l),
                }),
            }
        }
        out.sort_by_key(|s| s.index);
        out
    }

    /// The leak kinds whose loss records count as errors in Valgrind's
    /// error summary: `--errors-for-leak-kinds` from `<args>` (default
    /// `definite,possible`; none for tools other than memcheck).
    pub fn error_leak_kinds(&self) -> Vec<LeakKind> {
        use LeakKind::*;
        if !(self.tool.is_empty() || self.tool == "memcheck") {
            return Vec::new(); // only memcheck searches for leaks
        }
        let mut kinds = vec![DefinitelyLost, PossiblyLost];
        for a in &self.args.valgrind_args {
            if let Some(v) = a.strip_prefix("--errors-for-leak-kinds=") {
                kinds = parse_leak_kinds(v);
            }
        }
        kinds
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
                "--show-leak-kinds" => shown = parse_leak_kinds(v),
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
