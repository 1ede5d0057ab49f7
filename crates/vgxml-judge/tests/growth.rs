//! Growth inside the run and one-time allocations before the tests, on a
//! real Valgrind run of `programs/checkpoints.c` (see its header).

#[path = "../../vgxml-parse/tests/common/mod.rs"]
mod common;

use common::*;
use vgxml_judge::*;
use vgxml_parse::read_path;

fn policy() -> Policy {
    let mut p = Policy::new(OurCode::new().source_glob("*checkpoints.c"), fixtures());
    p.markers = Markers {
        test_prefix: Some("test-begin:".into()),
        checkpoint_prefix: Some("checkpoint:".into()),
    };
    p.growth_on = Category::ALL.into_iter().collect();
    p
}

#[test]
fn growth_in_every_round_is_caught_bounded_memory_is_not() {
    let reports = vec![read_path(&fixture("checkpoints.xml")).unwrap()];
    let j = judge(&reports, &policy());
    // (test, function, (bytes, blocks) at each checkpoint)
    type Grown = (String, String, Vec<(u64, u64)>);
    let mut grown: Vec<Grown> = j
        .issues
        .iter()
        .filter(|i| i.rule == Rule::Growth)
        .map(|i| {
            let g = i.growth.as_ref().unwrap();
            (
                i.test.clone().unwrap(),
                i.place.as_ref().unwrap().func.clone(),
                g.points.iter().map(|p| (p.bytes, p.blocks)).collect(),
            )
        })
        .collect();
    grown.sort();
    assert_eq!(
        grown,
        vec![
            (
                "t_freed_at_exit".into(),
                "keep".into(),
                vec![(256, 8), (512, 16), (1024, 32), (2048, 64)]
            ),
            (
                "t_grows_in_place".into(),
                "grow_in_place".into(),
                // one block, more bytes every round
                vec![(512, 1), (1024, 1), (2048, 1), (4096, 1)]
            ),
            (
                "t_list".into(),
                "keep".into(),
                vec![(256, 8), (512, 16), (1024, 32), (2048, 64)]
            ),
        ],
        "{:#?}",
        j.issues
    );
    assert!(j.failed);
    // the table built once and the high-water scratch buffer do not grow
    assert!(!j
        .issues
        .iter()
        .any(|i| i.test.as_deref() == Some("t_bounded")));
}

#[test]
fn a_lost_block_from_before_the_tests_is_one_time_only_when_asked() {
    let reports = vec![read_path(&fixture("checkpoints.xml")).unwrap()];
    let mut p = policy();
    p.growth_on.clear();
    let j = judge(&reports, &p);
    let lost: Vec<&Judged> = j
        .records
        .iter()
        .filter(|r| r.kind == vgxml_parse::Kind::LeakDefinitelyLost)
        .collect();
    assert_eq!(lost.len(), 1);
    assert!(lost[0].failing, "by default a definite leak fails");
    p.one_time_before_tests = true;
    let j = judge(&reports, &p);
    let lost = j
        .records
        .iter()
        .find(|r| r.kind == vgxml_parse::Kind::LeakDefinitelyLost)
        .unwrap();
    assert!(!lost.failing);
    assert_eq!(lost.excuse, Some(Excuse::OneTimeBeforeTests));
    assert!(!j.failed, "{:#?}", j.issues);
    assert!(j
        .issues
        .iter()
        .any(|i| i.rule == Rule::OneTimeBeforeTests && i.bytes == Some(62)));
}
