//! The facilitator client's rules (endpoints, headers, reading answers, asking again), for
//! `lib/facilitator.js`, which only moves the bytes over fetch.

use napi_derive::napi;
use paywire_core::facilitator::{self as core, Endpoint};
use serde_json::Value;

use crate::errors::{OrThrow, bad_argument, error_value};
use crate::messages::{SettleResponse, SupportedResponse, VerifyResponse};

fn endpoint(name: &str) -> napi::Result<Endpoint> {
    match name {
        "verify" => Ok(Endpoint::Verify),
        "settle" => Ok(Endpoint::Settle),
        "supported" => Ok(Endpoint::Supported),
        other => Err(bad_argument(format!("{other:?} is not a facilitator endpoint (verify, settle, supported)"))),
    }
}

/// The default facilitator (x402.org, test networks only).
#[napi]
pub const DEFAULT_FACILITATOR_URL: &str = core::DEFAULT_URL;

/// How many times a call that got no answer at all is asked again (see the core's rule).
#[napi]
pub const FACILITATOR_RETRIES_WITHOUT_ANSWER: u32 = core::RETRIES_WITHOUT_ANSWER;

/// `[url, method]` of `endpoint` under the facilitator's base URL.
#[napi]
pub fn facilitator_endpoint(base: String, name: String) -> napi::Result<Vec<String>> {
    let e = endpoint(&name)?;
    Ok(vec![e.url(&base), e.method().to_string()])
}

/// The extra headers for `endpoint` out of what a user configured, as `[name, value]` pairs.
#[napi]
pub fn facilitator_headers(configured: Option<Value>, name: String) -> napi::Result<Vec<Vec<String>>> {
    let pairs = core::headers_for(&configured.unwrap_or(Value::Null), endpoint(&name)?).or_throw()?;
    Ok(pairs.into_iter().map(|(k, v)| vec![k, v]).collect())
}

/// Reads a `/verify` answer of HTTP `status`.
#[napi]
pub fn read_verify_answer(status: u32, body: String) -> napi::Result<VerifyResponse> {
    core::read_verify(status.min(999) as u16, &body).or_throw().map(VerifyResponse)
}

/// Reads a `/settle` answer of HTTP `status`.
#[napi]
pub fn read_settle_answer(status: u32, body: String) -> napi::Result<SettleResponse> {
    core::read_settle(status.min(999) as u16, &body).or_throw().map(SettleResponse)
}

/// Reads a `/supported` answer of HTTP `status`.
#[napi]
pub fn read_supported_answer(status: u32, body: String) -> napi::Result<SupportedResponse> {
    core::read_supported(status.min(999) as u16, &body).or_throw().map(SupportedResponse)
}

/// Whether to ask `/settle` once more with the same body (pending, with a transaction named).
#[napi]
pub fn settle_again(answer: &SettleResponse) -> bool {
    core::settle_again(&answer.0)
}

/// The `facilitator_unreachable` error's fields for a call that failed, naming the facilitator by its
/// redacted URL.
#[napi]
pub fn facilitator_unreachable(
    base: String,
    name: String,
    timed_out: bool,
    timeout_seconds: f64,
    detail: String,
) -> napi::Result<Value> {
    Ok(error_value(&core::unreachable(&base, endpoint(&name)?, timed_out, timeout_seconds, &detail)))
}

/// A URL as errors and logs may show it: no credentials, no query.
#[napi]
pub fn redact_url(url: String) -> String {
    core::redact_url(&url)
}

/// Response headers a browser client must be allowed to read.
#[napi]
pub const EXPOSED_HEADERS: &str = paywire_core::http::EXPOSED_HEADERS;

/// Request headers a browser client sends.
#[napi]
pub const ALLOWED_HEADERS: &str = paywire_core::http::ALLOWED_HEADERS;
