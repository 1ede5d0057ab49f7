//! Issue 13 on real Valgrind 3.27 output (tests/fixtures/v3.27, protocol 6)
//! and DRD: delta leak summaries, error summaries reconciled with the
//! records (fd errors included), every stack of an error kept with its role.

mod common;

use common::*;
use std::path::PathBuf;
use vgxml_parse::*;

fn report(name: &str) -> Report {
    read_path(&fixture(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn v327() -> Vec<PathBuf> {
    real_xml_fixtures(&fixture("v3.27"))
}

#[test]
fn every_3_27_fixture_is_protocol_6_and_its_totals_are_valgrinds() {
    let files = v327();
    assert!(files.len() >= 7, "{files:?}");
    let mut compared = 0;
    for p in &files {
        let r = read_path(p).unwrap();
        assert!(r.complete, "{}", p.display());
        assert_eq!(r.protocol_version, 6);
        assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
        let s = Summary::from_reports(std::slice::from_ref(&r));
        assert!(
            s.diagnostics.is_empty(),
            "{}: {:?}",
            p.display(),
            s.diagnostics
        );
        compared += assert_matches_text(&s, &p.with_extension("txt"));
        // no kind is left "not shown": 3.27 writes its own totals
        if r.tool_is_memcheck_run() {
            assert!(
                LeakKind::ALL.iter().all(|&k| s.leaks.get(k).is_some()),
                "{}: {:?}",
                p.display(),
                s.leaks
            );
        }
    }
    assert!(compared >= 16, "only {compared} kinds compared");
}

trait Memcheck {
    fn tool_is_memcheck_run(&self) -> bool;
}

impl Memcheck for Report {
    fn tool_is_memcheck_run(&self) -> bool {
        self.tool == "memcheck"
    }
}

#[test]
fn error_summary_is_carried_and_agrees_with_the_records_fd_errors_included() {
    for p in v327() {
        let r = read_path(&p).unwrap();
        let s = Summary::from_reports(std::slice::from_ref(&r));
        let (e, c, sup, supc) = text_error_summary(&p.with_extension("txt")).unwrap();
        let es = s.error_summary.clone().expect("protocol 6 has one");
        assert_eq!(
            (es.errors, es.error_contexts),
            (Some(e), Some(c)),
            "{}: the XML's <error_summary> is the text ERROR SUMMARY",
            p.display()
        );
        // DRD's suppressed errors (inside libc) vary from run to run
        if r.tool == "memcheck" {
            assert_eq!(
                (es.suppressed, es.suppressed_contexts),
                (Some(sup), Some(supc))
            );
        }
        assert_eq!(
            s.error_summary_agrees,
            Some(true),
            "{}: {:?}",
            p.display(),
            s.diagnostics
        );
        let check = s.processes[0].error_summary.as_ref().unwrap();
        assert!(check.exact && check.agrees);
        assert_eq!((check.errors, check.contexts), (e, c), "{}", p.display());
        assert!(s.to_text().contains(&format!(
            "VALGRIND ERROR SUMMARY: {e} errors from {c} contexts"
        )));
    }
}

#[test]
fn fd_not_closed_without_errorcounts_is_one_occurrence() {
    let r = report("v3.27/fds.xml");
    let nc: Vec<&ErrorRecord> = r
        .errors
        .iter()
        .filter(|e| e.kind == Kind::FdNotClosed)
        .collect();
    assert_eq!(nc.len(), 1);
    assert!(
        !r.errorcounts.iter().any(|(u, _)| *u == nc[0].unique),
        "never listed"
    );
    assert_eq!(nc[0].fd, Some(3));
    assert_eq!(nc[0].path.as_deref(), Some("/dev/null"));
    let s = Summary::from_reports(std::slice::from_ref(&r));
    let occ = |k: &str| s.error_occurrences.get(k).copied();
    assert_eq!(occ("FdNotClosed"), Some(1));
    assert_eq!(occ("FdBadClose"), Some(1));
    assert_eq!(occ("FdBadUse"), Some(3));
    assert_eq!(occ("InvalidRead"), Some(2), "its <errorcounts> count");
    // 7 errors from 6 contexts, as Valgrind's ERROR SUMMARY
    assert_eq!(s.error_occurrences.values().sum::<u64>(), 7);
    assert_eq!(s.errors.values().sum::<u64>(), 6);
    assert_eq!(text_error_summary(&fixture("v3.27/fds.txt")).unwrap().0, 7);
    // all blocks freed: every kind is measured as 0, not "not shown"
    assert_eq!(s.processes[0].leak_source, LeakSource::AllHeapBlocksFreed);
    assert_eq!(s.leaks.still_reachable, Some(Amount::default()));
    // the fd errors' auxiliary stacks have their roles
    let bad_close = r
        .errors
        .iter()
        .find(|e| e.kind == Kind::FdBadClose)
        .unwrap();
    let roles: Vec<StackRole> = bad_close.aux.iter().map(|a| a.role.clone()).collect();
    assert!(roles.contains(&StackRole::PreviouslyClosed), "{roles:?}");
    assert!(roles.contains(&StackRole::OriginallyOpened), "{roles:?}");
}

#[test]
fn leak_errors_count_per_errors_for_leak_kinds_in_every_search() {
    // tests.xml: one InvalidRead and the two definite records of the final
    // search; the still-reachable record of an added search is shown but
    // not an error (default --errors-for-leak-kinds=definite,possible)
    let s = Summary::from_reports(&[report("v3.27/tests.xml")]);
    let c = s.processes[0].error_summary.as_ref().unwrap();
    assert_eq!((c.errors, c.contexts, c.agrees), (3, 3, true));
    // searches.xml: the definite record of an intermediate search counts too
    let r = report("v3.27/searches.xml");
    assert_eq!(r.tally.leak_records_of(LeakKind::DefinitelyLost), 4);
    let s = Summary::from_reports(&[r]);
    assert_eq!(s.error_summary.as_ref().unwrap().errors, Some(4));
    assert_eq!(s.error_summary_agrees, Some(true));
}

#[test]
fn added_leak_searches_have_their_summary_with_deltas() {
    let r = report("v3.27/searches.xml");
    let searches = r.leak_searches();
    let shape: Vec<(usize, Option<&str>, bool, usize)> = searches
        .iter()
        .map(|s| (s.index, s.marker, s.is_final, s.records.len()))
        .collect();
    assert_eq!(
        shape,
        vec![
            (0, Some("test: first"), false, 1),
            (1, Some("test: second"), false, 3),
            // an added search that found nothing new: its summary only
            (2, Some("test: clean"), false, 0),
            (3, Some("test: clean"), true, 4),
        ]
    );
    let amount = |bytes, blocks| Some(Amount { bytes, blocks });
    let delta = |bytes, blocks| Some(AmountDelta { bytes, blocks });
    // <bytes>10 (+10)</bytes>: value and delta, never null
    let second = searches[1].leak_summary.unwrap();
    assert_eq!(second.totals.definitely_lost, amount(10, 1));
    assert_eq!(second.deltas.definitely_lost, delta(10, 1));
    assert_eq!(second.totals.still_reachable, amount(25, 2));
    assert_eq!(second.deltas.still_reachable, delta(15, 1));
    let clean = searches[2].leak_summary.unwrap();
    assert_eq!(clean.deltas.definitely_lost, delta(0, 0));
    // a plain search writes no deltas
    assert!(searches[0].leak_summary.unwrap().deltas.is_empty());
    // only the final one gives the totals of the run
    let last = searches[3].leak_summary.unwrap();
    assert!(last.final_search);
    assert_eq!(r.valgrind_leak_summary.as_ref(), Some(last));
    assert!(r.leak_summaries.iter().all(|l| l.offset.is_some()));
    // tests.xml (the memtest harness's markers): per-test deltas
    let r = report("v3.27/tests.xml");
    let b = r
        .leak_searches()
        .into_iter()
        .find(|s| s.marker == Some("sluice-test-begin: tests/test_suite.py::test_b"))
        .unwrap();
    assert_eq!(b.leak_summary.unwrap().deltas.still_reachable, delta(48, 1));
}

#[test]
fn an_unfinished_run_does_not_take_an_added_searchs_summary_as_its_totals() {
    let t = std::fs::read_to_string(fixture("v3.27/searches.xml")).unwrap();
    let cut = &t[..t.find("<state>FINISHED").unwrap()];
    let r = read(cut.as_bytes(), "cut.xml").unwrap();
    assert!(!r.finished && r.valgrind_leak_summary.is_none());
    assert_eq!(r.leak_summaries.len(), 3);
    let s = Summary::from_reports(&[r]);
    assert_eq!(s.leaks.definitely_lost, None);
    assert_eq!(s.processes[0].leak_source, LeakSource::None);
}

#[test]
fn unparseable_deltas_are_noted() {
    let t = std::fs::read_to_string(fixture("v3.27/searches.xml")).unwrap();
    let doc = t.replacen("<bytes>10 (+10)</bytes>", "<bytes>10 (+ten)</bytes>", 1);
    assert_ne!(doc, t);
    let r = read(doc.as_bytes(), "x.xml").unwrap();
    let d = r
        .diagnostics
        .iter()
        .find(|d| {
            d.message
                .contains("<bytes> in <definitely_lost> is not a number")
        })
        .unwrap();
    assert!(doc[d.offset.unwrap() as usize..].starts_with("10 (+ten)"));
    assert_eq!(
        r.leak_searches()[1]
            .leak_summary
            .unwrap()
            .totals
            .definitely_lost,
        None
    );
}

/// (role, what, number of frames) of every auxiliary part of the first
/// error of `kind`.
fn parts(r: &Report, kind: Kind) -> Vec<(StackRole, String, usize)> {
    r.errors
        .iter()
        .find(|e| e.kind == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
        .aux
        .iter()
        .map(|a| (a.role.clone(), a.what.clone(), a.stack.len()))
        .collect()
}

#[test]
fn drd_stacks_in_first_observed_at_and_allocation_context_are_kept_with_their_role() {
    for name in ["tools/drd.xml", "v3.27/drd.xml"] {
        let r = report(name);
        assert_eq!(r.tool, "drd");
        // <first_observed_at><what>mutex</what><address>..</address><stack>
        let mutex = parts(&r, Kind::MutexErr);
        let fo = mutex
            .iter()
            .find(|p| p.0 == StackRole::FirstObserved)
            .unwrap_or_else(|| panic!("{name}: {mutex:?}"));
        assert!(
            fo.1.starts_with("mutex 0x") && fo.1.ends_with("was first observed at:"),
            "{}",
            fo.1
        );
        assert!(fo.2 > 0, "{name}: its stack is kept");
        let e = r.errors.iter().find(|e| e.kind == Kind::MutexErr).unwrap();
        let a = e
            .aux
            .iter()
            .find(|a| a.role == StackRole::FirstObserved)
            .unwrap();
        assert!(a.address.as_deref().unwrap().starts_with("0x"));
        assert!(a.stack.iter().any(|f| f.func.as_deref() == Some("main")));
        // <allocation_context><stack>: malloc called from main
        let race = r
            .errors
            .iter()
            .find(|e| e.kind == Kind::ConflictingAccess)
            .unwrap();
        let ac = race
            .aux
            .iter()
            .find(|a| a.role == StackRole::AllocationContext)
            .unwrap_or_else(|| panic!("{name}: {:?}", race.aux));
        assert_eq!(ac.stack[0].func.as_deref(), Some("malloc"));
        assert_eq!(ac.stack[1].func.as_deref(), Some("main"));
        assert!(race
            .aux
            .iter()
            .any(|a| a.role == StackRole::OtherSegmentStart));
        assert!(race
            .aux
            .iter()
            .any(|a| a.role == StackRole::OtherSegmentEnd));
        // <acquired_at> comes before HoldtimeErr's <what>: the primary text
        // and stack stay the primary ones
        let hold = r
            .errors
            .iter()
            .find(|e| e.kind == Kind::HoldtimeErr)
            .unwrap();
        assert!(hold.what.starts_with("Lock on mutex"), "{}", hold.what);
        assert!(!hold.stack.is_empty());
        let acq = hold
            .aux
            .iter()
            .find(|a| a.role == StackRole::AcquiredAt)
            .unwrap();
        assert_eq!(acq.what, "Acquired at:");
        assert!(!acq.stack.is_empty());
        // without stacks the parts are still there
        let fast = read_path_with(&fixture(name), Options::summary()).unwrap();
        let e = fast
            .errors
            .iter()
            .find(|e| e.kind == Kind::MutexErr)
            .unwrap();
        assert!(e
            .aux
            .iter()
            .any(|a| a.role == StackRole::FirstObserved && a.stack.is_empty()));
        // every stack of every error: as many as <stack> elements in the file
        let text = std::fs::read_to_string(fixture(name)).unwrap();
        let errors_text: String = text
            .split("<error>")
            .skip(1)
            .map(|s| s.split("</error>").next().unwrap())
            .collect();
        let stacks_in_file = errors_text.matches("<stack>").count();
        let kept: usize = r
            .errors
            .iter()
            .map(|e| 1 + e.aux.iter().filter(|a| !a.stack.is_empty()).count())
            .sum();
        assert_eq!(kept, stacks_in_file, "{name}");
    }
}

#[test]
fn memcheck_and_helgrind_auxiliary_stacks_have_roles() {
    let r = report("v3.27/memerr.xml");
    let uninit = r
        .errors
        .iter()
        .find(|e| e.kind == Kind::UninitCondition)
        .unwrap();
    assert_eq!(uninit.aux[0].role, StackRole::Origin);
    assert_eq!(uninit.origin.as_ref().unwrap().stack, uninit.aux[0].stack);
    assert_eq!(
        parts(&r, Kind::InvalidFree)
            .iter()
            .map(|p| p.0.clone())
            .collect::<Vec<_>>(),
        [StackRole::Freed, StackRole::Allocated]
    );
    let r = report("helgrind-race.xml");
    let race = r.errors.iter().find(|e| e.kind == Kind::Race).unwrap();
    assert!(race
        .aux
        .iter()
        .any(|a| a.role == StackRole::ConflictingAccess
            && !a.stack.is_empty()
            && !a.hthreadids.is_empty()));
}

#[test]
fn the_3_27_reports_stream_the_same_in_every_mode_and_buffer_size() {
    for p in v327() {
        let bytes = std::fs::read(&p).unwrap();
        let full = Summary::from_reports(&[read(&bytes[..], "x").unwrap()]);
        for cap in [1usize, 5, 64, 4096] {
            for opts in [Options::summary(), Options::totals()] {
                let r = read_with(
                    std::io::BufReader::with_capacity(cap, &bytes[..]),
                    "x",
                    opts,
                )
                .unwrap();
                let s = Summary::from_reports(&[r]);
                assert_eq!(s.leaks, full.leaks, "{} cap {cap}", p.display());
                assert_eq!(s.errors, full.errors, "{} cap {cap}", p.display());
                assert_eq!(
                    s.error_occurrences,
                    full.error_occurrences,
                    "{} cap {cap}",
                    p.display()
                );
                assert_eq!(s.error_summary_agrees, full.error_summary_agrees);
            }
        }
    }
}
