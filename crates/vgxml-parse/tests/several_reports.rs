//! Issue 13: a file is a sequence of reports. Real files where several
//! runs or processes wrote to one output (tests/fixtures/multi, see
//! regen.sh), and the typed states a caller turns into exit codes.

mod common;

use common::*;
use vgxml_parse::*;

fn bytes_input(b: &[u8], opts: Options) -> Input {
    read_input(b, "input.xml", opts).expect("no I/O error")
}

/// Report states of a file, in order.
fn states(i: &Input) -> Vec<ReportState> {
    i.reports.iter().map(|r| r.state.clone()).collect()
}

fn is_cut(s: &ReportState) -> bool {
    matches!(s, ReportState::Cut { .. })
}

#[test]
fn runs_appended_to_one_file_are_each_read_fully() {
    // leaks (--show-leak-kinds=all) then memerr, both via --xml-fd=3 3>>file
    let i = input("multi/appended.xml");
    assert_eq!(i.state, InputState::Complete);
    assert_eq!(i.reports.len(), 2);
    let (a, b) = (&i.reports[0], &i.reports[1]);
    assert!(a.complete && b.complete);
    assert_ne!(a.pid, b.pid);
    assert_eq!((a.index, b.index), (0, 1));
    assert_eq!(a.offset, 0);
    let text = std::fs::read(fixture("multi/appended.xml")).unwrap();
    assert!(text[b.offset as usize..].starts_with(b"<?xml"));
    // the second run's records are not dropped
    assert_eq!(b.memory_errors().count(), 5);
    // each report's totals are its own run's text LEAK SUMMARY
    for (r, txt) in [(a, "multi/appended-1.txt"), (b, "multi/appended-2.txt")] {
        let s = Summary::from_reports(std::slice::from_ref(r));
        assert_matches_text(&s, &fixture(txt));
    }
    let s = Summary::from_reports(&i.reports);
    assert_eq!(s.processes.len(), 2);
    assert_eq!(s.processes[1].index, 1);
    assert!(s.complete);
    // the one-report entry point refuses rather than dropping the second
    match read_path(&fixture("multi/appended.xml")) {
        Err(ReadError::SeveralReports { count: 2, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_killed_run_is_incomplete_with_its_pid_and_the_next_run_is_read_fully() {
    let i = input("multi/killed-then-complete.xml");
    assert_eq!(i.state, InputState::Cut);
    assert_eq!(i.reports.len(), 2);
    let (killed, next) = (&i.reports[0], &i.reports[1]);
    assert!(
        killed.pid.is_some(),
        "the pid of the unfinished report is known"
    );
    let ReportState::Cut { offset } = killed.state else {
        panic!("{:?}", killed.state)
    };
    assert_eq!(offset, next.offset, "cut where the next report starts");
    assert!(!killed.finished);
    assert!(killed.diagnostics[0].message.contains("interrupted"));
    assert!(next.complete);
    assert_eq!(next.final_leaks().count(), 11);
    let s = Summary::from_reports(&i.reports);
    assert!(!s.complete);
    assert_eq!(s.processes[1].leaks.definitely_lost.unwrap().bytes, 232);
}

#[test]
fn unfinished_child_headers_before_the_parents_complete_report() {
    // header-only reports of two exec'd children (--xml-file=...%p), then
    // the parent's: "a second <?xml a few hundred bytes in"
    let text = std::fs::read(fixture("multi/children-then-parent.xml")).unwrap();
    let second = text[1..].windows(5).position(|w| w == b"<?xml").unwrap() + 1;
    assert!(second < 1000, "{second}");
    let i = input("multi/children-then-parent.xml");
    assert_eq!(i.state, InputState::Cut);
    assert_eq!(i.reports.len(), 3);
    let parent = &i.reports[2];
    assert!(parent.complete && parent.finished);
    assert_eq!(parent.final_leaks().count(), 1);
    for child in &i.reports[..2] {
        assert!(is_cut(&child.state), "{:?}", child.state);
        assert_eq!(child.ppid, parent.pid, "the children's pids are reported");
        assert!(child.pid.is_some());
    }
    let s = Summary::from_reports(&i.reports);
    assert_eq!(s.processes[2].leaks.definitely_lost.unwrap().bytes, 40);
    assert!(s.processes[0].state.offset().is_some());
}

#[test]
fn traced_children_writing_inside_the_parents_report_are_nested_reports() {
    // --xml-fd=3 --trace-children=yes: each exec'd child writes a whole
    // report inside its parent's; the parent's goes on after them
    let i = input("multi/traced-children.xml");
    assert_eq!(i.state, InputState::Complete);
    assert_eq!(i.reports.len(), 3);
    let parent = &i.reports[0];
    assert!(parent.finished && parent.complete);
    assert_eq!(
        parent.final_leaks().count(),
        1,
        "the parent's leak stays its own"
    );
    assert_eq!(parent.final_leaks().next().unwrap().leaked_bytes, Some(40));
    for c in &i.reports[1..] {
        assert!(c.complete && c.finished);
        assert_eq!(c.ppid, parent.pid);
        assert_eq!(c.errors.len(), 0);
    }
    // the stream says which report each item belongs to
    let f = std::fs::File::open(fixture("multi/traced-children.xml")).unwrap();
    let switches: Vec<(usize, bool)> = records(std::io::BufReader::new(f), "x")
        .filter_map(|i| match i.unwrap() {
            Item::Document { index, resumed, .. } => Some((index, resumed)),
            _ => None,
        })
        .collect();
    assert_eq!(switches, vec![(1, false), (2, false), (0, true)]);
}

#[test]
fn killed_traced_children_are_cut_and_the_possible_mix_up_is_said() {
    // children killed after their header: the parent's remaining output
    // follows the last child's header. Nothing in the XML tells whose it
    // is: the reading is flagged, not silent.
    let i = input("multi/traced-children-killed.xml");
    assert_eq!(i.state, InputState::Cut);
    assert_eq!(i.reports.len(), 3);
    assert!(is_cut(&i.reports[0].state));
    assert!(is_cut(&i.reports[1].state));
    assert!(i.reports[1].diagnostics[0].message.contains("sibling"));
    let parent = &i.reports[0];
    assert!(
        parent
            .diagnostics
            .iter()
            .any(|d| d.message.contains("may be pid")),
        "{:?}",
        parent.diagnostics
    );
}

#[test]
fn bytes_after_the_end_of_a_report_are_stray_and_not_complete() {
    // a fork without %p: the child's </valgrindoutput> comes first, the
    // parent's tail after it
    let i = input("multi/fork-same-file.xml");
    assert_eq!(i.state, InputState::Partial);
    assert_eq!(i.reports.len(), 1);
    let r = &i.reports[0];
    assert!(r.state.is_complete(), "the document itself is whole");
    assert!(!r.complete, "but the file lost what the stray bytes held");
    let text = std::fs::read(fixture("multi/fork-same-file.xml")).unwrap();
    let end = text
        .windows(17)
        .position(|w| w == b"</valgrindoutput>")
        .unwrap()
        + 17;
    assert_eq!(r.stray.len(), 1);
    let st = r.stray[0];
    assert!(
        st.offset >= end as u64 && st.offset < end as u64 + 4,
        "{st:?}"
    );
    assert_eq!(st.offset + st.len, text.len() as u64);
    assert!(text[st.offset as usize..].starts_with(b"<status>"));
    let d = r
        .diagnostics
        .iter()
        .find(|d| d.offset == Some(st.offset))
        .unwrap();
    assert!(d.message.contains("belong to no report"), "{d}");
    let s = Summary::from_reports(&i.reports);
    assert!(!s.complete);
    assert!(s.to_text().contains("INCOMPLETE"));

    // 30 KB of stack fragments after a complete report
    let mut doc = std::fs::read(fixture("leaks-all.xml")).unwrap();
    let len = doc.len() as u64;
    while doc.len() < len as usize + 30_000 {
        doc.extend_from_slice(
            b"    <frame>\n      <ip>0x109180</ip>\n      <fn>leak</fn>\n    </frame>\n  </stack>\n",
        );
    }
    for opts in [Options::full(), Options::totals()] {
        let i = bytes_input(&doc, opts);
        assert_eq!(i.state, InputState::Partial);
        let r = &i.reports[0];
        assert_eq!(r.stray.len(), 1);
        assert_eq!(r.stray[0].offset, len + 4, "after the blank line");
        assert_eq!(r.stray[0].offset + r.stray[0].len, doc.len() as u64);
        assert!(!r.complete);
        assert_eq!(
            r.final_leaks().count(),
            if opts.collect_errors { 11 } else { 0 }
        );
    }
    // another document after it is not garbage
    let mut two = std::fs::read(fixture("leaks-all.xml")).unwrap();
    two.extend_from_slice(&std::fs::read(fixture("memerr.xml")).unwrap());
    let i = bytes_input(&two, Options::full());
    assert_eq!(i.state, InputState::Complete);
    assert_eq!(i.reports.len(), 2);
    assert!(i.reports.iter().all(|r| r.complete && r.stray.is_empty()));
}

#[test]
fn nul_bytes_of_an_overwritten_file_are_malformed_not_silently_read() {
    // traced children with --xml-file and no %p truncate the file; the
    // parent writes on at its offset, leaving NUL bytes between
    let i = input("multi/overwritten.xml");
    assert_eq!(i.state, InputState::Partial);
    let r = &i.reports[0];
    let ReportState::Malformed { offset, reason } = &r.state else {
        panic!("{:?}", r.state)
    };
    assert!(reason.contains("NUL"));
    let text = std::fs::read(fixture("multi/overwritten.xml")).unwrap();
    assert_eq!(text[*offset as usize], 0);
    assert_eq!(text[*offset as usize - 1], b'\n');
}

#[test]
fn every_multi_fixture_reads_the_same_with_tiny_buffers_and_in_totals_mode() {
    for name in [
        "multi/appended.xml",
        "multi/killed-then-complete.xml",
        "multi/children-then-parent.xml",
        "multi/traced-children.xml",
        "multi/traced-children-killed.xml",
        "multi/fork-same-file.xml",
        "multi/overwritten.xml",
    ] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let whole = bytes_input(&bytes, Options::full());
        let summary = Summary::from_reports(&whole.reports);
        for cap in [1usize, 2, 3, 7, 13, 64, 4096] {
            for opts in [Options::full(), Options::summary(), Options::totals()] {
                let i = read_input(
                    std::io::BufReader::with_capacity(cap, &bytes[..]),
                    name,
                    opts,
                )
                .unwrap();
                assert_eq!(i.state, whole.state, "{name} cap {cap}");
                assert_eq!(states(&i), states(&whole), "{name} cap {cap}");
                let offsets: Vec<(u64, Vec<Stray>)> = i
                    .reports
                    .iter()
                    .map(|r| (r.offset, r.stray.clone()))
                    .collect();
                let expected: Vec<(u64, Vec<Stray>)> = whole
                    .reports
                    .iter()
                    .map(|r| (r.offset, r.stray.clone()))
                    .collect();
                assert_eq!(offsets, expected, "{name} cap {cap}");
                let s = Summary::from_reports(&i.reports);
                assert_eq!(s.leaks, summary.leaks, "{name} cap {cap}");
                assert_eq!(s.errors, summary.errors, "{name} cap {cap}");
                if opts.collect_errors && opts.stacks {
                    for (a, b) in i.reports.iter().zip(&whole.reports) {
                        assert_eq!(a.errors, b.errors, "{name} cap {cap}");
                    }
                }
            }
        }
    }
}

#[test]
fn typed_states_tell_bad_input_cut_malformed_and_complete_apart() {
    // bad input: not Valgrind XML, or malformed before any report
    for b in [
        &b"<html><body>hi</body></html>"[..],
        b"{\"json\": true}",
        b"\x00\x01\x02garbage",
        b"<?xml version=\"1.0\"?>\n<valgrindoutput><tool>memcheck</tool></valgrindoutput>",
    ] {
        let i = bytes_input(b, Options::full());
        assert!(i.state.is_bad_input(), "{:?}", i.state);
        assert!(matches!(i.state, InputState::NotValgrindXml { .. }));
        assert!(i.reports.is_empty());
    }
    let i = bytes_input(
        b"<?xml version=\"1.0\"?>\n<valgrindoutput>\n<protocolversion>7</protocolversion>\n",
        Options::full(),
    );
    assert!(matches!(i.state, InputState::UnknownProtocol { ref version, .. } if version == "7"));
    assert!(i.state.is_bad_input());

    let whole = std::fs::read(fixture("memerr.xml")).unwrap();
    // complete
    let i = bytes_input(&whole, Options::full());
    assert_eq!(i.state, InputState::Complete);
    assert_eq!(states(&i), vec![ReportState::Complete]);
    // a cut document (Valgrind killed, disk full): every record before kept
    let at = whole.len() * 2 / 3;
    let i = bytes_input(&whole[..at], Options::full());
    assert_eq!(i.state, InputState::Cut);
    assert_eq!(states(&i), vec![ReportState::Cut { offset: at as u64 }]);
    // malformed after a valid start: partial
    let text = String::from_utf8(whole.clone()).unwrap();
    let p = text.find("<errorcounts>").unwrap();
    let broken = format!("{}</bogus>{}", &text[..p], &text[p..]);
    let i = bytes_input(broken.as_bytes(), Options::full());
    assert_eq!(i.state, InputState::Partial);
    let r = &i.reports[0];
    assert!(matches!(&r.state, ReportState::Malformed { offset, reason }
        if *offset as usize >= p && reason.contains("does not match")));
    assert_eq!(r.errors.len(), 5, "records before the damage are kept");
    // empty, or ends before <valgrindoutput>: a run stopped before it wrote
    // anything, not foreign input
    for b in [&b""[..], b"<?xml version=\"1.0\"?>\n"] {
        let i = bytes_input(b, Options::full());
        assert_eq!(i.state, InputState::Cut, "{b:?}");
        assert_eq!(i.reports.len(), 1);
    }
    // the stream ends a cut report with its state
    let items: Vec<Item> = records(&whole[..at], "x").map(|i| i.unwrap()).collect();
    assert_eq!(
        items.last(),
        Some(&Item::End {
            complete: false,
            state: ReportState::Cut { offset: at as u64 }
        })
    );
}

#[test]
fn a_malformed_report_does_not_hide_the_next_one() {
    let a = std::fs::read_to_string(fixture("leaks-all.xml")).unwrap();
    let b = std::fs::read_to_string(fixture("memerr.xml")).unwrap();
    let p = a.rfind("<error>").unwrap();
    let doc = format!("{}</eror>{}{b}", &a[..p], &a[p..]);
    let i = bytes_input(doc.as_bytes(), Options::full());
    assert_eq!(i.state, InputState::Partial);
    assert_eq!(i.reports.len(), 2);
    assert!(matches!(i.reports[0].state, ReportState::Malformed { .. }));
    assert!(i.reports[1].complete);
    assert_eq!(i.reports[1].memory_errors().count(), 5);
}

#[test]
fn a_document_interrupting_an_element_is_told() {
    // another process's report starts in the middle of an <error>
    let a = std::fs::read_to_string(fixture("leaks-all.xml")).unwrap();
    let b = std::fs::read_to_string(fixture("fork-child.xml")).unwrap();
    let p = a.rfind("<stack>").unwrap();
    let doc = format!("{}{b}{}", &a[..p], &a[p..]);
    let i = bytes_input(doc.as_bytes(), Options::full());
    assert!(i.reports.len() >= 2, "{:?}", states(&i));
    assert!(i.reports[0]
        .diagnostics
        .iter()
        .any(|d| d.message.contains("inside an element")));
    // an unrelated process: the interrupted report does not continue, the
    // rest of its element is stray
    assert!(matches!(i.reports[0].state, ReportState::Cut { .. }));
    assert!(i.reports[1].state.is_complete(), "{:?}", i.reports[1].state);
    assert_eq!(i.reports[1].pid, read(b.as_bytes(), "b").unwrap().pid);
    assert_eq!(i.reports[1].stray.len(), 1);
    assert_eq!(i.state, InputState::Partial);
}

#[test]
fn multi_report_files_cut_anywhere_keep_every_closed_record() {
    fn count(b: &[u8], pat: &[u8]) -> usize {
        b.windows(pat.len()).filter(|w| *w == pat).count()
    }
    for name in [
        "multi/appended.xml",
        "multi/killed-then-complete.xml",
        "multi/children-then-parent.xml",
        "multi/traced-children.xml",
    ] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let whole = input(name);
        let mut n = 0;
        while n <= bytes.len() {
            let cut = &bytes[..n];
            for opts in [Options::full(), Options::totals()] {
                let i = bytes_input(cut, opts);
                assert!(!i.state.is_bad_input(), "{name} cut at {n}: {:?}", i.state);
                let opens = count(cut, b"<valgrindoutput>");
                let closes = count(cut, b"</valgrindoutput>");
                let last = cut
                    .windows(17)
                    .rposition(|w| w == b"</valgrindoutput>")
                    .map_or(0, |p| p + 17);
                let settled = opens > 0
                    && opens == closes
                    && cut[last..].iter().all(|b| b.is_ascii_whitespace());
                assert_eq!(
                    i.state == InputState::Complete,
                    settled,
                    "{name} cut at {n}: {:?}",
                    i.state
                );
                if opts.collect_errors {
                    let got: usize = i.reports.iter().map(|r| r.errors.len()).sum();
                    assert_eq!(got, count(cut, b"</error>"), "{name} cut at {n}");
                    // a report complete in the cut is the whole file's
                    for r in i.reports.iter().filter(|r| r.complete) {
                        assert_eq!(r.errors, whole.reports[r.index].errors, "{name} cut at {n}");
                    }
                }
            }
            n += 13;
        }
    }
}

#[test]
fn bytes_before_the_first_report_are_stray() {
    // e.g. a text log and the XML in one file (--log-fd and --xml-fd alike)
    let xml = std::fs::read_to_string(fixture("leaks-all.xml")).unwrap();
    let doc = format!("==123== Memcheck, a memory error detector\n==123== \n{xml}");
    let i = bytes_input(doc.as_bytes(), Options::full());
    assert_eq!(i.state, InputState::Partial);
    assert_eq!(i.reports.len(), 1);
    let r = &i.reports[0];
    assert_eq!(
        r.stray,
        vec![Stray {
            offset: 0,
            len: (doc.len() - xml.len()) as u64
        }]
    );
    assert!(r.diagnostics[0].message.contains("before the first report"));
    assert_eq!(r.final_leaks().count(), 11);
    assert!(r.state.is_complete() && !r.complete);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 128, ..Default::default() })]

    /// Junk between two reports never hides the second.
    #[test]
    fn junk_between_reports_never_hides_the_next(
        junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)
    ) {
        let a = std::fs::read(fixture("fork-parent.xml")).unwrap();
        let b = std::fs::read(fixture("fork-child.xml")).unwrap();
        let mut doc = a.clone();
        doc.extend_from_slice(&junk);
        doc.extend_from_slice(&b);
        let i = bytes_input(&doc, Options::full());
        let whole_b = read(&b[..], "b").unwrap();
        let last = i.reports.last().unwrap();
        proptest::prop_assert!(last.state.is_complete(), "{:?}", last.state);
        // the same records, at offsets shifted by where the report starts
        let shifted: Vec<ErrorRecord> = last
            .errors
            .iter()
            .map(|e| ErrorRecord { offset: e.offset - last.offset, ..e.clone() })
            .collect();
        proptest::prop_assert_eq!(&shifted, &whole_b.errors);
        proptest::prop_assert_eq!(&i.reports[0].errors, &read(&a[..], "a").unwrap().errors);
        let blank = junk.iter().all(|c| c.is_ascii_whitespace());
        proptest::prop_assert_eq!(i.state == InputState::Complete, blank && i.reports.len() == 2);
    }
}
