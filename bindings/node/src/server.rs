//! The paid-resource side: price tags, bills, taking payments, offline verification, receipt headers.

use std::borrow::Cow;

use napi::bindgen_prelude::{BigInt, Either};
use napi_derive::napi;
use paywire_core::ResourceInfo;
use paywire_core::assets::TransferMethod;
use paywire_core::server as core;
use paywire_core::verify::{self, SignatureCheck, VerifyOptions as CoreVerifyOptions};
use serde_json::Value;

use crate::convert::{Amount, header_pairs, now_or_system, object_from, u256_from, u256_to_bigint};
use crate::errors::{OrThrow, bad_argument};
use crate::getters::getters;
use crate::messages::{PaymentPayload, PaymentRequired, PaymentRequirements, SettleResponse, VerifyResponse};

/// How to price a route: `price` in USD ("$0.01", the network's USDC), or `amount` with its `asset`.
#[napi(object)]
pub struct PriceTagOptions {
    /// The network (`eip155:8453` or a v1 name such as `base`).
    pub network: String,
    /// The payee.
    pub pay_to: String,
    /// A USD price such as "$0.01".
    pub price: Option<String>,
    /// Atomic units of `asset`.
    pub amount: Option<Amount>,
    /// The token's address.
    pub asset: Option<String>,
    /// The token's EIP-712 domain name (unknown tokens).
    pub eip712_name: Option<String>,
    /// The token's EIP-712 domain version (unknown tokens).
    pub eip712_version: Option<String>,
    /// "eip3009" or "permit2".
    pub transfer_method: Option<String>,
    /// "exact" (the default) or "upto": the price is a maximum, the handler reports what a request charges
    /// (the `Settlement-Overrides` response header), and `extra.facilitatorAddress` names the facilitator.
    pub scheme: Option<String>,
    /// How long a payment may stay valid (default 300).
    pub max_timeout_seconds: Option<u32>,
    /// Extra members of the offer's `extra`.
    pub extra: Option<Value>,
    /// Extensions the bill declares (e.g. `paymentIdentifierDeclaration(false)`).
    pub extensions: Option<Value>,
}

/// One way to pay for a route: a price on a network to a payee.
#[napi]
#[derive(Clone)]
pub struct PriceTag(pub(crate) core::PriceTag);

#[napi]
impl PriceTag {
    /// A price tag (see `PriceTagOptions`).
    #[napi(constructor)]
    pub fn new(options: PriceTagOptions) -> napi::Result<Self> {
        let spec = core::PriceTagSpec {
            network: options.network,
            pay_to: options.pay_to,
            price: options.price,
            amount: options.amount.as_ref().map(u256_from).transpose()?,
            asset: options.asset,
            eip712_name: options.eip712_name,
            eip712_version: options.eip712_version,
            transfer_method: options.transfer_method,
            scheme: options.scheme,
            max_timeout_seconds: options.max_timeout_seconds.map(u64::from),
            extra: Some(object_from(options.extra, "extra")?),
            extensions: Some(object_from(options.extensions, "extensions")?),
        };
        core::PriceTag::from_spec(spec).or_throw().map(Self)
    }
    /// The offer this tag makes for a resource.
    #[napi]
    pub fn to_requirements(
        &self,
        resource_url: String,
        x402_version: Option<u32>,
    ) -> napi::Result<PaymentRequirements> {
        let version = version_from(x402_version)?;
        self.0.to_requirements(version, &ResourceInfo::new(resource_url)).or_throw().map(PaymentRequirements)
    }
}

fn version_from(version: Option<u32>) -> napi::Result<u8> {
    match version.unwrap_or(2) {
        v @ (1 | 2) => Ok(v as u8),
        v => Err(bad_argument(format!("x402Version {v} is neither 1 nor 2"))),
    }
}

/// What a bill says besides its offers.
#[napi(object)]
pub struct BillOptions {
    /// 1 or 2 (default 2).
    pub x402_version: Option<u32>,
    /// What the resource is.
    pub description: Option<String>,
    /// The resource's media type.
    pub mime_type: Option<String>,
}

/// The bill (402) for a resource priced by `tags`.
#[napi]
pub fn build_payment_required(
    resource_url: String,
    tags: Vec<&PriceTag>,
    options: Option<BillOptions>,
) -> napi::Result<PaymentRequired> {
    let options = options.unwrap_or(BillOptions { x402_version: None, description: None, mime_type: None });
    let mut resource = ResourceInfo::new(resource_url);
    resource.description = options.description;
    resource.mime_type = options.mime_type;
    let tags: Vec<core::PriceTag> = tags.into_iter().map(|t| t.0.clone()).collect();
    core::build_payment_required(version_from(options.x402_version)?, resource, &tags).or_throw().map(PaymentRequired)
}

/// The payment in request headers (`PAYMENT-SIGNATURE` or `X-PAYMENT`), if any.
#[napi]
pub fn read_payment(
    #[napi(ts_arg_type = "HeadersLike")] headers: Vec<Vec<String>>,
) -> napi::Result<Option<PaymentPayload>> {
    core::read_payment(&header_pairs(headers)?).or_throw().map(|p| p.map(PaymentPayload))
}

/// What offline verification established about a payment.
#[napi]
pub struct VerifiedPayment(verify::VerifiedPayment);

#[napi]
impl VerifiedPayment {
    /// As a `/verify` answer.
    #[napi]
    pub fn to_verify_response(&self) -> VerifyResponse {
        VerifyResponse(self.0.to_verify_response())
    }
    /// Debug text.
    #[napi(js_name = "toString")]
    pub fn to_display(&self) -> String {
        let sig = match self.0.signature {
            SignatureCheck::Recovered => "recovered",
            SignatureCheck::RequiresOnchain { .. } => "requires on-chain check",
        };
        format!("VerifiedPayment(payer={}, amount={}, signature={sig})", self.payer(), self.0.amount)
    }
}

getters!(VerifiedPayment {
    #[doc = "Who signed."]
    payer -> String = |v| v.payer.to_checksum(None);
    #[doc = "The chain."]
    chain_id -> i64 = |v| i64::try_from(v.chain_id).unwrap_or(i64::MAX);
    #[doc = "The token."]
    asset -> String = |v| v.asset.to_checksum(None);
    #[doc = "The payee."]
    pay_to -> String = |v| v.pay_to.to_checksum(None);
    #[doc = "Atomic units."]
    amount -> BigInt = |v| u256_to_bigint(v.amount);
    #[doc = "\"eip3009\" or \"permit2\"."]
    method -> String = |v| if v.method == TransferMethod::Permit2 { "permit2" } else { "eip3009" }.to_string();
    #[doc = "The authorization's nonce (hex)."]
    nonce -> String = |v| v.nonce.to_string();
    #[doc = "Valid strictly before this Unix time."]
    valid_before -> BigInt = |v| u256_to_bigint(v.valid_before);
    #[doc = "False when the signature needs an on-chain check (a smart-contract wallet)."]
    fully_verified -> bool = |v| v.is_fully_verified();
});

/// A payment matched to the server's offer and verified offline.
#[napi]
pub struct AcceptedPayment(pub(crate) core::AcceptedPayment);

#[napi]
impl AcceptedPayment {
    /// The JSON body for the facilitator's `/verify` and `/settle`.
    #[napi]
    pub fn facilitator_request(&self) -> String {
        self.0.facilitator_request().to_json()
    }
}

getters!(AcceptedPayment {
    #[doc = "The payment."]
    payment -> PaymentPayload = |v| PaymentPayload(v.payment.clone());
    #[doc = "The server's offer it pays."]
    requirements -> PaymentRequirements = |v| PaymentRequirements(v.requirements.clone());
    #[doc = "The offer's index in the bill."]
    offer_index -> u32 = |v| u32::try_from(v.offer_index).unwrap_or(u32::MAX);
    #[doc = "What verification established."]
    verified -> VerifiedPayment = |v| VerifiedPayment(v.verified.clone());
    #[doc = "The payment-identifier id, if the payment carries one."]
    payment_id -> Option<String> = |v| v.payment_id.clone();
});

/// Options of offline verification.
#[napi(object)]
pub struct VerifyOptions {
    /// The Unix time to verify at (default: now).
    pub now: Option<i64>,
    /// Accept signatures only the chain can check (smart-contract wallets); the facilitator must then check.
    pub allow_onchain_signatures: Option<bool>,
}

fn verify_options(options: Option<VerifyOptions>) -> napi::Result<(u64, CoreVerifyOptions)> {
    let (now, onchain) = options.map_or((None, false), |o| (o.now, o.allow_onchain_signatures.unwrap_or(false)));
    Ok((now_or_system(now)?, CoreVerifyOptions { allow_onchain_signatures: onchain }))
}

/// A payment given as a `PaymentPayload`, or as the header value (or JSON text) it arrived in, which
/// spares a server one wrapper object per request.
fn payment_from(payment: Either<&PaymentPayload, String>) -> napi::Result<Cow<'_, paywire_core::PaymentPayload>> {
    match payment {
        Either::A(p) => Ok(Cow::Borrowed(&p.0)),
        Either::B(text) => paywire_core::PaymentPayload::from_text(&text).or_throw().map(Cow::Owned),
    }
}

/// Matches a payment (a `PaymentPayload`, or its header value) to the bill's offers and verifies it offline.
#[napi]
pub fn check_payment(
    bill: &PaymentRequired,
    #[napi(ts_arg_type = "PaymentPayload | string")] payment: Either<&PaymentPayload, String>,
    options: Option<VerifyOptions>,
) -> napi::Result<AcceptedPayment> {
    let (now, options) = verify_options(options)?;
    match payment_from(payment)? {
        Cow::Borrowed(payment) => core::check_payment_with(&bill.0, payment, now, &options),
        Cow::Owned(payment) => core::check_owned_payment(&bill.0, payment, now, &options),
    }
    .or_throw()
    .map(AcceptedPayment)
}

/// Verifies a payment (a `PaymentPayload`, or its header value) against one offer offline.
#[napi]
pub fn verify_payment(
    #[napi(ts_arg_type = "PaymentPayload | string")] payment: Either<&PaymentPayload, String>,
    requirements: &PaymentRequirements,
    options: Option<VerifyOptions>,
) -> napi::Result<VerifiedPayment> {
    let (now, options) = verify_options(options)?;
    verify::verify_payment_with(&*payment_from(payment)?, &requirements.0, now, &options)
        .or_throw()
        .map(VerifiedPayment)
}

/// Offline verification as a `/verify` answer (never throws for an invalid payment; throws for a payment
/// given as text that does not parse).
#[napi]
pub fn verify_to_response(
    #[napi(ts_arg_type = "PaymentPayload | string")] payment: Either<&PaymentPayload, String>,
    requirements: &PaymentRequirements,
    options: Option<VerifyOptions>,
) -> napi::Result<VerifyResponse> {
    let (now, options) = verify_options(options)?;
    let payment = payment_from(payment)?;
    Ok(VerifyResponse(match verify::verify_payment_with(&payment, &requirements.0, now, &options) {
        Ok(v) => v.to_verify_response(),
        Err(e) => paywire_core::VerifyResponse::invalid(&e),
    }))
}

/// Offline check of a batch-settlement payment's voucher for `requirements` (the channel is the offer's, the
/// voucher the payer's signature), as a `/verify` answer; what only the chain knows is not checked. Throws
/// only for a payment given as text that does not parse.
#[napi]
pub fn verify_voucher(
    #[napi(ts_arg_type = "PaymentPayload | string")] payment: Either<&PaymentPayload, String>,
    requirements: &PaymentRequirements,
) -> napi::Result<VerifyResponse> {
    let payment = payment_from(payment)?;
    Ok(VerifyResponse(paywire_core::batch::verify_voucher(&payment, &requirements.0)))
}

/// The response header that carries a settlement: `[name, value]`.
#[napi(ts_return_type = "[string, string]")]
pub fn settlement_header(x402_version: u32, settlement: &SettleResponse) -> napi::Result<Vec<String>> {
    let (name, value) = core::settlement_header(version_from(Some(x402_version))?, &settlement.0);
    Ok(vec![name.to_string(), value])
}

/// The HTTP status for an error code (402, 400, 409, 412, 500, 502).
/// (`code` may also be a `PaywireError`: the glue passes its code.)
#[napi]
pub fn status_for(code: String) -> napi::Result<u32> {
    Ok(u32::from(paywire_core::Error::from_code_str(&code, "").or_throw()?.http_status()))
}

/// The HTTP status for a facilitator's reason string.
#[napi]
pub fn status_for_reason(reason: String) -> u32 {
    u32::from(core::status_for_reason(&reason))
}
