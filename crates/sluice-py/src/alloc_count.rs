//! A counting global allocator for the Rust side of the extension (feature
//! `count-allocs`, off by default): `sluice._native._rust_heap()` returns the
//! bytes and blocks the extension's Rust code holds right now.
//!
//! Used by `cargo xtask memtest --planted` to measure the "counting allocator"
//! variant of the fast native stage. It cannot see C++ `new`/`malloc` (the core
//! allocates through libstdc++) nor Python's allocator: only Rust's heap.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use pyo3::prelude::*;

static BYTES: AtomicIsize = AtomicIsize::new(0);
static BLOCKS: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: every call is forwarded to `System` with the caller's arguments; the
// counters are only statistics and never influence allocation.
unsafe impl GlobalAlloc for Counting {
    // SAFETY: (contract) the caller keeps GlobalAlloc's rules, which `System` needs.
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl's SAFETY).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    // SAFETY: (contract) the caller keeps GlobalAlloc's rules, which `System` needs.
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    // SAFETY: (contract) the caller keeps GlobalAlloc's rules, which `System` needs.
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) };
        BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        BLOCKS.fetch_sub(1, Ordering::Relaxed);
    }

    // SAFETY: (contract) the caller keeps GlobalAlloc's rules, which `System` needs.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            BYTES.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// `(bytes, blocks)` currently allocated by the extension's Rust code.
#[pyfunction]
pub(crate) fn _rust_heap() -> (isize, isize) {
    (
        BYTES.load(Ordering::Relaxed),
        BLOCKS.load(Ordering::Relaxed),
    )
}
