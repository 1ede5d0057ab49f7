//! Native stages. A Python stage object holds a prototype C++ stage; a
//! pipeline appends a fresh copy, so stage state (MovingAverage's history)
//! belongs to the pipeline and one stage object can serve many pipelines.
//!
//! The classes are generated from sluice-core's table of native stages
//! ([`sluice_core::for_each_native_stage!`]): one class per row, named like
//! the row, with a getter per parameter and `repr` `Name(p1, p2)`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use sluice_core::stages::NativeStage;
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
    pub(crate) fn init(stage: Result<Stage, CoreError>) -> PyResult<PyClassInitializer<Self>> {
        let prototype = stage.map_err(value_error)?;
        Ok(PyClassInitializer::from(PyNativeStage { prototype }))
    }

    /// A fresh C++ stage for a pipeline to own.
    pub(crate) fn instantiate(&self) -> PyResult<Stage> {
        self.prototype.duplicate().map_err(value_error)
    }
}

macro_rules! native_stage_classes {
    ($( $(#[$doc:meta])* $name:ident { $($param:ident : $ty:ty),* $(,)? } ),* $(,)?) => {
        $(
            $(#[$doc])*
            #[pyclass(module = "sluice._native", extends = PyNativeStage, frozen)]
            pub struct $name {
                $(
                    #[pyo3(get)]
                    $param: $ty,
                )*
            }

            #[pymethods]
            impl $name {
                #[new]
                fn new($($param: $ty),*) -> PyResult<PyClassInitializer<Self>> {
                    let stage = sluice_core::stages::$name { $($param),* }.stage();
                    Ok(PyNativeStage::init(stage)?.add_subclass($name { $($param),* }))
                }

                fn __repr__(&self) -> String {
                    let params: &[String] = &[$(self.$param.to_string()),*];
                    format!("{}({})", stringify!($name), params.join(", "))
                }
            }
        )*

        /// Adds every native stage class to the module.
        pub(crate) fn add_classes(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $(m.add_class::<$name>()?;)*
            Ok(())
        }
    };
}

sluice_core::for_each_native_stage!(native_stage_classes);

/// "Gain, Offset, ...": the native stages' names, for error messages.
pub(crate) fn names() -> String {
    sluice_core::stages::NAMES.join(", ")
}
