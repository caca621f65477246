//! x402 over MCP for Node: the core's mapping of a tool call onto the gate and the paying client
//! (`paywire_core::mcp`). JSON crosses as text; the glue in `lib/mcp.js` moves it to and from the MCP SDK.

use napi::bindgen_prelude::Uint8Array;
use napi_derive::napi;
use paywire_core::mcp as core;

use crate::convert::{bytes, header_pairs};
use crate::errors::{OrThrow, bad_argument};
use crate::exchange::{FetchRequest, FetchStep, PricedRoute, RequestHead};
use crate::server::PriceTag;

/// The `_meta` key of a tool call's payment.
#[napi]
pub const MCP_PAYMENT_META_KEY: &str = core::PAYMENT_META_KEY;
/// The `_meta` key of a tool result's settlement.
#[napi]
pub const MCP_PAYMENT_RESPONSE_META_KEY: &str = core::PAYMENT_RESPONSE_META_KEY;

/// A response to feed a machine: the paying client (`feedResponse`, then `feedBody`) or the gate
/// (`feedHandled`).
#[napi(object)]
pub struct McpResponse {
    /// The status.
    pub status: u32,
    /// The headers, as `[name, value]` pairs.
    pub headers: Vec<Vec<String>>,
    /// The body.
    pub body: Uint8Array,
}

fn response(r: paywire_core::http::Response) -> McpResponse {
    McpResponse {
        status: u32::from(r.status),
        headers: r.headers.into_iter().map(|(k, v)| vec![k, v]).collect(),
        body: bytes(&r.body),
    }
}

/// The priced route of tool `name` (its bill says `Tool: {name}` unless `description` is given).
#[napi]
pub fn mcp_tool_route(name: String, tags: Vec<&PriceTag>, description: Option<String>) -> PricedRoute {
    PricedRoute(core::tool_route(&name, tags.into_iter().map(|t| t.0.clone()).collect(), description))
}

/// The request `PaidFetch.start` takes for a call of tool `name` with `arguments` (JSON object text).
#[napi]
pub fn mcp_tool_request(name: String, arguments: String) -> napi::Result<FetchRequest> {
    let r = core::tool_request(&name, &arguments).or_throw()?;
    Ok(FetchRequest { method: r.method, url: r.url, headers: Vec::new(), body: r.body.as_deref().map(bytes) })
}

/// The `tools/call` params (JSON text) for a `send` step, with the caller's `_meta` (JSON text) and the step's
/// payment as `_meta["x402/payment"]`.
#[napi]
pub fn mcp_call_params(step: &FetchStep, meta: Option<String>) -> napi::Result<String> {
    let request = step.0.request().ok_or_else(|| bad_argument("mcpCallParams takes a `send` step"))?;
    core::call_params(request, meta.as_deref()).or_throw()
}

/// The response the paying client is fed for a tool result (JSON text).
#[napi]
pub fn mcp_result_response(result: String) -> napi::Result<McpResponse> {
    core::result_response(&result).or_throw().map(response)
}

/// The request head `Gate.start` takes for a call of tool `name` with the call's `_meta` (JSON text).
#[napi]
pub fn mcp_tool_head(name: String, meta: Option<String>) -> napi::Result<RequestHead> {
    let h = core::tool_head(&name, meta.as_deref()).or_throw()?;
    Ok(RequestHead {
        method: h.method,
        path: h.path,
        path_and_query: h.path_and_query,
        origin: h.origin,
        headers: h.headers.into_iter().map(|(k, v)| vec![k, v]).collect(),
    })
}

/// The body a `readBody` step is fed for a call with `arguments` (JSON object text): canonical JSON.
#[napi]
pub fn mcp_arguments_body(arguments: String) -> napi::Result<Uint8Array> {
    core::arguments_body(&arguments).or_throw().map(|b| bytes(&b))
}

/// The response a `runHandler` step is fed for the tool's result (JSON text).
#[napi]
pub fn mcp_handler_response(result: String) -> napi::Result<McpResponse> {
    core::handler_response(&result).or_throw().map(response)
}

/// The tool result (JSON text) to answer for a `respond` step's status, headers and body.
#[napi]
pub fn mcp_tool_result(status: u32, headers: Vec<Vec<String>>, body: Uint8Array) -> napi::Result<String> {
    let status = u16::try_from(status).map_err(|_| bad_argument(format!("status {status} is not an HTTP status")))?;
    let response = paywire_core::http::Response { status, headers: header_pairs(headers)?, body: body.to_vec() };
    core::tool_result(&response).or_throw()
}
