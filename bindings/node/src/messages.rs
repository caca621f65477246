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
use crate::getters::getters;

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

getters!(PaymentRequired {
    #[doc = "1 or 2."]
    x402_version -> u32 = |v| u32::from(v.x402_version);
    #[doc = "The server's error text, if any."]
    error -> Option<String> = |v| v.error.clone();
    #[doc = "The resource (`url`, `description`, `mimeType`), v2 only."]
    resource -> Option<Value> = |v| v.resource.as_ref().and_then(|r| serde_json::to_value(r).ok());
    #[doc = "The offers."]
    accepts -> Vec<PaymentRequirements> = |v| v.accepts.iter().cloned().map(PaymentRequirements).collect();
    #[doc = "The extensions, as sent."]
    extensions -> Option<Value> = |v| object(v.extensions.as_ref());
});

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

getters!(PaymentRequirements {
    #[doc = "The x402 version of the offer's shape."]
    version -> u32 = |v| u32::from(v.version());
    #[doc = "\"exact\"."]
    scheme -> String = |v| v.scheme().to_string();
    #[doc = "The network as written by the server."]
    network -> String = |v| v.network().to_string();
    #[doc = "Atomic units asked."]
    amount -> BigInt = |v| u256_to_bigint(v.amount());
    #[doc = "The token's address."]
    asset -> String = |v| v.asset().to_string();
    #[doc = "The payee."]
    pay_to -> String = |v| v.pay_to().to_string();
    #[doc = "How long a payment for this offer may stay valid."]
    max_timeout_seconds -> i64 = |v| i64::try_from(v.max_timeout_seconds()).unwrap_or(i64::MAX);
    #[doc = "Scheme-specific data (the EIP-712 domain name and version, the transfer method)."]
    extra -> Option<Value> = |v| object(v.extra());
    #[doc = "The exact JSON text as received or built."]
    raw_json -> String = |v| v.raw_json().to_string();
});

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

getters!(PaymentPayload {
    #[doc = "1 or 2."]
    x402_version -> u32 = |v| u32::from(v.x402_version());
    #[doc = "\"exact\"."]
    scheme -> String = |v| v.scheme().to_string();
    #[doc = "The network paid on."]
    network -> String = |v| v.network().to_string();
    #[doc = "The offer the client accepted (v2)."]
    accepted -> Option<PaymentRequirements> = |v| v.accepted().cloned().map(PaymentRequirements);
    #[doc = "The scheme payload (signature and authorization)."]
    payload -> Value = |v| Value::Object(v.payload().clone());
    #[doc = "The extensions, as sent."]
    extensions -> Option<Value> = |v| object(v.extensions());
    #[doc = "The exact JSON text."]
    raw_json -> String = |v| v.raw_json().to_string();
    #[doc = "`PAYMENT-SIGNATURE` or `X-PAYMENT`."]
    header_name -> String = |v| v.header_name().to_string();
    #[doc = "The last Unix time at which a server may still accept this payment, when it says."]
    last_acceptable_time -> Option<i64> = |v| core::verify::last_acceptable_time(v).map(|t| i64::try_from(t).unwrap_or(i64::MAX));
});

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

getters!(SettleResponse {
    #[doc = "Whether the transfer happened."]
    success -> bool = |v| v.success;
    #[doc = "The transaction hash (\"\" when none)."]
    transaction -> String = |v| v.transaction.clone();
    #[doc = "The network."]
    network -> String = |v| v.network.clone();
    #[doc = "Who paid."]
    payer -> Option<String> = |v| v.payer.clone();
    #[doc = "Why it failed (x402's reason string)."]
    error_reason -> Option<String> = |v| v.error_reason.clone();
    #[doc = "The facilitator's words on the failure."]
    error_message -> Option<String> = |v| v.error_message.clone();
    #[doc = "The extensions (a signed receipt travels here)."]
    extensions -> Option<Value> = |v| object(v.extensions.as_ref());
    #[doc = "True when the transfer was sent but not yet confirmed."]
    is_pending -> bool = |v| v.is_pending();
});

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

getters!(VerifyResponse {
    #[doc = "Whether the payment is valid."]
    is_valid -> bool = |v| v.is_valid;
    #[doc = "Why not (x402's reason string)."]
    invalid_reason -> Option<String> = |v| v.invalid_reason.clone();
    #[doc = "The facilitator's words on it."]
    invalid_message -> Option<String> = |v| v.invalid_message.clone();
    #[doc = "Who pays."]
    payer -> Option<String> = |v| v.payer.clone();
});

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
