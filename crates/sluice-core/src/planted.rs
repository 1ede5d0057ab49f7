//! Deliberate defects for the detection matrix, one per function (see
//! `cpp/planted/planted.h`). Only with the `planted-leaks` feature.

use crate::Block;

#[cxx::bridge(namespace = "sluice::planted")]
mod bridge {
    // SAFETY: the declarations match cpp/planted/planted.h; the defects they
    // plant are the point (the planted-leaks feature only, never shipped).
    unsafe extern "C++" {
        include!("planted.h");

        #[namespace = "sluice"]
        type Block = crate::ffi::bridge::Block;

        fn leak_new(bytes: usize);
        fn read_past_end(block: &Block) -> f32;
        fn branch_on_uninitialised(seed: i32) -> i32;
        fn one_time_table_size() -> usize;
    }
}

/// cpp-new: `new char[bytes]` that is never deleted.
pub fn cpp_leak_new(bytes: usize) {
    bridge::leak_new(bytes.max(1))
}

/// invalid-read: reads one float past the end of `block`.
pub fn cpp_read_past_end(block: &Block) -> f32 {
    bridge::read_past_end(block.get())
}

/// uninit: branches on an uninitialised heap value.
pub fn cpp_branch_on_uninitialised(seed: i32) -> i32 {
    bridge::branch_on_uninitialised(seed)
}

/// one-time-init (control): a table built once and kept.
pub fn cpp_one_time_table_size() -> usize {
    bridge::one_time_table_size()
}
