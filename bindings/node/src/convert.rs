//! Conversions between JS values and the core's types.

use alloy_primitives::{Address, U256};
use napi::bindgen_prelude::{BigInt, Either3, Uint8Array};
use paywire_core::wire::{parse_address, parse_decimal_u256};
use serde_json::{Map, Value};

use crate::errors::bad_argument;

/// An amount in atomic units given as a bigint, a decimal string or a safe integer.
pub type Amount = Either3<BigInt, String, f64>;

/// A U256 as a JS bigint.
pub fn u256_to_bigint(value: U256) -> BigInt {
    let mut words: Vec<u64> = value.as_limbs().to_vec();
    while words.len() > 1 && words.last() == Some(&0) {
        words.pop();
    }
    BigInt { sign_bit: false, words }
}

/// A U256 from a bigint, a decimal string or a non-negative safe integer.
pub fn u256_from(value: &Amount) -> napi::Result<U256> {
    match value {
        Either3::A(big) => {
            if big.sign_bit && big.words.iter().any(|w| *w != 0) {
                return Err(bad_argument("an amount cannot be negative"));
            }
            if big.words.len() > 4 && big.words[4..].iter().any(|w| *w != 0) {
                return Err(bad_argument("an amount must fit in 256 bits"));
            }
            let mut limbs = [0u64; 4];
            for (slot, word) in limbs.iter_mut().zip(big.words.iter()) {
                *slot = *word;
            }
            Ok(U256::from_limbs(limbs))
        }
        Either3::B(text) => parse_decimal_u256(text.trim()).map_err(|e| bad_argument(format!("amount {e}"))),
        Either3::C(number) => {
            if !(number.is_finite() && *number >= 0.0 && number.fract() == 0.0 && *number <= 9_007_199_254_740_991.0) {
                return Err(bad_argument(format!(
                    "amount {number} is not a safe non-negative integer; pass a bigint or a decimal string"
                )));
            }
            Ok(U256::from(*number as u64))
        }
    }
}

/// An address from a `0x` string (the core's rules, as every binding reads addresses).
pub fn address_from(text: &str) -> napi::Result<Address> {
    parse_address(text.trim()).map_err(bad_argument)
}

/// Header (name, value) pairs from `[name, value]` arrays (the glue normalizes Headers, Maps and objects).
pub fn header_pairs(pairs: Vec<Vec<String>>) -> napi::Result<Vec<(String, String)>> {
    pairs
        .into_iter()
        .map(|mut pair| {
            if pair.len() != 2 {
                return Err(bad_argument("headers must be [name, value] pairs"));
            }
            let value = pair.pop().unwrap_or_default();
            let name = pair.pop().unwrap_or_default();
            Ok((name, value))
        })
        .collect()
}

/// A JSON object given by JS, or an error naming `what`.
pub fn object_from(value: Option<Value>, what: &str) -> napi::Result<Map<String, Value>> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(bad_argument(format!("{what} must be an object"))),
    }
}

/// A 32-byte digest.
pub fn digest32(digest: &[u8]) -> napi::Result<alloy_primitives::B256> {
    if digest.len() != 32 {
        return Err(bad_argument(format!("a digest is 32 bytes, not {}", digest.len())));
    }
    Ok(alloy_primitives::B256::from_slice(digest))
}

/// Bytes as a new Uint8Array.
pub fn bytes(data: &[u8]) -> Uint8Array {
    Uint8Array::new(data.to_vec())
}

/// The Unix time given, or the system clock's (the binding's only clock read, on the caller's behalf).
pub fn now_or_system(now: Option<i64>) -> napi::Result<u64> {
    match now {
        None => Ok(paywire_core::Clock::now(&paywire_core::SystemClock)),
        Some(t) if t >= 0 => Ok(t as u64),
        Some(t) => Err(bad_argument(format!("time {t} is before 1970"))),
    }
}
