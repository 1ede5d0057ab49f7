//! `Block`: a frames × channels float32 array owned by the C++ core, exported
//! zero-copy through the buffer protocol.

use std::ffi::{c_int, CStr};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::{PyBufferError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;

use crate::stages::value_error;

/// A frames x channels block of float32 samples, frame-major.
#[pyclass(module = "sluice._native", name = "Block", frozen, weakref)]
pub struct PyBlock {
    // Never resized or replaced while this object lives: `data` and every
    // exported buffer point into it.
    block: sluice_core::Block,
    // Taken from `samples_mut` once, at construction; every later access to
    // the samples, Python's writes through views included, goes through it.
    data: NonNull<f32>,
    // The buffer protocol's shape and strides arrays; views point at them,
    // and each view holds a reference to this object, so they outlive the view.
    shape: [ffi::Py_ssize_t; 2],
    strides: [ffi::Py_ssize_t; 2],
    // Buffer views exported now, and how many of them are writable. Changed
    // only with the GIL held (in `__getbuffer__` and `__releasebuffer__`).
    exports: AtomicUsize,
    writable_exports: AtomicUsize,
    // Live `NoWriters` guards: pushes reading the samples without the GIL.
    // Raised with the GIL held, lowered with or without it.
    readers: AtomicUsize,
}

// Thread safety. `data` points into `block`, which this object owns and never
// resizes, so it stays valid on any thread for the object's lifetime, and the
// C++ block has no thread affinity. Through a `&PyBlock` the samples are only
// - read by the methods here, with the GIL held;
// - written by Python code through a writable buffer view, with the GIL held;
// - read by a push with the GIL released, and then only under a `NoWriters`
//   guard: one is made (with the GIL held) only while no writable view
//   exists, and while any lives `__getbuffer__` exports read-only views only,
//   so nobody writes at all.
// The GIL orders the first two (the module declares `gil_used`); the guard
// keeps writers away from the third. A consumer of a writable view that
// writes without the GIL (a numpy ufunc with `out=` the view) orders its
// writes itself: the buffer protocol leaves that to it, as numpy does for
// any memory two arrays share.
// SAFETY: by the argument above, moving a PyBlock to another thread or
// sharing it gives no unsynchronised access to its samples.
unsafe impl Send for PyBlock {}
// SAFETY: as for Send; `&PyBlock` reaches the samples only as listed there.
unsafe impl Sync for PyBlock {}

/// A push's licence to read a block's samples without the GIL: while any
/// lives, nobody can write them (the thread-safety argument above `impl Send
/// for PyBlock`). Made by [`PyBlock::exclude_writers`].
pub(crate) struct NoWriters<'a> {
    block: &'a PyBlock,
}

impl<'a> NoWriters<'a> {
    /// The native block to read. The reference outlives the guard on
    /// purpose: the core reads a push's input only before its first hook
    /// (`Pipeline::push` in cpp/include/sluice/pipeline.h), so a push drops
    /// the guard there, and views of the input are writable again while
    /// callable stages and subscribers run.
    pub(crate) fn native(&self) -> &'a sluice_core::Block {
        &self.block.block
    }
}

impl Drop for NoWriters<'_> {
    fn drop(&mut self) {
        // Release: the push's reads happen before any writer that then
        // finds no reader (`__getbuffer__` loads with Acquire).
        self.block.readers.fetch_sub(1, Ordering::Release);
    }
}

impl PyBlock {
    pub(crate) fn new(mut block: sluice_core::Block) -> PyBlock {
        let data = NonNull::new(block.samples_mut().as_mut_ptr()).unwrap_or(NonNull::dangling());
        let item = std::mem::size_of::<f32>() as ffi::Py_ssize_t;
        // The core caps a block's byte size at isize::MAX, so these fit.
        let frames = block.frames() as ffi::Py_ssize_t;
        let channels = block.channels() as ffi::Py_ssize_t;
        PyBlock {
            block,
            data,
            shape: [frames, channels],
            strides: [channels * item, item],
            exports: AtomicUsize::new(0),
            writable_exports: AtomicUsize::new(0),
            readers: AtomicUsize::new(0),
        }
    }

    fn len(&self) -> usize {
        self.block.frames() * self.block.channels()
    }

    pub(crate) fn samples(&self, _py: Python<'_>) -> &[f32] {
        // SAFETY: `data` addresses `len()` initialised floats owned by
        // `self.block`; holding the GIL excludes Python writers through views
        // (the thread-safety argument above `impl Send for PyBlock`).
        unsafe { std::slice::from_raw_parts(self.data.as_ptr(), self.len()) }
    }

    /// The native block, to read with the GIL held.
    pub(crate) fn native(&self, _py: Python<'_>) -> &sluice_core::Block {
        &self.block
    }

    /// With the GIL held: a guard under which the samples may be read without
    /// the GIL, or None while a writable view exists (read them with the GIL
    /// then, e.g. copy them with [`PyBlock::to_native`]).
    pub(crate) fn exclude_writers(&self, _py: Python<'_>) -> Option<NoWriters<'_>> {
        // Both happen with the GIL held, like every change of
        // `writable_exports` and every `__getbuffer__`: no view can become
        // writable in between.
        if self.writable_exports.load(Ordering::Relaxed) != 0 {
            return None;
        }
        self.readers.fetch_add(1, Ordering::Relaxed);
        Some(NoWriters { block: self })
    }

    /// A native copy, for the core to own. Taken with the GIL held, so no
    /// Python thread writes through a view meanwhile.
    pub(crate) fn to_native(&self, py: Python<'_>) -> PyResult<sluice_core::Block> {
        self.native(py).duplicate().map_err(value_error)
    }
}

fn check_dim(name: &str, value: i64, min: i64) -> PyResult<usize> {
    usize::try_from(value)
        .ok()
        .filter(|&v| v as i64 >= min)
        .ok_or_else(|| PyValueError::new_err(format!("{name} must be >= {min}, got {value}")))
}

fn is_float32_format(format: &CStr) -> bool {
    let format = format.to_bytes();
    // '@' and '=' mean native byte order; so does '<' or '>' when it matches.
    let native = if cfg!(target_endian = "little") {
        b'<'
    } else {
        b'>'
    };
    match format {
        [b'f'] => true,
        [order, b'f'] => *order == b'@' || *order == b'=' || *order == native,
        _ => false,
    }
}

#[pymethods]
impl PyBlock {
    #[new]
    #[pyo3(signature = (frames, channels = 1))]
    fn py_new(frames: i64, channels: i64) -> PyResult<PyBlock> {
        let frames = check_dim("frames", frames, 0)?;
        let channels = check_dim("channels", channels, 1)?;
        Ok(PyBlock::new(
            sluice_core::Block::new(frames, channels).map_err(value_error)?,
        ))
    }

    /// Copies a C-contiguous float32 buffer: 1-D is one channel, 2-D is
    /// (frames, channels).
    #[staticmethod]
    fn from_buffer(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<PyBlock> {
        let buffer = PyUntypedBuffer::get(obj).map_err(|e| {
            PyTypeError::new_err(format!(
                "Block.from_buffer needs an object supporting the buffer protocol \
                 (float32, format 'f'), got {}: {e}",
                type_name(obj)
            ))
        })?;
        let checked = (|| {
            if !is_float32_format(buffer.format()) || buffer.item_size() != 4 {
                return Err(PyTypeError::new_err(format!(
                    "Block.from_buffer needs float32 data (format 'f'), got format '{}' with \
                     {}-byte items",
                    buffer.format().to_string_lossy(),
                    buffer.item_size()
                )));
            }
            let (frames, channels) = match buffer.shape() {
                [frames] => (*frames, 1),
                [frames, channels] => (*frames, *channels),
                shape => {
                    return Err(PyValueError::new_err(format!(
                        "Block.from_buffer needs a 1-D (frames,) or 2-D (frames, channels) \
                         buffer, got {} dimensions",
                        shape.len()
                    )))
                }
            };
            if channels == 0 {
                return Err(PyValueError::new_err(
                    "Block.from_buffer needs at least one channel, got shape (frames, 0)",
                ));
            }
            if !buffer.is_c_contiguous() {
                return Err(PyValueError::new_err(
                    "Block.from_buffer needs a C-contiguous buffer; copy it first \
                     (e.g. numpy.ascontiguousarray)",
                ));
            }
            let mut block = sluice_core::Block::new(frames, channels).map_err(value_error)?;
            let target = block.samples_mut();
            // SAFETY: the buffer is C-contiguous float32 with exactly
            // frames * channels items (checked above), and `target` is a
            // distinct allocation of the same length.
            unsafe {
                ptr::copy_nonoverlapping(
                    buffer.buf_ptr().cast::<f32>(),
                    target.as_mut_ptr(),
                    target.len(),
                );
            }
            Ok(PyBlock::new(block))
        })();
        buffer.release(py);
        checked
    }

    #[getter]
    fn frames(&self) -> usize {
        self.block.frames()
    }

    #[getter]
    fn channels(&self) -> usize {
        self.block.channels()
    }

    /// Number of buffer views currently exported (memoryviews, numpy arrays).
    #[getter]
    fn exports(&self) -> usize {
        self.exports.load(Ordering::Relaxed)
    }

    fn __len__(&self) -> usize {
        self.block.frames()
    }

    fn copy(&self, py: Python<'_>) -> PyResult<PyBlock> {
        Ok(PyBlock::new(self.to_native(py)?))
    }

    /// The samples as a list of frames, each a list of `channels` floats.
    fn tolist(&self, py: Python<'_>) -> Vec<Vec<f32>> {
        let channels = self.block.channels();
        let samples = self.samples(py);
        // Native samples become Python floats here: Memcheck would not see
        // an undefined one being copied, so check them (a no-op outside
        // Valgrind).
        sluice_core::valgrind::check_defined(samples);
        samples.chunks(channels).map(<[f32]>::to_vec).collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "Block(frames={}, channels={})",
            self.block.frames(),
            self.block.channels()
        )
    }

    // SAFETY: (contract) Python calls this with the GIL held and a
    // `view` to fill, null-checked below.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err(
                "Block.__getbuffer__ got a null view",
            ));
        }
        let this = slf.get();
        let many_frames_and_channels = this.shape[0] > 1 && this.shape[1] > 1;
        if flags & ffi::PyBUF_F_CONTIGUOUS == ffi::PyBUF_F_CONTIGUOUS && many_frames_and_channels {
            return Err(PyBufferError::new_err(
                "a Block is C-contiguous, not Fortran-contiguous",
            ));
        }
        // While a push reads the samples without the GIL, no view may write
        // them: serve read-only views, refuse writable ones.
        let read_only = this.readers.load(Ordering::Acquire) > 0;
        if read_only && flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err(
                "cannot export a writable buffer of a Block while a push reads it \
                 (a read-only view is available)",
            ));
        }
        // The samples become visible to Python code here, to be read later
        // without us: under Valgrind, check that every one is defined.
        sluice_core::valgrind::check_defined(this.samples(slf.py()));
        let want_shape = flags & ffi::PyBUF_ND == ffi::PyBUF_ND;
        let want_strides = flags & ffi::PyBUF_STRIDES == ffi::PyBUF_STRIDES;
        let want_format = flags & ffi::PyBUF_FORMAT == ffi::PyBUF_FORMAT;
        // The pointers stored in the view (samples, shape, strides) live
        // inside this object, which the view keeps alive through `obj`;
        // consumers only read shape, strides and format. `internal` (the
        // exporter's own field) marks a writable view for
        // `__releasebuffer__`; the dangling marker is never dereferenced.
        // SAFETY: `view` is non-null and Python hands us this Py_buffer to fill.
        unsafe {
            (*view).obj = slf.clone().into_any().into_ptr();
            (*view).buf = this.data.as_ptr().cast();
            (*view).len = (this.len() * std::mem::size_of::<f32>()) as ffi::Py_ssize_t;
            (*view).readonly = c_int::from(read_only);
            (*view).itemsize = std::mem::size_of::<f32>() as ffi::Py_ssize_t;
            (*view).format = if want_format {
                c"f".as_ptr().cast_mut()
            } else {
                ptr::null_mut()
            };
            // Without PyBUF_ND the consumer sees plain bytes: one dimension.
            (*view).ndim = if want_shape { 2 } else { 1 };
            (*view).shape = if want_shape {
                this.shape.as_ptr().cast_mut()
            } else {
                ptr::null_mut()
            };
            (*view).strides = if want_strides {
                this.strides.as_ptr().cast_mut()
            } else {
                ptr::null_mut()
            };
            (*view).suboffsets = ptr::null_mut();
            (*view).internal = if read_only {
                ptr::null_mut()
            } else {
                NonNull::<std::ffi::c_void>::dangling().as_ptr()
            };
        }
        this.exports.fetch_add(1, Ordering::Relaxed);
        if !read_only {
            this.writable_exports.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    // SAFETY: (contract) Python calls this with a view filled by
    // `__getbuffer__` above, once per successful export, with the GIL held.
    unsafe fn __releasebuffer__(&self, view: *mut ffi::Py_buffer) {
        // SAFETY: a non-null `view` is the Py_buffer our `__getbuffer__`
        // filled; only `internal`, which the buffer protocol leaves to the
        // exporter and consumers do not touch, is read.
        let writable = !view.is_null() && unsafe { !(*view).internal.is_null() };
        if writable {
            self.writable_exports.fetch_sub(1, Ordering::Relaxed);
        }
        // Python drops the view's reference to this object right after.
        self.exports.fetch_sub(1, Ordering::Relaxed);
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "an object".into())
}
