//! Conversions between the core's types and the plain types uniffi carries (strings, bytes, records).

use alloy_primitives::{Address, B256, U256};
use paywire_core::wire::{parse_address, parse_decimal_u256};
use serde_json::{Map, Value};

use crate::error::{Result, bad_argument};

/// One HTTP header: Swift and Kotlin hand their header collections over as a list of these. Printed
/// (`toString`, `debugDescription`), it shows its name and the value's length only: a value may be a payment or
/// the caller's credentials.
#[derive(Clone, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct HttpHeader {
    /// The name, in any letter case.
    pub name: String,
    /// The value.
    pub value: String,
}

impl std::fmt::Debug for HttpHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpHeader").field("name", &self.name).field("value_len", &self.value.len()).finish()
    }
}

/// (name, value) pairs for the core.
pub fn header_pairs(headers: &[HttpHeader]) -> Vec<(String, String)> {
    headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect()
}

/// An address from its hex text.
pub fn address_from(text: &str) -> Result<Address> {
    parse_address(text.trim()).map_err(bad_argument)
}

/// An amount from its decimal text (Swift and Kotlin have no 256-bit integer uniffi can carry).
pub fn u256_from(text: &str) -> Result<U256> {
    parse_decimal_u256(text.trim()).map_err(bad_argument)
}

/// A 32-byte digest.
pub fn digest32(bytes: &[u8]) -> Result<B256> {
    B256::try_from(bytes).map_err(|_| bad_argument(format!("a digest is 32 bytes, not {}", bytes.len())))
}

/// A JSON object given as text (`what` names it in errors).
pub fn object_from(text: Option<&str>, what: &str) -> Result<Map<String, Value>> {
    match text {
        None => Ok(Map::new()),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(bad_argument(format!("{what} must be a JSON object"))),
            Err(e) => Err(bad_argument(format!("{what} is not JSON: {e}"))),
        },
    }
}

/// A JSON value given as text.
pub fn value_from(text: &str, what: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| bad_argument(format!("{what} is not JSON: {e}")))
}

/// JSON text of an optional object.
pub fn object_text(map: Option<&Map<String, Value>>) -> Option<String> {
    map.map(|m| Value::Object(m.clone()).to_string())
}

/// The x402 version as the core takes it (1 or 2).
pub fn version_from(version: u8) -> Result<u8> {
    match version {
        1 | 2 => Ok(version),
        v => Err(bad_argument(format!("x402Version {v} is neither 1 nor 2"))),
    }
}
