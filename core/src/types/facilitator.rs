//! Facilitator messages: the `/verify` and `/settle` request body and the three answers.

use crate::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::payload::PaymentPayload;
use super::raw::RawObject;
use super::required::parse_version;
use super::requirements::PaymentRequirements;
use crate::codec;
use crate::error::{Error, ErrorCode, Result};
use crate::wire::Object;

/// The body of `POST /verify` and `POST /settle`: the client's payment as received and the server's own
/// requirements (never the client's copy of them).
#[derive(Clone, Debug, PartialEq)]
pub struct FacilitatorRequest {
    /// The payment's x402 version.
    pub x402_version: u8,
    /// The payment exactly as the client sent it.
    pub payment_payload: PaymentPayload,
    /// The server's requirements the payment was matched against.
    pub payment_requirements: PaymentRequirements,
}

impl FacilitatorRequest {
    /// The body for a payment and the server's matched offer.
    pub fn new(payment_payload: PaymentPayload, payment_requirements: PaymentRequirements) -> Self {
        FacilitatorRequest { x402_version: payment_payload.x402_version(), payment_payload, payment_requirements }
    }

    /// Compact JSON body.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a request body (what a facilitator receives).
    pub fn from_json(text: &str) -> Result<Self> {
        let code = ErrorCode::InvalidPayload;
        let what = "the facilitator request";
        let obj = RawObject::parse(text, what, code)?;
        let x402_version = parse_version(&obj, what, code)?;
        let payload_raw = obj.get("paymentPayload").ok_or_else(|| Error::new(code, "paymentPayload is missing"))?;
        let payment_payload = PaymentPayload::from_json(payload_raw.get()).map_err(|e| e.context("paymentPayload"))?;
        if payment_payload.x402_version() != x402_version {
            return Err(Error::new(
                ErrorCode::InvalidX402Version,
                format!(
                    "x402Version {x402_version} differs from the payment's x402Version {}",
                    payment_payload.x402_version()
                ),
            ));
        }
        let req_raw = obj
            .get("paymentRequirements")
            .ok_or_else(|| Error::new(ErrorCode::InvalidPaymentRequirements, "paymentRequirements is missing"))?;
        let payment_requirements = PaymentRequirements::parse(req_raw, x402_version, "paymentRequirements")?;
        Ok(FacilitatorRequest { x402_version, payment_payload, payment_requirements })
    }
}

impl Serialize for FacilitatorRequest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> core::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("x402Version", &self.x402_version)?;
        map.serialize_entry("paymentPayload", &self.payment_payload)?;
        map.serialize_entry("paymentRequirements", &self.payment_requirements)?;
        map.end()
    }
}

/// The facilitator's answer to `/verify`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    /// Whether the payment is valid.
    pub is_valid: bool,
    /// Why not (an x402 reason string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_reason: Option<String>,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_message: Option<String>,
    /// The payer's address, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// Extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Object>,
    /// Members x402 does not define, kept as they came.
    #[serde(flatten)]
    pub other: Object,
}

impl VerifyResponse {
    /// A valid verdict for `payer`.
    pub fn valid(payer: impl Into<String>) -> Self {
        VerifyResponse {
            is_valid: true,
            invalid_reason: None,
            invalid_message: None,
            payer: Some(payer.into()),
            extensions: None,
            other: Object::new(),
        }
    }

    /// An invalid verdict carrying an error's code as the reason, its message, and its payer.
    pub fn invalid(error: &Error) -> Self {
        VerifyResponse {
            is_valid: false,
            invalid_reason: Some(error.code().as_str().to_string()),
            invalid_message: Some(error.message().to_string()),
            payer: error.payer().map(str::to_string),
            extensions: None,
            other: Object::new(),
        }
    }

    /// Parses a facilitator's `/verify` answer.
    pub fn from_json(text: &str) -> Result<Self> {
        parse_answer(text, "the /verify answer", ErrorCode::InvalidFacilitatorResponse)
    }

    /// Compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The facilitator's answer to `/settle`, which the server passes on in `PAYMENT-RESPONSE`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettleResponse {
    /// Whether the payment was settled.
    pub success: bool,
    /// Why not (an x402 reason string; `settlement_pending` means broadcast but not yet confirmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The payer's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// The transaction hash (empty when nothing was broadcast).
    #[serde(default)]
    pub transaction: String,
    /// The network settled on.
    #[serde(default)]
    pub network: String,
    /// The amount actually settled, when the scheme can settle less than the maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// Extension data (e.g. the `offer-receipt` signed receipt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Object>,
    /// Members x402 does not define, kept as they came.
    #[serde(flatten)]
    pub other: Object,
}

/// The reason a facilitator gives when it broadcast a settlement but has no receipt yet.
pub const SETTLEMENT_PENDING: &str = "settlement_pending";

impl SettleResponse {
    /// Parses a facilitator's `/settle` answer.
    pub fn from_json(text: &str) -> Result<Self> {
        let r: SettleResponse = parse_answer(text, "the /settle answer", ErrorCode::InvalidFacilitatorResponse)?;
        r.check(ErrorCode::InvalidFacilitatorResponse)?;
        Ok(r)
    }

    /// Parses a `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE` header value.
    pub fn from_header(value: &str) -> Result<Self> {
        let text = codec::decode_header_text(value)?;
        let r: SettleResponse = parse_answer(&text, "the payment response", ErrorCode::InvalidSettleResponse)?;
        r.check(ErrorCode::InvalidSettleResponse)?;
        Ok(r)
    }

    fn check(&self, code: ErrorCode) -> Result<()> {
        // Only an `upto` settlement that charged nothing (amount "0") and a batch-settlement voucher's receipt
        // (amount "": the charge is off chain) succeed without a transaction.
        if self.success && self.transaction.is_empty() && !matches!(self.amount.as_deref(), Some("0" | "")) {
            return Err(Error::new(
                code,
                "a successful settlement must name its transaction (only one that charged an amount of \"0\", or a \
                 batch-settlement voucher's receipt with an amount of \"\", has none)",
            ));
        }
        Ok(())
    }

    /// Whether the facilitator broadcast the settlement but could not confirm it yet (do not pay again).
    pub fn is_pending(&self) -> bool {
        !self.success && self.error_reason.as_deref() == Some(SETTLEMENT_PENDING)
    }

    /// The `PAYMENT-RESPONSE` header value (standard base64 of compact JSON), with every member as it is.
    pub fn to_header(&self) -> String {
        codec::encode_json_text(&self.to_json())
    }

    /// The receipt as a buyer should see it: the members x402 defines, without the facilitator's other data
    /// (the official servers strip it the same way).
    pub fn for_client(&self) -> SettleResponse {
        SettleResponse { other: Object::new(), ..self.clone() }
    }

    /// Compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One (version, scheme, network) a facilitator supports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedKind {
    /// x402 version.
    pub x402_version: u8,
    /// Scheme, e.g. "exact".
    pub scheme: String,
    /// Network (CAIP-2 in v2, a v1 name in v1).
    pub network: String,
    /// Scheme-specific data (e.g. `feePayer`, `facilitatorAddress`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Object>,
}

/// The facilitator's answer to `GET /supported`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SupportedResponse {
    /// What it can verify and settle.
    pub kinds: Vec<SupportedKind>,
    /// Extension keys it understands.
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Signer addresses by CAIP family (`eip155:*`).
    #[serde(default)]
    pub signers: alloc::collections::BTreeMap<String, Vec<String>>,
    /// Members x402 does not define, kept as they came.
    #[serde(flatten)]
    pub other: Object,
}

impl SupportedResponse {
    /// Parses a facilitator's `/supported` answer.
    pub fn from_json(text: &str) -> Result<Self> {
        parse_answer(text, "the /supported answer", ErrorCode::InvalidFacilitatorResponse)
    }

    /// Whether the facilitator handles `scheme` on `network` for `x402_version`.
    pub fn supports(&self, x402_version: u8, scheme: &str, network: &str) -> bool {
        self.kinds.iter().any(|k| k.x402_version == x402_version && k.scheme == scheme && k.network == network)
    }
}

fn parse_answer<T: serde::de::DeserializeOwned>(text: &str, what: &str, code: ErrorCode) -> Result<T> {
    if text.len() > codec::MAX_BODY_BYTES {
        return Err(Error::new(
            code,
            format!("{what} is {} bytes; paywire parses at most {}", text.len(), codec::MAX_BODY_BYTES),
        ));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| Error::new(code, format!("{what} is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(Error::new(code, format!("{what} must be a JSON object")));
    }
    serde_json::from_value(value).map_err(|e| Error::new(code, format!("{what} does not have the x402 shape: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settle_response_keeps_unknown_members() {
        let text = r#"{"success":true,"transaction":"0xabc","network":"eip155:84532","payer":"0x1","requirements":{"legacy":1}}"#;
        let r = SettleResponse::from_json(text).unwrap();
        assert_eq!(r.other.get("requirements").unwrap()["legacy"], 1);
        assert_eq!(SettleResponse::from_header(&r.to_header()).unwrap(), r);
        let e = SettleResponse::from_json(r#"{"success":true,"network":"x"}"#).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidFacilitatorResponse);
        assert!(
            SettleResponse::from_json(
                r#"{"success":false,"errorReason":"settlement_pending","transaction":"0x1","network":"n"}"#
            )
            .unwrap()
            .is_pending()
        );
    }

    #[test]
    fn verify_and_supported_shapes() {
        let v = VerifyResponse::from_json(r#"{"isValid":false,"invalidReason":"insufficient_funds","payer":"0x1"}"#)
            .unwrap();
        assert!(!v.is_valid);
        assert_eq!(
            VerifyResponse::from_json(r#"{"isValid":"yes"}"#).unwrap_err().code(),
            ErrorCode::InvalidFacilitatorResponse
        );
        assert_eq!(VerifyResponse::from_json("<html>").unwrap_err().code(), ErrorCode::InvalidFacilitatorResponse);
        let s =
            SupportedResponse::from_json(r#"{"kinds":[{"x402Version":2,"scheme":"exact","network":"eip155:8453"}]}"#)
                .unwrap();
        assert!(s.supports(2, "exact", "eip155:8453"));
        assert!(s.extensions.is_empty());
    }
}
