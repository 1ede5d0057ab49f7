// Compiles the C++ core (`cpp/` at the workspace root) together with the cxx
// bridge into one static library.
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let cpp = manifest.join("../../cpp");
    let sources = [
        "live.cc",
        "block.cc",
        "stage.cc",
        "pipeline.cc",
        "valgrind.cc",
    ]
    .map(|f| cpp.join("src").join(f));
    let planted = std::env::var_os("CARGO_FEATURE_PLANTED_LEAKS").is_some();

    let mut bridges = vec!["src/ffi.rs"];
    if planted {
        bridges.push("src/planted.rs");
    }
    let mut build = cxx_build::bridges(&bridges);
    build
        .file("src/bridge.cc")
        .files(&sources)
        .include(cpp.join("include"))
        .std("c++17")
        .flag_if_supported("-Wall")
        .flag_if_supported("-Wextra");
    if let Some(dir) = valgrind_include_dir() {
        build.include(dir).define("SLUICE_HAVE_VALGRIND", None);
    }
    if planted {
        build
            .file(cpp.join("planted/planted.cc"))
            .include(cpp.join("planted"));
    }
    build.compile("sluice-core");

    for path in [
        "src/ffi.rs",
        "src/planted.rs",
        "src/bridge.cc",
        "include/bridge.h",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-changed={}", cpp.display());
    println!("cargo:rerun-if-env-changed=VALGRIND_INCLUDE_DIR");
}

/// Where `valgrind/memcheck.h` is: `$VALGRIND_INCLUDE_DIR`, or the usual
/// system include directories (Debian's `valgrind` package puts it in
/// /usr/include). Without it the client requests compile to no-ops.
fn valgrind_include_dir() -> Option<PathBuf> {
    let candidates = std::env::var_os("VALGRIND_INCLUDE_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/include", "/usr/local/include"].map(PathBuf::from));
    candidates
        .into_iter()
        .find(|dir| dir.join("valgrind/memcheck.h").is_file())
}
