//! What is "our code" in this repository: one definition for every stage
//! that reads native stacks (Valgrind, LeakSanitizer).

use std::path::Path;

use vgxml_judge::{OurCode, Policy};

/// Frames in the extension module, in sources under `cpp/` or `crates/`
/// (absolute, as Valgrind gives them, or relative, as rustc records them),
/// or in a function of ours by name. Wrappers are never the place of a
/// finding: the counting allocator (`alloc_count.rs`) is on every Rust
/// allocation's stack, and the boundary check (`check_defined`: the C++
/// client request, its bridge, its Rust face) on every `ClientCheck`'s —
/// the place is the caller, where native memory reaches Python.
pub fn our_code(root: &Path) -> OurCode {
    let root = root.display().to_string();
    OurCode::new()
        .object_glob("*/sluice/_native*.so")
        .source_prefix(&format!("{root}/cpp/"))
        .source_prefix(&format!("{root}/crates/"))
        .source_glob("cpp/*")
        .source_glob("crates/*")
        .function_pattern("sluice::*")
        .function_pattern("_native::*")
        .function_pattern("sluice_core::*")
        .exclude("*alloc_count*")
        .exclude("sluice::valgrind::check_defined*")
        .exclude("*valgrind_check_defined*")
        .exclude("sluice_core::valgrind::check_defined*")
}

/// Our code that runs once per process: the extension module's init (PyO3's
/// `#[pymodule]`, `crates/sluice-py/src/lib.rs`). What it allocates and the
/// interpreter never frees at exit (CPython 3.12 and 3.13 keep a `str` per
/// `add_function`, 57-69 bytes each) is one-time by construction; where the
/// pointer to it is dropped during a test (seen with numpy imported), the
/// "before the tests" rule cannot tell, this one can. Growth still fails.
pub const ONE_TIME_FUNCTIONS: &[&str] = &["_native::native_module"];

/// The judge's policy as every stage that reads native stacks starts it: our
/// code and our one-time functions; each stage adds what fails and how.
pub fn policy(root: &Path) -> Policy {
    let mut p = Policy::new(our_code(root), root.to_path_buf());
    p.one_time_functions = ONE_TIME_FUNCTIONS.iter().map(|f| f.to_string()).collect();
    p
}
