//! insta snapshots from a plain binary (not `cargo test`).
//!
//! The snapshots live in `xtask/snapshots/NAME.snap`. On a mismatch insta prints a
//! diff and (outside CI) writes `NAME.snap.new` for `cargo insta review`; with
//! `CI` set it writes nothing. `--accept` sets `INSTA_UPDATE=always`.

use std::{panic, path::Path};

use memtest_engine::report::SnapshotState;

use crate::paths::rel;

/// Compares `content` with the snapshot `name`.
pub fn check(root: &Path, name: &str, content: &str, accept: bool) -> SnapshotState {
    let dir = root.join("xtask/snapshots");
    // Tell insta where the workspace is (it would otherwise run `cargo metadata`).
    std::env::set_var("INSTA_WORKSPACE_ROOT", root);
    if accept {
        std::env::set_var("INSTA_UPDATE", "always");
    }
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(&dir);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_description(
        "Normalised leak summary of one `cargo xtask memtest` stage. \
         Accept an intended change with `cargo xtask memtest --accept` or `cargo insta review`.",
    );
    let path = dir.join(format!("{name}.snap"));
    let before = std::fs::read_to_string(&path).ok();

    // insta reports a mismatch by panicking; keep the output to insta's own diff.
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let outcome = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_snapshot!(name, content));
    }));
    panic::set_hook(hook);

    let after = std::fs::read_to_string(&path).ok();
    match outcome {
        Ok(()) if accept && before != after => SnapshotState::Accepted(rel(root, &path)),
        Ok(()) => SnapshotState::Matches,
        Err(_) if before.is_none() => SnapshotState::Missing(rel(root, &path)),
        Err(_) => SnapshotState::Changed(rel(root, &path)),
    }
}
