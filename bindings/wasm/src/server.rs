//! The paid-resource side for the browser and worker build: price tags, bills, reading payments, and the
//! verified payment a handler sees.

use paywire_core::ResourceInfo;
use paywire_core::server as core;
use wasm_bindgen::prelude::*;

use crate::errors::{OrThrow, bad_argument};
use crate::js::{
    absent, bigint, header_pairs, member, object_member, optional_string, string_member, u64_member, u256_from,
};
use crate::messages::{PaymentPayload, PaymentRequired, PaymentRequirements, VerifyResponse, getters};

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
            scheme: optional_string(&options, "scheme")?,
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
    #[doc = "\"eip3009\" or \"permit2\"."]
    method / "method" -> String = |v| if v.method == paywire_core::assets::TransferMethod::Permit2 { "permit2" } else { "eip3009" }.to_string();
    #[doc = "The authorization's nonce (hex)."]
    nonce / "nonce" -> String = |v| v.nonce.to_string();
    #[doc = "Valid strictly before this Unix time."]
    valid_before / "validBefore" -> JsValue = |v| bigint(v.valid_before);
    #[doc = "False when the signature needs an on-chain check (a smart-contract wallet)."]
    fully_verified / "fullyVerified" -> bool = |v| v.is_fully_verified();
});

/// `{now, allowOnchainSignatures}` of offline verification.
fn verify_options(options: &JsValue) -> Result<(u64, paywire_core::verify::VerifyOptions), JsValue> {
    let now = crate::js::member(options, "now").as_f64();
    let onchain = crate::js::bool_member(options, "allowOnchainSignatures")?.unwrap_or(false);
    Ok((crate::exchange::now_or_host(now)?, paywire_core::verify::VerifyOptions { allow_onchain_signatures: onchain }))
}

fn payment_text(text: &str) -> Result<paywire_core::PaymentPayload, JsValue> {
    paywire_core::PaymentPayload::from_text(text).or_throw()
}

/// Matches a payment to the bill's offers and verifies it offline (`checkPayment` in `wasm/native.js`
/// takes the payment or its header value).
#[wasm_bindgen(js_name = "checkPaymentPayload")]
pub fn check_payment_payload(
    bill: &PaymentRequired,
    payment: &PaymentPayload,
    options: JsValue,
) -> Result<AcceptedPayment, JsValue> {
    let (now, options) = verify_options(&options)?;
    core::check_payment_with(&bill.0, &payment.0, now, &options).or_throw().map(AcceptedPayment)
}

/// [`check_payment_payload`] for a payment's header value or JSON text.
#[wasm_bindgen(js_name = "checkPaymentText")]
pub fn check_payment_text(
    bill: &PaymentRequired,
    payment: String,
    options: JsValue,
) -> Result<AcceptedPayment, JsValue> {
    let (now, options) = verify_options(&options)?;
    core::check_owned_payment(&bill.0, payment_text(&payment)?, now, &options).or_throw().map(AcceptedPayment)
}

/// Verifies a payment against one offer offline.
#[wasm_bindgen(js_name = "verifyPaymentPayload")]
pub fn verify_payment_payload(
    payment: &PaymentPayload,
    requirements: &PaymentRequirements,
    options: JsValue,
) -> Result<VerifiedPayment, JsValue> {
    let (now, options) = verify_options(&options)?;
    paywire_core::verify::verify_payment_with(&payment.0, &requirements.0, now, &options)
        .or_throw()
        .map(VerifiedPayment)
}

/// [`verify_payment_payload`] for a payment's header value or JSON text.
#[wasm_bindgen(js_name = "verifyPaymentText")]
pub fn verify_payment_text(
    payment: String,
    requirements: &PaymentRequirements,
    options: JsValue,
) -> Result<VerifiedPayment, JsValue> {
    let (now, options) = verify_options(&options)?;
    paywire_core::verify::verify_payment_with(&payment_text(&payment)?, &requirements.0, now, &options)
        .or_throw()
        .map(VerifiedPayment)
}

fn verdict(
    payment: &paywire_core::PaymentPayload,
    requirements: &PaymentRequirements,
    options: &JsValue,
) -> Result<VerifyResponse, JsValue> {
    let (now, options) = verify_options(options)?;
    Ok(VerifyResponse(match paywire_core::verify::verify_payment_with(payment, &requirements.0, now, &options) {
        Ok(v) => v.to_verify_response(),
        Err(e) => paywire_core::VerifyResponse::invalid(&e),
    }))
}

/// Offline verification as a `/verify` answer (never throws for an invalid payment).
#[wasm_bindgen(js_name = "verifyToResponsePayload")]
pub fn verify_to_response_payload(
    payment: &PaymentPayload,
    requirements: &PaymentRequirements,
    options: JsValue,
) -> Result<VerifyResponse, JsValue> {
    verdict(&payment.0, requirements, &options)
}

/// [`verify_to_response_payload`] for a payment's header value or JSON text (throws when it does not parse).
#[wasm_bindgen(js_name = "verifyToResponseText")]
pub fn verify_to_response_text(
    payment: String,
    requirements: &PaymentRequirements,
    options: JsValue,
) -> Result<VerifyResponse, JsValue> {
    verdict(&payment_text(&payment)?, requirements, &options)
}

/// Offline check of a batch-settlement payment's voucher for `requirements`, as a `/verify` answer.
#[wasm_bindgen(js_name = "verifyVoucherPayload")]
pub fn verify_voucher_payload(payment: &PaymentPayload, requirements: &PaymentRequirements) -> VerifyResponse {
    VerifyResponse(paywire_core::batch::verify_voucher(&payment.0, &requirements.0))
}

/// [`verify_voucher_payload`] for a payment's header value or JSON text (throws when it does not parse).
#[wasm_bindgen(js_name = "verifyVoucherText")]
pub fn verify_voucher_text(payment: String, requirements: &PaymentRequirements) -> Result<VerifyResponse, JsValue> {
    Ok(VerifyResponse(paywire_core::batch::verify_voucher(&payment_text(&payment)?, &requirements.0)))
}

/// The response header that carries a settlement: `[name, value]`.
#[wasm_bindgen(js_name = "settlementHeader")]
pub fn settlement_header(
    x402_version: u32,
    settlement: &crate::messages::SettleResponse,
) -> Result<Vec<String>, JsValue> {
    let (name, value) = core::settlement_header(version_from(Some(x402_version))?, &settlement.0);
    Ok(vec![name.to_string(), value])
}

#[wasm_bindgen]
impl VerifiedPayment {
    /// As a `/verify` answer.
    #[wasm_bindgen(js_name = "toVerifyResponse")]
    pub fn to_verify_response(&self) -> VerifyResponse {
        VerifyResponse(self.0.to_verify_response())
    }
}
