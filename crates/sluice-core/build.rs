// Compiles the C++ core (`cpp/` at the workspace root) together with the cxx
// bridge into one static library.
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let cpp = manifest.join("../../cpp");
    let sources =
        ["live.cc", "block.cc", "stage.cc", "pipeline.cc"].map(|f| cpp.join("src").join(f));

    cxx_build::bridge("src/ffi.rs")
        .file("src/bridge.cc")
        .files(&sources)
        .include(cpp.join("include"))
        .std("c++17")
        .flag_if_supported("-Wall")
        .flag_if_supported("-Wextra")
        .compile("sluice-core");

    println!("cargo:rerun-if-changed=src/ffi.rs");
    println!("cargo:rerun-if-changed=src/bridge.cc");
    println!("cargo:rerun-if-changed=include/bridge.h");
    println!("cargo:rerun-if-changed={}", cpp.display());
}
