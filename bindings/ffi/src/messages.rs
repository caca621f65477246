//! The x402 messages as uniffi objects: thin wrappers that keep the core's exact JSON text. JSON members
//! (`extra`, `extensions`, `resource`) cross as JSON text.

use std::sync::Arc;

use paywire_core as core;

use crate::convert::{HttpHeader, header_pairs, object_text};
use crate::error::Result;

/// A bill: the offers (`accepts`) a server takes for a resource.
#[derive(Debug, Clone, uniffi::Object)]
#[uniffi::export(Debug, Eq)]
pub struct PaymentRequired(pub(crate) core::PaymentRequired);

impl PartialEq for PaymentRequired {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_json() == other.0.to_json()
    }
}
impl Eq for PaymentRequired {}

#[uniffi::export]
impl PaymentRequired {
    /// Parses a `PAYMENT-REQUIRED` header value.
    #[uniffi::constructor]
    pub fn from_header(value: String) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(core::PaymentRequired::from_header(&value)?)))
    }
    /// Parses a bill's JSON text.
    #[uniffi::constructor]
    pub fn from_json(text: String) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(core::PaymentRequired::from_json(&text)?)))
    }
    /// Parses a 402 body (x402 v1 carries the bill there).
    #[uniffi::constructor]
    pub fn from_body(body: Vec<u8>) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(core::PaymentRequired::from_body(&body)?)))
    }
    /// The bill of a 402 response: the `PAYMENT-REQUIRED` header (v2) or the body (v1).
    #[uniffi::constructor]
    pub fn from_response(headers: Vec<HttpHeader>, body: Vec<u8>) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(core::PaymentRequired::from_response(&header_pairs(&headers), &body)?)))
    }
    /// 1 or 2.
    pub fn x402_version(&self) -> u8 {
        self.0.x402_version
    }
    /// The server's error text, if any.
    pub fn error(&self) -> Option<String> {
        self.0.error.clone()
    }
    /// The resource (`url`, `description`, `mimeType`) as JSON text, v2 only.
    pub fn resource_json(&self) -> Option<String> {
        self.0.resource.as_ref().and_then(|r| serde_json::to_string(r).ok())
    }
    /// The offers.
    pub fn accepts(&self) -> Vec<Arc<PaymentRequirements>> {
        self.0.accepts.iter().map(|r| Arc::new(PaymentRequirements(r.clone()))).collect()
    }
    /// The extensions as JSON text.
    pub fn extensions_json(&self) -> Option<String> {
        object_text(self.0.extensions.as_ref())
    }
    /// The `PAYMENT-REQUIRED` header value.
    pub fn to_header(&self) -> String {
        self.0.to_header()
    }
    /// The exact JSON text.
    pub fn to_json(&self) -> String {
        self.0.to_json()
    }
}

/// One offer of a bill.
#[derive(Debug, Clone, uniffi::Object)]
#[uniffi::export(Debug, Eq)]
pub struct PaymentRequirements(pub(crate) core::PaymentRequirements);

impl PartialEq for PaymentRequirements {
    fn eq(&self, other: &Self) -> bool {
        self.0.raw_json() == other.0.raw_json()
    }
}
impl Eq for PaymentRequirements {}

#[uniffi::export]
impl PaymentRequirements {
    /// Parses one offer's JSON text (v1 or v2 shape).
    #[uniffi::constructor]
    pub fn from_json(text: String) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(core::PaymentRequirements::from_json(&text)?)))
    }
    /// The x402 version of the offer's shape.
    pub fn version(&self) -> u8 {
        self.0.version()
    }
    /// "exact".
    pub fn scheme(&self) -> String {
        self.0.scheme().to_string()
    }
    /// The network as written by the server.
    pub fn network(&self) -> String {
        self.0.network().to_string()
    }
    /// Atomic units asked, in decimal.
    pub fn amount(&self) -> String {
        self.0.amount().to_string()
    }
    /// The token's address.
    pub fn asset(&self) -> String {
        self.0.asset().to_string()
    }
    /// The payee.
    pub fn pay_to(&self) -> String {
        self.0.pay_to().to_string()
    }
    /// How long a payment for this offer may stay valid.
    pub fn max_timeout_seconds(&self) -> u64 {
        self.0.max_timeout_seconds()
    }
    /// Scheme-specific data (EIP-712 domain name and version, transfer method) as JSON text.
    pub fn extra_json(&self) -> Option<String> {
        object_text(self.0.extra())
    }
    /// One line for logs.
    pub fn summary(&self) -> String {
        self.0.summary()
    }
    /// The exact JSON text as received or built.
    pub fn to_json(&self) -> String {
        self.0.raw_json().to_string()
    }
}

/// A signed payment as a client sends it.
#[derive(Debug, Clone, uniffi::Object)]
#[uniffi::export(Debug, Eq)]
pub struct PaymentPayload(pub(crate) core::PaymentPayload);

impl PartialEq for PaymentPayload {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for PaymentPayload {}

#[uniffi::export]
impl PaymentPayload {
    /// Parses a `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1) header value.
    #[uniffi::constructor]
    pub fn from_header(value: String) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(core::PaymentPayload::from_header(&value)?)))
    }
    /// Parses a payment's JSON text.
    #[uniffi::constructor]
    pub fn from_json(text: String) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(core::PaymentPayload::from_json(&text)?)))
    }
    /// 1 or 2.
    pub fn x402_version(&self) -> u8 {
        self.0.x402_version()
    }
    /// "exact".
    pub fn scheme(&self) -> String {
        self.0.scheme().to_string()
    }
    /// The network paid on.
    pub fn network(&self) -> String {
        self.0.network().to_string()
    }
    /// The offer the client accepted (v2).
    pub fn accepted(&self) -> Option<Arc<PaymentRequirements>> {
        self.0.accepted().cloned().map(|r| Arc::new(PaymentRequirements(r)))
    }
    /// The scheme payload (signature and authorization) as JSON text.
    pub fn payload_json(&self) -> String {
        serde_json::Value::Object(self.0.payload().clone()).to_string()
    }
    /// `PAYMENT-SIGNATURE` or `X-PAYMENT`.
    pub fn header_name(&self) -> String {
        self.0.header_name().to_string()
    }
    /// The header value.
    pub fn to_header(&self) -> String {
        self.0.to_header()
    }
    /// The exact JSON text.
    pub fn to_json(&self) -> String {
        self.0.raw_json().to_string()
    }
}

/// A settlement: the facilitator's `/settle` answer, or the `PAYMENT-RESPONSE` a server returns.
#[derive(Debug, Clone, uniffi::Object)]
#[uniffi::export(Debug)]
pub struct SettleResponse(pub(crate) core::SettleResponse);

#[uniffi::export]
impl SettleResponse {
    /// Parses a `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE` header value.
    #[uniffi::constructor]
    pub fn from_header(value: String) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(core::SettleResponse::from_header(&value)?)))
    }
    /// Parses a `/settle` answer.
    #[uniffi::constructor]
    pub fn from_json(text: String) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(core::SettleResponse::from_json(&text)?)))
    }
    /// Whether the transfer happened.
    pub fn success(&self) -> bool {
        self.0.success
    }
    /// The transaction hash ("" when none).
    pub fn transaction(&self) -> String {
        self.0.transaction.clone()
    }
    /// The network.
    pub fn network(&self) -> String {
        self.0.network.clone()
    }
    /// Who paid.
    pub fn payer(&self) -> Option<String> {
        self.0.payer.clone()
    }
    /// Why it failed (x402's reason string).
    pub fn error_reason(&self) -> Option<String> {
        self.0.error_reason.clone()
    }
    /// The facilitator's words on the failure.
    pub fn error_message(&self) -> Option<String> {
        self.0.error_message.clone()
    }
    /// True when the transfer was sent but not yet confirmed.
    pub fn is_pending(&self) -> bool {
        self.0.is_pending()
    }
    /// The extensions (a signed receipt travels here) as JSON text.
    pub fn extensions_json(&self) -> Option<String> {
        object_text(self.0.extensions.as_ref())
    }
    /// The header value.
    pub fn to_header(&self) -> String {
        self.0.to_header()
    }
    /// The JSON text.
    pub fn to_json(&self) -> String {
        self.0.to_json()
    }
}

/// A `/verify` answer.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VerifyResponse {
    /// Whether the payment is valid.
    pub is_valid: bool,
    /// x402's reason string when not.
    pub invalid_reason: Option<String>,
    /// Words on the reason.
    pub invalid_message: Option<String>,
    /// The payer, when known.
    pub payer: Option<String>,
}

impl From<VerifyResponse> for core::VerifyResponse {
    fn from(v: VerifyResponse) -> Self {
        core::VerifyResponse {
            is_valid: v.is_valid,
            invalid_reason: v.invalid_reason,
            invalid_message: v.invalid_message,
            payer: v.payer,
            extensions: None,
            other: Default::default(),
        }
    }
}

impl From<core::VerifyResponse> for VerifyResponse {
    fn from(v: core::VerifyResponse) -> Self {
        VerifyResponse {
            is_valid: v.is_valid,
            invalid_reason: v.invalid_reason,
            invalid_message: v.invalid_message,
            payer: v.payer,
        }
    }
}

/// The settlement a paid response carries (`PAYMENT-RESPONSE` or `X-PAYMENT-RESPONSE`), if any.
#[uniffi::export]
pub fn read_settlement(headers: Vec<HttpHeader>) -> Result<Option<Arc<SettleResponse>>> {
    Ok(core::client::read_settlement(&header_pairs(&headers))?.map(|s| Arc::new(SettleResponse(s))))
}

/// The payment a request carries (`PAYMENT-SIGNATURE` or `X-PAYMENT`), if any.
#[uniffi::export]
pub fn read_payment(headers: Vec<HttpHeader>) -> Result<Option<Arc<PaymentPayload>>> {
    Ok(core::server::read_payment(&header_pairs(&headers))?.map(|p| Arc::new(PaymentPayload(p))))
}

/// Whether a request already carries a payment (`PAYMENT-SIGNATURE` or `X-PAYMENT`): paying again for it
/// would pay twice.
#[uniffi::export]
pub fn carries_payment(headers: Vec<HttpHeader>) -> bool {
    core::client::carries_payment(&header_pairs(&headers))
}

/// Names a purchase: the same method, URL and body are the same purchase, so a retry reuses its payment.
#[uniffi::export]
pub fn purchase_key(method: String, url: String, body: Vec<u8>) -> String {
    core::client::purchase_key(&method, &url, &body)
}
