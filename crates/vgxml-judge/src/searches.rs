//! The leak searches a program asked for while it ran, replayed: what each
//! allocation stack held before the first test, and at each checkpoint.
//!
//! A delta leak search (`VALGRIND_DO_CHANGED_LEAK_CHECK`, or the added-leak
//! variant) lists only the loss records that changed since the previous
//! search, each with its current totals; a record (a kind and an allocation
//! stack) not listed kept its value. Replaying the searches in order gives
//! every record's value at every search; a checkpoint followed by no record
//! changed nothing. Amounts are then summed per allocation *site* (our
//! frames, without line numbers: see `markers::site_key`), so a block that
//! changes kind, or that the warm-up and the measured rounds reach from
//! different lines of the harness, stays one site.

use crate::markers::{site_key, Marker, Markers};
use crate::ours::OurCode;
use crate::render::render_frame;
use std::collections::{BTreeMap, HashMap, HashSet};
use vgxml_parse::{Amount, ErrorRecord, Kind, Report};

/// A loss record's identity across searches of one process: its whole
/// stack (functions, files, lines; no addresses).
pub(crate) fn stack_key(r: &ErrorRecord) -> String {
    r.stack
        .iter()
        .map(render_frame)
        .collect::<Vec<_>>()
        .join(" <- ")
}

/// A checkpoint of a test: its round, and how many iterations the round
/// ran when the harness said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    pub round: u32,
    pub iterations: Option<u64>,
}

/// A test's checkpoints in order: (checkpoint, amount per site of ours).
pub(crate) type Checkpoints = Vec<(Mark, HashMap<String, Amount>)>;

/// One process's searches, replayed.
pub(crate) struct Timeline<'r> {
    /// A baseline marker came before the first test (its quiet search is
    /// the reference of the first changed-leak search).
    pub baseline: bool,
    /// The sites some search listed after the baseline: the others did not
    /// change from the baseline to the end.
    pub changed_after_baseline: HashSet<String>,
    /// Per test, its checkpoints in order: (checkpoint, amount per site of ours).
    pub checkpoints: BTreeMap<String, Checkpoints>,
    /// The latest record seen for each site.
    pub latest: HashMap<String, &'r ErrorRecord>,
}

impl Timeline<'_> {
    /// Per test: the sum over the sites of ours at each checkpoint.
    pub fn totals(&self) -> BTreeMap<String, Vec<(Mark, Amount)>> {
        self.checkpoints
            .iter()
            .map(|(test, points)| {
                let sums = points
                    .iter()
                    .map(|(mark, sites)| {
                        let mut a = Amount::default();
                        for s in sites.values() {
                            a.bytes += s.bytes;
                            a.blocks += s.blocks;
                        }
                        (*mark, a)
                    })
                    .collect();
                (test.clone(), sums)
            })
            .collect()
    }

    /// (test, site) -> the site's amount at each checkpoint of the test
    /// (zero where it held nothing).
    pub fn series(&self) -> BTreeMap<(String, String), Vec<(Mark, Amount)>> {
        let mut out = BTreeMap::new();
        for (test, points) in &self.checkpoints {
            let sites: std::collections::BTreeSet<&String> =
                points.iter().flat_map(|(_, m)| m.keys()).collect();
            for site in sites {
                let series = points
                    .iter()
                    .map(|(mark, m)| (*mark, m.get(site).copied().unwrap_or_default()))
                    .collect();
                out.insert((test.clone(), site.clone()), series);
            }
        }
        out
    }
}

/// What the replay knows of one allocation stack.
struct Stack {
    site: String,
    ours: bool,
}

/// The replay's running state: every (kind, stack) record's current amount.
struct Replay<'r> {
    state: HashMap<(Kind, String), Amount>,
    stacks: HashMap<String, Stack>,
    latest: HashMap<String, &'r ErrorRecord>,
    /// The sites listed since the replay began to note them.
    listed: Option<HashSet<String>>,
}

impl<'r> Replay<'r> {
    fn apply(&mut self, records: &[&'r ErrorRecord], ours: &OurCode) {
        for e in records {
            let stack = stack_key(e);
            let site = self
                .stacks
                .entry(stack.clone())
                .or_insert_with(|| Stack {
                    site: site_key(e, ours),
                    ours: ours.matches_record(e),
                })
                .site
                .clone();
            self.state.insert(
                (e.kind.clone(), stack),
                Amount {
                    bytes: e.direct_bytes().unwrap_or(0),
                    blocks: e.leaked_blocks.unwrap_or(0),
                },
            );
            if let Some(l) = self.listed.as_mut() {
                l.insert(site.clone());
            }
            self.latest.insert(site, e);
        }
    }

    /// The amounts per site of ours (over kinds and stacks).
    fn by_site(&self) -> HashMap<String, Amount> {
        let mut m: HashMap<String, Amount> = HashMap::new();
        for ((_, stack), a) in &self.state {
            let s = &self.stacks[stack];
            if !s.ours {
                continue;
            }
            let e = m.entry(s.site.clone()).or_default();
            e.bytes += a.bytes;
            e.blocks += a.blocks;
        }
        m
    }
}

pub(crate) fn replay<'r>(r: &'r Report, ours: &OurCode, markers: &Markers) -> Timeline<'r> {
    // The intermediate searches in order: (marker, records).
    let mut searches: Vec<(Option<&str>, Vec<&ErrorRecord>)> = Vec::new();
    for e in r.errors.iter().filter(|e| e.is_leak() && !e.final_search) {
        match searches.last_mut() {
            Some((_, recs)) if recs[0].search == e.search => recs.push(e),
            _ => searches.push((e.marker.as_deref(), vec![e])),
        }
    }
    let mut replay = Replay {
        state: HashMap::new(),
        stacks: HashMap::new(),
        latest: HashMap::new(),
        listed: None,
    };
    let mut searches = searches.into_iter().peekable();
    // Each search follows the client message its marker names (or none).
    let mut apply_after = |text: Option<&str>, replay: &mut Replay<'r>| {
        while let Some((_, recs)) = searches.next_if(|(m, _)| *m == text) {
            replay.apply(&recs, ours);
        }
    };
    apply_after(None, &mut replay);
    let mut tests_began = false;
    let mut baseline = false;
    let mut checkpoints: BTreeMap<String, Checkpoints> = BTreeMap::new();
    for msg in &r.client_messages {
        let text = msg.text.trim();
        let marker = markers.read(text);
        match marker {
            Some(Marker::Baseline) if !tests_began => {
                baseline = true;
                replay.listed = Some(HashSet::new());
            }
            Some(Marker::TestBegins(_) | Marker::Checkpoint { .. }) => tests_began = true,
            _ => {}
        }
        apply_after(Some(text), &mut replay);
        if let Some(Marker::Checkpoint {
            round,
            iterations,
            test,
        }) = marker
        {
            checkpoints
                .entry(test.to_string())
                .or_default()
                .push((Mark { round, iterations }, replay.by_site()));
        }
    }
    Timeline {
        baseline,
        changed_after_baseline: replay.listed.unwrap_or_default(),
        checkpoints,
        latest: replay.latest,
    }
}
