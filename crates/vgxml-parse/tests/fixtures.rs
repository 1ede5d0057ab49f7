//! Tests over the real Valgrind fixtures (see tests/fixtures/regen.sh) and
//! the hand-written protocol 5/6 ones.

mod common;

use common::*;
use vgxml_parse::*;

fn report(name: &str) -> Report {
    read_path(&fixture(name)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_real_fixture_reads_completely() {
    for p in real_xml_fixtures(&fixtures()) {
        let r = read_path(&p).unwrap_or_else(|e| panic!("{e}"));
        assert!(r.complete, "{}", p.display());
        assert!(r.finished, "{}", p.display());
        assert_eq!(r.protocol_version, 4);
        assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
        assert!(r.pid.is_some() && r.ppid.is_some());
    }
}

#[test]
fn totals_equal_valgrind_text_leak_summary() {
    let mut compared = 0;
    for p in real_xml_fixtures(&fixtures()) {
        let txt = p.with_extension("txt");
        let s = Summary::from_reports(&[read_path(&p).unwrap()]);
        compared += assert_matches_text(&s, &txt);
    }
    assert!(compared >= 30, "only {compared} kinds compared");
}

#[test]
fn summary_mode_gives_the_same_totals() {
    for p in real_xml_fixtures(&fixtures()) {
        let full = Summary::from_reports(&[read_path(&p).unwrap()]);
        let fast = Summary::from_reports(&[read_path_with(&p, Options::summary()).unwrap()]);
        assert_eq!(full.leaks, fast.leaks);
        assert_eq!(full.errors, fast.errors);
        assert_eq!(full.derived, fast.derived);
    }
}

#[test]
fn default_leak_kinds_are_not_measured_never_zero() {
    let r = report("leaks-default.xml");
    assert_eq!(
        r.shown_leak_kinds(),
        vec![LeakKind::DefinitelyLost, LeakKind::PossiblyLost]
    );
    let s = Summary::from_reports(&[r]);
    assert_eq!(s.leaks.indirectly_lost, None);
    assert_eq!(s.leaks.still_reachable, None);
    assert_eq!(s.derived.indirectly_lost_bytes, Some(192));
    let json = serde_json::to_value(&s).unwrap();
    assert!(json["leaks"]["still_reachable"].is_null());
    assert_eq!(json["leaks"]["definitely_lost"]["bytes"], 232);
    assert!(s
        .diagnostics
        .iter()
        .any(|d| d.contains("still reachable not shown")));
    assert!(s.to_text().contains("still reachable: not shown"));
}

#[test]
fn definite_records_do_not_double_count_indirect_bytes() {
    let r = report("leaks-all.xml");
    let owner = r
        .final_leaks()
        .find(|e| e.what.contains(" direct, "))
        .expect("a definite record owning indirect blocks");
    assert_eq!(owner.leak_kind(), Some(LeakKind::DefinitelyLost));
    assert_eq!(owner.leaked_bytes, Some(224));
    assert_eq!(owner.direct_bytes(), Some(32));
    assert_eq!(owner.indirect_bytes(), Some(192));
    let s = Summary::from_reports(&[r]);
    assert_eq!(
        s.leaks.definitely_lost,
        Some(Amount {
            bytes: 232,
            blocks: 3
        })
    );
    assert_eq!(
        s.leaks.indirectly_lost,
        Some(Amount {
            bytes: 192,
            blocks: 6
        })
    );
}

#[test]
fn leak_searches_are_grouped_by_marker_and_final_counts_once() {
    let r = report("searches.xml");
    let searches = r.leak_searches();
    let shape: Vec<(Option<&str>, bool, usize)> = searches
        .iter()
        .map(|s| (s.marker, s.is_final, s.records.len()))
        .collect();
    assert_eq!(
        shape,
        vec![
            (Some("test: first"), false, 1),
            (Some("test: second"), false, 3),
            (Some("test: clean"), true, 4),
        ]
    );
    let second = &searches[1];
    assert!(second
        .records
        .iter()
        .any(|e| e.what.starts_with("10 (+10) bytes")));
    assert_eq!(r.final_leaks().count(), 4);
    let s = Summary::from_reports(&[r]);
    assert_eq!(
        s.leaks.definitely_lost,
        Some(Amount {
            bytes: 60,
            blocks: 3
        })
    );
    assert_eq!(
        s.leaks.still_reachable,
        Some(Amount {
            bytes: 5,
            blocks: 1
        })
    );
}

#[test]
fn forked_processes_combine_and_stay_available() {
    let parent = report("fork-parent.xml");
    let child = report("fork-child.xml");
    assert_eq!(child.ppid, parent.pid);
    let s = Summary::from_reports(&[parent, child]);
    assert!(s.complete);
    assert_eq!(s.processes.len(), 2);
    assert_eq!(
        s.leaks.definitely_lost,
        Some(Amount {
            bytes: 73,
            blocks: 3
        })
    );
    assert_eq!(
        s.processes[0].leaks.definitely_lost,
        Some(Amount {
            bytes: 40,
            blocks: 1
        })
    );
    assert_eq!(
        s.processes[1].leaks.definitely_lost,
        Some(Amount {
            bytes: 33,
            blocks: 2
        })
    );
    let t = |n| text_leak_summary(&fixture(n)).unwrap()[0].1;
    let sum = t("fork-parent.txt").bytes + t("fork-child.txt").bytes;
    assert_eq!(s.leaks.definitely_lost.unwrap().bytes, sum);
}

#[test]
fn memory_errors_with_origins_aux_stacks_and_client_messages() {
    let r = report("memerr.xml");
    let kinds: Vec<&str> = r.memory_errors().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "InvalidRead",
            "InvalidFree",
            "UninitCondition",
            "FishyValue",
            "InvalidWrite"
        ]
    );
    assert_eq!(
        r.client_msgs,
        vec!["checking <memerr> & \"friends\"\nsecond line\n  ".to_string()]
    );
    let uninit = r
        .errors
        .iter()
        .find(|e| e.kind == Kind::UninitCondition)
        .unwrap();
    let origin = uninit.origin.as_ref().expect("origin");
    assert!(origin.what.contains("heap allocation"));
    assert_eq!(origin.stack[0].func.as_deref(), Some("malloc"));
    assert_eq!(origin.stack[1].func.as_deref(), Some("uninit"));
    assert_eq!(
        uninit.marker.as_deref(),
        Some("checking <memerr> & \"friends\"\nsecond line")
    );
    let read = &r.errors[0];
    assert_eq!(read.what, "Invalid read of size 4");
    assert_eq!(read.stack[0].func.as_deref(), Some("invalid_read"));
    assert_eq!(read.stack[0].file.as_deref(), Some("memerr.c"));
    assert_eq!(read.stack[0].line, Some(12));
    assert!(read.stack[0].ip.as_deref().unwrap().starts_with("0x"));
    assert!(read.aux[0].what.contains("after a block of size 16"));
    assert_eq!(read.aux[0].role, StackRole::Allocated);
    assert_eq!(read.aux[0].stack[0].func.as_deref(), Some("malloc"));
    let free = r
        .errors
        .iter()
        .find(|e| e.kind == Kind::InvalidFree)
        .unwrap();
    assert_eq!(free.aux.len(), 2);
    assert_eq!(free.aux[1].what, "Block was alloc'd at");
    assert_eq!(
        free.aux.iter().map(|a| a.role.clone()).collect::<Vec<_>>(),
        [StackRole::Freed, StackRole::Allocated]
    );
    let fishy = r
        .errors
        .iter()
        .find(|e| e.kind == Kind::FishyValue)
        .unwrap();
    assert!(fishy.what.contains("fishy"));
    assert_eq!(
        r.errors
            .iter()
            .find(|e| e.kind == Kind::InvalidWrite)
            .unwrap()
            .tid,
        Some(2)
    );
    assert_eq!(r.errorcounts.len(), 5);
    let s = Summary::from_reports(&[r]);
    assert_eq!(s.errors.get("InvalidRead"), Some(&1));
    assert_eq!(s.error_occurrences.get("InvalidWrite"), Some(&1));
}

#[test]
fn generated_suppressions_keep_their_raw_text() {
    let r = report("supp.xml");
    let s = r.errors[0].suppression.as_ref().expect("suppression");
    assert_eq!(s.kind, "Memcheck:Addr4");
    assert_eq!(s.frames[0], SFrame::Fun("invalid_read".into()));
    assert!(s
        .rawtext
        .starts_with("{\n   <insert_a_suppression_name_here>\n   Memcheck:Addr4\n"));
    assert!(s.rawtext.ends_with("}\n"));
    // 3.19 repeats each suppression outside its error
    assert_eq!(r.suppressions.len(), r.errors.len());
    // ... which must not split leak searches
    let r = report("supp-leaks.xml");
    assert_eq!(r.suppressions.len(), r.errors.len());
    assert!(r.errors.iter().all(|e| e.suppression.is_some()));
    assert_eq!(r.leak_searches().len(), 1);
    assert_eq!(r.leak_searches()[0].records.len(), 11);
}

#[test]
fn cxx_names_are_unescaped_and_mismatches_read() {
    let r = report("cxx.xml");
    assert_eq!(
        r.memory_errors()
            .filter(|e| e.kind == Kind::MismatchedFree)
            .count(),
        2
    );
    let names: Vec<&str> = r
        .errors
        .iter()
        .flat_map(|e| e.stack.iter())
        .filter_map(|f| f.func.as_deref())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("Holder<std::vector<int")),
        "{names:?}"
    );
}

#[test]
fn fatal_signal_is_read() {
    let r = report("segv.xml");
    let f = r.fatal_signal.as_ref().expect("fatal signal");
    assert_eq!(f.signame.as_deref(), Some("SIGSEGV"));
    assert_eq!(f.signo, Some(11));
    assert_eq!(f.stack[0].func.as_deref(), Some("main"));
    assert!(r.complete);
    let s = Summary::from_reports(&[r]);
    assert_eq!(s.processes[0].fatal_signal.as_deref(), Some("SIGSEGV"));
}

#[test]
fn helgrind_errors_are_read_and_counted() {
    let r = report("helgrind-race.xml");
    assert_eq!(r.tool, "helgrind");
    assert!(!r.announced_threads.is_empty());
    let race = r
        .errors
        .iter()
        .find(|e| e.kind == Kind::Race)
        .expect("race");
    assert!(!race.hthreadids.is_empty());
    assert!(race
        .aux
        .iter()
        .any(|a| a.what.contains("conflicts with a previous write")
            && a.role == StackRole::ConflictingAccess
            && !a.hthreadids.is_empty()));
    let s = Summary::from_reports(&[r]);
    assert!(s.errors.get("Race").copied().unwrap_or(0) >= 1);
    assert_eq!(s.leaks, LeakTotals::default(), "helgrind measures no leaks");
}

#[test]
fn protocol_6_leak_summary_is_the_source_of_totals() {
    for name in ["handmade/v6.xml", "handmade/v6-in-blocks.xml"] {
        let r = report(name);
        assert_eq!(r.protocol_version, 6);
        let hs = r.heap_summary.clone().unwrap();
        assert_eq!(hs.allocs, Some(3386));
        assert_eq!(hs.bytes_allocated, Some(64146));
        assert_eq!(r.all_heap_blocks_freed, Some(false));
        let s = Summary::from_reports(&[r]);
        assert_eq!(
            s.leaks.definitely_lost,
            Some(Amount {
                bytes: 1032,
                blocks: 3
            })
        );
        assert_eq!(
            s.leaks.indirectly_lost,
            Some(Amount {
                bytes: 192,
                blocks: 6
            })
        );
        assert_eq!(
            s.leaks.still_reachable,
            Some(Amount {
                bytes: 333,
                blocks: 1
            })
        );
        assert_eq!(
            s.suppressed.leaks,
            Some(Amount {
                bytes: 16,
                blocks: 1
            })
        );
        assert_eq!(s.suppressed.errors, Some(4));
        assert_eq!(s.suppressed.by_name.get("libc-init"), Some(&4));
        assert_eq!(s.processes[0].leak_source, LeakSource::ValgrindLeakSummary);
        assert!(s.diagnostics.is_empty(), "{:?}", s.diagnostics);
    }
}

#[test]
fn protocol_6_disagreement_is_reported() {
    let s = Summary::from_reports(&[report("handmade/v6-mismatch.xml")]);
    assert_eq!(
        s.leaks.definitely_lost,
        Some(Amount {
            bytes: 2000,
            blocks: 3
        })
    );
    assert!(
        s.diagnostics
            .iter()
            .any(|d| d.contains("definitely lost") && d.contains("1032 bytes")),
        "{:?}",
        s.diagnostics
    );
}

#[test]
fn protocol_5_fd_errors_and_unknown_kinds_are_kept() {
    let r = report("handmade/v5-fds.xml");
    assert!(r.complete);
    assert_eq!(r.protocol_version, 5);
    assert_eq!(r.args.program_args, vec!["--name=a&b".to_string()]);
    let bad = &r.errors[0];
    assert_eq!(bad.kind, Kind::FdBadUse);
    assert_eq!(bad.fd, Some(42));
    assert_eq!(bad.thread_name.as_deref(), Some("main<1>"));
    assert_eq!(r.errors[1].kind, Kind::ReallocSizeZero);
    assert_eq!(
        r.errors[1].stack[1].func.as_deref(),
        Some("std::vector<int, std::allocator<int> >::grow()")
    );
    assert_eq!(r.errors[2].kind, Kind::Other("SomeFutureKind".into()));
    assert_eq!(r.errors[2].kind.as_str(), "SomeFutureKind");
    assert_eq!(r.errors[2].what, "something new");
    let nc = &r.errors[3];
    assert_eq!(nc.kind, Kind::FdNotClosed);
    assert_eq!(nc.path.as_deref(), Some("/tmp/out.txt"));
    let s = Summary::from_reports(&[r]);
    assert_eq!(s.errors.get("SomeFutureKind"), Some(&1));
    assert_eq!(s.error_occurrences.get("FdBadUse"), Some(&3));
}

#[test]
fn records_stream_items_in_order() {
    let f = std::fs::File::open(fixture("searches.xml")).unwrap();
    let items: Vec<Item> = records(std::io::BufReader::new(f), "searches.xml")
        .map(|i| i.unwrap())
        .collect();
    assert_eq!(items.first(), Some(&Item::ProtocolVersion(4)));
    assert_eq!(
        items.last(),
        Some(&Item::End {
            complete: true,
            state: ReportState::Complete
        })
    );
    assert_eq!(
        items
            .iter()
            .filter(|i| matches!(i, Item::ClientMsg(_)))
            .count(),
        3
    );
}

#[test]
fn records_round_trip_through_json() {
    for p in real_xml_fixtures(&fixtures()) {
        for e in read_path(&p).unwrap().errors {
            let json = serde_json::to_string(&e).unwrap();
            let back: ErrorRecord = serde_json::from_str(&json).unwrap();
            assert_eq!(back, e, "{}: {json}", p.display());
        }
    }
}
