//! `PaymentPayload`: the signed payment a client sends (v2 `PAYMENT-SIGNATURE`, v1 `X-PAYMENT`).

use crate::prelude::*;
use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use super::raw::RawObject;
use super::required::{ResourceInfo, parse_version};
use super::requirements::PaymentRequirements;
use crate::codec;
use crate::error::{Error, ErrorCode, Result};
use crate::wire::{Object, kind};

/// A payment: the offer it accepts and the scheme's signed payload.
///
/// A parsed payload keeps the exact JSON text it was read from; a server forwards that text to its
/// facilitator unchanged.
#[derive(Clone, Debug)]
pub struct PaymentPayload {
    x402_version: u8,
    scheme: String,
    network: String,
    accepted: Option<PaymentRequirements>,
    resource: Option<ResourceInfo>,
    payload: Object,
    extensions: Option<Object>,
    raw: Box<RawValue>,
}

impl PaymentPayload {
    /// Parses a payment from JSON text (either version).
    pub fn from_json(text: &str) -> Result<Self> {
        let code = ErrorCode::InvalidPayload;
        let what = "the payment payload";
        let obj = RawObject::parse(text, what, code)?;
        let x402_version = parse_version(&obj, what, code)?;
        let payload = match obj.value("payload", what)? {
            Some(Value::Object(o)) => o,
            Some(other) => return Err(Error::new(code, format!("payload must be an object, found {}", kind(&other)))),
            None => return Err(Error::new(code, "payload is missing")),
        };
        let extensions = match obj.value("extensions", what)? {
            None => None,
            Some(Value::Object(o)) => Some(o),
            Some(other) => {
                return Err(Error::new(code, format!("extensions must be an object, found {}", kind(&other))));
            }
        };
        let (scheme, network, accepted, resource) = if x402_version >= 2 {
            let raw = obj.get("accepted").ok_or_else(|| {
                Error::new(code, "accepted is missing: an x402 v2 payment must echo the offer it accepts")
            })?;
            let accepted = PaymentRequirements::parse(raw, 2, "accepted").map_err(|e| Error::new(code, e.message()))?;
            let resource = match obj.get("resource") {
                Some(raw) => Some(ResourceInfo::from_raw(raw, "resource", code)?),
                None => None,
            };
            (accepted.scheme().to_string(), accepted.network().to_string(), Some(accepted), resource)
        } else {
            let str_field = |name: &str| -> Result<String> {
                match obj.value(name, what)? {
                    Some(Value::String(s)) if !s.is_empty() => Ok(s),
                    Some(_) => Err(Error::new(code, format!("{name} must be a non-empty string"))),
                    None => Err(Error::new(code, format!("{name} is missing: an x402 v1 payment names its {name}"))),
                }
            };
            (str_field("scheme")?, str_field("network")?, None, None)
        };
        let raw = RawValue::from_string(text.trim().to_string()).map_err(|e| codec::json_error(&e, what))?;
        Ok(PaymentPayload { x402_version, scheme, network, accepted, resource, payload, extensions, raw })
    }

    /// Reads a payment given as text: a header value, or its JSON.
    pub fn from_text(text: &str) -> Result<Self> {
        if crate::http::looks_like_json(text) { Self::from_json(text) } else { Self::from_header(text) }
    }

    /// Parses a `PAYMENT-SIGNATURE` or `X-PAYMENT` header value.
    pub fn from_header(value: &str) -> Result<Self> {
        Self::from_json(&codec::decode_header_text(value)?)
    }

    /// Builds a v2 payment for `accepted` (echoed verbatim). Members are written in the order the official
    /// TypeScript client writes them, so equal inputs give byte-identical headers.
    pub fn new_v2(
        accepted: &PaymentRequirements,
        resource: Option<&ResourceInfo>,
        payload: Object,
        extensions: Option<Object>,
    ) -> Result<Self> {
        #[derive(Serialize)]
        struct V2<'a> {
            #[serde(rename = "x402Version")]
            version: u8,
            payload: &'a Object,
            #[serde(skip_serializing_if = "Option::is_none")]
            extensions: Option<&'a Object>,
            #[serde(skip_serializing_if = "Option::is_none")]
            resource: Option<&'a ResourceInfo>,
            accepted: &'a PaymentRequirements,
        }
        let text = to_json(&V2 { version: 2, payload: &payload, extensions: extensions.as_ref(), resource, accepted })?;
        Ok(PaymentPayload {
            x402_version: 2,
            scheme: accepted.scheme().to_string(),
            network: accepted.network().to_string(),
            accepted: Some(accepted.clone()),
            resource: resource.cloned(),
            payload,
            extensions,
            raw: text,
        })
    }

    /// Builds a v1 payment (`scheme` and `network` at the top level, no `accepted`).
    pub fn new_v1(scheme: &str, network: &str, payload: Object) -> Result<Self> {
        #[derive(Serialize)]
        struct V1<'a> {
            #[serde(rename = "x402Version")]
            version: u8,
            scheme: &'a str,
            network: &'a str,
            payload: &'a Object,
        }
        let text = to_json(&V1 { version: 1, scheme, network, payload: &payload })?;
        Ok(PaymentPayload {
            x402_version: 1,
            scheme: scheme.to_string(),
            network: network.to_string(),
            accepted: None,
            resource: None,
            payload,
            extensions: None,
            raw: text,
        })
    }

    /// 1 or 2.
    pub fn x402_version(&self) -> u8 {
        self.x402_version
    }
    /// The scheme paid under (v2: `accepted.scheme`; v1: `scheme`).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }
    /// The network paid on (v2: `accepted.network`; v1: `network`).
    pub fn network(&self) -> &str {
        &self.network
    }
    /// v2: the offer the client accepted, exactly as it echoed it.
    pub fn accepted(&self) -> Option<&PaymentRequirements> {
        self.accepted.as_ref()
    }
    /// v2: the resource the client says it pays for.
    pub fn resource(&self) -> Option<&ResourceInfo> {
        self.resource.as_ref()
    }
    /// The scheme-specific payload (for `exact` on EVM: signature and authorization).
    pub fn payload(&self) -> &Object {
        &self.payload
    }
    /// v2 extensions the client echoed or added.
    pub fn extensions(&self) -> Option<&Object> {
        self.extensions.as_ref()
    }
    /// The exact JSON text of the payment.
    pub fn raw_json(&self) -> &str {
        self.raw.get()
    }
    /// The payment as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.raw.get()).unwrap_or(Value::Null)
    }
    /// The header value: standard base64 of the JSON text.
    pub fn to_header(&self) -> String {
        codec::encode_json_text(self.raw.get())
    }
    /// The header the payment travels in: `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1).
    pub fn header_name(&self) -> &'static str {
        if self.x402_version >= 2 { codec::header::PAYMENT_SIGNATURE } else { codec::header::X_PAYMENT }
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Box<RawValue>> {
    serde_json::value::to_raw_value(value)
        .map_err(|e| Error::new(ErrorCode::InvalidPayload, format!("cannot serialise the payment: {e}")))
}

impl PartialEq for PaymentPayload {
    fn eq(&self, other: &Self) -> bool {
        self.raw.get() == other.raw.get()
    }
}

impl Serialize for PaymentPayload {
    fn serialize<S: Serializer>(&self, serializer: S) -> core::result::Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"{"x402Version":1,"scheme":"exact","network":"base-sepolia","payload":{"signature":"0x2d6a7588d6acca505cbf0d9a4a227e0c52c6c34008c8e8986a1283259764173608a2ce6496642e377d6da8dbbf5836e9bd15092f9ecab05ded3d6293af148b571c","authorization":{"from":"0x857b06519E91e3A54538791bDbb0E22373e36b66","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"10000","validAfter":"1740672089","validBefore":"1740672154","nonce":"0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"}}}"#;

    #[test]
    fn v1_round_trip() {
        let p = PaymentPayload::from_json(V1).unwrap();
        assert_eq!(p.scheme(), "exact");
        assert_eq!(p.network(), "base-sepolia");
        assert_eq!(p.header_name(), "X-PAYMENT");
        assert_eq!(PaymentPayload::from_header(&p.to_header()).unwrap(), p);
        let rebuilt = PaymentPayload::new_v1("exact", "base-sepolia", p.payload().clone()).unwrap();
        assert_eq!(rebuilt.raw_json(), V1);
    }

    #[test]
    fn v2_requires_accepted() {
        let e = PaymentPayload::from_json(r#"{"x402Version":2,"payload":{}}"#).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidPayload);
        assert!(e.message().contains("accepted is missing"));
        let e = PaymentPayload::from_json(r#"{"x402Version":1,"network":"base","payload":{}}"#).unwrap_err();
        assert!(e.message().contains("scheme is missing"));
    }
}
