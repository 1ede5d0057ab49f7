//! `sluice._planted`: copies of real sluice patterns with exactly one
//! deliberate bug each, so the leak-test pipeline can be seen to catch every
//! class of binding leak. Built only with the `planted-leaks` feature.

use std::ffi::c_int;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::PyTraverseError;

use crate::block::PyBlock;
use crate::stages::{value_error, PyNativeStage};

/// python-refcount: `Block.copy()` that returns its result with an extra
/// reference, so the copy is never freed.
#[pyfunction]
fn copy_with_extra_ref(py: Python<'_>, block: &Bound<'_, PyBlock>) -> PyResult<Py<PyBlock>> {
    let copy = Py::new(py, PyBlock::new(block.get().to_native(py)?))?;
    std::mem::forget(copy.clone_ref(py)); // planted: the extra reference
    Ok(copy)
}

/// cross-cycle: a pipeline-like class that holds Python callables but has no
/// `__traverse__`/`__clear__`, so a callable closing over it forms a cycle
/// the garbage collector cannot see.
#[pyclass(module = "sluice._planted", frozen)]
struct UntracedPipeline {
    callables: Mutex<Vec<Py<PyAny>>>, // planted: never visited, never cleared
}

#[pymethods]
impl UntracedPipeline {
    #[new]
    fn new() -> Self {
        UntracedPipeline {
            callables: Mutex::new(Vec::new()),
        }
    }

    fn append(&self, callable: Py<PyAny>) {
        self.callables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(callable);
    }

    fn push(&self, py: Python<'_>, block: Py<PyBlock>) -> PyResult<()> {
        let callables: Vec<_> = self
            .callables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|c| c.clone_ref(py))
            .collect();
        for callable in callables {
            callable.call1(py, (block.clone_ref(py),))?;
        }
        Ok(())
    }
}

/// callback-kept: a pipeline whose subscriptions' `cancel()` only marks them
/// inactive; the pipeline keeps every callable it was ever given.
#[pyclass(module = "sluice._planted", frozen)]
struct KeepingPipeline {
    subscribers: Mutex<Vec<(Arc<AtomicBool>, Py<PyAny>)>>,
}

#[pymethods]
impl KeepingPipeline {
    #[new]
    fn new() -> Self {
        KeepingPipeline {
            subscribers: Mutex::new(Vec::new()),
        }
    }

    fn subscribe(&self, callback: Py<PyAny>) -> KeptSubscription {
        let active = Arc::new(AtomicBool::new(true));
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((active.clone(), callback));
        KeptSubscription { active }
    }

    fn push(&self, py: Python<'_>, block: Py<PyBlock>) -> PyResult<()> {
        let active: Vec<_> = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(a, _)| a.load(Ordering::Acquire))
            .map(|(_, c)| c.clone_ref(py))
            .collect();
        for callback in active {
            callback.call1(py, (block.clone_ref(py),))?;
        }
        Ok(())
    }

    // Traversal is right here: the one bug is in cancel().
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Ok(subscribers) = self.subscribers.try_lock() {
            for (_, callback) in subscribers.iter() {
                visit.call(callback)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        drop(std::mem::take(
            &mut *self
                .subscribers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        ));
    }
}

#[pyclass(module = "sluice._planted", frozen)]
struct KeptSubscription {
    active: Arc<AtomicBool>,
}

#[pymethods]
impl KeptSubscription {
    fn cancel(&self) {
        self.active.store(false, Ordering::Release); // planted: callable kept
    }

    #[getter]
    fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }
}

/// buffer-export: a block whose `__getbuffer__` takes an extra reference to
/// itself that `__releasebuffer__` never gives back.
#[pyclass(module = "sluice._planted", frozen)]
struct StickyBlock {
    samples: Box<[f32]>,
    shape: [ffi::Py_ssize_t; 1],
}

#[pymethods]
impl StickyBlock {
    #[new]
    fn new(frames: usize) -> Self {
        StickyBlock {
            samples: vec![0.0; frames].into_boxed_slice(),
            shape: [frames as ffi::Py_ssize_t],
        }
    }

    // SAFETY: (contract) Python calls this with the GIL held and a view to fill.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        _flags: c_int,
    ) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("null view"));
        }
        let this = slf.get();
        std::mem::forget(slf.clone()); // planted: keeps the block alive forever

        // SAFETY: `view` is non-null; its pointers live in `this`, which `obj` keeps alive.
        unsafe {
            (*view).obj = slf.clone().into_any().into_ptr();
            (*view).buf = this.samples.as_ptr().cast_mut().cast();
            (*view).len = std::mem::size_of_val(&*this.samples) as ffi::Py_ssize_t;
            (*view).readonly = 1;
            (*view).itemsize = 4;
            (*view).format = c"f".as_ptr().cast_mut();
            (*view).ndim = 1;
            (*view).shape = this.shape.as_ptr().cast_mut();
            (*view).strides = std::ptr::null_mut();
            (*view).suboffsets = std::ptr::null_mut();
            (*view).internal = std::ptr::null_mut();
        }
        Ok(())
    }

    // SAFETY: (contract) called once per export; touches nothing.
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}
}

/// cpp-new: a C++ `new` never deleted.
#[pyfunction]
fn cpp_leak_new(bytes: usize) {
    sluice_core::planted::cpp_leak_new(bytes)
}

/// rust-leak: `Box::leak` of a Rust buffer in a binding function.
#[pyfunction]
fn rust_leak(bytes: usize) -> usize {
    let leaked: &'static mut [u8] = Box::leak(vec![1u8; bytes.max(1)].into_boxed_slice());
    std::hint::black_box(leaked).len()
}

/// invalid-read: a C++ read one past the end of the block.
#[pyfunction]
fn read_past_end(block: &Bound<'_, PyBlock>) -> f32 {
    sluice_core::planted::cpp_read_past_end(block.get().native(block.py()))
}

/// uninit: a C++ branch on an uninitialised value.
#[pyfunction]
fn branch_on_uninitialised(seed: i32) -> i32 {
    sluice_core::planted::cpp_branch_on_uninitialised(seed)
}

/// one-time-init (control): lazily built tables, one in C++ and one in Rust,
/// allocated once and kept. Must not be reported as a leak.
#[pyfunction]
fn one_time_init() -> usize {
    static TABLE: OnceLock<Vec<u64>> = OnceLock::new();
    let rust = TABLE.get_or_init(|| (0..512).collect()).len();
    rust + sluice_core::planted::cpp_one_time_table_size()
}

/// growing-reachable: a "logging" function that appends the block's samples
/// to a C++ log behind a static pointer, never trimmed (reachable at exit).
#[pyfunction]
fn append_sample_log(block: &Bound<'_, PyBlock>) -> PyResult<usize> {
    sluice_core::planted::cpp_append_sample_log(block.get().native(block.py())).map_err(value_error)
}

/// growth-freed-at-exit: the same log as a C++ static object (freed at exit).
#[pyfunction]
fn append_static_sample_log(block: &Bound<'_, PyBlock>) -> PyResult<usize> {
    sluice_core::planted::cpp_append_static_sample_log(block.get().native(block.py()))
        .map_err(value_error)
}

/// scratch-high-water (control): the median of the samples, through a C++
/// static scratch buffer grown to the largest block seen. Bounded.
#[pyfunction]
fn median_with_scratch(block: &Bound<'_, PyBlock>) -> PyResult<f32> {
    sluice_core::planted::cpp_median_with_scratch(block.get().native(block.py()))
        .map_err(value_error)
}

/// uninit-output: a native stage like `Gain` whose C++ kernel never writes
/// the last sample of an odd-length block.
#[pyclass(module = "sluice._planted", extends = PyNativeStage, frozen)]
struct PairwiseGain {
    #[pyo3(get)]
    factor: f32,
}

#[pymethods]
impl PairwiseGain {
    #[new]
    fn new(factor: f32) -> PyResult<PyClassInitializer<Self>> {
        let stage = sluice_core::planted::pairwise_gain(factor);
        Ok(PyNativeStage::init(stage)?.add_subclass(PairwiseGain { factor }))
    }
}

/// rust-drops-cpp: the peak of a native snapshot of the block, as a push
/// takes of a block that a view may write; the Rust wrapper never drops
/// the C++ copy `duplicate()` returned.
#[pyfunction]
fn snapshot_peak(block: &Bound<'_, PyBlock>) -> PyResult<f32> {
    let native = block.get().native(block.py());
    let snapshot = ManuallyDrop::new(native.duplicate().map_err(value_error)?); // planted: never dropped
    Ok(snapshot
        .samples()
        .iter()
        .fold(0.0f32, |peak, x| peak.max(x.abs())))
}

/// fd-leak: the resident set in pages, read by C++ through a file
/// descriptor it never closes.
#[pyfunction]
fn resident_pages() -> PyResult<i64> {
    sluice_core::planted::cpp_resident_pages().map_err(value_error)
}

/// thread-leak: hands a copy of the block to a new C++ writer thread, never
/// joined and parked forever.
#[pyfunction]
fn start_flush_worker(block: &Bound<'_, PyBlock>) -> PyResult<usize> {
    sluice_core::planted::cpp_start_flush_worker(block.get().native(block.py()))
        .map_err(value_error)
}

/// subscriptions-kept: a long-lived C++ fan-out of blocks to subscribers
/// whose cancelled subscriptions are never removed.
#[pyclass(module = "sluice._planted", frozen)]
struct Fanout {
    core: Mutex<sluice_core::planted::Fanout>,
    next_token: AtomicU64,
}

#[pymethods]
impl Fanout {
    #[new]
    fn new() -> PyResult<Self> {
        Ok(Fanout {
            core: Mutex::new(sluice_core::planted::Fanout::new().map_err(value_error)?),
            next_token: AtomicU64::new(0),
        })
    }

    fn subscribe(&self) -> PyResult<FanoutSubscription> {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let subscription = self
            .core
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .subscribe(token)
            .map_err(value_error)?;
        Ok(FanoutSubscription { subscription })
    }

    /// Tells the active subscribers about `block`; how many were told.
    fn publish(&self, block: &Bound<'_, PyBlock>) -> usize {
        self.core
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .publish(block.get().native(block.py()))
    }
}

#[pyclass(module = "sluice._planted", frozen)]
struct FanoutSubscription {
    subscription: sluice_core::Subscription,
}

#[pymethods]
impl FanoutSubscription {
    fn cancel(&self) {
        self.subscription.cancel();
    }

    #[getter]
    fn active(&self) -> bool {
        self.subscription.is_active()
    }
}

pub(crate) fn module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let m = PyModule::new(py, "_planted")?;
    m.add_class::<UntracedPipeline>()?;
    m.add_class::<KeepingPipeline>()?;
    m.add_class::<KeptSubscription>()?;
    m.add_class::<StickyBlock>()?;
    m.add_class::<PairwiseGain>()?;
    m.add_class::<Fanout>()?;
    m.add_class::<FanoutSubscription>()?;
    m.add_function(wrap_pyfunction!(copy_with_extra_ref, &m)?)?;
    m.add_function(wrap_pyfunction!(cpp_leak_new, &m)?)?;
    m.add_function(wrap_pyfunction!(rust_leak, &m)?)?;
    m.add_function(wrap_pyfunction!(read_past_end, &m)?)?;
    m.add_function(wrap_pyfunction!(branch_on_uninitialised, &m)?)?;
    m.add_function(wrap_pyfunction!(one_time_init, &m)?)?;
    m.add_function(wrap_pyfunction!(append_sample_log, &m)?)?;
    m.add_function(wrap_pyfunction!(append_static_sample_log, &m)?)?;
    m.add_function(wrap_pyfunction!(median_with_scratch, &m)?)?;
    m.add_function(wrap_pyfunction!(snapshot_peak, &m)?)?;
    m.add_function(wrap_pyfunction!(resident_pages, &m)?)?;
    m.add_function(wrap_pyfunction!(start_flush_worker, &m)?)?;
    Ok(m)
}
