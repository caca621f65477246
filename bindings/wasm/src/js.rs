//! Conversions between JS values and the core's types.

use js_sys::{Array, Reflect, Uint8Array};
use paywire_core::{Error, ErrorCode, U256};
use wasm_bindgen::prelude::*;

use crate::errors::{OrThrow, bad_argument};

/// A JSON value as a plain JS value (objects keep their key order).
pub fn to_js(value: &serde_json::Value) -> JsValue {
    js_sys::JSON::parse(&value.to_string()).unwrap_or(JsValue::NULL)
}

/// A serialisable core value as a plain JS value (the `toJSON()` of the message classes).
pub fn plain<T: serde::Serialize>(value: &T) -> JsValue {
    to_js(&serde_json::to_value(value).unwrap_or_default())
}

/// Bytes as a new `Uint8Array`.
pub fn bytes(data: &[u8]) -> Uint8Array {
    Uint8Array::from(data)
}

/// A list of `Uint8Array`s.
pub fn byte_list<'a>(items: impl Iterator<Item = &'a [u8]>) -> Array {
    items.map(|b| JsValue::from(bytes(b))).collect()
}

/// `[name, value]` pairs from a JS array of pairs.
pub fn header_pairs(value: &JsValue) -> Result<Vec<(String, String)>, JsValue> {
    let list = value.dyn_ref::<Array>().ok_or_else(|| bad_argument("headers must be an array of [name, value]"))?;
    list.iter()
        .map(|pair| {
            let pair = pair.dyn_into::<Array>().map_err(|_| bad_argument("a header must be a [name, value] pair"))?;
            match (pair.get(0).as_string(), pair.get(1).as_string(), pair.length()) {
                (Some(name), Some(value), 2) => Ok((name, value)),
                _ => Err(bad_argument("a header must be a [name, value] pair of strings")),
            }
        })
        .collect()
}

/// `[name, value]` pairs as a JS array of pairs.
pub fn pairs_to_js(pairs: &[(String, String)]) -> Array {
    pairs.iter().map(|(k, v)| JsValue::from(Array::of2(&k.into(), &v.into()))).collect()
}

/// A member of a JS object (`undefined` when absent or when `object` is not one).
pub fn member(object: &JsValue, name: &str) -> JsValue {
    if object.is_object() {
        Reflect::get(object, &name.into()).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

/// An optional boolean member.
pub fn bool_member(object: &JsValue, name: &str) -> Result<Option<bool>, JsValue> {
    let v = member(object, name);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_bool().map(Some).ok_or_else(|| bad_argument(format!("`{name}` must be a boolean")))
}

/// An optional non-negative integer member.
pub fn u64_member(object: &JsValue, name: &str) -> Result<Option<u64>, JsValue> {
    let v = member(object, name);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 => Ok(Some(n as u64)),
        _ => Err(bad_argument(format!("`{name}` must be a non-negative integer"))),
    }
}

/// A string member (required).
pub fn string_member(object: &JsValue, name: &str) -> Result<String, JsValue> {
    member(object, name).as_string().ok_or_else(|| bad_argument(format!("`{name}` must be a string")))
}

/// Optional bytes (`Uint8Array`, `undefined` or `null`).
pub fn optional_bytes(value: &JsValue) -> Result<Option<Vec<u8>>, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value.dyn_ref::<Uint8Array>().map(|b| Some(b.to_vec())).ok_or_else(|| bad_argument("a body must be a Uint8Array"))
}

/// A U256 as a JS `BigInt`.
pub fn bigint(value: U256) -> JsValue {
    js_sys::BigInt::new(&value.to_string().into()).map(JsValue::from).unwrap_or(JsValue::NULL)
}

/// An amount from a JS `BigInt`, number or decimal string.
pub fn u256_from(value: &JsValue) -> Result<U256, JsValue> {
    let text = if let Some(s) = value.as_string() {
        s
    } else if value.is_bigint() {
        String::from(js_sys::BigInt::from(value.clone()).to_string(10).unwrap_or_default())
    } else if let Some(n) = value.as_f64() {
        if n < 0.0 || n.fract() != 0.0 || n > 9_007_199_254_740_991.0 {
            return Err(bad_argument("an amount must be a non-negative integer"));
        }
        format!("{}", n as u64)
    } else {
        return Err(bad_argument("an amount must be a bigint, a safe integer or a decimal string"));
    };
    paywire_core::wire::parse_decimal_u256(&text)
        .map_err(|e| Error::new(ErrorCode::InvalidArgument, format!("an amount {e}")))
        .or_throw()
}

/// A 65-byte signature list from a JS array of `Uint8Array`s.
pub fn signatures(value: &JsValue) -> Result<Vec<Vec<u8>>, JsValue> {
    let list = value.dyn_ref::<Array>().ok_or_else(|| bad_argument("signatures must be an array of Uint8Array"))?;
    list.iter()
        .map(|s| {
            s.dyn_into::<Uint8Array>().map(|b| b.to_vec()).map_err(|_| bad_argument("a signature must be a Uint8Array"))
        })
        .collect()
}

/// An optional string member.
pub fn optional_string(object: &JsValue, name: &str) -> Result<Option<String>, JsValue> {
    let v = member(object, name);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string().map(Some).ok_or_else(|| bad_argument(format!("`{name}` must be a string")))
}

/// An optional plain-object member as a JSON object (absent or null: empty).
pub fn object_member(object: &JsValue, name: &str) -> Result<serde_json::Map<String, serde_json::Value>, JsValue> {
    let v = member(object, name);
    if v.is_undefined() || v.is_null() {
        return Ok(serde_json::Map::new());
    }
    json_value(&v).and_then(|value| match value {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(bad_argument(format!("`{name}` must be an object"))),
    })
}

/// A plain JS value as JSON (through `JSON.stringify`; bigints are refused there).
pub fn json_value(value: &JsValue) -> Result<serde_json::Value, JsValue> {
    let text = js_sys::JSON::stringify(value).map_err(|_| bad_argument("a value must be plain JSON (no bigints)"))?;
    serde_json::from_str(&String::from(text)).map_err(|_| bad_argument("a value must be plain JSON"))
}

/// An optional array-of-strings member (absent: empty).
pub fn string_list_member(object: &JsValue, name: &str) -> Result<Vec<String>, JsValue> {
    let v = member(object, name);
    if absent(&v) {
        return Ok(Vec::new());
    }
    let list = v.dyn_ref::<Array>().ok_or_else(|| bad_argument(format!("`{name}` must be an array of strings")))?;
    list.iter()
        .map(|s| s.as_string().ok_or_else(|| bad_argument(format!("`{name}` must be an array of strings"))))
        .collect()
}

/// The hook points named by an optional array-of-strings member (`hooks`).
pub fn hooks_member(object: &JsValue, name: &str) -> Result<paywire_core::hooks::HookSet, JsValue> {
    let v = member(object, name);
    if absent(&v) {
        return Ok(paywire_core::hooks::HookSet::NONE);
    }
    let list = v.dyn_ref::<Array>().ok_or_else(|| bad_argument(format!("`{name}` must be an array of hook names")))?;
    let names = list
        .iter()
        .map(|n| n.as_string().ok_or_else(|| bad_argument(format!("`{name}` must be an array of hook names"))))
        .collect::<Result<Vec<_>, _>>()?;
    paywire_core::hooks::HookSet::from_names(names).or_throw()
}

/// Sign-in-with-x settings from an optional object member (`{statement, accessSeconds, maxAgeSeconds,
/// expirationSeconds}`; absent: off).
pub fn sign_in_member(object: &JsValue, name: &str) -> Result<Option<paywire_core::siwx::SignInOptions>, JsValue> {
    let v = member(object, name);
    if absent(&v) {
        return Ok(None);
    }
    let defaults = paywire_core::siwx::SignInOptions::default();
    Ok(Some(paywire_core::siwx::SignInOptions {
        statement: optional_string(&v, "statement")?,
        access_seconds: u64_member(&v, "accessSeconds")?.unwrap_or(defaults.access_seconds),
        max_age_seconds: u64_member(&v, "maxAgeSeconds")?.unwrap_or(defaults.max_age_seconds),
        expiration_seconds: u64_member(&v, "expirationSeconds")?,
    }))
}

/// The verdict of a `hook` step from `{abort, message, failed}` (absent: go on).
pub fn hook_verdict(value: &JsValue) -> Result<paywire_core::hooks::HookVerdict, JsValue> {
    use paywire_core::hooks::HookVerdict;
    if let Some(failed) = optional_string(value, "failed")? {
        return Ok(HookVerdict::Failed(failed));
    }
    Ok(match optional_string(value, "abort")? {
        Some(reason) => HookVerdict::Abort { reason, message: optional_string(value, "message")? },
        None => HookVerdict::Continue,
    })
}

/// Whether `value` is absent (`undefined` or `null`).
pub fn absent(value: &JsValue) -> bool {
    value.is_undefined() || value.is_null()
}

/// An optional value as the Node binding gives it: `null` when absent (wasm-bindgen would give `undefined`).
pub fn opt<T: Into<JsValue>>(value: Option<T>) -> JsValue {
    value.map_or(JsValue::NULL, Into::into)
}
