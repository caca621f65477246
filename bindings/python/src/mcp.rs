//! x402 over MCP for Python: the core's mapping of a tool call onto the gate and the paying client
//! (`paywire_core::mcp`). JSON crosses as text; the glue in `paywire.mcp` moves it to and from the MCP SDK.

use paywire_core::mcp as core;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::convert::headers_from_py;
use crate::errors::{OrRaise, bad_argument};
use crate::exchange::{FetchStep, PricedRoute};
use crate::server::PriceTag;

type ResponseParts<'py> = (u16, Vec<(String, String)>, Bound<'py, PyBytes>);
/// `(method, path_and_query, origin, headers)` of a request head.
type HeadParts = (String, String, String, Vec<(String, String)>);

fn parts<'py>(py: Python<'py>, response: paywire_core::http::Response) -> ResponseParts<'py> {
    (response.status, response.headers, PyBytes::new(py, &response.body))
}

/// The priced route of tool `name` (its bill says `Tool: {name}` unless `description` is given).
#[pyfunction]
#[pyo3(signature = (name, tags, description=None))]
fn mcp_tool_route(name: &str, tags: Vec<PriceTag>, description: Option<String>) -> PricedRoute {
    PricedRoute(core::tool_route(name, tags.into_iter().map(|t| t.0).collect(), description))
}

/// `(method, url, body)` of the request `PaidFetch.start` takes for a call of tool `name` with `arguments`
/// (JSON object text).
#[pyfunction]
fn mcp_tool_request<'py>(
    py: Python<'py>,
    name: &str,
    arguments: &str,
) -> PyResult<(String, String, Bound<'py, PyBytes>)> {
    let request = core::tool_request(name, arguments).or_raise(py)?;
    Ok((request.method, request.url, PyBytes::new(py, request.body.as_deref().unwrap_or_default())))
}

/// The `tools/call` params (JSON text) for a "send" step, with the caller's `_meta` (JSON text) and the
/// step's payment as `_meta["x402/payment"]`.
#[pyfunction]
#[pyo3(signature = (step, meta=None))]
fn mcp_call_params(py: Python<'_>, step: &FetchStep, meta: Option<&str>) -> PyResult<String> {
    let request = step.0.request().ok_or_else(|| bad_argument(py, "mcp_call_params takes a \"send\" step"))?;
    core::call_params(request, meta).or_raise(py)
}

/// `(status, headers, body)` the paying client is fed for a tool result (JSON text).
#[pyfunction]
fn mcp_result_response<'py>(py: Python<'py>, result: &str) -> PyResult<ResponseParts<'py>> {
    Ok(parts(py, core::result_response(result).or_raise(py)?))
}

/// `(method, path_and_query, origin, headers)` that `Gate.start` takes for a call of tool `name` with the
/// call's `_meta` (JSON text).
#[pyfunction]
#[pyo3(signature = (name, meta=None))]
fn mcp_tool_head(py: Python<'_>, name: &str, meta: Option<&str>) -> PyResult<HeadParts> {
    let head = core::tool_head(name, meta).or_raise(py)?;
    Ok((head.method, head.path_and_query, head.origin, head.headers))
}

/// The body a "read_body" step is fed for a call with `arguments` (JSON object text): canonical JSON.
#[pyfunction]
fn mcp_arguments_body<'py>(py: Python<'py>, arguments: &str) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &core::arguments_body(arguments).or_raise(py)?))
}

/// `(status, headers, body)` a "run_handler" step is fed for the tool's result (JSON text).
#[pyfunction]
fn mcp_handler_response<'py>(py: Python<'py>, result: &str) -> PyResult<ResponseParts<'py>> {
    Ok(parts(py, core::handler_response(result).or_raise(py)?))
}

/// The tool result (JSON text) to answer for a "respond" step's status, headers and body.
#[pyfunction]
fn mcp_tool_result(py: Python<'_>, status: u16, headers: &Bound<'_, PyAny>, body: Vec<u8>) -> PyResult<String> {
    let response = paywire_core::http::Response { status, headers: headers_from_py(headers)?, body };
    core::tool_result(&response).or_raise(py)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MCP_PAYMENT_META_KEY", core::PAYMENT_META_KEY)?;
    m.add("MCP_PAYMENT_RESPONSE_META_KEY", core::PAYMENT_RESPONSE_META_KEY)?;
    m.add_function(wrap_pyfunction!(mcp_tool_route, m)?)?;
    m.add_function(wrap_pyfunction!(mcp_tool_request, m)?)?;
    m.add_function(wrap_pyfunction!(mcp_call_params, m)?)?;
    m.add_function(wrap_pyfunction!(mcp_result_response, m)?)?;
    m.add_function(wrap_pyfunction!(mcp_tool_head, m)?)?;
    m.add_function(wrap_pyfunction!(mcp_arguments_body, m)?)?;
    m.add_function(wrap_pyfunction!(mcp_handler_response, m)?)?;
    m.add_function(wrap_pyfunction!(mcp_tool_result, m)?)?;
    Ok(())
}
