//! The facilitator client's rules (endpoints, headers, reading answers, asking again), for the Kotlin and
//! Swift facilitator clients, which only move the bytes.

use std::sync::Arc;

use paywire_core::facilitator::{self as core, Endpoint};

use crate::convert::{HttpHeader, value_from};
use crate::error::{ErrorDetails, Result, bad_argument};
use crate::messages::{SettleResponse, VerifyResponse};

fn endpoint(name: &str) -> Result<Endpoint> {
    match name {
        "verify" => Ok(Endpoint::Verify),
        "settle" => Ok(Endpoint::Settle),
        "supported" => Ok(Endpoint::Supported),
        other => Err(bad_argument(format!("{other:?} is not a facilitator endpoint (verify, settle, supported)"))),
    }
}

/// A facilitator endpoint's URL and HTTP method. Printed, the URL shows no credentials or query.
#[derive(Clone, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct FacilitatorEndpoint {
    /// The URL.
    pub url: String,
    /// `GET` or `POST`.
    pub method: String,
}

impl std::fmt::Debug for FacilitatorEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FacilitatorEndpoint")
            .field("url", &core::redact_url(&self.url))
            .field("method", &self.method)
            .finish()
    }
}

/// The default facilitator (x402.org, test networks only).
#[uniffi::export]
pub fn default_facilitator_url() -> String {
    core::DEFAULT_URL.to_string()
}

/// The URL and method of `endpoint` (`verify`, `settle`, `supported`) under a facilitator's base URL.
#[uniffi::export]
pub fn facilitator_endpoint(base: String, endpoint_name: String) -> Result<FacilitatorEndpoint> {
    let e = endpoint(&endpoint_name)?;
    Ok(FacilitatorEndpoint { url: e.url(&base), method: e.method().to_string() })
}

/// The extra headers for `endpoint` out of the configured JSON (a flat object, or one keyed by endpoint).
#[uniffi::export]
pub fn facilitator_headers(configured_json: Option<String>, endpoint_name: String) -> Result<Vec<HttpHeader>> {
    let configured = match configured_json {
        Some(text) => value_from(&text, "the facilitator headers")?,
        None => serde_json::Value::Null,
    };
    let pairs = core::headers_for(&configured, endpoint(&endpoint_name)?)?;
    Ok(pairs.into_iter().map(|(name, value)| HttpHeader { name, value }).collect())
}

/// Reads a `/verify` answer of HTTP `status`.
#[uniffi::export]
pub fn read_verify_answer(status: u16, body: String) -> Result<VerifyResponse> {
    Ok(core::read_verify(status, &body)?.into())
}

/// Reads a `/settle` answer of HTTP `status`.
#[uniffi::export]
pub fn read_settle_answer(status: u16, body: String) -> Result<Arc<SettleResponse>> {
    Ok(Arc::new(SettleResponse(core::read_settle(status, &body)?)))
}

/// Whether to ask `/settle` once more with the same body (pending, with a transaction named).
#[uniffi::export]
pub fn settle_again(answer: Arc<SettleResponse>) -> bool {
    core::settle_again(&answer.0)
}

/// The `facilitator_unreachable` error for a call that failed, naming the facilitator by its redacted URL.
#[uniffi::export]
pub fn facilitator_unreachable(
    base: String,
    endpoint_name: String,
    timed_out: bool,
    timeout_seconds: f64,
    detail: String,
) -> Result<ErrorDetails> {
    Ok(ErrorDetails::from(&core::unreachable(&base, endpoint(&endpoint_name)?, timed_out, timeout_seconds, &detail)))
}

/// How many times a call that got no answer at all is asked again (see the core's rule).
#[uniffi::export]
pub fn facilitator_retries_without_answer() -> u32 {
    core::RETRIES_WITHOUT_ANSWER
}

/// A URL as errors and logs may show it: no credentials, no query.
#[uniffi::export]
pub fn redact_url(url: String) -> String {
    core::redact_url(&url)
}

/// Response headers a browser client must be allowed to read.
#[uniffi::export]
pub fn exposed_headers() -> String {
    paywire_core::http::EXPOSED_HEADERS.to_string()
}

/// The JSON body of `/verify` and `/settle`: the payment as received and the server's own offer.
#[uniffi::export]
pub fn facilitator_request(
    payment: Arc<crate::messages::PaymentPayload>,
    requirements: Arc<crate::messages::PaymentRequirements>,
) -> String {
    paywire_core::FacilitatorRequest::new(payment.0.clone(), requirements.0.clone()).to_json()
}
