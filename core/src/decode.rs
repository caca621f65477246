//! Decoding any x402 value (a header or a JSON body) and naming the message it holds.

use crate::prelude::*;
use serde_json::Value;

use crate::codec;
use crate::error::{Error, ErrorCode, Result};
use crate::types::{
    FacilitatorRequest, PaymentPayload, PaymentRequired, SettleResponse, SupportedResponse, VerifyResponse,
};

/// The x402 messages paywire recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// A bill (v2 `PAYMENT-REQUIRED` header or v1 402 body).
    PaymentRequired,
    /// A payment (`PAYMENT-SIGNATURE` / `X-PAYMENT`).
    PaymentPayload,
    /// A settlement receipt (`PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE`, or a `/settle` answer).
    SettleResponse,
    /// A `/verify` answer.
    VerifyResponse,
    /// A `/supported` answer.
    SupportedResponse,
    /// A `/verify` or `/settle` request body.
    FacilitatorRequest,
}

impl MessageKind {
    /// The message's name as the x402 specification calls it.
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::PaymentRequired => "PaymentRequired",
            MessageKind::PaymentPayload => "PaymentPayload",
            MessageKind::SettleResponse => "SettleResponse",
            MessageKind::VerifyResponse => "VerifyResponse",
            MessageKind::SupportedResponse => "SupportedResponse",
            MessageKind::FacilitatorRequest => "FacilitatorRequest",
        }
    }
}

/// A decoded x402 value.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// Which message it is.
    pub kind: MessageKind,
    /// Its `x402Version`, when the message carries one.
    pub x402_version: Option<u8>,
    /// Whether the input was a base64 header value (true) or JSON text (false).
    pub was_base64: bool,
    /// The message as JSON.
    pub json: Value,
}

impl Decoded {
    /// What the bindings' `decode` returns: `{message, x402Version, encoding, decoded}`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "message": self.kind.name(),
            "x402Version": self.x402_version,
            "encoding": if self.was_base64 { "base64" } else { "json" },
            "decoded": self.json,
        })
    }
}

/// Decodes a header value or JSON text, tells which x402 message it is, and checks that it is well formed.
pub fn decode_any(input: &str) -> Result<Decoded> {
    let trimmed = input.trim();
    let (text, was_base64) = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        (trimmed.to_string(), false)
    } else {
        let bytes = codec::decode_header_bytes(trimmed)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::new(ErrorCode::InvalidJson, "the decoded value is not UTF-8 text"))?;
        (text, true)
    };
    let json: Value = serde_json::from_str(&text).map_err(|e| codec::json_error(&e, "the value"))?;
    let kind = classify(&json)?;
    let x402_version = match kind {
        MessageKind::PaymentRequired => Some(PaymentRequired::from_json(&text)?.x402_version),
        MessageKind::PaymentPayload => Some(PaymentPayload::from_json(&text)?.x402_version()),
        MessageKind::FacilitatorRequest => Some(FacilitatorRequest::from_json(&text)?.x402_version),
        MessageKind::SettleResponse => {
            SettleResponse::from_json(&text)?;
            None
        }
        MessageKind::VerifyResponse => {
            VerifyResponse::from_json(&text)?;
            None
        }
        MessageKind::SupportedResponse => {
            SupportedResponse::from_json(&text)?;
            None
        }
    };
    Ok(Decoded { kind, x402_version, was_base64, json })
}

fn classify(v: &Value) -> Result<MessageKind> {
    let Some(o) = v.as_object() else {
        return Err(Error::new(ErrorCode::UnknownMessage, "the value is JSON but not an object; no x402 message is"));
    };
    let has = |k: &str| o.contains_key(k);
    Ok(if has("paymentPayload") || has("paymentRequirements") {
        MessageKind::FacilitatorRequest
    } else if has("accepts") {
        MessageKind::PaymentRequired
    } else if has("payload") {
        MessageKind::PaymentPayload
    } else if has("isValid") {
        MessageKind::VerifyResponse
    } else if has("success") {
        MessageKind::SettleResponse
    } else if has("kinds") {
        MessageKind::SupportedResponse
    } else {
        return Err(Error::new(
            ErrorCode::UnknownMessage,
            "the value is a JSON object but not an x402 message (no accepts, payload, success, isValid or kinds)",
        ));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_messages() {
        let settle = r#"{"success":true,"transaction":"0x1","network":"eip155:8453"}"#;
        let d = decode_any(&codec::encode_json_text(settle)).unwrap();
        assert_eq!(d.kind, MessageKind::SettleResponse);
        assert!(d.was_base64);
        assert_eq!(decode_any(settle).unwrap().kind, MessageKind::SettleResponse);
        assert_eq!(decode_any("{\"a\":1}").unwrap_err().code(), ErrorCode::UnknownMessage);
        assert_eq!(decode_any("%%%").unwrap_err().code(), ErrorCode::HeaderInvalidBase64);
    }
}
