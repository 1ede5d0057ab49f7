//! Deliberate defects for the detection matrix, one per function (see
//! `cpp/planted/planted.h`). Only with the `planted-leaks` feature.

use cxx::UniquePtr;

use crate::{Block, CoreError, Stage, Subscription};

#[cxx::bridge(namespace = "sluice::planted")]
mod bridge {
    // SAFETY: the declarations match cpp/planted/planted.h; the defects they
    // plant are the point (the planted-leaks feature only, never shipped).
    unsafe extern "C++" {
        include!("planted.h");

        #[namespace = "sluice"]
        type Block = crate::ffi::bridge::Block;
        #[namespace = "sluice"]
        type Stage = crate::ffi::bridge::Stage;
        #[namespace = "sluice"]
        type Subscription = crate::ffi::bridge::Subscription;
        type Fanout;

        fn leak_new(bytes: usize);
        fn read_past_end(block: &Block) -> f32;
        fn branch_on_uninitialised(seed: i32) -> i32;
        fn one_time_table_size() -> usize;
        fn append_sample_log(block: &Block) -> Result<usize>;
        fn append_static_sample_log(block: &Block) -> Result<usize>;
        fn median_with_scratch(block: &Block) -> Result<f32>;
        fn new_pairwise_gain(factor: f32) -> Result<UniquePtr<Stage>>;
        fn resident_pages() -> Result<i64>;
        fn start_flush_worker(block: &Block) -> Result<usize>;
        fn new_fanout() -> Result<UniquePtr<Fanout>>;
        fn subscribe(self: Pin<&mut Fanout>, token: u64) -> Result<SharedPtr<Subscription>>;
        fn publish(self: Pin<&mut Fanout>, block: &Block) -> usize;
    }
}

// SAFETY: a Fanout (cpp/planted/planted.h) is a vector of shared
// Subscriptions with no thread affinity; every operation takes
// `Pin<&mut Fanout>`, so Rust's borrow rules keep callers exclusive.
unsafe impl Send for bridge::Fanout {}

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

/// growing-reachable: appends the samples to a C++ log behind a static
/// pointer, never trimmed; the number of samples logged so far.
pub fn cpp_append_sample_log(block: &Block) -> Result<usize, CoreError> {
    Ok(bridge::append_sample_log(block.get())?)
}

/// growth-freed-at-exit: the same log as a static object, freed at exit.
pub fn cpp_append_static_sample_log(block: &Block) -> Result<usize, CoreError> {
    Ok(bridge::append_static_sample_log(block.get())?)
}

/// scratch-high-water (control): the (upper) median of the samples, through
/// a static scratch buffer grown to the largest block seen.
pub fn cpp_median_with_scratch(block: &Block) -> Result<f32, CoreError> {
    Ok(bridge::median_with_scratch(block.get())?)
}

/// uninit-output: a Gain whose kernel never writes the last sample of an
/// odd-length block.
pub fn pairwise_gain(factor: f32) -> Result<Stage, CoreError> {
    Ok(Stage {
        inner: bridge::new_pairwise_gain(factor)?,
    })
}

/// fd-leak: the resident set in pages, through a descriptor never closed.
pub fn cpp_resident_pages() -> Result<i64, CoreError> {
    Ok(bridge::resident_pages()?)
}

/// thread-leak: a detached writer thread per call, parked forever.
pub fn cpp_start_flush_worker(block: &Block) -> Result<usize, CoreError> {
    Ok(bridge::start_flush_worker(block.get())?)
}

/// subscriptions-kept: a C++ fan-out of blocks to subscribers that keeps
/// every subscription it ever made, cancelled ones included.
pub struct Fanout {
    inner: UniquePtr<bridge::Fanout>,
}

impl Fanout {
    pub fn new() -> Result<Fanout, CoreError> {
        Ok(Fanout {
            inner: bridge::new_fanout()?,
        })
    }

    pub fn subscribe(&mut self, token: u64) -> Result<Subscription, CoreError> {
        Ok(Subscription {
            inner: self.inner.pin_mut().subscribe(token)?,
        })
    }

    /// Tells the active subscribers about `block`; how many were told.
    pub fn publish(&mut self, block: &Block) -> usize {
        self.inner.pin_mut().publish(block.get())
    }
}
