//! What is "our code" in this repository: one definition for every stage
//! that reads native stacks (Valgrind, LeakSanitizer).

use std::path::Path;

use vgxml_judge::OurCode;

/// Frames in the extension module, in sources under `cpp/` or `crates/`
/// (absolute, as Valgrind gives them, or relative, as rustc records them),
/// or in a function of ours by name. The counting allocator
/// (`alloc_count.rs`) wraps every Rust allocation and is never where a leak is.
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
}
