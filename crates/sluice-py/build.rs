fn main() {
    // `cargo test` of this crate links libpython: make the test binary find
    // the interpreter's own libpython rather than the system's.
    pyo3_build_config::add_libpython_rpath_link_args();
}
