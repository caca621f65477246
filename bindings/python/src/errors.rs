//! paywire's errors as Python exceptions: one `PaywireError` class carrying the core's stable code.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

pyo3::create_exception!(
    paywire,
    PaywireError,
    pyo3::exceptions::PyException,
    "paywire's error: `code` (stable, machine-readable; x402's reason string where x402 has one), `message` \
     (what was wrong and what to do), `category`, `payer` (when known) and `refusals` (the offers a payer refused)."
);

/// Converts a core error into a `PaywireError` with its attributes set.
pub fn py_err(py: Python<'_>, error: paywire_core::Error) -> PyErr {
    let err = PaywireError::new_err(error.to_string());
    let value = err.value(py);
    let set = || -> PyResult<()> {
        value.setattr("code", error.code().as_str())?;
        value.setattr("message", error.message())?;
        value.setattr("category", error.category().as_str())?;
        value.setattr("payer", error.payer())?;
        let refusals = PyList::empty(py);
        for r in error.refusals() {
            let d = PyDict::new(py);
            d.set_item("index", r.index)?;
            d.set_item("offer", &r.offer)?;
            d.set_item("reasons", &r.reasons)?;
            refusals.append(d)?;
        }
        value.setattr("refusals", refusals)?;
        Ok(())
    };
    // Setting attributes on a fresh exception instance cannot fail in practice; if it did, the error still
    // carries its message, which includes the code.
    let _ = set();
    err
}

/// The category of an error code ("malformed_input", "refused", "configuration", "local", "upstream").
#[pyfunction]
pub fn error_category(py: Python<'_>, code: &str) -> PyResult<&'static str> {
    paywire_core::Error::from_code_str(code, "").map(|e| e.category().as_str()).or_raise(py)
}

/// A `PaywireError` with a known `code` and `message`, for Python code that raises paywire's errors (the
/// glue does, so its errors look exactly like the core's).
#[pyfunction]
#[pyo3(signature = (code, message, payer=None))]
pub fn new_error(py: Python<'_>, code: &str, message: &str, payer: Option<String>) -> PyResult<Py<PyAny>> {
    let mut error = paywire_core::Error::from_code_str(code, message).or_raise(py)?;
    if let Some(payer) = payer {
        error = error.with_payer(payer);
    }
    Ok(py_err(py, error).into_value(py).into_any())
}

/// `?`-friendly conversion of core results.
pub trait OrRaise<T> {
    /// The value, or the error as a `PaywireError`.
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrRaise<T> for paywire_core::Result<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| py_err(py, e))
    }
}

/// A `PaywireError` for a bad argument passed by Python code.
pub fn bad_argument(py: Python<'_>, message: impl Into<String>) -> PyErr {
    py_err(py, paywire_core::Error::new(paywire_core::ErrorCode::InvalidArgument, message.into()))
}
