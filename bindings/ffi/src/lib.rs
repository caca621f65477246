//! paywire's uniffi binding: the core's types and functions for Swift and Kotlin, with conversions and error
//! mapping only. No protocol logic lives here; the idiomatic layers are in `swift/` and `kotlin/`.
//!
//! Amounts cross as decimal strings and JSON members as JSON text: neither language has a type uniffi can
//! carry for a 256-bit integer or an arbitrary JSON value.

mod convert;
mod credentials;
mod error;
mod exchange;
mod facilitator;
mod getters;
mod hooks;
mod messages;
mod payer;
mod redis;
mod server;
mod signer;

pub use convert::HttpHeader;
pub use credentials::{AccessPolicy, Issuer, SignedOffer, SignedReceipt, VerifiedCredential};
pub use error::{ErrorDetails, OfferRefusal, PaywireError};
pub use exchange::{
    Exchange, FetchOptions, FetchOutcome, FetchRequest, FetchStarted, FetchStep, Gate, GateAction, GateOptions,
    GateStep, LogLine, Paid, PaidFetch, PricedRoute, RequestHead, RouteOptions, Started, StoreAnswer, StoreOp,
};
pub use messages::{PaymentPayload, PaymentRequired, PaymentRequirements, SettleResponse, VerifyResponse};
pub use payer::{Payer, PayerOptions, PaymentHeader, Policy, Prepared, PreparedPayment};
pub use server::{AcceptedPayment, PriceTag, PriceTagOptions, SettlementHeader, VerifiedPayment, VerifyOptions};
pub use signer::{LocalSigner, Signer};

use paywire_core as core;

use crate::convert::{digest32, value_from};
use crate::error::Result;

uniffi::setup_scaffolding!();

/// The core's version.
#[uniffi::export]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// What `decode` found: which message, its version, how it was encoded, and its JSON text.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Decoded {
    /// "PaymentRequired", "PaymentPayload", "SettleResponse", ...
    pub message: String,
    /// 1 or 2, when the message states it.
    pub x402_version: Option<u8>,
    /// "base64" (a header value) or "json" (a body).
    pub encoding: String,
    /// The decoded JSON text.
    pub json: String,
}

/// Decodes any x402 header value or JSON body.
#[uniffi::export]
pub fn decode(value: String) -> Result<Decoded> {
    let d = core::decode::decode_any(&value)?;
    Ok(Decoded {
        message: d.kind.name().to_string(),
        x402_version: d.x402_version,
        encoding: if d.was_base64 { "base64" } else { "json" }.to_string(),
        json: d.json.to_string(),
    })
}

/// The header value (padded standard base64) of a JSON text, byte for byte.
#[uniffi::export]
pub fn encode_json_text(json_text: String) -> String {
    core::codec::encode_json_text(&json_text)
}

/// The text a header value carries (strictly decoded), not checked to be JSON.
#[uniffi::export]
pub fn decode_header_text(value: String) -> Result<String> {
    Ok(core::codec::decode_header_text(&value)?)
}

/// The JSON a header value carries, checked to be JSON and returned as compact JSON text.
#[uniffi::export]
pub fn decode_header_json(value: String) -> Result<String> {
    Ok(core::codec::decode_header_json(&value)?.to_string())
}

/// The EIP-712 domain separator and digest of typed data.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TypedDataHashes {
    /// The domain separator (32 bytes).
    pub domain_separator: Vec<u8>,
    /// The digest that is signed (32 bytes).
    pub digest: Vec<u8>,
}

/// The EIP-712 hashes of typed data (`{domain, primaryType, message}` JSON, as `eth_signTypedData_v4`
/// takes it) for the types paywire signs.
#[uniffi::export]
pub fn typed_data_hashes(typed_data_json: String) -> Result<TypedDataHashes> {
    let hashes = core::eip712::typed_data_hashes(&value_from(&typed_data_json, "the typed data")?)?;
    Ok(TypedDataHashes { domain_separator: hashes.domain_separator.to_vec(), digest: hashes.digest.to_vec() })
}

/// The address whose key made `signature` (65 bytes, `v` 0/1 or 27/28) over the 32-byte `digest`.
#[uniffi::export]
pub fn recover_address(digest: Vec<u8>, signature: Vec<u8>) -> Result<String> {
    let digest = digest32(&digest)?;
    let signature = core::Signature::normalize(&signature)?;
    Ok(core::crypto::recover_address(&digest, &signature)?.to_checksum(None))
}

/// A price such as "$0.01" in atomic units (decimal) of a token with `decimals` decimals, never rounded.
#[uniffi::export]
pub fn parse_price(price: String, decimals: u8) -> Result<String> {
    Ok(core::money::parse_price(&price, decimals)?.to_string())
}

/// The EVM chain id of a network (`eip155:8453` or a v1 name such as `base`).
#[uniffi::export]
pub fn chain_id(network: String) -> Result<u64> {
    Ok(core::network::chain_id(&network)?)
}

/// The CAIP-2 form of a network.
#[uniffi::export]
pub fn to_caip2(network: String) -> Result<String> {
    Ok(core::network::to_caip2(&network)?)
}

/// A stablecoin paywire knows (and pays by default).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct KnownAsset {
    /// CAIP-2 network.
    pub network: String,
    /// Chain id.
    pub chain_id: u64,
    /// Token address.
    pub address: String,
    /// EIP-712 domain name.
    pub eip712_name: String,
    /// EIP-712 domain version.
    pub eip712_version: String,
    /// Decimals.
    pub decimals: u8,
    /// Symbol.
    pub symbol: String,
    /// "eip3009" or "permit2".
    pub transfer_method: String,
    /// Whether the token has EIP-2612 `permit`.
    pub supports_eip2612: bool,
}

/// The default stablecoins.
#[uniffi::export]
pub fn known_assets() -> Vec<KnownAsset> {
    core::assets::KNOWN_ASSETS
        .iter()
        .map(|a| KnownAsset {
            network: core::network::caip2(a.chain_id),
            chain_id: a.chain_id,
            address: a.address.to_checksum(None),
            eip712_name: a.name.to_string(),
            eip712_version: a.version.to_string(),
            decimals: a.decimals,
            symbol: a.symbol.to_string(),
            transfer_method: if a.transfer_method == core::assets::TransferMethod::Permit2 {
                "permit2"
            } else {
                "eip3009"
            }
            .to_string(),
            supports_eip2612: a.supports_eip2612,
        })
        .collect()
}

/// Every error code paywire can raise.
#[uniffi::export]
pub fn error_codes() -> Vec<String> {
    core::ErrorCode::ALL.iter().map(|c| c.as_str().to_string()).collect()
}

/// Whether `code` is one of paywire's error codes.
#[uniffi::export]
pub fn is_error_code(code: String) -> bool {
    core::ErrorCode::from_str_code(&code).is_some()
}

/// The server's declaration of the payment-identifier extension, as JSON text for `extensionsJson`.
#[uniffi::export]
pub fn payment_identifier_declaration(required: bool) -> String {
    core::payment_id::declaration(required).to_string()
}

/// Whether a response (status, settlement) leaves a paid purchase open to retry.
#[uniffi::export]
pub fn outcome_is_open(status: u16, settlement: Option<std::sync::Arc<SettleResponse>>) -> bool {
    core::client::outcome_is_open(status, settlement.as_ref().map(|s| &s.0))
}
