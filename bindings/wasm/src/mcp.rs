//! x402 over MCP, with the Node binding's names: the core's mapping of a tool call onto the gate and the
//! paying client (`paywire_core::mcp`). JSON crosses as text.

use paywire_core::mcp as core;
use wasm_bindgen::prelude::*;

use crate::errors::{OrThrow, bad_argument};
use crate::exchange::PricedRoute;
use crate::fetch::FetchStep;
use crate::js::{bytes, header_pairs, pairs_to_js};
use crate::server::PriceTag;

/// `{status, headers, body}` of a response to feed a machine.
fn response(r: paywire_core::http::Response) -> JsValue {
    let object = js_sys::Object::new();
    // Setting members of a fresh plain object cannot fail.
    let _ = js_sys::Reflect::set(&object, &"status".into(), &JsValue::from(r.status));
    let _ = js_sys::Reflect::set(&object, &"headers".into(), &pairs_to_js(&r.headers));
    let _ = js_sys::Reflect::set(&object, &"body".into(), &bytes(&r.body));
    object.into()
}

/// The priced route of tool `name` (tags by value: see `PriceTag.copy`).
#[wasm_bindgen(js_name = "mcpToolRoute")]
pub fn mcp_tool_route(name: String, tags: Vec<PriceTag>, description: Option<String>) -> PricedRoute {
    PricedRoute(core::tool_route(&name, tags.into_iter().map(|t| t.0).collect(), description))
}

/// `{method, url, headers, body}` that `PaidFetch.start` takes for a call of tool `name`.
#[wasm_bindgen(js_name = "mcpToolRequest")]
pub fn mcp_tool_request(name: String, arguments: String) -> Result<JsValue, JsValue> {
    let r = core::tool_request(&name, &arguments).or_throw()?;
    let object = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&object, &"method".into(), &r.method.into());
    let _ = js_sys::Reflect::set(&object, &"url".into(), &r.url.into());
    let _ = js_sys::Reflect::set(&object, &"headers".into(), &js_sys::Array::new());
    let _ = js_sys::Reflect::set(&object, &"body".into(), &bytes(r.body.as_deref().unwrap_or_default()));
    Ok(object.into())
}

/// The `tools/call` params (JSON text) for a `send` step.
#[wasm_bindgen(js_name = "mcpCallParams")]
pub fn mcp_call_params(step: &FetchStep, meta: Option<String>) -> Result<String, JsValue> {
    let request = step.0.request().ok_or_else(|| bad_argument("mcpCallParams takes a `send` step"))?;
    core::call_params(request, meta.as_deref()).or_throw()
}

/// The response the paying client is fed for a tool result (JSON text).
#[wasm_bindgen(js_name = "mcpResultResponse")]
pub fn mcp_result_response(result: String) -> Result<JsValue, JsValue> {
    core::result_response(&result).or_throw().map(response)
}

/// The request head `Gate.start` takes for a call of tool `name` with the call's `_meta` (JSON text).
#[wasm_bindgen(js_name = "mcpToolHead")]
pub fn mcp_tool_head(name: String, meta: Option<String>) -> Result<JsValue, JsValue> {
    let h = core::tool_head(&name, meta.as_deref()).or_throw()?;
    let object = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&object, &"method".into(), &h.method.into());
    let _ = js_sys::Reflect::set(&object, &"path".into(), &h.path.into());
    let _ = js_sys::Reflect::set(&object, &"pathAndQuery".into(), &h.path_and_query.into());
    let _ = js_sys::Reflect::set(&object, &"origin".into(), &h.origin.into());
    let _ = js_sys::Reflect::set(&object, &"headers".into(), &pairs_to_js(&h.headers));
    Ok(object.into())
}

/// The body a `readBody` step is fed for a call with `arguments` (JSON object text).
#[wasm_bindgen(js_name = "mcpArgumentsBody")]
pub fn mcp_arguments_body(arguments: String) -> Result<js_sys::Uint8Array, JsValue> {
    core::arguments_body(&arguments).or_throw().map(|b| bytes(&b))
}

/// The response a `runHandler` step is fed for the tool's result (JSON text).
#[wasm_bindgen(js_name = "mcpHandlerResponse")]
pub fn mcp_handler_response(result: String) -> Result<JsValue, JsValue> {
    core::handler_response(&result).or_throw().map(response)
}

/// The tool result (JSON text) to answer for a `respond` step's status, headers and body.
#[wasm_bindgen(js_name = "mcpToolResult")]
pub fn mcp_tool_result(status: u32, headers: JsValue, body: Vec<u8>) -> Result<String, JsValue> {
    let status = u16::try_from(status).map_err(|_| bad_argument(format!("status {status} is not an HTTP status")))?;
    let response = paywire_core::http::Response { status, headers: header_pairs(&headers)?, body };
    core::tool_result(&response).or_throw()
}
