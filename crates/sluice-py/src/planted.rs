//! `sluice._planted`: copies of real sluice patterns with exactly one
//! deliberate bug each, so the leak-test pipeline can be seen to catch every
//! class of binding leak. Built only with the `planted-leaks` feature.

use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::PyTraverseError;

use crate::block::PyBlock;

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

pub(crate) fn module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let m = PyModule::new(py, "_planted")?;
    m.add_class::<UntracedPipeline>()?;
    m.add_class::<KeepingPipeline>()?;
    m.add_class::<KeptSubscription>()?;
    m.add_class::<StickyBlock>()?;
    m.add_function(wrap_pyfunction!(copy_with_extra_ref, &m)?)?;
    m.add_function(wrap_pyfunction!(cpp_leak_new, &m)?)?;
    m.add_function(wrap_pyfunction!(rust_leak, &m)?)?;
    m.add_function(wrap_pyfunction!(read_past_end, &m)?)?;
    m.add_function(wrap_pyfunction!(branch_on_uninitialised, &m)?)?;
    m.add_function(wrap_pyfunction!(one_time_init, &m)?)?;
    Ok(m)
}
