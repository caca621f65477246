//! paywire's Node binding: the core's types and functions with JS conversions and error mapping. No
//! protocol logic lives here; the JS glue is in `node/lib/`.

// Exported functions are reached only through the registration code napi-derive generates, which rustc's
// dead-code analysis does not follow.
#![allow(dead_code)]

use napi::bindgen_prelude::Uint8Array;
use napi_derive::napi;
use paywire_core as core;
use serde_json::Value;

/// The binding's allocator (see Cargo.toml): Node's own heap is untouched.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod convert;
mod credentials;
mod errors;
mod exchange;
mod facilitator;
mod getters;
mod mcp;
mod messages;
mod payer;
mod server;

use convert::{bytes, digest32, u256_to_bigint};
use errors::{OrThrow, bad_argument};

/// The core's version.
#[napi]
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The largest header value paywire decodes, in bytes.
#[napi]
pub const MAX_HEADER_BYTES: u32 = core::codec::MAX_HEADER_BYTES as u32;

/// The prefix of every key the gate's Redis store writes.
#[napi]
pub const REDIS_KEY_PREFIX: &str = core::server::redis::REDIS_KEY_PREFIX;

/// The Redis store's claim script (`KEYS[1]`; token, entry, expiresAt).
#[napi]
pub const REDIS_CLAIM: &str = core::server::redis::REDIS_CLAIM;

/// The Redis store's read script (`KEYS[1]`).
#[napi]
pub const REDIS_GET: &str = core::server::redis::REDIS_GET;

/// The Redis store's replace script (`KEYS[1]`; token, new token, entry, expiresAt).
#[napi]
pub const REDIS_REPLACE: &str = core::server::redis::REDIS_REPLACE;

/// The Redis store's release script (`KEYS[1]`; token).
#[napi]
pub const REDIS_RELEASE: &str = core::server::redis::REDIS_RELEASE;

/// Decodes any x402 header value or JSON body: `{message, x402Version, encoding, decoded}`.
#[napi]
pub fn decode(value: String) -> napi::Result<Value> {
    core::decode::decode_any(&value).or_throw().map(|d| d.to_json())
}

/// The header value (padded standard base64) of a JSON text, byte for byte.
#[napi]
pub fn encode_json_text(json_text: String) -> String {
    core::codec::encode_json_text(&json_text)
}

/// The text a header value carries (strictly decoded), not checked to be JSON.
#[napi]
pub fn decode_header_text(value: String) -> napi::Result<String> {
    core::codec::decode_header_text(&value).or_throw()
}

/// The JSON value a header value carries.
#[napi]
pub fn decode_header_json(value: String) -> napi::Result<Value> {
    core::codec::decode_header_json(&value).or_throw()
}

/// The EIP-712 hashes of typed data (`{domain, primaryType, message}` as `eth_signTypedData_v4` takes it)
/// for the types paywire signs.
#[napi(object)]
pub struct TypedDataHashes {
    /// The domain separator.
    pub domain_separator: Uint8Array,
    /// The digest that is signed.
    pub digest: Uint8Array,
}

/// The EIP-712 domain separator and digest of typed data.
#[napi]
pub fn typed_data_hashes(typed_data: Value) -> napi::Result<TypedDataHashes> {
    let hashes = core::eip712::typed_data_hashes(&typed_data).or_throw()?;
    Ok(TypedDataHashes {
        domain_separator: bytes(hashes.domain_separator.as_slice()),
        digest: bytes(hashes.digest.as_slice()),
    })
}

/// The address whose key made `signature` (65 bytes, `v` 0/1 or 27/28) over the 32-byte `digest`.
#[napi]
pub fn recover_address(digest: Uint8Array, signature: Uint8Array) -> napi::Result<String> {
    let digest = digest32(&digest)?;
    let signature = core::Signature::normalize(&signature).or_throw()?;
    core::crypto::recover_address(&digest, &signature).or_throw().map(|a| a.to_checksum(None))
}

/// A price such as "$0.01" in atomic units of a token with `decimals` decimals (never rounded).
#[napi]
pub fn parse_price(price: String, decimals: u32) -> napi::Result<napi::bindgen_prelude::BigInt> {
    let decimals = u8::try_from(decimals).map_err(|_| bad_argument("decimals must be at most 255"))?;
    Ok(u256_to_bigint(core::money::parse_price(&price, decimals).or_throw()?))
}

/// The EVM chain id of a network (`eip155:8453` or a v1 name such as `base`).
#[napi]
pub fn chain_id(network: String) -> napi::Result<i64> {
    let id = core::network::chain_id(&network).or_throw()?;
    i64::try_from(id).map_err(|_| bad_argument("chain id too large"))
}

/// The CAIP-2 form of a network.
#[napi]
pub fn to_caip2(network: String) -> napi::Result<String> {
    core::network::to_caip2(&network).or_throw()
}

/// The default stablecoins.
#[napi]
pub fn known_assets() -> Vec<Value> {
    core::assets::KNOWN_ASSETS.iter().map(core::assets::KnownAsset::to_json).collect()
}

/// Every error code paywire can raise.
#[napi]
pub fn error_codes() -> Vec<&'static str> {
    core::ErrorCode::ALL.iter().map(|c| c.as_str()).collect()
}

/// The category of an error code ("malformed_input", "refused", "configuration", "local", "upstream").
#[napi(ts_return_type = "ErrorCategory")]
pub fn error_category(code: String) -> napi::Result<&'static str> {
    core::Error::from_code_str(&code, "").map(|e| e.category().as_str()).or_throw()
}

/// The server's declaration of the payment-identifier extension, for `PriceTag({extensions})`.
#[napi]
pub fn payment_identifier_declaration(required: bool) -> Value {
    core::payment_id::declaration(required)
}
