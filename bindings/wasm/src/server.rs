//! The paid-resource side for the browser and worker build: price tags, bills, reading payments, and the
//! verified payment a handler sees.

use paywire_core::ResourceInfo;
use paywire_core::server as core;
use wasm_bindgen::prelude::*;

use crate::errors::{OrThrow, bad_argument};
use crate::js::{
    absent, bigint, header_pairs, member, object_member, optional_string, string_member, u64_member, u256_from,
};
use crate::messages::{PaymentPayload, PaymentRequired, PaymentRequirements, getters};

/// One way to pay for a route: a price on a network to a payee.
#[wasm_bindgen]
#[derive(Clone)]
pub struct PriceTag(pub(crate) core::PriceTag);

#[wasm_bindgen]
impl PriceTag {
    /// A price tag from `{network, payTo, price | amount + asset, eip712Name, eip712Version, transferMethod,
    /// maxTimeoutSeconds, extra, extensions}`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<PriceTag, JsValue> {
        let amount = member(&options, "amount");
        let spec = core::PriceTagSpec {
            network: string_member(&options, "network")?,
            pay_to: string_member(&options, "payTo")?,
            price: optional_string(&options, "price")?,
            amount: if absent(&amount) { None } else { Some(u256_from(&amount)?) },
            asset: optional_string(&options, "asset")?,
            eip712_name: optional_string(&options, "eip712Name")?,
            eip712_version: optional_string(&options, "eip712Version")?,
            transfer_method: optional_string(&options, "transferMethod")?,
            max_timeout_seconds: u64_member(&options, "maxTimeoutSeconds")?,
            extra: Some(object_member(&options, "extra")?),
            extensions: Some(object_member(&options, "extensions")?),
        };
        core::PriceTag::from_spec(spec).or_throw().map(Self)
    }
    /// A copy, for the calls that take price tags by value (`wasm/native.js` passes copies, so the caller's
    /// tag stays usable).
    pub fn copy(&self) -> PriceTag {
        self.clone()
    }
    /// The offer this tag makes for a resource.
    #[wasm_bindgen(js_name = "toRequirements")]
    pub fn to_requirements(
        &self,
        resource_url: String,
        x402_version: Option<u32>,
    ) -> Result<PaymentRequirements, JsValue> {
        self.0
            .to_requirements(version_from(x402_version)?, &ResourceInfo::new(resource_url))
            .or_throw()
            .map(PaymentRequirements)
    }
}

pub(crate) fn version_from(version: Option<u32>) -> Result<u8, JsValue> {
    match version.unwrap_or(2) {
        v @ (1 | 2) => Ok(v as u8),
        v => Err(bad_argument(format!("x402Version {v} is neither 1 nor 2"))),
    }
}

/// The bill (402) for a resource priced by `tags` (copies; see `PriceTag.copy`). `options`:
/// `{x402Version, description, mimeType}`.
#[wasm_bindgen(js_name = "buildPaymentRequiredOwned")]
pub fn build_payment_required(
    resource_url: String,
    tags: Vec<PriceTag>,
    options: JsValue,
) -> Result<PaymentRequired, JsValue> {
    let mut resource = ResourceInfo::new(resource_url);
    resource.description = optional_string(&options, "description")?;
    resource.mime_type = optional_string(&options, "mimeType")?;
    let version = u64_member(&options, "x402Version")?.map(|v| u32::try_from(v).unwrap_or(u32::MAX));
    let tags: Vec<core::PriceTag> = tags.into_iter().map(|t| t.0).collect();
    core::build_payment_required(version_from(version)?, resource, &tags).or_throw().map(PaymentRequired)
}

/// The payment in request headers (`PAYMENT-SIGNATURE` or `X-PAYMENT`), if any.
#[wasm_bindgen(js_name = "readPayment")]
pub fn read_payment(headers: JsValue) -> Result<JsValue, JsValue> {
    core::read_payment(&header_pairs(&headers)?).or_throw().map(|p| crate::js::opt(p.map(PaymentPayload)))
}

/// The HTTP status for a facilitator's reason string.
#[wasm_bindgen(js_name = "statusForReason")]
pub fn status_for_reason(reason: String) -> u16 {
    core::status_for_reason(&reason)
}

/// A payment matched to the server's offer and verified offline.
#[wasm_bindgen]
pub struct AcceptedPayment(pub(crate) core::AcceptedPayment);

#[wasm_bindgen]
impl AcceptedPayment {
    /// The JSON body for the facilitator's `/verify` and `/settle`.
    #[wasm_bindgen(js_name = "facilitatorRequest")]
    pub fn facilitator_request(&self) -> String {
        self.0.facilitator_request().to_json()
    }
}

getters!(AcceptedPayment {
    #[doc = "The payment."]
    payment / "payment" -> PaymentPayload = |v| PaymentPayload(v.payment.clone());
    #[doc = "The server's offer it pays."]
    requirements / "requirements" -> PaymentRequirements = |v| PaymentRequirements(v.requirements.clone());
    #[doc = "The offer's index in the bill."]
    offer_index / "offerIndex" -> u32 = |v| u32::try_from(v.offer_index).unwrap_or(u32::MAX);
    #[doc = "What verification established."]
    verified / "verified" -> VerifiedPayment = |v| VerifiedPayment(v.verified.clone());
    #[doc = "The payment-identifier id, if the payment carries one."]
    payment_id / "paymentId" -> JsValue = |v| crate::js::opt(v.payment_id.clone());
});

/// What offline verification established about a payment.
#[wasm_bindgen]
pub struct VerifiedPayment(paywire_core::verify::VerifiedPayment);

getters!(VerifiedPayment {
    #[doc = "Who signed."]
    payer / "payer" -> String = |v| v.payer.to_checksum(None);
    #[doc = "The chain."]
    chain_id / "chainId" -> f64 = |v| v.chain_id as f64;
    #[doc = "The token."]
    asset / "asset" -> String = |v| v.asset.to_checksum(None);
    #[doc = "The payee."]
    pay_to / "payTo" -> String = |v| v.pay_to.to_checksum(None);
    #[doc = "Atomic units."]
    amount / "amount" -> JsValue = |v| bigint(v.amount);
    #[doc = "The authorization's nonce (hex)."]
    nonce / "nonce" -> String = |v| v.nonce.to_string();
    #[doc = "False when the signature needs an on-chain check (a smart-contract wallet)."]
    fully_verified / "fullyVerified" -> bool = |v| v.is_fully_verified();
});
