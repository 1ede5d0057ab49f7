//! "Our code" rules over the real fixtures.

#[path = "../../vgxml-parse/tests/common/mod.rs"]
mod common;

use common::*;
use vgxml_judge::OurCode;
use vgxml_parse::{read_path, Report};

fn report(name: &str) -> Report {
    read_path(&fixture(name)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn our_code_rules() {
    let r = report("memerr.xml");
    let ours = OurCode::new().source_prefix("memerr.c");
    assert!(r.errors.iter().all(|e| ours.matches_record(e)));
    let f = ours.first_frame(&r.errors[0]).unwrap();
    assert_eq!(f.func.as_deref(), Some("invalid_read"));
    let ours = OurCode::new().object_glob("*/vgxml-build.*/memerr");
    assert_eq!(
        ours.first_frame(&r.errors[1]).unwrap().func.as_deref(),
        Some("invalid_free")
    );
    let libs = OurCode::new().object_glob("*/libnothing.so*");
    assert!(!r.errors.iter().any(|e| libs.matches_record(e)));
    let by_fn = OurCode::new().function_pattern("uninit*");
    assert_eq!(
        r.errors.iter().filter(|e| by_fn.matches_record(e)).count(),
        1
    );
    let by_dir = OurCode::new().source_prefix("/work/");
    assert!(by_dir.matches_frame(&r.errors[0].stack[0]));
}
