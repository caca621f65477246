//! The facilitator client's rules (endpoints, headers, reading answers, asking again), for
//! `paywire.facilitator`, which only moves the bytes over httpx.

use paywire_core::facilitator::{self as core, Endpoint};
use pyo3::prelude::*;

use crate::convert::from_py;
use crate::errors::{OrRaise, bad_argument, py_err};
use crate::messages::{SettleResponse, SupportedResponse, VerifyResponse};

fn endpoint(py: Python<'_>, name: &str) -> PyResult<Endpoint> {
    match name {
        "verify" => Ok(Endpoint::Verify),
        "settle" => Ok(Endpoint::Settle),
        "supported" => Ok(Endpoint::Supported),
        other => Err(bad_argument(py, format!("{other:?} is not a facilitator endpoint (verify, settle, supported)"))),
    }
}

/// The URL of `endpoint` under the facilitator's base URL, and its HTTP method.
#[pyfunction]
fn facilitator_endpoint(py: Python<'_>, base: &str, name: &str) -> PyResult<(String, &'static str)> {
    let e = endpoint(py, name)?;
    Ok((e.url(base), e.method()))
}

/// The extra headers for `endpoint` out of what a user configured (a flat dict, or one keyed by endpoint).
#[pyfunction]
fn facilitator_headers(py: Python<'_>, configured: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<(String, String)>> {
    core::headers_for(&from_py(configured)?, endpoint(py, name)?).or_raise(py)
}

/// Reads a `/verify` answer of HTTP `status`.
#[pyfunction]
fn read_verify_answer(py: Python<'_>, status: u16, body: &str) -> PyResult<VerifyResponse> {
    core::read_verify(status, body).or_raise(py).map(VerifyResponse)
}

/// Reads a `/settle` answer of HTTP `status`.
#[pyfunction]
fn read_settle_answer(py: Python<'_>, status: u16, body: &str) -> PyResult<SettleResponse> {
    core::read_settle(status, body).or_raise(py).map(SettleResponse)
}

/// Reads a `/supported` answer of HTTP `status`.
#[pyfunction]
fn read_supported_answer(py: Python<'_>, status: u16, body: &str) -> PyResult<SupportedResponse> {
    core::read_supported(status, body).or_raise(py).map(SupportedResponse)
}

/// Whether to ask `/settle` once more with the same body (pending, with a transaction named).
#[pyfunction]
fn settle_again(answer: &SettleResponse) -> bool {
    core::settle_again(&answer.0)
}

/// The `facilitator_unreachable` error for a call that failed (`timed_out` or not), naming the facilitator
/// by its redacted URL.
#[pyfunction]
fn facilitator_unreachable(
    py: Python<'_>,
    base: &str,
    name: &str,
    timed_out: bool,
    timeout_seconds: f64,
    detail: &str,
) -> PyResult<Py<PyAny>> {
    let error = core::unreachable(base, endpoint(py, name)?, timed_out, timeout_seconds, detail);
    Ok(py_err(py, error).into_value(py).into_any())
}

/// A URL as errors and logs may show it: no credentials, no query.
#[pyfunction]
fn redact_url(url: &str) -> String {
    core::redact_url(url)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DEFAULT_FACILITATOR_URL", core::DEFAULT_URL)?;
    m.add("DEFAULT_FACILITATOR_TIMEOUT", core::DEFAULT_TIMEOUT_SECONDS)?;
    m.add("FACILITATOR_RETRIES_WITHOUT_ANSWER", core::RETRIES_WITHOUT_ANSWER)?;
    m.add("EXPOSED_HEADERS", paywire_core::http::EXPOSED_HEADERS)?;
    m.add("ALLOWED_HEADERS", paywire_core::http::ALLOWED_HEADERS)?;
    m.add_function(wrap_pyfunction!(facilitator_endpoint, m)?)?;
    m.add_function(wrap_pyfunction!(facilitator_headers, m)?)?;
    m.add_function(wrap_pyfunction!(read_verify_answer, m)?)?;
    m.add_function(wrap_pyfunction!(read_settle_answer, m)?)?;
    m.add_function(wrap_pyfunction!(read_supported_answer, m)?)?;
    m.add_function(wrap_pyfunction!(settle_again, m)?)?;
    m.add_function(wrap_pyfunction!(facilitator_unreachable, m)?)?;
    m.add_function(wrap_pyfunction!(redact_url, m)?)?;
    Ok(())
}
