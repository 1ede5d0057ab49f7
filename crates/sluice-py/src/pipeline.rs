//! `Pipeline` and `Subscription`: the Python side of a push, and the only
//! place where native code holds Python objects.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::PyTraverseError;
use sluice_core::{Block, HookFailed, PushError, PushHooks, Stage};

use crate::block::{NoWriters, PyBlock};
use crate::stages::{self, value_error, PyNativeStage};

/// The Python callables a pipeline holds (callable stages and subscribers),
/// by the token the core knows them by.
///
/// The map's lock is only ever taken with the GIL held, never across a call
/// into Python, and no Python object is dropped while it is held (a drop
/// can run arbitrary code). So it is never contended for long, and
/// `__traverse__` can use `try_lock`.
#[derive(Default)]
pub(crate) struct Callbacks {
    next_token: AtomicU64,
    map: Mutex<HashMap<u64, Py<PyAny>>>,
}

impl Callbacks {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Py<PyAny>>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, callable: Py<PyAny>) -> u64 {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(token, callable);
        token
    }

    fn get(&self, py: Python<'_>, token: u64) -> Option<Py<PyAny>> {
        self.lock()
            .get(&token)
            .map(|callable| callable.clone_ref(py))
    }

    fn remove(&self, token: u64) -> Option<Py<PyAny>> {
        self.lock().remove(&token)
    }

    fn take_all(&self) -> HashMap<u64, Py<PyAny>> {
        std::mem::take(&mut *self.lock())
    }
}

/// An identifier of the current thread, for spotting re-entrant calls.
fn thread_key() -> usize {
    thread_local!(static KEY: u8 = const { 0 });
    KEY.with(|k| k as *const u8 as usize)
}

/// A pipeline of stages. Native stages run without the GIL; callable stages
/// and subscribers are called with it.
#[pyclass(module = "sluice._native", name = "Pipeline", frozen, weakref)]
pub struct PyPipeline {
    // Locked only with the GIL released (inside `py.detach`), so a push that
    // holds it while calling back into Python cannot deadlock a thread that
    // waits for it.
    core: Mutex<sluice_core::Pipeline>,
    // thread_key() of the thread inside a push, 0 when none: a stage or
    // subscriber that calls back into its own pipeline gets an error instead
    // of a deadlock.
    pushing_thread: AtomicUsize,
    stage_count: AtomicUsize,
    callbacks: Arc<Callbacks>,
}

impl PyPipeline {
    fn check_not_reentrant(&self, what: &str) -> PyResult<()> {
        if self.pushing_thread.load(Ordering::Acquire) == thread_key() {
            return Err(PyRuntimeError::new_err(format!(
                "cannot {what} from inside this pipeline's own push \
                 (a stage or subscriber called back into its pipeline)"
            )));
        }
        Ok(())
    }

    /// Runs `f` on the core with the GIL released while waiting for the lock.
    fn with_core<T: Send>(
        &self,
        py: Python<'_>,
        what: &str,
        f: impl FnOnce(&mut sluice_core::Pipeline) -> T + Send,
    ) -> PyResult<T> {
        self.check_not_reentrant(what)?;
        Ok(py.detach(|| f(&mut self.core.lock().unwrap_or_else(PoisonError::into_inner))))
    }

    fn append_stage(&self, py: Python<'_>, stage: &Bound<'_, PyAny>) -> PyResult<()> {
        self.check_not_reentrant("append a stage")?;
        let (native, token) = if let Ok(native) = stage.cast::<PyNativeStage>() {
            (native.get().instantiate()?, None)
        } else if stage.is_callable() {
            let token = self.callbacks.insert(stage.clone().unbind());
            (Stage::callback(token).map_err(value_error)?, Some(token))
        } else {
            return Err(PyTypeError::new_err(format!(
                "a stage must be a sluice native stage ({}) \
                 or a callable f(Block) -> Block | None, got {}",
                stages::names(),
                stage.get_type().name()?
            )));
        };
        let appended = self.with_core(py, "append a stage", |core| core.append(native))?;
        if let Err(e) = appended {
            drop(token.and_then(|t| self.callbacks.remove(t)));
            return Err(value_error(e));
        }
        self.stage_count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// `Pipeline(stages=())`'s argument: not given, or any object (which must be
/// an iterable of stages). An `Option` would let `stages=None` through too.
enum StagesArg<'py> {
    Absent,
    Given(Bound<'py, PyAny>),
}

impl<'a, 'py> FromPyObject<'a, 'py> for StagesArg<'py> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(StagesArg::Given(obj.to_owned()))
    }
}

#[pymethods]
impl PyPipeline {
    #[new]
    #[pyo3(signature = (stages = StagesArg::Absent), text_signature = "(stages=())")]
    fn new<'py>(py: Python<'py>, stages: StagesArg<'py>) -> PyResult<PyPipeline> {
        let pipeline = PyPipeline {
            core: Mutex::new(sluice_core::Pipeline::new().map_err(value_error)?),
            pushing_thread: AtomicUsize::new(0),
            stage_count: AtomicUsize::new(0),
            callbacks: Arc::default(),
        };
        if let StagesArg::Given(stages) = stages {
            for stage in stages.try_iter()? {
                pipeline.append_stage(py, &stage?)?;
            }
        }
        Ok(pipeline)
    }

    /// Appends a native stage or a callable `f(Block) -> Block | None`.
    fn append(&self, py: Python<'_>, stage: &Bound<'_, PyAny>) -> PyResult<()> {
        self.append_stage(py, stage)
    }

    fn __len__(&self) -> usize {
        self.stage_count.load(Ordering::Relaxed)
    }

    /// Clears the state of every stage (MovingAverage's history).
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        self.with_core(py, "reset the pipeline", |core| core.reset())
    }

    /// Runs every stage on a copy of `block` and returns the output, after
    /// calling every active subscriber with it.
    fn push(&self, py: Python<'_>, block: &Bound<'_, PyBlock>) -> PyResult<Py<PyBlock>> {
        self.check_not_reentrant("push")?;
        // The core reads the input with the GIL released, so nobody may write
        // it meanwhile. With no writable view of it, `exclude_writers` makes
        // sure none appears until `hooks` drops the guard (at the first hook:
        // the core has read the input by then). With one, a Python thread may
        // write through it at any time: copy the input with the GIL held and
        // give the copy to the core, whose stages then run on it in place.
        // The input object stays alive: `block` borrows it.
        let pyblock = block.get();
        let guard = pyblock.exclude_writers(py);
        let input = match &guard {
            Some(guard) => Input::Shared(guard.native()),
            None => Input::Owned(pyblock.to_native(py)?),
        };
        let mut hooks = PythonHooks {
            callbacks: &self.callbacks,
            error: None,
            output: Output::None,
            reading_input: guard,
        };
        let me = thread_key();
        let result = py.detach(|| {
            let mut core = self.core.lock().unwrap_or_else(PoisonError::into_inner);
            self.pushing_thread.store(me, Ordering::Release);
            let result = match input {
                Input::Shared(input) => core.push(input, &mut hooks),
                Input::Owned(input) => core.push_owned(input, &mut hooks),
            };
            self.pushing_thread.store(0, Ordering::Release);
            result
        });
        match result {
            Ok(()) => hooks.output.into_object(py),
            Err(PushError::Hook) => Err(hooks.error.take().unwrap_or_else(|| {
                PyRuntimeError::new_err("a callable stage or subscriber failed")
            })),
            Err(PushError::Core(e)) => Err(PyValueError::new_err(e.to_string())),
        }
    }

    /// Calls `callback(block)` after every push until cancelled.
    fn subscribe(&self, py: Python<'_>, callback: &Bound<'_, PyAny>) -> PyResult<PySubscription> {
        if !callback.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "subscribe needs a callable callback(Block), got {}",
                callback.get_type().name()?
            )));
        }
        self.check_not_reentrant("subscribe")?;
        let token = self.callbacks.insert(callback.clone().unbind());
        match self.with_core(py, "subscribe", |core| core.subscribe(token))? {
            Ok(subscription) => Ok(PySubscription {
                subscription,
                callbacks: Arc::downgrade(&self.callbacks),
            }),
            Err(e) => {
                drop(self.callbacks.remove(token));
                Err(value_error(e))
            }
        }
    }

    fn __repr__(&self) -> String {
        format!("<sluice.Pipeline with {} stages>", self.__len__())
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // The lock is never held across anything that could start a
        // collection, so try_lock succeeds; skipping a visit would only make
        // the collector keep objects, never free live ones.
        if let Ok(map) = self.callbacks.map.try_lock() {
            for callable in map.values() {
                visit.call(callable)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        // Dropped after the lock is released: a drop may run Python code.
        drop(self.callbacks.take_all());
    }
}

/// A push's input: the caller's block, read under a `NoWriters` guard, or a
/// copy taken with the GIL held.
enum Input<'a> {
    Shared(&'a Block),
    Owned(Block),
}

/// A push's output: native until a subscriber or the caller needs the
/// Python object, so a push without subscribers never takes the GIL inside.
enum Output {
    None,
    Native(Block),
    Python(Py<PyBlock>),
}

impl Output {
    fn object(&mut self, py: Python<'_>) -> PyResult<Py<PyBlock>> {
        match std::mem::replace(self, Output::None) {
            Output::None => Err(PyRuntimeError::new_err("push produced no output")),
            Output::Native(block) => {
                // The push's output becomes a Python object here: under
                // Valgrind, check that the core wrote every sample of it.
                sluice_core::valgrind::check_defined(block.samples());
                let object = Py::new(py, PyBlock::new(block))?;
                *self = Output::Python(object.clone_ref(py));
                Ok(object)
            }
            Output::Python(object) => {
                *self = Output::Python(object.clone_ref(py));
                Ok(object)
            }
        }
    }

    fn into_object(mut self, py: Python<'_>) -> PyResult<Py<PyBlock>> {
        self.object(py)
    }
}

/// What the core calls during a push; runs with the GIL released and takes
/// it only to call into Python.
struct PythonHooks<'a> {
    callbacks: &'a Callbacks,
    // The exception that stopped the push, re-raised as the same object.
    error: Option<PyErr>,
    output: Output,
    // Keeps writers off the input until the core has read it, which it has
    // by the first hook call (cpp/include/sluice/pipeline.h): dropped there.
    reading_input: Option<NoWriters<'a>>,
}

impl PythonHooks<'_> {
    fn input_read(&mut self) {
        self.reading_input = None;
    }

    fn fail(&mut self, error: PyErr) -> HookFailed {
        self.error = Some(error);
        HookFailed::Failed
    }

    fn run_stage(&mut self, py: Python<'_>, token: u64, block: Block) -> PyResult<Block> {
        let callable = self
            .callbacks
            .get(py, token)
            .ok_or_else(|| PyRuntimeError::new_err("this pipeline's callables were cleared"))?;
        // The block in flight is handed to Python here: under Valgrind,
        // check that the stages before wrote every sample of it.
        sluice_core::valgrind::check_defined(block.samples());
        let given = Bound::new(py, PyBlock::new(block))?;
        let returned = callable.bind(py).call1((given.clone(),))?;
        let result = if returned.is_none() {
            given
        } else {
            returned.cast_into::<PyBlock>().map_err(|e| {
                PyTypeError::new_err(format!(
                    "a callable stage must return a sluice.Block or None, got {}",
                    e.into_inner()
                        .get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ))
            })?
        };
        // The stage may keep the object it returned; the core gets a copy.
        result.get().to_native(py)
    }

    fn run_subscriber(&mut self, py: Python<'_>, token: u64) -> PyResult<()> {
        // Missing: cancelled since the push started.
        let Some(callback) = self.callbacks.get(py, token) else {
            return Ok(());
        };
        let output = self.output.object(py)?;
        callback.bind(py).call1((output,))?;
        Ok(())
    }
}

impl PushHooks for PythonHooks<'_> {
    fn call_stage(&mut self, token: u64, block: Block) -> Result<Block, HookFailed> {
        self.input_read();
        Python::attach(|py| self.run_stage(py, token, block)).map_err(|e| self.fail(e))
    }

    fn deliver(&mut self, output: Block) {
        self.input_read();
        self.output = Output::Native(output);
    }

    fn notify(&mut self, token: u64) -> Result<(), HookFailed> {
        Python::attach(|py| self.run_subscriber(py, token)).map_err(|e| self.fail(e))
    }
}

/// A subscriber's registration. `cancel()` drops the pipeline's reference
/// to the callback at once; `with pipeline.subscribe(cb):` cancels on exit.
#[pyclass(module = "sluice._native", name = "Subscription", frozen, weakref)]
pub struct PySubscription {
    subscription: sluice_core::Subscription,
    // Weak: a subscription does not keep its pipeline's callables alive.
    callbacks: Weak<Callbacks>,
}

#[pymethods]
impl PySubscription {
    /// Idempotent; safe from inside a callback, during a push.
    fn cancel(&self) {
        self.subscription.cancel();
        if let Some(callbacks) = self.callbacks.upgrade() {
            drop(callbacks.remove(self.subscription.token()));
        }
    }

    #[getter]
    fn active(&self) -> bool {
        self.subscription.is_active()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc_info))]
    fn __exit__(&self, _exc_info: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.cancel();
        false
    }

    fn __repr__(&self) -> String {
        let state = if self.active() { "active" } else { "cancelled" };
        format!("<sluice.Subscription {state}>")
    }
}
