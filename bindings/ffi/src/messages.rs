//! The x402 messages as uniffi objects: thin wrappers that keep the core's exact JSON text. JSON members
//! (`extra`, `extensions`, `resource`) cross as JSON text.

use std::sync::Arc;

use paywire_core as core;

use crate::convert::{HttpHeader, header_pairs, object_text};
use crate::error::Result;
use crate::getters::getters;

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
}

getters!(PaymentRequired {
    /// 1 or 2.
    x402_version -> u8 = |v| v.x402_version;
    /// The server's error text, if any.
    error -> Option<String> = |v| v.error.clone();
    /// The resource (`url`, `description`, `mimeType`) as JSON text, v2 only.
    resource_json -> Option<String> = |v| v.resource.as_ref().and_then(|r| serde_json::to_string(r).ok());
    /// The offers.
    accepts -> Vec<Arc<PaymentRequirements>> = |v| v.accepts.iter().map(|r| Arc::new(PaymentRequirements(r.clone()))).collect();
    /// The extensions as JSON text.
    extensions_json -> Option<String> = |v| object_text(v.extensions.as_ref());
    /// The `PAYMENT-REQUIRED` header value.
    to_header -> String = |v| v.to_header();
    /// The exact JSON text.
    to_json -> String = |v| v.to_json();
});

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
}

getters!(PaymentRequirements {
    /// The x402 version of the offer's shape.
    version -> u8 = |v| v.version();
    /// "exact".
    scheme -> String = |v| v.scheme().to_string();
    /// The network as written by the server.
    network -> String = |v| v.network().to_string();
    /// Atomic units asked, in decimal.
    amount -> String = |v| v.amount().to_string();
    /// The token's address.
    asset -> String = |v| v.asset().to_string();
    /// The payee.
    pay_to -> String = |v| v.pay_to().to_string();
    /// How long a payment for this offer may stay valid.
    max_timeout_seconds -> u64 = |v| v.max_timeout_seconds();
    /// Scheme-specific data (EIP-712 domain name and version, transfer method) as JSON text.
    extra_json -> Option<String> = |v| object_text(v.extra());
    /// One line for logs.
    summary -> String = |v| v.summary();
    /// The exact JSON text as received or built.
    to_json -> String = |v| v.raw_json().to_string();
});

/// A signed payment as a client sends it. Printed, it shows its version, scheme and network only (as Python's
/// `repr`): until it settles, whoever holds its signature can present it.
#[derive(Clone, uniffi::Object)]
#[uniffi::export(Debug, Eq)]
pub struct PaymentPayload(pub(crate) core::PaymentPayload);

impl std::fmt::Debug for PaymentPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentPayload")
            .field("x402_version", &self.0.x402_version())
            .field("scheme", &self.0.scheme())
            .field("network", &self.0.network())
            .finish()
    }
}

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
}

getters!(PaymentPayload {
    /// 1 or 2.
    x402_version -> u8 = |v| v.x402_version();
    /// "exact".
    scheme -> String = |v| v.scheme().to_string();
    /// The network paid on.
    network -> String = |v| v.network().to_string();
    /// The offer the client accepted (v2).
    accepted -> Option<Arc<PaymentRequirements>> = |v| v.accepted().cloned().map(|r| Arc::new(PaymentRequirements(r)));
    /// The scheme payload (signature and authorization) as JSON text.
    payload_json -> String = |v| serde_json::Value::Object(v.payload().clone()).to_string();
    /// `PAYMENT-SIGNATURE` or `X-PAYMENT`.
    header_name -> String = |v| v.header_name().to_string();
    /// The header value.
    to_header -> String = |v| v.to_header();
    /// The exact JSON text.
    to_json -> String = |v| v.raw_json().to_string();
});

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
}

getters!(SettleResponse {
    /// Whether the transfer happened.
    success -> bool = |v| v.success;
    /// The transaction hash ("" when none).
    transaction -> String = |v| v.transaction.clone();
    /// The network.
    network -> String = |v| v.network.clone();
    /// Who paid.
    payer -> Option<String> = |v| v.payer.clone();
    /// Why it failed (x402's reason string).
    error_reason -> Option<String> = |v| v.error_reason.clone();
    /// The facilitator's words on the failure.
    error_message -> Option<String> = |v| v.error_message.clone();
    /// True when the transfer was sent but not yet confirmed.
    is_pending -> bool = |v| v.is_pending();
    /// The extensions (a signed receipt travels here) as JSON text.
    extensions_json -> Option<String> = |v| object_text(v.extensions.as_ref());
    /// The header value.
    to_header -> String = |v| v.to_header();
    /// The JSON text.
    to_json -> String = |v| v.to_json();
});

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
