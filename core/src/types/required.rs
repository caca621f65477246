//! `PaymentRequired`: the bill a server sends with HTTP 402 (v2 `PAYMENT-REQUIRED` header, v1 JSON body).

use crate::prelude::*;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::raw::RawObject;
use super::requirements::PaymentRequirements;
use crate::codec::{self, header};
use crate::error::{Error, ErrorCode, Result};
use crate::wire::{Fields, Object, kind};

/// The resource a v2 bill is for.
///
/// A parsed resource remembers its exact JSON text and serialises to it while its fields are unchanged, so
/// the copy a client sends back in its payment is the server's own.
#[derive(Clone, Debug, Default)]
pub struct ResourceInfo {
    /// The resource URL (non-empty).
    pub url: String,
    /// What the resource is.
    pub description: Option<String>,
    /// MIME type of the resource.
    pub mime_type: Option<String>,
    /// Other members (`serviceName`, `tags`, `iconUrl`, future fields), kept as they came.
    pub other: Object,
    parsed: Option<alloc::sync::Arc<Parsed>>,
}

#[derive(Debug)]
struct Parsed {
    text: Box<serde_json::value::RawValue>,
    url: String,
    description: Option<String>,
    mime_type: Option<String>,
    other: Object,
}

impl PartialEq for ResourceInfo {
    fn eq(&self, o: &Self) -> bool {
        self.url == o.url && self.description == o.description && self.mime_type == o.mime_type && self.other == o.other
    }
}

impl ResourceInfo {
    /// A resource with only a URL.
    pub fn new(url: impl Into<String>) -> Self {
        ResourceInfo { url: url.into(), ..Default::default() }
    }

    /// The same resource with a description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The same resource with a MIME type.
    pub fn with_mime_type(mut self, mime_type: impl Into<String>) -> Self {
        self.mime_type = Some(mime_type.into());
        self
    }

    pub(crate) fn from_raw(raw: &serde_json::value::RawValue, path: &str, code: ErrorCode) -> Result<Self> {
        let value = super::raw::to_value(raw, path)?;
        let mut info = Self::from_value(&value, path, code)?;
        info.parsed = Some(alloc::sync::Arc::new(Parsed {
            text: super::requirements::compact_raw(raw),
            url: info.url.clone(),
            description: info.description.clone(),
            mime_type: info.mime_type.clone(),
            other: info.other.clone(),
        }));
        Ok(info)
    }

    pub(crate) fn from_value(value: &Value, path: &str, code: ErrorCode) -> Result<Self> {
        let f = Fields::of(value, path, code)?;
        let url = f.nonempty_str("url")?.to_string();
        let description = f.opt_str("description")?.map(str::to_string);
        let mime_type = f.opt_str("mimeType")?.map(str::to_string);
        let other = f
            .object()
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "url" | "description" | "mimeType"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(ResourceInfo { url, description, mime_type, other, parsed: None })
    }

    /// The exact text it was parsed from, if its fields are still as parsed.
    fn unchanged_text(&self) -> Option<&serde_json::value::RawValue> {
        let p = self.parsed.as_deref()?;
        let same = p.url == self.url
            && p.description == self.description
            && p.mime_type == self.mime_type
            && p.other == self.other;
        same.then_some(&*p.text)
    }
}

impl Serialize for ResourceInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> core::result::Result<S::Ok, S::Error> {
        if let Some(raw) = self.unchanged_text() {
            return raw.serialize(serializer);
        }
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("url", &self.url)?;
        if let Some(d) = &self.description {
            map.serialize_entry("description", d)?;
        }
        if let Some(m) = &self.mime_type {
            map.serialize_entry("mimeType", m)?;
        }
        for (k, v) in &self.other {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A bill: the offers (`accepts`) a server will take for a resource.
#[derive(Clone, Debug, PartialEq)]
pub struct PaymentRequired {
    /// 1 or 2.
    pub x402_version: u8,
    /// Why payment is required (e.g. "Payment required", or the reason a payment failed).
    pub error: Option<String>,
    /// v2: the resource the bill is for (v1 carries it inside each offer).
    pub resource: Option<ResourceInfo>,
    /// The offers, at least one.
    pub accepts: Vec<PaymentRequirements>,
    /// v2 extensions (`bazaar`, `payment-identifier`, `offer-receipt`, ...), kept as they came.
    pub extensions: Option<Object>,
    /// Top-level members x402 does not define, kept as they came.
    pub other: Object,
}

const KNOWN: &[&str] = &["x402Version", "error", "resource", "accepts", "extensions"];

impl PaymentRequired {
    /// Parses a bill from JSON text (either version).
    pub fn from_json(text: &str) -> Result<Self> {
        let code = ErrorCode::InvalidPaymentRequired;
        let what = "the payment-required message";
        let obj = RawObject::parse(text, what, code)?;
        let version = parse_version(&obj, what, code)?;
        let error = match obj.value("error", what)? {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                return Err(Error::new(code, format!("error must be a string, found {}", kind(&other))));
            }
        };
        // v2 requires `resource`, but some servers omit it and the official clients still pay them; nothing
        // about paying depends on it, so a client reads such bills too.
        let resource = match obj.get("resource") {
            Some(raw) if version >= 2 => Some(ResourceInfo::from_raw(raw, "resource", code)?),
            _ => None,
        };
        let accepts_raw = obj.get("accepts").ok_or_else(|| Error::new(code, "accepts is missing"))?;
        let accepts_list: Vec<&serde_json::value::RawValue> = serde_json::from_str(accepts_raw.get())
            .map_err(|_| Error::new(code, "accepts must be an array of offers"))?;
        if accepts_list.is_empty() {
            return Err(Error::new(code, "accepts is empty: a bill must offer at least one way to pay"));
        }
        let accepts = accepts_list
            .iter()
            .enumerate()
            .map(|(i, raw)| PaymentRequirements::parse(raw, version, &format!("accepts[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        let extensions = match obj.value("extensions", what)? {
            None => None,
            Some(Value::Object(o)) => Some(o),
            Some(other) => {
                return Err(Error::new(code, format!("extensions must be an object, found {}", kind(&other))));
            }
        };
        let other = obj.unknown(KNOWN, what)?;
        Ok(PaymentRequired { x402_version: version, error, resource, accepts, extensions, other })
    }

    /// Reads a bill given as text: a `PAYMENT-REQUIRED` header value, or JSON (a v1 body).
    pub fn from_text(text: &str) -> Result<Self> {
        if crate::http::looks_like_json(text) { Self::from_json(text) } else { Self::from_header(text) }
    }

    /// Parses a v2 `PAYMENT-REQUIRED` header value.
    pub fn from_header(value: &str) -> Result<Self> {
        Self::from_json(&codec::decode_header_text(value)?)
    }

    /// Parses a v1 402 JSON body.
    pub fn from_body(body: &[u8]) -> Result<Self> {
        codec::check_body_size(body.len(), "the 402 body")?;
        let text = core::str::from_utf8(body)
            .map_err(|_| Error::new(ErrorCode::InvalidJson, "the 402 body is not UTF-8 text"))?;
        Self::from_json(text)
    }

    /// Reads the bill of a 402 response: the v2 `PAYMENT-REQUIRED` header if present (any letter case), else a
    /// v1 JSON body.
    pub fn from_response<'a, I, K, V>(headers: I, body: &[u8]) -> Result<Self>
    where
        I: IntoIterator<Item = &'a (K, V)>,
        K: AsRef<str> + 'a,
        V: AsRef<str> + 'a,
    {
        if let Some(value) = codec::find_header(headers, header::PAYMENT_REQUIRED) {
            return Self::from_header(value);
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::new(
                ErrorCode::InvalidPaymentRequired,
                "the 402 response has neither a PAYMENT-REQUIRED header nor a JSON body; it is not an x402 bill",
            ));
        }
        Self::from_body(body)
    }

    /// The bill as compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The bill as a `PAYMENT-REQUIRED` header value (standard base64 of compact JSON).
    pub fn to_header(&self) -> String {
        codec::encode_json_text(&self.to_json())
    }
}

pub(crate) fn parse_version(obj: &RawObject<'_>, what: &str, code: ErrorCode) -> Result<u8> {
    match obj.value("x402Version", what)? {
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(1),
        Some(Value::Number(n)) if n.as_u64() == Some(2) => Ok(2),
        Some(Value::Number(n)) => Err(Error::new(
            ErrorCode::InvalidX402Version,
            format!("x402Version {n} is not supported; paywire speaks x402 versions 1 and 2"),
        )),
        Some(other) => Err(Error::new(code, format!("x402Version must be the number 1 or 2, found {}", kind(&other)))),
        None => Err(Error::new(code, "x402Version is missing")),
    }
}

impl Serialize for PaymentRequired {
    fn serialize<S: Serializer>(&self, serializer: S) -> core::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("x402Version", &self.x402_version)?;
        if let Some(e) = &self.error {
            map.serialize_entry("error", e)?;
        }
        if self.x402_version >= 2
            && let Some(r) = &self.resource
        {
            map.serialize_entry("resource", r)?;
        }
        map.serialize_entry("accepts", &self.accepts)?;
        if let Some(x) = &self.extensions {
            map.serialize_entry("extensions", x)?;
        }
        for (k, v) in &self.other {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The v2 PAYMENT-REQUIRED example of specs/transports-v2/http.md, re-encoded.
    const V2: &str = r#"{"x402Version":2,"error":"PAYMENT-SIGNATURE header is required","resource":{"url":"https://api.example.com/premium-data","description":"Access to premium market data","mimeType":"application/json"},"accepts":[{"scheme":"exact","network":"eip155:84532","amount":"10000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60,"extra":{"name":"USDC","version":"2"}}],"extensions":{}}"#;

    #[test]
    fn round_trips_v2() {
        let b = PaymentRequired::from_json(V2).unwrap();
        assert_eq!(b.x402_version, 2);
        assert_eq!(b.to_json(), V2);
        assert_eq!(PaymentRequired::from_header(&b.to_header()).unwrap(), b);
    }

    #[test]
    fn unknown_members_survive() {
        let text = V2.replace(r#""extensions":{}"#, r#""extensions":{"x":{"info":{"a":[1,2]}}},"later":{"y":true}"#);
        let b = PaymentRequired::from_json(&text).unwrap();
        assert_eq!(b.to_json(), text);
    }

    #[test]
    fn shape_errors() {
        let code = |t: &str| PaymentRequired::from_json(t).unwrap_err().code();
        assert_eq!(code(&V2.replace(r#""x402Version":2"#, r#""x402Version":3"#)), ErrorCode::InvalidX402Version);
        assert_eq!(code(&V2.replace(r#""x402Version":2"#, r#""x402Version":"2""#)), ErrorCode::InvalidPaymentRequired);
        assert_eq!(code(r#"{"x402Version":2,"resource":{"url":"u"},"accepts":[]}"#), ErrorCode::InvalidPaymentRequired);
        assert_eq!(code(r#"{"x402Version":2,"accepts":[{}]}"#), ErrorCode::InvalidPaymentRequirements);
        assert_eq!(
            code(r#"{"x402Version":2,"resource":{"url":"u"},"accepts":[{}]}"#),
            ErrorCode::InvalidPaymentRequirements
        );
        assert_eq!(code("[]"), ErrorCode::InvalidPaymentRequired);
        assert_eq!(code("nope"), ErrorCode::InvalidJson);
    }

    #[test]
    fn reads_header_before_body_any_case() {
        let b = PaymentRequired::from_json(V2).unwrap();
        let headers = vec![("payment-required".to_string(), b.to_header())];
        assert_eq!(PaymentRequired::from_response(&headers, b"{}").unwrap(), b);
        let none: Vec<(String, String)> = vec![];
        let e = PaymentRequired::from_response(&none, b"").unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidPaymentRequired);
    }
}
