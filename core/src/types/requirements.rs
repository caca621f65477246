//! `PaymentRequirements`: one offer of a bill (an entry of `accepts`), for x402 v1 and v2.

use crate::prelude::*;
use alloy_primitives::U256;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::raw::{RawObject, parse_object};
use crate::error::{ErrorCode, Result};
use crate::network::is_caip2;
use crate::wire::{Fields, Object};

/// One offer: what to pay (scheme, network, amount, asset), to whom, and within how long.
///
/// A parsed offer keeps the exact JSON text it was read from, and serialises to that text, so the
/// `accepted` object a client sends back is the very object the server sent (unknown fields, `extra` and
/// key order included). Fields are read through accessors and never change after construction.
#[derive(Clone, Debug)]
pub struct PaymentRequirements {
    version: u8,
    scheme: String,
    network: String,
    amount: U256,
    asset: String,
    pay_to: String,
    max_timeout_seconds: u64,
    extra: Option<Object>,
    resource: Option<String>,
    description: Option<String>,
    mime_type: Option<String>,
    raw: Box<RawValue>,
}

const V2_FIELDS: &[&str] = &["scheme", "network", "amount", "asset", "payTo", "maxTimeoutSeconds", "extra"];

impl PaymentRequirements {
    /// Parses one offer. `version` is the x402 version of the message that carries it (1: `maxAmountRequired`
    /// and the v1 resource fields; 2: `amount`); `path` names it in errors (e.g. "accepts[0]").
    pub fn parse(raw: &RawValue, version: u8, path: &str) -> Result<Self> {
        let code = ErrorCode::InvalidPaymentRequirements;
        let value = Value::Object(parse_object(raw.get(), path, code)?);
        let f = Fields::of(&value, path, code)?;
        let scheme = f.nonempty_str("scheme")?.to_string();
        let network = f.nonempty_str("network")?.to_string();
        let (amount, resource, description, mime_type) = match version {
            1 => (
                f.decimal("maxAmountRequired")?,
                f.opt_str("resource")?.map(str::to_string),
                f.opt_str("description")?.map(str::to_string),
                f.opt_str("mimeType")?.map(str::to_string),
            ),
            _ => {
                if !is_caip2(&network) {
                    return Err(f.err(
                        "network",
                        format!(
                            "\"{}\" is not a CAIP-2 identifier such as \"eip155:8453\"",
                            crate::wire::truncate(&network)
                        ),
                    ));
                }
                (f.decimal("amount")?, None, None, None)
            }
        };
        let asset = f.nonempty_str("asset")?.to_string();
        let pay_to = f.nonempty_str("payTo")?.to_string();
        let max_timeout_seconds = f.u64("maxTimeoutSeconds")?;
        // A server's own batch-settlement operation (a claim, a sweep, a refund) has no payment window: the
        // official channel manager sends 0.
        if version >= 2 && max_timeout_seconds == 0 && scheme != crate::batch::SCHEME {
            return Err(f.err("maxTimeoutSeconds", "must be greater than zero"));
        }
        let has_extra = f.opt_object("extra")?.is_some();
        let extra = match value {
            Value::Object(mut members) if has_extra => match members.swap_remove("extra") {
                Some(Value::Object(extra)) => Some(extra),
                _ => None,
            },
            _ => None,
        };
        Ok(PaymentRequirements {
            version,
            scheme,
            network,
            amount,
            asset,
            pay_to,
            max_timeout_seconds,
            extra,
            resource,
            description,
            mime_type,
            raw: compact_raw(raw),
        })
    }

    /// Parses one offer from JSON text, taking the version from its shape (`maxAmountRequired` is v1).
    pub fn from_json(text: &str) -> Result<Self> {
        let raw: &RawValue =
            serde_json::from_str(text).map_err(|e| crate::codec::json_error(&e, "the payment requirements"))?;
        let obj = RawObject::parse(raw.get(), "paymentRequirements", ErrorCode::InvalidPaymentRequirements)?;
        let version = if obj.get("maxAmountRequired").is_some() { 1 } else { 2 };
        Self::parse(raw, version, "paymentRequirements")
    }

    /// Builds a v2 offer. Fields are written in the order the official servers write them.
    pub fn new_v2(
        scheme: &str,
        network: &str,
        amount: U256,
        asset: &str,
        pay_to: &str,
        max_timeout_seconds: u64,
        extra: Option<Object>,
    ) -> Result<Self> {
        let mut obj = Object::new();
        obj.insert("scheme".into(), json!(scheme));
        obj.insert("network".into(), json!(network));
        obj.insert("amount".into(), json!(amount.to_string()));
        obj.insert("asset".into(), json!(asset));
        obj.insert("payTo".into(), json!(pay_to));
        obj.insert("maxTimeoutSeconds".into(), json!(max_timeout_seconds));
        obj.insert("extra".into(), Value::Object(extra.unwrap_or_default()));
        Self::from_object(obj, 2)
    }

    /// Builds a v1 offer (with the v1 resource fields inside the offer).
    #[allow(clippy::too_many_arguments)]
    pub fn new_v1(
        scheme: &str,
        network: &str,
        max_amount_required: U256,
        resource: &str,
        description: &str,
        mime_type: &str,
        pay_to: &str,
        max_timeout_seconds: u64,
        asset: &str,
        extra: Option<Object>,
    ) -> Result<Self> {
        let mut obj = Object::new();
        obj.insert("scheme".into(), json!(scheme));
        obj.insert("network".into(), json!(network));
        obj.insert("maxAmountRequired".into(), json!(max_amount_required.to_string()));
        obj.insert("resource".into(), json!(resource));
        obj.insert("description".into(), json!(description));
        obj.insert("mimeType".into(), json!(mime_type));
        obj.insert("payTo".into(), json!(pay_to));
        obj.insert("maxTimeoutSeconds".into(), json!(max_timeout_seconds));
        obj.insert("asset".into(), json!(asset));
        obj.insert("extra".into(), extra.map(Value::Object).unwrap_or(Value::Null));
        Self::from_object(obj, 1)
    }

    /// Builds an offer from a JSON object (validated as for parsing).
    pub fn from_object(obj: Object, version: u8) -> Result<Self> {
        let raw = super::raw::raw_from_value(&Value::Object(obj));
        Self::parse(&raw, version, "paymentRequirements")
    }

    /// The x402 version whose shape this offer has.
    pub fn version(&self) -> u8 {
        self.version
    }
    /// Payment scheme, e.g. "exact".
    pub fn scheme(&self) -> &str {
        &self.scheme
    }
    /// Network as written in the offer (CAIP-2 in v2, a name such as "base" in v1).
    pub fn network(&self) -> &str {
        &self.network
    }
    /// Amount in atomic units (v2 `amount`, v1 `maxAmountRequired`).
    pub fn amount(&self) -> U256 {
        self.amount
    }
    /// Token contract address as written.
    pub fn asset(&self) -> &str {
        &self.asset
    }
    /// Recipient as written.
    pub fn pay_to(&self) -> &str {
        &self.pay_to
    }
    /// Seconds the server allows for completing the payment.
    pub fn max_timeout_seconds(&self) -> u64 {
        self.max_timeout_seconds
    }
    /// Scheme-specific data (EIP-712 `name`/`version`, `assetTransferMethod`, ...).
    pub fn extra(&self) -> Option<&Object> {
        self.extra.as_ref()
    }
    /// A string member of `extra`.
    pub fn extra_str(&self, key: &str) -> Option<&str> {
        self.extra.as_ref()?.get(key)?.as_str()
    }
    /// v1: the resource URL carried inside the offer.
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }
    /// v1: the resource description carried inside the offer.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// v1: the resource MIME type carried inside the offer.
    pub fn mime_type(&self) -> Option<&str> {
        self.mime_type.as_deref()
    }
    /// The exact JSON text of the offer.
    pub fn raw_json(&self) -> &str {
        self.raw.get()
    }
    /// The offer as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.raw.get()).unwrap_or(Value::Null)
    }

    /// Whether `other` (a client's `accepted`) is this offer in the x402 sense: scheme, network, amount,
    /// asset, payee and `maxTimeoutSeconds` equal (addresses compared as addresses, so letter case does not
    /// matter), and `other.extra` containing every member of `self.extra`, recursively.
    pub fn is_matched_by(&self, other: &PaymentRequirements) -> bool {
        self.scheme == other.scheme
            && self.network == other.network
            && self.amount == other.amount
            && self.max_timeout_seconds == other.max_timeout_seconds
            && same_address(&self.asset, &other.asset)
            && same_address(&self.pay_to, &other.pay_to)
            && match (&self.extra, &other.extra) {
                (None, _) => true,
                (Some(required), given) => {
                    required.is_empty() || given.as_ref().is_some_and(|g| object_contains(g, required))
                }
            }
    }

    /// A one-line summary for messages: "exact eip155:84532 10000 of 0x036C… to 0x2096…" (long members cut).
    pub fn summary(&self) -> String {
        use crate::wire::truncate;
        format!(
            "{} {} {} of {} to {}",
            truncate(&self.scheme),
            truncate(&self.network),
            self.amount,
            truncate(&self.asset),
            truncate(&self.pay_to)
        )
    }

    /// Keys a v2 offer defines (the rest are extensions of the wire format kept as they came).
    pub fn known_v2_fields() -> &'static [&'static str] {
        V2_FIELDS
    }
}

/// Equal as EVM addresses when both are addresses; otherwise equal as strings.
pub(crate) fn same_address(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (crate::wire::parse_address(a), crate::wire::parse_address(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Whether `given` has every member of `required` with an equal value, objects compared recursively.
pub(crate) fn object_contains(given: &crate::wire::Object, required: &crate::wire::Object) -> bool {
    required.iter().all(|(k, want)| match (given.get(k), want) {
        (Some(Value::Object(g)), Value::Object(w)) => object_contains(g, w),
        (Some(g), w) => g == w,
        (None, _) => false,
    })
}

/// Drops insignificant whitespace from an offer's text (a pretty-printed v1 body) while keeping its members
/// and their values exactly as written.
pub(crate) fn compact_raw(raw: &RawValue) -> Box<RawValue> {
    let text = raw.get();
    if !text.bytes().any(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t')) {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
            out.push(c);
        }
    }
    RawValue::from_string(out).unwrap_or_else(|_| raw.to_owned())
}

impl PartialEq for PaymentRequirements {
    fn eq(&self, other: &Self) -> bool {
        self.raw.get() == other.raw.get() && self.version == other.version
    }
}

impl Serialize for PaymentRequirements {
    fn serialize<S: Serializer>(&self, serializer: S) -> core::result::Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = r#"{"scheme":"exact","network":"eip155:84532","amount":"10000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60,"extra":{"name":"USDC","version":"2"},"futureField":[1,2.50]}"#;

    fn parse(text: &str, version: u8) -> Result<PaymentRequirements> {
        let raw: &RawValue = serde_json::from_str(text).unwrap();
        PaymentRequirements::parse(raw, version, "accepts[0]")
    }

    #[test]
    fn parses_and_echoes_verbatim() {
        let r = parse(OFFER, 2).unwrap();
        assert_eq!(r.amount(), U256::from(10000));
        assert_eq!(r.extra_str("name"), Some("USDC"));
        assert_eq!(serde_json::to_string(&r).unwrap(), OFFER);
    }

    #[test]
    fn pretty_text_is_compacted_without_touching_values() {
        let pretty = "{\n  \"scheme\": \"exact\", \"network\": \"base\",\n  \"maxAmountRequired\": \"1\", \"description\": \"a  b\",\n  \"asset\": \"0x036CbD53842c5426634e7929541eC2318f3dCF7e\", \"payTo\": \"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\", \"maxTimeoutSeconds\": 60, \"n\": 1.50 }";
        let r = parse(pretty, 1).unwrap();
        assert!(r.raw_json().contains("\"description\":\"a  b\""));
        assert!(r.raw_json().contains("\"n\":1.50"));
    }

    #[test]
    fn shape_errors_name_the_field() {
        let e = parse(&OFFER.replace("\"10000\"", "10000"), 2).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidPaymentRequirements);
        assert!(e.message().starts_with("accepts[0].amount must be a string"), "{}", e.message());
        let e = parse(&OFFER.replace("eip155:84532", "base-sepolia"), 2).unwrap_err();
        assert!(e.message().contains("CAIP-2"));
        let e = parse(&OFFER.replace("60", "0"), 2).unwrap_err();
        assert!(e.message().contains("maxTimeoutSeconds"));
        let e = parse(OFFER, 1).unwrap_err();
        assert!(e.message().contains("maxAmountRequired is missing"));
    }

    #[test]
    fn matching_is_exact_with_extra_as_superset() {
        let server = parse(OFFER, 2).unwrap();
        let lower =
            OFFER.replace("0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "0x209693bc6afc0c5328ba36faf03c514ef312287c");
        assert!(server.is_matched_by(&parse(&lower, 2).unwrap()));
        let more_extra = OFFER.replace(r#""version":"2"}"#, r#""version":"2","x":1}"#);
        assert!(server.is_matched_by(&parse(&more_extra, 2).unwrap()));
        let less_extra = OFFER.replace(r#","version":"2""#, "");
        assert!(!server.is_matched_by(&parse(&less_extra, 2).unwrap()));
        assert!(!server.is_matched_by(&parse(&OFFER.replace(":60,", ":61,"), 2).unwrap()));
        assert!(!server.is_matched_by(&parse(&OFFER.replace("10000", "9999"), 2).unwrap()));
    }
}
