//! Truncated, malformed and arbitrary input: never a panic, never silently
//! clean.

mod common;

use common::*;
use proptest::prelude::*;
use vgxml_parse::*;

fn read_bytes(b: &[u8]) -> Result<Report, ReadError> {
    read(b, "input.xml")
}

fn read_summary_mode(b: &[u8]) -> Result<Report, ReadError> {
    read_with(b, "input.xml", Options::summary())
}

/// Cuts `name` at every offset in `offsets` and checks the result.
fn check_cuts(name: &str, step: usize) {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let whole = read_bytes(&bytes).unwrap();
    assert!(whole.complete);
    let end_tag = b"</valgrindoutput>";
    let mut n = 0;
    while n <= bytes.len() {
        let cut = &bytes[..n];
        for (mode, r) in [
            ("full", read_bytes(cut)),
            ("summary", read_summary_mode(cut)),
        ] {
            let r = r.unwrap_or_else(|e| panic!("{name} cut at {n} ({mode}): {e}"));
            let has_end = cut.windows(end_tag.len()).any(|w| w == end_tag);
            assert_eq!(r.complete, has_end, "{name} cut at {n} ({mode})");
            if !r.complete {
                assert!(
                    !r.diagnostics.is_empty(),
                    "{name} cut at {n}: no diagnostic"
                );
            }
            // every record closed before the cut is kept, and equal
            let closed = cut.windows(8).filter(|w| w == b"</error>").count();
            assert_eq!(r.errors.len(), closed, "{name} cut at {n} ({mode})");
            if mode == "full" {
                assert_eq!(r.errors[..], whole.errors[..closed], "{name} cut at {n}");
            }
            let s = Summary::from_reports(&[r]);
            assert_eq!(s.complete, has_end);
        }
        n += step;
    }
}

#[test]
fn truncated_at_every_offset_small_files() {
    check_cuts("fork-parent.xml", 1);
    check_cuts("segv.xml", 1);
    check_cuts("searches.xml", 1);
}

#[test]
fn truncated_at_many_offsets_every_real_fixture() {
    for p in real_xml_fixtures(&fixtures()) {
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        check_cuts(&name, 7);
    }
    for name in ["handmade/v5-fds.xml", "handmade/v6.xml"] {
        check_cuts(name, 3);
    }
}

#[test]
fn empty_and_preamble_only_files_are_incomplete_not_clean() {
    let r = read_bytes(b"").unwrap();
    assert!(!r.complete);
    assert_eq!(
        r.diagnostics[0].message,
        "truncated: the file is empty; the report is incomplete"
    );
    let bytes = std::fs::read(fixture("leaks-all.xml")).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let cut = &text[..text.find("<status>").unwrap()];
    let r = read_bytes(cut.as_bytes()).unwrap();
    assert!(!r.complete && !r.finished);
    assert_eq!(r.preamble.len(), 4);
    let s = Summary::from_reports(&[r]);
    assert!(!s.complete);
    assert_eq!(
        s.leaks.definitely_lost, None,
        "an unfinished run has no totals"
    );
}

#[test]
fn cut_inside_the_final_search_is_partial_and_incomplete() {
    let text = std::fs::read_to_string(fixture("leaks-all.xml")).unwrap();
    let at = text.rfind("<error>").unwrap() + 20;
    let r = read_bytes(&text.as_bytes()[..at]).unwrap();
    assert!(!r.complete);
    assert!(r.diagnostics[0].to_string().starts_with("input.xml: byte "));
    assert_eq!(r.final_leaks().count(), 10);
}

#[test]
fn not_valgrind_xml_is_an_error_naming_file_and_position() {
    for input in [
        &b"<html><body>hi</body></html>"[..],
        b"{\"json\": true}",
        b"<?xml version=\"1.0\"?>\n<valgrindoutput><tool>memcheck</tool></valgrindoutput>",
        b"\x00\x01\x02garbage",
    ] {
        let e = read_bytes(input).expect_err("not valgrind");
        let msg = e.to_string();
        assert!(msg.starts_with("input.xml: byte "), "{msg}");
        assert!(matches!(e, ReadError::NotValgrindXml { .. }), "{msg}");
    }
}

#[test]
fn unknown_protocol_versions_are_rejected_clearly() {
    for v in ["3", "7", "x"] {
        let doc = format!(
            "<?xml version=\"1.0\"?>\n<valgrindoutput>\n<protocolversion>{v}</protocolversion>\n</valgrindoutput>"
        );
        let e = read_bytes(doc.as_bytes()).expect_err("unknown version");
        assert!(matches!(e, ReadError::UnknownProtocol { .. }));
        assert!(e.to_string().contains("protocol version"), "{e}");
        assert!(e.to_string().starts_with("input.xml: byte "), "{e}");
    }
}

#[test]
fn read_path_names_missing_files() {
    let e = read_path(std::path::Path::new("/nonexistent/x.xml")).unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/x.xml"), "{e}");
}

#[test]
fn malformed_after_a_valid_start_is_incomplete_with_diagnostic() {
    let text = std::fs::read_to_string(fixture("memerr.xml")).unwrap();
    let at = text.find("<errorcounts>").unwrap();
    let broken = format!("{}</bogus>{}", &text[..at], &text[at..]);
    let r = read_bytes(broken.as_bytes()).unwrap();
    assert!(!r.complete);
    assert_eq!(r.errors.len(), 5);
    assert!(
        r.diagnostics[0].message.contains("malformed"),
        "{:?}",
        r.diagnostics
    );
}

fn corpus() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = real_xml_fixtures(&fixtures())
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    v.push(std::fs::read(fixture("handmade/v6.xml")).unwrap());
    v.push(std::fs::read(fixture("handmade/v5-fds.xml")).unwrap());
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_bytes(&bytes);
        let _ = read_summary_mode(&bytes);
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(
        tail in proptest::collection::vec(any::<u8>(), 0..2048)
    ) {
        let mut doc = b"<?xml version=\"1.0\"?>\n<valgrindoutput>\n<protocolversion>4</protocolversion>\n<error><unique>0x1</unique><kind>Leak_DefinitelyLost</kind><xwhat><text>".to_vec();
        doc.extend_from_slice(&tail);
        if let Ok(r) = read_bytes(&doc) {
            let _ = Summary::from_reports(&[r]);
        }
    }

    #[test]
    fn mutated_real_reports_never_panic(
        which in 0usize..16,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..24)
    ) {
        let corpus = corpus();
        let mut doc = corpus[which % corpus.len()].clone();
        for (idx, byte, op) in edits {
            if doc.is_empty() { break; }
            let i = idx.index(doc.len());
            match op {
                0 => doc[i] = byte,
                1 => { doc.remove(i); }
                2 => doc.insert(i, byte),
                _ => { let tag = [b'<', b'/', b'>', b'&', b';'][byte as usize % 5]; doc.insert(i, tag); }
            }
        }
        for r in [read_bytes(&doc), read_summary_mode(&doc)].into_iter().flatten() {
            let s = Summary::from_reports(std::slice::from_ref(&r));
            let _ = s.to_text();
            let _ = serde_json::to_string(&s).unwrap();
            let _ = r.leak_searches();
        }
    }
}

#[test]
fn tiny_read_buffers_give_the_same_result() {
    // The raw skipping of stacks must find closing tags that straddle two
    // refills of the buffer, and keep byte offsets right.
    for name in ["leaks-all.xml", "supp.xml", "memerr.xml"] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let expected = read_with(&bytes[..], name, Options::summary()).unwrap();
        let full = Summary::from_reports(&[read_bytes(&bytes).unwrap()]);
        for cap in [1usize, 2, 3, 5, 7, 8, 9, 13, 64, 4096] {
            for opts in [Options::summary(), Options::totals()] {
                let r = read_with(
                    std::io::BufReader::with_capacity(cap, &bytes[..]),
                    name,
                    opts,
                )
                .unwrap();
                assert!(r.complete, "{name} cap {cap}");
                if opts.collect_errors {
                    assert_eq!(r.errors, expected.errors, "{name} cap {cap}");
                }
                let s = Summary::from_reports(&[r]);
                assert_eq!(s.leaks, full.leaks, "{name} cap {cap}");
                assert_eq!(s.errors, full.errors, "{name} cap {cap}");
            }
        }
        // offsets are positions in the file
        for e in &expected.errors {
            let at = e.offset as usize;
            assert!(bytes[at..].starts_with(b"<error>"), "{name}: offset {at}");
        }
    }
}
