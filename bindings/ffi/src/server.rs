//! The paid-resource side: price tags, bills, taking payments, offline verification, receipt headers.

use std::sync::Arc;

use paywire_core::assets::TransferMethod;
use paywire_core::server as core;
use paywire_core::verify::{self, VerifyOptions as CoreVerifyOptions};
use paywire_core::{ErrorCode, ResourceInfo};

use crate::convert::{object_from, u256_from, version_from};
use crate::error::{Result, bad_argument};
use crate::getters::getters;
use crate::messages::{PaymentPayload, PaymentRequired, PaymentRequirements, SettleResponse, VerifyResponse};

/// How to price a route: `price` in USD ("$0.01", the network's USDC), or `amount` with its `asset`.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PriceTagOptions {
    /// The network (`eip155:8453` or a v1 name such as `base`).
    pub network: String,
    /// The payee.
    pub pay_to: String,
    /// A USD price such as "$0.01".
    #[uniffi(default = None)]
    pub price: Option<String>,
    /// Atomic units of `asset`, in decimal.
    #[uniffi(default = None)]
    pub amount: Option<String>,
    /// The token's address.
    #[uniffi(default = None)]
    pub asset: Option<String>,
    /// The token's EIP-712 domain name (unknown tokens).
    #[uniffi(default = None)]
    pub eip712_name: Option<String>,
    /// The token's EIP-712 domain version (unknown tokens).
    #[uniffi(default = None)]
    pub eip712_version: Option<String>,
    /// "eip3009" or "permit2".
    #[uniffi(default = None)]
    pub transfer_method: Option<String>,
    /// "exact" (the default) or "upto": the price is a maximum, the handler reports what a request charges
    /// (the `Settlement-Overrides` response header), and `extra.facilitatorAddress` names the facilitator.
    #[uniffi(default = None)]
    pub scheme: Option<String>,
    /// How long a payment may stay valid (default 300).
    #[uniffi(default = None)]
    pub max_timeout_seconds: Option<u64>,
    /// Extra members of the offer's `extra`, as a JSON object.
    #[uniffi(default = None)]
    pub extra_json: Option<String>,
    /// Extensions the bill declares, as a JSON object.
    #[uniffi(default = None)]
    pub extensions_json: Option<String>,
}

/// One way to pay for a route: a price on a network to a payee.
#[derive(Debug, uniffi::Object)]
pub struct PriceTag(pub(crate) core::PriceTag);

#[uniffi::export]
impl PriceTag {
    /// A price tag (see `PriceTagOptions`).
    #[uniffi::constructor]
    pub fn new(options: PriceTagOptions) -> Result<Arc<Self>> {
        let spec = core::PriceTagSpec {
            network: options.network,
            pay_to: options.pay_to,
            price: options.price,
            amount: options.amount.as_deref().map(u256_from).transpose()?,
            asset: options.asset,
            eip712_name: options.eip712_name,
            eip712_version: options.eip712_version,
            transfer_method: options.transfer_method,
            scheme: options.scheme,
            max_timeout_seconds: options.max_timeout_seconds,
            extra: Some(object_from(options.extra_json.as_deref(), "extraJson")?),
            extensions: Some(object_from(options.extensions_json.as_deref(), "extensionsJson")?),
        };
        Ok(Arc::new(Self(core::PriceTag::from_spec(spec)?)))
    }
    /// The offer this tag makes for a resource.
    #[uniffi::method(default(x402_version = 2))]
    pub fn to_requirements(&self, resource_url: String, x402_version: u8) -> Result<Arc<PaymentRequirements>> {
        let version = version_from(x402_version)?;
        let offer = self.0.to_requirements(version, &ResourceInfo::new(resource_url))?;
        Ok(Arc::new(PaymentRequirements(offer)))
    }
}

/// The bill (402) for a resource priced by `tags`.
#[uniffi::export(default(description = None, mime_type = None, x402_version = 2))]
pub fn build_payment_required(
    resource_url: String,
    tags: Vec<Arc<PriceTag>>,
    description: Option<String>,
    mime_type: Option<String>,
    x402_version: u8,
) -> Result<Arc<PaymentRequired>> {
    let mut resource = ResourceInfo::new(resource_url);
    resource.description = description;
    resource.mime_type = mime_type;
    let tags: Vec<core::PriceTag> = tags.iter().map(|t| t.0.clone()).collect();
    Ok(Arc::new(PaymentRequired(core::build_payment_required(version_from(x402_version)?, resource, &tags)?)))
}

/// What offline verification established about a payment.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VerifiedPayment {
    /// Who signed.
    pub payer: String,
    /// The chain.
    pub chain_id: u64,
    /// The token.
    pub asset: String,
    /// The payee.
    pub pay_to: String,
    /// Atomic units, in decimal.
    pub amount: String,
    /// "eip3009" or "permit2".
    pub method: String,
    /// The authorization's nonce (hex).
    pub nonce: String,
    /// Valid strictly before this Unix time.
    pub valid_before: u64,
    /// False when the signature needs an on-chain check (a smart-contract wallet).
    pub fully_verified: bool,
}

impl From<&verify::VerifiedPayment> for VerifiedPayment {
    fn from(v: &verify::VerifiedPayment) -> Self {
        VerifiedPayment {
            payer: v.payer.to_checksum(None),
            chain_id: v.chain_id,
            asset: v.asset.to_checksum(None),
            pay_to: v.pay_to.to_checksum(None),
            amount: v.amount.to_string(),
            method: if v.method == TransferMethod::Permit2 { "permit2" } else { "eip3009" }.to_string(),
            nonce: v.nonce.to_string(),
            valid_before: u64::try_from(v.valid_before).unwrap_or(u64::MAX),
            fully_verified: v.is_fully_verified(),
        }
    }
}

/// A payment matched to the server's offer and verified offline.
#[derive(Debug, uniffi::Object)]
pub struct AcceptedPayment(pub(crate) core::AcceptedPayment);

getters!(AcceptedPayment {
    /// The payment.
    payment -> Arc<PaymentPayload> = |v| Arc::new(PaymentPayload(v.payment.clone()));
    /// The server's offer it pays.
    requirements -> Arc<PaymentRequirements> = |v| Arc::new(PaymentRequirements(v.requirements.clone()));
    /// The offer's index in the bill.
    offer_index -> u32 = |v| u32::try_from(v.offer_index).unwrap_or(u32::MAX);
    /// What verification established.
    verified -> VerifiedPayment = |v| VerifiedPayment::from(&v.verified);
    /// The payment-identifier id, if the payment carries one.
    payment_id -> Option<String> = |v| v.payment_id.clone();
    /// The JSON body for the facilitator's `/verify` and `/settle`.
    facilitator_request -> String = |v| v.facilitator_request().to_json();
});

/// Options of offline verification.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct VerifyOptions {
    /// The Unix time to verify at (default: now).
    #[uniffi(default = None)]
    pub now: Option<u64>,
    /// Pass smart-wallet signatures (EIP-1271/6492) on to the facilitator instead of refusing them.
    #[uniffi(default = false)]
    pub allow_onchain_signatures: bool,
}

fn verify_options(options: Option<VerifyOptions>) -> (u64, CoreVerifyOptions) {
    let options = options.unwrap_or_default();
    let now = options.now.unwrap_or_else(|| paywire_core::Clock::now(&paywire_core::SystemClock));
    (now, CoreVerifyOptions { allow_onchain_signatures: options.allow_onchain_signatures })
}

/// Matches a payment to the bill's offers and verifies it offline.
#[uniffi::export(default(options = None))]
pub fn check_payment(
    bill: Arc<PaymentRequired>,
    payment: Arc<PaymentPayload>,
    options: Option<VerifyOptions>,
) -> Result<Arc<AcceptedPayment>> {
    let (now, options) = verify_options(options);
    Ok(Arc::new(AcceptedPayment(core::check_payment_with(&bill.0, &payment.0, now, &options)?)))
}

/// Verifies a payment against one offer offline.
#[uniffi::export(default(options = None))]
pub fn verify_payment(
    payment: Arc<PaymentPayload>,
    requirements: Arc<PaymentRequirements>,
    options: Option<VerifyOptions>,
) -> Result<VerifiedPayment> {
    let (now, options) = verify_options(options);
    Ok(VerifiedPayment::from(&verify::verify_payment_with(&payment.0, &requirements.0, now, &options)?))
}

/// Offline verification as a `/verify` answer (never throws).
#[uniffi::export(default(options = None))]
pub fn verify_to_response(
    payment: Arc<PaymentPayload>,
    requirements: Arc<PaymentRequirements>,
    options: Option<VerifyOptions>,
) -> VerifyResponse {
    let (now, options) = verify_options(options);
    VerifyResponse::from(match verify::verify_payment_with(&payment.0, &requirements.0, now, &options) {
        Ok(v) => v.to_verify_response(),
        Err(e) => paywire_core::VerifyResponse::invalid(&e),
    })
}

/// The response header that carries a settlement (name and value).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SettlementHeader {
    /// `PAYMENT-RESPONSE` (v2) or `X-PAYMENT-RESPONSE` (v1).
    pub name: String,
    /// The header value.
    pub value: String,
}

/// The header a paid response carries its settlement in.
#[uniffi::export]
pub fn settlement_header(x402_version: u8, settlement: Arc<SettleResponse>) -> Result<SettlementHeader> {
    let (name, value) = core::settlement_header(version_from(x402_version)?, &settlement.0);
    Ok(SettlementHeader { name: name.to_string(), value })
}

/// The HTTP status for an error code (402, 400, 409, 412, 500, 502).
#[uniffi::export]
pub fn status_for(code: String) -> Result<u16> {
    let code = ErrorCode::from_str_code(&code).ok_or_else(|| bad_argument(format!("unknown error code {code:?}")))?;
    Ok(core::status_for(&paywire_core::Error::new(code, "")))
}

/// The HTTP status for a facilitator's reason string.
#[uniffi::export]
pub fn status_for_reason(reason: String) -> u16 {
    core::status_for_reason(&reason)
}
