//! Reading and writing x402 JSON fields: decimal uint256 strings, addresses, hex, and typed field access
//! with errors that name the field.

use crate::prelude::*;
use alloy_primitives::{Address, B256, U256};
use serde_json::{Map, Value};

use crate::error::{Error, ErrorCode, Result};

/// A JSON object as x402 messages carry it (key order preserved).
pub type Object = Map<String, Value>;

/// Parses a uint256 written as a decimal string: digits only, no sign, no `0x`, no exponent.
pub fn parse_decimal_u256(text: &str) -> core::result::Result<U256, String> {
    if text.is_empty() {
        return Err("is empty".into());
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("\"{}\" is not a decimal integer string", truncate(text)));
    }
    U256::from_str_radix(text, 10).map_err(|_| format!("\"{}\" does not fit in uint256", truncate(text)))
}

/// Parses a 20-byte EVM address, `0x`-prefixed, in any letter case.
pub fn parse_address(text: &str) -> core::result::Result<Address, String> {
    let hex = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"));
    match hex {
        Some(h) if h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            let mut out = [0u8; 20];
            alloy_primitives::hex::decode_to_slice(h, &mut out)
                .map_err(|_| format!("\"{}\" is not an EVM address", truncate(text)))?;
            Ok(Address::from(out))
        }
        _ => Err(format!("\"{}\" is not a 0x-prefixed 20-byte EVM address", truncate(text))),
    }
}

/// Parses `0x`-prefixed hex bytes (any case, even length).
pub fn parse_hex_bytes(text: &str) -> core::result::Result<Vec<u8>, String> {
    let h = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .ok_or_else(|| format!("\"{}\" is not 0x-prefixed hex", truncate(text)))?;
    alloy_primitives::hex::decode(h).map_err(|_| format!("\"{}\" is not valid hex", truncate(text)))
}

/// Parses a `0x`-prefixed 32-byte hex value.
pub fn parse_b256(text: &str) -> core::result::Result<B256, String> {
    let bytes = parse_hex_bytes(text)?;
    if bytes.len() != 32 {
        return Err(format!("\"{}\" is not 32 bytes of hex", truncate(text)));
    }
    Ok(B256::from_slice(&bytes))
}

/// `0x` + lowercase hex, as viem's `toHex` writes bytes.
pub fn hex_lower(bytes: &[u8]) -> String {
    alloy_primitives::hex::encode_prefixed(bytes)
}

/// The `info` object of extension `key` in an `extensions` map, if there is one.
pub fn extension_info<'a>(extensions: Option<&'a Object>, key: &str) -> Option<&'a Object> {
    extensions?.get(key)?.get("info")?.as_object()
}

/// Cuts long input for error messages so an attacker cannot make errors huge.
pub fn truncate(text: &str) -> String {
    const MAX: usize = 80;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Typed access to the fields of one JSON object; errors carry the code and the field's path.
pub(crate) struct Fields<'a> {
    obj: &'a Object,
    path: &'a str,
    code: ErrorCode,
}

impl<'a> Fields<'a> {
    /// Views `value` as an object; `path` names it in errors ("accepts[0]", "payload").
    pub fn of(value: &'a Value, path: &'a str, code: ErrorCode) -> Result<Self> {
        match value {
            Value::Object(obj) => Ok(Fields { obj, path, code }),
            other => Err(Error::new(code, format!("{path} must be a JSON object, found {}", kind(other)))),
        }
    }

    /// Views an object directly.
    pub fn new(obj: &'a Object, path: &'a str, code: ErrorCode) -> Self {
        Fields { obj, path, code }
    }

    pub fn object(&self) -> &'a Object {
        self.obj
    }

    pub fn err(&self, field: &str, what: impl core::fmt::Display) -> Error {
        if self.path.is_empty() {
            Error::new(self.code, format!("{field} {what}"))
        } else {
            Error::new(self.code, format!("{}.{field} {what}", self.path))
        }
    }

    fn missing(&self, field: &str) -> Error {
        self.err(field, "is missing")
    }

    /// The raw value of a field; `null` counts as absent.
    pub fn get(&self, field: &str) -> Option<&'a Value> {
        match self.obj.get(field) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    pub fn str(&self, field: &str) -> Result<&'a str> {
        self.opt_str(field)?.ok_or_else(|| self.missing(field))
    }

    pub fn opt_str(&self, field: &str) -> Result<Option<&'a str>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.err(field, format!("must be a string, found {}", kind(other)))),
        }
    }

    /// A non-empty string.
    pub fn nonempty_str(&self, field: &str) -> Result<&'a str> {
        let s = self.str(field)?;
        if s.is_empty() {
            return Err(self.err(field, "is empty"));
        }
        Ok(s)
    }

    /// A non-negative JSON integer.
    pub fn u64(&self, field: &str) -> Result<u64> {
        self.opt_u64(field)?.ok_or_else(|| self.missing(field))
    }

    pub fn opt_u64(&self, field: &str) -> Result<Option<u64>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.err(field, format!("must be a non-negative integer, found {n}"))),
            Some(other) => Err(self.err(field, format!("must be a number, found {}", kind(other)))),
        }
    }

    /// A uint256 written as a decimal string.
    pub fn decimal(&self, field: &str) -> Result<U256> {
        let s = self.str(field)?;
        parse_decimal_u256(s).map_err(|e| self.err(field, e))
    }

    pub fn address(&self, field: &str) -> Result<Address> {
        let s = self.str(field)?;
        parse_address(s).map_err(|e| self.err(field, e))
    }

    pub fn b256(&self, field: &str) -> Result<B256> {
        let s = self.str(field)?;
        parse_b256(s).map_err(|e| self.err(field, e))
    }

    pub fn hex_bytes(&self, field: &str) -> Result<Vec<u8>> {
        let s = self.str(field)?;
        parse_hex_bytes(s).map_err(|e| self.err(field, e))
    }

    /// An optional object field (`null` counts as absent).
    pub fn opt_object(&self, field: &str) -> Result<Option<&'a Object>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(other) => Err(self.err(field, format!("must be an object, found {}", kind(other)))),
        }
    }

    pub fn object_field(&self, field: &str) -> Result<&'a Object> {
        self.opt_object(field)?.ok_or_else(|| self.missing(field))
    }
}

/// The JSON kind of a value, for error messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_are_strict() {
        assert_eq!(parse_decimal_u256("10000").unwrap(), U256::from(10000));
        assert_eq!(parse_decimal_u256("0").unwrap(), U256::ZERO);
        for bad in ["", "-1", "+1", "1e3", "0x10", " 1", "1.0", "١"] {
            assert!(parse_decimal_u256(bad).is_err(), "{bad:?} accepted");
        }
        let max = U256::MAX.to_string();
        assert_eq!(parse_decimal_u256(&max).unwrap(), U256::MAX);
        assert!(parse_decimal_u256(&format!("{max}0")).is_err());
    }

    #[test]
    fn addresses_accept_any_case_and_reject_junk() {
        let a = parse_address("0x209693Bc6afc0C5328bA36FaF03C514EF312287C").unwrap();
        assert_eq!(a, parse_address("0x209693bc6afc0c5328ba36faf03c514ef312287c").unwrap());
        for bad in ["209693Bc6afc0C5328bA36FaF03C514EF312287C", "0x1234", "0xZZ9693Bc6afc0C5328bA36FaF03C514EF312287C"]
        {
            assert!(parse_address(bad).is_err());
        }
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        let s = "é".repeat(100);
        assert!(truncate(&s).chars().count() <= 41);
    }
}
