//! The protocol helpers of the Node binding: decoding any message, header codecs, EIP-712 hashes, address
//! recovery, prices, networks, the known stablecoins, error codes.

use paywire_core as core;
use wasm_bindgen::prelude::*;

use crate::errors::{OrThrow, bad_argument};
use crate::js::{bigint, bytes, json_value, to_js};

/// Decodes any x402 header value or JSON body: `{message, x402Version, encoding, decoded}`.
#[wasm_bindgen]
pub fn decode(value: String) -> Result<JsValue, JsValue> {
    core::decode::decode_any(&value).or_throw().map(|d| to_js(&d.to_json()))
}

/// The header value (padded standard base64) of a JSON text, byte for byte.
#[wasm_bindgen(js_name = "encodeJsonText")]
pub fn encode_json_text(json_text: String) -> String {
    core::codec::encode_json_text(&json_text)
}

/// The text a header value carries (strictly decoded), not checked to be JSON.
#[wasm_bindgen(js_name = "decodeHeaderText")]
pub fn decode_header_text(value: String) -> Result<String, JsValue> {
    core::codec::decode_header_text(&value).or_throw()
}

/// The JSON value a header value carries.
#[wasm_bindgen(js_name = "decodeHeaderJson")]
pub fn decode_header_json(value: String) -> Result<JsValue, JsValue> {
    core::codec::decode_header_json(&value).or_throw().map(|v| to_js(&v))
}

/// The EIP-712 domain separator and digest of typed data (`{domain, primaryType, message}` as
/// `eth_signTypedData_v4` takes it): `{domainSeparator, digest}`, 32 bytes each.
#[wasm_bindgen(js_name = "typedDataHashes")]
pub fn typed_data_hashes(typed_data: JsValue) -> Result<js_sys::Object, JsValue> {
    let hashes = core::eip712::typed_data_hashes(&json_value(&typed_data)?).or_throw()?;
    let out = js_sys::Object::new();
    js_sys::Reflect::set(&out, &"domainSeparator".into(), &bytes(hashes.domain_separator.as_slice()))?;
    js_sys::Reflect::set(&out, &"digest".into(), &bytes(hashes.digest.as_slice()))?;
    Ok(out)
}

/// The address whose key made `signature` (65 bytes, `v` 0/1 or 27/28) over the 32-byte `digest`.
#[wasm_bindgen(js_name = "recoverAddress")]
pub fn recover_address(digest: &[u8], signature: &[u8]) -> Result<String, JsValue> {
    let digest: [u8; 32] =
        digest.try_into().map_err(|_| bad_argument(format!("a digest is 32 bytes, not {}", digest.len())))?;
    let signature = core::Signature::normalize(signature).or_throw()?;
    core::crypto::recover_address(&core::B256::from(digest), &signature).or_throw().map(|a| a.to_checksum(None))
}

/// A price such as "$0.01" in atomic units of a token with `decimals` decimals (never rounded).
#[wasm_bindgen(js_name = "parsePrice")]
pub fn parse_price(price: String, decimals: u32) -> Result<JsValue, JsValue> {
    let decimals = u8::try_from(decimals).map_err(|_| bad_argument("decimals must be at most 255"))?;
    Ok(bigint(core::money::parse_price(&price, decimals).or_throw()?))
}

/// The EVM chain id of a network (`eip155:8453` or a v1 name such as `base`).
#[wasm_bindgen(js_name = "chainId")]
pub fn chain_id(network: String) -> Result<f64, JsValue> {
    core::network::chain_id(&network).or_throw().map(|id| id as f64)
}

/// The CAIP-2 form of a network.
#[wasm_bindgen(js_name = "toCaip2")]
pub fn to_caip2(network: String) -> Result<String, JsValue> {
    core::network::to_caip2(&network).or_throw()
}

/// The default stablecoins.
#[wasm_bindgen(js_name = "knownAssets")]
pub fn known_assets() -> js_sys::Array {
    core::assets::KNOWN_ASSETS.iter().map(|a| to_js(&a.to_json())).collect()
}

/// Every error code paywire can raise.
#[wasm_bindgen(js_name = "errorCodes")]
pub fn error_codes() -> Vec<String> {
    core::ErrorCode::ALL.iter().map(|c| c.as_str().to_string()).collect()
}

/// The server's declaration of the payment-identifier extension, for `PriceTag({extensions})`.
#[wasm_bindgen(js_name = "paymentIdentifierDeclaration")]
pub fn payment_identifier_declaration(required: bool) -> JsValue {
    to_js(&core::payment_id::declaration(required))
}
