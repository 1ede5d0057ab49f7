//! `sluice._native`: the PyO3 bindings of sluice.
//!
//! The only crate that touches the GIL or holds `Py<...>`. Ownership rules
//! (see docs/architecture.md):
//! - every Python object held by native code lives in a pipeline's
//!   [`pipeline::Callbacks`] table, which `Pipeline.__traverse__` visits and
//!   `Pipeline.__clear__` empties;
//! - a `Block` owns its C++ block; buffer views keep the `Block` object (and
//!   so the samples) alive through the view's own reference.

#[cfg(feature = "count-allocs")]
mod alloc_count;
mod block;
mod pipeline;
#[cfg(feature = "planted-leaks")]
mod planted;
mod stages;

use pyo3::prelude::*;
use pyo3::types::PyDict;

pub use block::PyBlock;
pub use pipeline::{PyPipeline, PySubscription};
pub use stages::PyNativeStage;

/// Live native instance counts per type: `{"Block": n, "Pipeline": n, ...}`.
#[pyfunction]
fn live_objects(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let counts = PyDict::new(py);
    for (name, count) in sluice_core::live_objects().entries() {
        counts.set_item(name, count)?;
    }
    Ok(counts)
}

// `gil_used = true`: Blocks expose raw sample memory whose reads and writes
// are serialised by the GIL; the module is not audited for free-threading.
#[pymodule(gil_used = true)]
#[pyo3(name = "_native")]
fn native_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBlock>()?;
    m.add_class::<PyNativeStage>()?;
    stages::add_classes(m)?;
    m.add_class::<PyPipeline>()?;
    m.add_class::<PySubscription>()?;
    m.add_function(wrap_pyfunction!(live_objects, m)?)?;
    #[cfg(feature = "count-allocs")]
    m.add_function(wrap_pyfunction!(alloc_count::_rust_heap, m)?)?;
    #[cfg(feature = "planted-leaks")]
    {
        // Importable as `sluice._planted` once `sluice` is imported.
        let planted = planted::module(m.py())?;
        m.add_submodule(&planted)?;
        m.py()
            .import("sys")?
            .getattr("modules")?
            .set_item("sluice._planted", &planted)?;
    }
    // `add_class` and `add_function` list every name in `__all__`, private
    // helpers too. Keep the public API, sorted: what `sluice/__init__.py`
    // re-exports with `from sluice._native import *`, and what the stub's
    // `__all__` says.
    let mut public = Vec::new();
    for name in m.index()?.iter() {
        let name: String = name.extract()?;
        if !name.starts_with('_') {
            public.push(name);
        }
    }
    public.sort();
    m.setattr("__all__", public)?;
    Ok(())
}
