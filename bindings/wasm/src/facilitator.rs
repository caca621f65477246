//! The facilitator client's rules (endpoints, headers, reading answers, asking again), for
//! `lib/facilitator.js`, which only moves the bytes over fetch.

use paywire_core::facilitator::{self as core, Endpoint};
use wasm_bindgen::prelude::*;

use crate::errors::{OrThrow, bad_argument, error_value};
use crate::js::{json_value, pairs_to_js, to_js};
use crate::messages::{SettleResponse, SupportedResponse, VerifyResponse};

fn endpoint(name: &str) -> Result<Endpoint, JsValue> {
    match name {
        "verify" => Ok(Endpoint::Verify),
        "settle" => Ok(Endpoint::Settle),
        "supported" => Ok(Endpoint::Supported),
        other => Err(bad_argument(format!("{other:?} is not a facilitator endpoint (verify, settle, supported)"))),
    }
}

/// The constants the Node binding exports as values; `wasm/native.js` reads them once.
#[wasm_bindgen(js_name = "constants")]
pub fn constants() -> JsValue {
    to_js(&serde_json::json!({
        "DEFAULT_FACILITATOR_URL": core::DEFAULT_URL,
        "FACILITATOR_RETRIES_WITHOUT_ANSWER": core::RETRIES_WITHOUT_ANSWER,
        "EXPOSED_HEADERS": paywire_core::http::EXPOSED_HEADERS,
        "ALLOWED_HEADERS": paywire_core::http::ALLOWED_HEADERS,
        "MAX_HEADER_BYTES": paywire_core::codec::MAX_HEADER_BYTES,
        "RECEIPT_HEADER": paywire_core::credentials::access::RECEIPT_HEADER,
        "MCP_PAYMENT_META_KEY": paywire_core::mcp::PAYMENT_META_KEY,
        "MCP_PAYMENT_RESPONSE_META_KEY": paywire_core::mcp::PAYMENT_RESPONSE_META_KEY,
        "VERSION": env!("CARGO_PKG_VERSION"),
    }))
}

/// `[url, method]` of `endpoint` under the facilitator's base URL.
#[wasm_bindgen(js_name = "facilitatorEndpoint")]
pub fn facilitator_endpoint(base: String, name: String) -> Result<Vec<String>, JsValue> {
    let e = endpoint(&name)?;
    Ok(vec![e.url(&base), e.method().to_string()])
}

/// The extra headers for `endpoint` out of what a user configured, as `[name, value]` pairs.
#[wasm_bindgen(js_name = "facilitatorHeaders")]
pub fn facilitator_headers(configured: JsValue, name: String) -> Result<js_sys::Array, JsValue> {
    let configured = if crate::js::absent(&configured) { serde_json::Value::Null } else { json_value(&configured)? };
    let pairs = core::headers_for(&configured, endpoint(&name)?).or_throw()?;
    Ok(pairs_to_js(&pairs))
}

/// Reads a `/verify` answer of HTTP `status`.
#[wasm_bindgen(js_name = "readVerifyAnswer")]
pub fn read_verify_answer(status: u32, body: String) -> Result<VerifyResponse, JsValue> {
    core::read_verify(status.min(999) as u16, &body).or_throw().map(VerifyResponse)
}

/// Reads a `/settle` answer of HTTP `status`.
#[wasm_bindgen(js_name = "readSettleAnswer")]
pub fn read_settle_answer(status: u32, body: String) -> Result<SettleResponse, JsValue> {
    core::read_settle(status.min(999) as u16, &body).or_throw().map(SettleResponse)
}

/// Reads a `/supported` answer of HTTP `status`.
#[wasm_bindgen(js_name = "readSupportedAnswer")]
pub fn read_supported_answer(status: u32, body: String) -> Result<SupportedResponse, JsValue> {
    core::read_supported(status.min(999) as u16, &body).or_throw().map(SupportedResponse)
}

/// Whether to ask `/settle` once more with the same body (pending, with a transaction named).
#[wasm_bindgen(js_name = "settleAgain")]
pub fn settle_again(answer: &SettleResponse) -> bool {
    core::settle_again(&answer.0)
}

/// The `facilitator_unreachable` error's fields for a call that failed, naming the facilitator by its
/// redacted URL.
#[wasm_bindgen(js_name = "facilitatorUnreachable")]
pub fn facilitator_unreachable(
    base: String,
    name: String,
    timed_out: bool,
    timeout_seconds: f64,
    detail: String,
) -> Result<JsValue, JsValue> {
    Ok(to_js(&error_value(&core::unreachable(&base, endpoint(&name)?, timed_out, timeout_seconds, &detail))))
}

/// A URL as errors and logs may show it: no credentials, no query.
#[wasm_bindgen(js_name = "redactUrl")]
pub fn redact_url(url: String) -> String {
    core::redact_url(&url)
}
