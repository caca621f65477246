//! The x402 messages as JS classes, with the Node binding's names: `toJSON()` gives a plain object,
//! `toJsonText()` the exact text, getters read the fields.

use paywire_core as core;
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;

use crate::errors::OrThrow;
use crate::js::{bigint, header_pairs, plain, to_js};

fn object(map: Option<&Map<String, Value>>) -> JsValue {
    map.map_or(JsValue::NULL, |m| to_js(&Value::Object(m.clone())))
}

/// A body from a string, a `Uint8Array`, or nothing.
fn body_bytes(body: &JsValue) -> Result<Vec<u8>, JsValue> {
    if let Some(text) = body.as_string() {
        return Ok(text.into_bytes());
    }
    Ok(crate::js::optional_bytes(body)?.unwrap_or_default())
}

/// `getters!(Type { js_name => |inner| expression; ... })`: read-only properties of the wrapped core value.
macro_rules! getters {
    ($ty:ident { $( $(#[doc = $doc:literal])* $name:ident / $js:literal -> $ret:ty = |$inner:ident| $body:expr; )* }) => {
        #[wasm_bindgen]
        impl $ty {
            $(
                $(#[doc = $doc])*
                #[wasm_bindgen(getter, js_name = $js)]
                pub fn $name(&self) -> $ret {
                    let $inner = &self.0;
                    $body
                }
            )*
        }
    };
}
pub(crate) use getters;

/// A bill: the offers (`accepts`) a server takes for a resource.
#[wasm_bindgen]
#[derive(Clone)]
pub struct PaymentRequired(pub(crate) core::PaymentRequired);

#[wasm_bindgen]
impl PaymentRequired {
    /// Parses a `PAYMENT-REQUIRED` header value.
    #[wasm_bindgen(js_name = "fromHeader")]
    pub fn from_header(value: String) -> Result<PaymentRequired, JsValue> {
        core::PaymentRequired::from_header(&value).or_throw().map(Self)
    }
    /// Parses a bill's JSON text.
    #[wasm_bindgen(js_name = "fromJson")]
    pub fn from_json(text: String) -> Result<PaymentRequired, JsValue> {
        core::PaymentRequired::from_json(&text).or_throw().map(Self)
    }
    /// Parses a 402 body (x402 v1 carries the bill there).
    #[wasm_bindgen(js_name = "fromBody")]
    pub fn from_body(body: JsValue) -> Result<PaymentRequired, JsValue> {
        core::PaymentRequired::from_body(&body_bytes(&body)?).or_throw().map(Self)
    }
    /// The bill of a 402 response: the `PAYMENT-REQUIRED` header (v2) or the body (v1).
    #[wasm_bindgen(js_name = "fromResponse")]
    pub fn from_response(headers: JsValue, body: JsValue) -> Result<PaymentRequired, JsValue> {
        let headers = header_pairs(&headers)?;
        core::PaymentRequired::from_response(&headers, &body_bytes(&body)?).or_throw().map(Self)
    }
    /// The `PAYMENT-REQUIRED` header value.
    #[wasm_bindgen(js_name = "toHeader")]
    pub fn to_header(&self) -> String {
        self.0.to_header()
    }
    /// The exact JSON text.
    #[wasm_bindgen(js_name = "toJsonText")]
    pub fn to_json_text(&self) -> String {
        self.0.to_json()
    }
    /// The bill as a plain object.
    #[wasm_bindgen(js_name = "toJSON")]
    pub fn to_json_value(&self) -> JsValue {
        plain(&self.0)
    }
}

getters!(PaymentRequired {
    #[doc = "The x402 version."]
    x402_version / "x402Version" -> u8 = |v| v.x402_version;
    #[doc = "The server's words on why payment is required."]
    error / "error" -> JsValue = |v| crate::js::opt(v.error.clone());
    #[doc = "The offers."]
    accepts / "accepts" -> Vec<PaymentRequirements> = |v| v.accepts.iter().cloned().map(PaymentRequirements).collect();
    #[doc = "The extensions the server declared."]
    extensions / "extensions" -> JsValue = |v| object(v.extensions.as_ref());
});

/// One offer of a bill.
#[wasm_bindgen]
#[derive(Clone)]
pub struct PaymentRequirements(pub(crate) core::PaymentRequirements);

#[wasm_bindgen]
impl PaymentRequirements {
    /// Parses an offer's JSON text.
    #[wasm_bindgen(js_name = "fromJson")]
    pub fn from_json(text: String) -> Result<PaymentRequirements, JsValue> {
        core::PaymentRequirements::from_json(&text).or_throw().map(Self)
    }
    /// The offer as a plain object.
    #[wasm_bindgen(js_name = "toJSON")]
    pub fn to_json_value(&self) -> JsValue {
        plain(&self.0)
    }
    /// A one-line description.
    pub fn summary(&self) -> String {
        self.0.summary()
    }
}

getters!(PaymentRequirements {
    #[doc = "The x402 version of the bill the offer came in."]
    version / "version" -> u8 = |v| v.version();
    #[doc = "The scheme (`exact`)."]
    scheme / "scheme" -> String = |v| v.scheme().to_string();
    #[doc = "The network (CAIP-2)."]
    network / "network" -> String = |v| v.network().to_string();
    #[doc = "Atomic units."]
    amount / "amount" -> JsValue = |v| bigint(v.amount());
    #[doc = "The token."]
    asset / "asset" -> String = |v| v.asset().to_string();
    #[doc = "The payee."]
    pay_to / "payTo" -> String = |v| v.pay_to().to_string();
    #[doc = "Seconds the payer has."]
    max_timeout_seconds / "maxTimeoutSeconds" -> f64 = |v| v.max_timeout_seconds() as f64;
    #[doc = "The scheme's extra data."]
    extra / "extra" -> JsValue = |v| object(v.extra());
});

/// A payment, as sent in `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1).
#[wasm_bindgen]
#[derive(Clone)]
pub struct PaymentPayload(pub(crate) core::PaymentPayload);

#[wasm_bindgen]
impl PaymentPayload {
    /// Parses a payment's JSON text.
    #[wasm_bindgen(js_name = "fromJson")]
    pub fn from_json(text: String) -> Result<PaymentPayload, JsValue> {
        core::PaymentPayload::from_json(&text).or_throw().map(Self)
    }
    /// Parses a payment header value.
    #[wasm_bindgen(js_name = "fromHeader")]
    pub fn from_header(value: String) -> Result<PaymentPayload, JsValue> {
        core::PaymentPayload::from_header(&value).or_throw().map(Self)
    }
    /// The header value.
    #[wasm_bindgen(js_name = "toHeader")]
    pub fn to_header(&self) -> String {
        self.0.to_header()
    }
    /// The payment as a plain object.
    #[wasm_bindgen(js_name = "toJSON")]
    pub fn to_json_value(&self) -> JsValue {
        plain(&self.0)
    }
}

getters!(PaymentPayload {
    #[doc = "The x402 version."]
    x402_version / "x402Version" -> u8 = |v| v.x402_version();
    #[doc = "The scheme."]
    scheme / "scheme" -> String = |v| v.scheme().to_string();
    #[doc = "The network."]
    network / "network" -> String = |v| v.network().to_string();
    #[doc = "The scheme's payload (authorization and signature)."]
    payload / "payload" -> JsValue = |v| to_js(&Value::Object(v.payload().clone()));
    #[doc = "`PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1)."]
    header_name / "headerName" -> String = |v| v.header_name().to_string();
});

/// A facilitator's settlement: the `PAYMENT-RESPONSE` a paid response carries.
#[wasm_bindgen]
#[derive(Clone)]
pub struct SettleResponse(pub(crate) core::SettleResponse);

#[wasm_bindgen]
impl SettleResponse {
    /// Parses a `/settle` answer.
    #[wasm_bindgen(js_name = "fromJson")]
    pub fn from_json(text: String) -> Result<SettleResponse, JsValue> {
        core::SettleResponse::from_json(&text).or_throw().map(Self)
    }
    /// Parses a `PAYMENT-RESPONSE` header value.
    #[wasm_bindgen(js_name = "fromHeader")]
    pub fn from_header(value: String) -> Result<SettleResponse, JsValue> {
        core::SettleResponse::from_header(&value).or_throw().map(Self)
    }
    /// The header value.
    #[wasm_bindgen(js_name = "toHeader")]
    pub fn to_header(&self) -> String {
        self.0.to_header()
    }
    /// The exact JSON text.
    #[wasm_bindgen(js_name = "toJsonText")]
    pub fn to_json_text(&self) -> String {
        self.0.to_json()
    }
    /// The settlement as a plain object.
    #[wasm_bindgen(js_name = "toJSON")]
    pub fn to_json_value(&self) -> JsValue {
        plain(&self.0)
    }
}

getters!(SettleResponse {
    #[doc = "Whether the transfer happened."]
    success / "success" -> bool = |v| v.success;
    #[doc = "The transaction hash (\"\" when none)."]
    transaction / "transaction" -> String = |v| v.transaction.clone();
    #[doc = "The network."]
    network / "network" -> String = |v| v.network.clone();
    #[doc = "Who paid."]
    payer / "payer" -> JsValue = |v| crate::js::opt(v.payer.clone());
    #[doc = "Why it failed (x402's reason string)."]
    error_reason / "errorReason" -> JsValue = |v| crate::js::opt(v.error_reason.clone());
    #[doc = "True when the transfer was sent but not yet confirmed."]
    is_pending / "isPending" -> bool = |v| v.is_pending();
});

/// The settlement a response carries (`PAYMENT-RESPONSE` or `X-PAYMENT-RESPONSE`), or `undefined`.
#[wasm_bindgen(js_name = "readSettlement")]
pub fn read_settlement(headers: JsValue) -> Result<JsValue, JsValue> {
    let headers = header_pairs(&headers)?;
    core::client::read_settlement(&headers).or_throw().map(|s| crate::js::opt(s.map(SettleResponse)))
}

/// A facilitator's `/verify` answer, or offline verification's verdict.
#[wasm_bindgen]
#[derive(Clone)]
pub struct VerifyResponse(pub(crate) core::VerifyResponse);

#[wasm_bindgen]
impl VerifyResponse {
    /// Parses a `/verify` answer.
    #[wasm_bindgen(js_name = "fromJson")]
    pub fn from_json(text: String) -> Result<VerifyResponse, JsValue> {
        core::VerifyResponse::from_json(&text).or_throw().map(Self)
    }
    /// The exact JSON text.
    #[wasm_bindgen(js_name = "toJsonText")]
    pub fn to_json_text(&self) -> String {
        self.0.to_json()
    }
    /// The answer as a plain object.
    #[wasm_bindgen(js_name = "toJSON")]
    pub fn to_json_value(&self) -> JsValue {
        plain(&self.0)
    }
}

getters!(VerifyResponse {
    #[doc = "Whether the payment is valid."]
    is_valid / "isValid" -> bool = |v| v.is_valid;
    #[doc = "Why not (x402's reason string)."]
    invalid_reason / "invalidReason" -> JsValue = |v| crate::js::opt(v.invalid_reason.clone());
    #[doc = "The facilitator's words on it."]
    invalid_message / "invalidMessage" -> JsValue = |v| crate::js::opt(v.invalid_message.clone());
    #[doc = "Who paid."]
    payer / "payer" -> JsValue = |v| crate::js::opt(v.payer.clone());
});

/// A facilitator's `/supported` answer.
#[wasm_bindgen]
pub struct SupportedResponse(pub(crate) core::SupportedResponse);

#[wasm_bindgen]
impl SupportedResponse {
    /// Parses a `/supported` answer.
    #[wasm_bindgen(js_name = "fromJson")]
    pub fn from_json(text: String) -> Result<SupportedResponse, JsValue> {
        core::SupportedResponse::from_json(&text).or_throw().map(Self)
    }
    /// Whether the facilitator takes this version, scheme and network.
    pub fn supports(&self, x402_version: u32, scheme: String, network: String) -> bool {
        u8::try_from(x402_version).is_ok_and(|v| self.0.supports(v, &scheme, &network))
    }
    /// The answer as a plain object.
    #[wasm_bindgen(js_name = "toJSON")]
    pub fn to_json_value(&self) -> JsValue {
        plain(&self.0)
    }
}

/// The JSON body of a facilitator `/verify` or `/settle` request.
#[wasm_bindgen(js_name = "facilitatorRequest")]
pub fn facilitator_request(payment: &PaymentPayload, requirements: &PaymentRequirements) -> String {
    core::FacilitatorRequest::new(payment.0.clone(), requirements.0.clone()).to_json()
}

/// Whether request headers carry a payment.
#[wasm_bindgen(js_name = "carriesPayment")]
pub fn carries_payment(headers: JsValue) -> Result<bool, JsValue> {
    Ok(core::client::carries_payment(&header_pairs(&headers)?))
}

/// Whether a paid request's outcome is still open (the client must keep its payment and may retry it);
/// `outcomeIsOpen` in `wasm/native.js` takes the settlement or nothing.
#[wasm_bindgen(js_name = "outcomeIsOpenWith")]
pub fn outcome_is_open_with(status: u32, settlement: &SettleResponse) -> bool {
    u16::try_from(status).is_ok_and(|s| core::client::outcome_is_open(s, Some(&settlement.0)))
}

/// [`outcome_is_open_with`] without a settlement.
#[wasm_bindgen(js_name = "outcomeIsOpenWithout")]
pub fn outcome_is_open_without(status: u32) -> bool {
    u16::try_from(status).is_ok_and(|s| core::client::outcome_is_open(s, None))
}
