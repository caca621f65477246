//! The x402 messages as JS classes: thin wrappers that keep the core's exact JSON text.
//!
//! Naming across languages: Python's `to_dict()` is `toJSON()` here (so `JSON.stringify` works) and Python's
//! `to_json()` (the exact text) is `toJsonText()`.

use napi::bindgen_prelude::{BigInt, Either, Uint8Array};
use napi_derive::napi;
use paywire_core as core;
use serde_json::{Map, Value};

use crate::convert::{header_pairs, u256_to_bigint};
use crate::errors::OrThrow;

fn object(map: Option<&Map<String, Value>>) -> Option<Value> {
    map.map(|m| Value::Object(m.clone()))
}

fn body_bytes(body: Option<Either<String, Uint8Array>>) -> Vec<u8> {
    match body {
        None => Vec::new(),
        Some(Either::A(text)) => text.into_bytes(),
        Some(Either::B(bytes)) => bytes.to_vec(),
    }
}

/// A bill: the offers (`accepts`) a server takes for a resource.
#[napi]
#[derive(Clone)]
pub struct PaymentRequired(pub(crate) core::PaymentRequired);

#[napi]
impl PaymentRequired {
    /// Parses a `PAYMENT-REQUIRED` header value.
    #[napi(factory)]
    pub fn from_header(value: String) -> napi::Result<Self> {
        core::PaymentRequired::from_header(&value).or_throw().map(Self)
    }
    /// Parses a bill's JSON text.
    #[napi(factory)]
    pub fn from_json(text: String) -> napi::Result<Self> {
        core::PaymentRequired::from_json(&text).or_throw().map(Self)
    }
    /// Parses a 402 body (x402 v1 carries the bill there).
    #[napi(factory)]
    pub fn from_body(body: Either<String, Uint8Array>) -> napi::Result<Self> {
        core::PaymentRequired::from_body(&body_bytes(Some(body))).or_throw().map(Self)
    }
    /// The bill of a 402 response: the `PAYMENT-REQUIRED` header (v2) or the body (v1).
    #[napi(factory)]
    pub fn from_response(
        #[napi(ts_arg_type = "HeadersLike")] headers: Vec<Vec<String>>,
        body: Option<Either<String, Uint8Array>>,
    ) -> napi::Result<Self> {
        let headers = header_pairs(headers)?;
        core::PaymentRequired::from_response(&headers, &body_bytes(body)).or_throw().map(Self)
    }
    /// 1 or 2.
    #[napi(getter)]
    pub fn x402_version(&self) -> u32 {
        u32::from(self.0.x402_version)
    }
    /// The server's error text, if any.
    #[napi(getter)]
    pub fn error(&self) -> Option<String> {
        self.0.error.clone()
    }
    /// The resource (`url`, `description`, `mimeType`), v2 only.
    #[napi(getter)]
    pub fn resource(&self) -> Option<Value> {
        self.0.resource.as_ref().and_then(|r| serde_json::to_value(r).ok())
    }
    /// The offers.
    #[napi(getter)]
    pub fn accepts(&self) -> Vec<PaymentRequirements> {
        self.0.accepts.iter().cloned().map(PaymentRequirements).collect()
    }
    /// The extensions, as sent.
    #[napi(getter)]
    pub fn extensions(&self) -> Option<Value> {
        object(self.0.extensions.as_ref())
    }
    /// A copy with `error` set.
    #[napi]
    pub fn with_error(&self, error: String) -> Self {
        let mut bill = self.0.clone();
        bill.error = Some(error);
        Self(bill)
    }
    /// The `PAYMENT-REQUIRED` header value.
    #[napi]
    pub fn to_header(&self) -> String {
        self.0.to_header()
    }
    /// The exact JSON text.
    #[napi]
    pub fn to_json_text(&self) -> String {
        self.0.to_json()
    }
    /// The bill as a plain object.
    #[napi(js_name = "toJSON")]
    pub fn to_json_value(&self) -> Value {
        serde_json::from_str(&self.0.to_json()).unwrap_or_default()
    }
    /// Whether two bills are the same.
    #[napi]
    pub fn equals(&self, other: &PaymentRequired) -> bool {
        self.0 == other.0
    }
}

/// One offer of a bill.
#[napi]
#[derive(Clone)]
pub struct PaymentRequirements(pub(crate) core::PaymentRequirements);

#[napi]
impl PaymentRequirements {
    /// Parses one offer's JSON text (v1 or v2 shape).
    #[napi(factory)]
    pub fn from_json(text: String) -> napi::Result<Self> {
        core::PaymentRequirements::from_json(&text).or_throw().map(Self)
    }
    /// The x402 version of the offer's shape.
    #[napi(getter)]
    pub fn version(&self) -> u32 {
        u32::from(self.0.version())
    }
    /// "exact".
    #[napi(getter)]
    pub fn scheme(&self) -> String {
        self.0.scheme().to_string()
    }
    /// The network as written by the server.
    #[napi(getter)]
    pub fn network(&self) -> String {
        self.0.network().to_string()
    }
    /// Atomic units asked.
    #[napi(getter)]
    pub fn amount(&self) -> BigInt {
        u256_to_bigint(self.0.amount())
    }
    /// The token's address.
    #[napi(getter)]
    pub fn asset(&self) -> String {
        self.0.asset().to_string()
    }
    /// The payee.
    #[napi(getter)]
    pub fn pay_to(&self) -> String {
        self.0.pay_to().to_string()
    }
    /// How long a payment for this offer may stay valid.
    #[napi(getter)]
    pub fn max_timeout_seconds(&self) -> i64 {
        i64::try_from(self.0.max_timeout_seconds()).unwrap_or(i64::MAX)
    }
    /// Scheme-specific data (the EIP-712 domain name and version, the transfer method).
    #[napi(getter)]
    pub fn extra(&self) -> Option<Value> {
        object(self.0.extra())
    }
    /// The exact JSON text as received or built.
    #[napi(getter)]
    pub fn raw_json(&self) -> String {
        self.0.raw_json().to_string()
    }
    /// The offer as a plain object.
    #[napi(js_name = "toJSON")]
    pub fn to_json_value(&self) -> Value {
        self.0.to_value()
    }
    /// One line for people: amount, token, network, payee.
    #[napi]
    pub fn summary(&self) -> String {
        self.0.summary()
    }
    /// Whether two offers are the same.
    #[napi]
    pub fn equals(&self, other: &PaymentRequirements) -> bool {
        self.0 == other.0
    }
}

/// A payment: the client's signed payload.
#[napi]
#[derive(Clone)]
pub struct PaymentPayload(pub(crate) core::PaymentPayload);

#[napi]
impl PaymentPayload {
    /// Parses a `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1) header value.
    #[napi(factory)]
    pub fn from_header(value: String) -> napi::Result<Self> {
        core::PaymentPayload::from_header(&value).or_throw().map(Self)
    }
    /// Parses a payment's JSON text.
    #[napi(factory)]
    pub fn from_json(text: String) -> napi::Result<Self> {
        core::PaymentPayload::from_json(&text).or_throw().map(Self)
    }
    /// 1 or 2.
    #[napi(getter)]
    pub fn x402_version(&self) -> u32 {
        u32::from(self.0.x402_version())
    }
    /// "exact".
    #[napi(getter)]
    pub fn scheme(&self) -> String {
        self.0.scheme().to_string()
    }
    /// The network paid on.
    #[napi(getter)]
    pub fn network(&self) -> String {
        self.0.network().to_string()
    }
    /// The offer the client accepted (v2).
    #[napi(getter)]
    pub fn accepted(&self) -> Option<PaymentRequirements> {
        self.0.accepted().cloned().map(PaymentRequirements)
    }
    /// The scheme payload (signature and authorization).
    #[napi(getter)]
    pub fn payload(&self) -> Value {
        Value::Object(self.0.payload().clone())
    }
    /// The extensions, as sent.
    #[napi(getter)]
    pub fn extensions(&self) -> Option<Value> {
        object(self.0.extensions())
    }
    /// The exact JSON text.
    #[napi(getter)]
    pub fn raw_json(&self) -> String {
        self.0.raw_json().to_string()
    }
    /// `PAYMENT-SIGNATURE` or `X-PAYMENT`.
    #[napi(getter)]
    pub fn header_name(&self) -> String {
        self.0.header_name().to_string()
    }
    /// The last Unix time at which a server may still accept this payment, when it says.
    #[napi(getter)]
    pub fn last_acceptable_time(&self) -> Option<i64> {
        core::verify::last_acceptable_time(&self.0).map(|t| i64::try_from(t).unwrap_or(i64::MAX))
    }
    /// The header value.
    #[napi]
    pub fn to_header(&self) -> String {
        self.0.to_header()
    }
    /// The payment as a plain object.
    #[napi(js_name = "toJSON")]
    pub fn to_json_value(&self) -> Value {
        self.0.to_value()
    }
    /// Whether two payments are the same.
    #[napi]
    pub fn equals(&self, other: &PaymentPayload) -> bool {
        self.0 == other.0
    }
}

/// A settlement receipt (`PAYMENT-RESPONSE`) or a facilitator's `/settle` answer.
#[napi]
#[derive(Clone)]
pub struct SettleResponse(pub(crate) core::SettleResponse);

#[napi]
impl SettleResponse {
    /// Parses a `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE` header value.
    #[napi(factory)]
    pub fn from_header(value: String) -> napi::Result<Self> {
        core::SettleResponse::from_header(&value).or_throw().map(Self)
    }
    /// Parses a `/settle` answer.
    #[napi(factory)]
    pub fn from_json(text: String) -> napi::Result<Self> {
        core::SettleResponse::from_json(&text).or_throw().map(Self)
    }
    /// Whether the transfer happened.
    #[napi(getter)]
    pub fn success(&self) -> bool {
        self.0.success
    }
    /// The transaction hash ("" when none).
    #[napi(getter)]
    pub fn transaction(&self) -> String {
        self.0.transaction.clone()
    }
    /// The network.
    #[napi(getter)]
    pub fn network(&self) -> String {
        self.0.network.clone()
    }
    /// Who paid.
    #[napi(getter)]
    pub fn payer(&self) -> Option<String> {
        self.0.payer.clone()
    }
    /// Why it failed (x402's reason string).
    #[napi(getter)]
    pub fn error_reason(&self) -> Option<String> {
        self.0.error_reason.clone()
    }
    /// The facilitator's words on the failure.
    #[napi(getter)]
    pub fn error_message(&self) -> Option<String> {
        self.0.error_message.clone()
    }
    /// The extensions (a signed receipt travels here).
    #[napi(getter)]
    pub fn extensions(&self) -> Option<Value> {
        object(self.0.extensions.as_ref())
    }
    /// True when the transfer was sent but not yet confirmed.
    #[napi(getter)]
    pub fn is_pending(&self) -> bool {
        self.0.is_pending()
    }
    /// The header value.
    #[napi]
    pub fn to_header(&self) -> String {
        self.0.to_header()
    }
    /// The receipt as sent to clients (facilitator-only members dropped).
    #[napi]
    pub fn for_client(&self) -> Self {
        Self(self.0.for_client())
    }
    /// A copy with one extension set.
    #[napi]
    pub fn with_extension(&self, key: String, value: Value) -> Self {
        let mut settled = self.0.clone();
        settled.extensions.get_or_insert_with(Default::default).insert(key, value);
        Self(settled)
    }
    /// The exact JSON text.
    #[napi]
    pub fn to_json_text(&self) -> String {
        self.0.to_json()
    }
    /// The receipt as a plain object.
    #[napi(js_name = "toJSON")]
    pub fn to_json_value(&self) -> Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }
}

/// A facilitator's `/verify` answer, or offline verification's verdict.
#[napi]
#[derive(Clone)]
pub struct VerifyResponse(pub(crate) core::VerifyResponse);

#[napi]
impl VerifyResponse {
    /// Parses a `/verify` answer.
    #[napi(factory)]
    pub fn from_json(text: String) -> napi::Result<Self> {
        core::VerifyResponse::from_json(&text).or_throw().map(Self)
    }
    /// Whether the payment is valid.
    #[napi(getter)]
    pub fn is_valid(&self) -> bool {
        self.0.is_valid
    }
    /// Why not (x402's reason string).
    #[napi(getter)]
    pub fn invalid_reason(&self) -> Option<String> {
        self.0.invalid_reason.clone()
    }
    /// The facilitator's words on it.
    #[napi(getter)]
    pub fn invalid_message(&self) -> Option<String> {
        self.0.invalid_message.clone()
    }
    /// Who pays.
    #[napi(getter)]
    pub fn payer(&self) -> Option<String> {
        self.0.payer.clone()
    }
    /// The exact JSON text.
    #[napi]
    pub fn to_json_text(&self) -> String {
        self.0.to_json()
    }
    /// The answer as a plain object.
    #[napi(js_name = "toJSON")]
    pub fn to_json_value(&self) -> Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }
}

/// A facilitator's `/supported` answer.
#[napi]
#[derive(Clone)]
pub struct SupportedResponse(pub(crate) core::SupportedResponse);

#[napi]
impl SupportedResponse {
    /// Parses a `/supported` answer.
    #[napi(factory)]
    pub fn from_json(text: String) -> napi::Result<Self> {
        core::SupportedResponse::from_json(&text).or_throw().map(Self)
    }
    /// Whether the facilitator takes this version, scheme and network.
    #[napi]
    pub fn supports(&self, x402_version: u32, scheme: String, network: String) -> bool {
        u8::try_from(x402_version).is_ok_and(|v| self.0.supports(v, &scheme, &network))
    }
    /// The answer as a plain object.
    #[napi(js_name = "toJSON")]
    pub fn to_json_value(&self) -> Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }
}

/// The settlement receipt in response headers (`PAYMENT-RESPONSE` or `X-PAYMENT-RESPONSE`), if any.
#[napi]
pub fn read_settlement(
    #[napi(ts_arg_type = "HeadersLike")] headers: Vec<Vec<String>>,
) -> napi::Result<Option<SettleResponse>> {
    core::client::read_settlement(&header_pairs(headers)?).or_throw().map(|s| s.map(SettleResponse))
}

/// Whether request headers carry a payment.
#[napi]
pub fn carries_payment(#[napi(ts_arg_type = "HeadersLike")] headers: Vec<Vec<String>>) -> napi::Result<bool> {
    Ok(core::client::carries_payment(&header_pairs(headers)?))
}

/// Whether a paid request's outcome is still open (the client must keep its payment and may retry it).
#[napi]
pub fn outcome_is_open(status: u32, settlement: Option<&SettleResponse>) -> bool {
    u16::try_from(status).is_ok_and(|s| core::client::outcome_is_open(s, settlement.map(|s| &s.0)))
}

/// The JSON body of a facilitator `/verify` or `/settle` request.
#[napi]
pub fn facilitator_request(payment: &PaymentPayload, requirements: &PaymentRequirements) -> String {
    core::FacilitatorRequest::new(payment.0.clone(), requirements.0.clone()).to_json()
}
