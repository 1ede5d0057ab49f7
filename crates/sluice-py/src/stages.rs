//! Native stages. A Python stage object holds a prototype C++ stage; a
//! pipeline appends a fresh copy, so stage state (MovingAverage's history)
//! belongs to the pipeline and one stage object can serve many pipelines.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use sluice_core::{CoreError, Stage};

pub(crate) fn value_error(e: CoreError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Base class of the stages that run in native code without the GIL.
#[pyclass(module = "sluice._native", name = "NativeStage", subclass, frozen)]
pub struct PyNativeStage {
    prototype: Stage,
}

impl PyNativeStage {
    fn init(stage: Result<Stage, CoreError>) -> PyResult<PyClassInitializer<Self>> {
        let prototype = stage.map_err(value_error)?;
        Ok(PyClassInitializer::from(PyNativeStage { prototype }))
    }

    /// A fresh C++ stage for a pipeline to own.
    pub(crate) fn instantiate(&self) -> PyResult<Stage> {
        self.prototype.duplicate().map_err(value_error)
    }
}

/// Multiplies every sample by `factor` (finite).
#[pyclass(module = "sluice._native", name = "Gain", extends = PyNativeStage, frozen)]
pub struct PyGain {
    #[pyo3(get)]
    factor: f32,
}

#[pymethods]
impl PyGain {
    #[new]
    fn new(factor: f32) -> PyResult<PyClassInitializer<Self>> {
        Ok(PyNativeStage::init(Stage::gain(factor))?.add_subclass(PyGain { factor }))
    }

    fn __repr__(&self) -> String {
        format!("Gain({})", self.factor)
    }
}

/// Adds `value` (finite) to every sample.
#[pyclass(module = "sluice._native", name = "Offset", extends = PyNativeStage, frozen)]
pub struct PyOffset {
    #[pyo3(get)]
    value: f32,
}

#[pymethods]
impl PyOffset {
    #[new]
    fn new(value: f32) -> PyResult<PyClassInitializer<Self>> {
        Ok(PyNativeStage::init(Stage::offset(value))?.add_subclass(PyOffset { value }))
    }

    fn __repr__(&self) -> String {
        format!("Offset({})", self.value)
    }
}

/// Clamps every sample into `[lo, hi]`; `lo <= hi`.
#[pyclass(module = "sluice._native", name = "Clip", extends = PyNativeStage, frozen)]
pub struct PyClip {
    #[pyo3(get)]
    lo: f32,
    #[pyo3(get)]
    hi: f32,
}

#[pymethods]
impl PyClip {
    #[new]
    fn new(lo: f32, hi: f32) -> PyResult<PyClassInitializer<Self>> {
        Ok(PyNativeStage::init(Stage::clip(lo, hi))?.add_subclass(PyClip { lo, hi }))
    }

    fn __repr__(&self) -> String {
        format!("Clip({}, {})", self.lo, self.hi)
    }
}

/// Causal moving average per channel over `window >= 1` frames; the history
/// carries across pushes until `Pipeline.reset()`.
#[pyclass(module = "sluice._native", name = "MovingAverage", extends = PyNativeStage, frozen)]
pub struct PyMovingAverage {
    #[pyo3(get)]
    window: usize,
}

#[pymethods]
impl PyMovingAverage {
    #[new]
    fn new(window: i64) -> PyResult<PyClassInitializer<Self>> {
        let window = usize::try_from(window).map_err(|_| {
            PyValueError::new_err(format!("MovingAverage needs window >= 1, got {window}"))
        })?;
        Ok(PyNativeStage::init(Stage::moving_average(window))?
            .add_subclass(PyMovingAverage { window }))
    }

    fn __repr__(&self) -> String {
        format!("MovingAverage({})", self.window)
    }
}
