//! Objects read field by field as raw JSON text, so a message can be echoed or forwarded byte for byte.

use crate::prelude::*;
use core::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::codec::json_error;
use crate::error::{Error, ErrorCode, Result};
use crate::wire::Object;

/// A JSON object's members in document order, each kept as its raw text. Duplicate keys are refused:
/// two parsers that resolve them differently could otherwise disagree about what was paid.
#[derive(Debug)]
pub(crate) struct RawObject<'a> {
    pub members: Vec<(String, &'a RawValue)>,
}

impl<'a> RawObject<'a> {
    /// Parses `text` as one JSON object; `what` names it in errors and `code` is the shape error's code.
    pub fn parse(text: &'a str, what: &str, code: ErrorCode) -> Result<Self> {
        parse_with(text, what, code, RawObjectVisitor).map(|members| RawObject { members })
    }

    /// The raw text of a member, treating `null` as absent.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| *v).filter(|v| v.get() != "null")
    }

    /// A member parsed into a value (absent or `null` gives `None`).
    pub fn value(&self, key: &str, what: &str) -> Result<Option<Value>> {
        self.get(key).map(|raw| to_value(raw, what)).transpose()
    }

    /// The members not named in `known`, as values.
    pub fn unknown(&self, known: &[&str], what: &str) -> Result<Object> {
        let mut out = Object::new();
        for (k, v) in &self.members {
            if !known.contains(&k.as_str()) {
                out.insert(k.clone(), to_value(v, what)?);
            }
        }
        Ok(out)
    }
}

/// Parses `text` as one JSON object into values in one pass, refusing duplicate keys as [`RawObject::parse`]
/// does (for objects whose members are only read, never echoed).
pub(crate) fn parse_object(text: &str, what: &str, code: ErrorCode) -> Result<Object> {
    parse_with(text, what, code, ObjectVisitor)
}

/// Parses `text` as one JSON object with `visitor`: the size cap, "not JSON" told from "JSON of the wrong
/// kind", and duplicate keys reported as shape errors under `code`.
fn parse_with<'de, V: Visitor<'de>>(text: &'de str, what: &str, code: ErrorCode, visitor: V) -> Result<V::Value> {
    crate::codec::check_body_size(text.len(), what)?;
    if !text.trim_start().starts_with('{') {
        return match serde_json::from_str::<&RawValue>(text) {
            Ok(_) => Err(Error::new(code, format!("{what} must be a JSON object"))),
            Err(e) => Err(json_error(&e, what)),
        };
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(visitor).and_then(|value| de.end().map(|_| value)).map_err(|e| shape_error(&e, what, code))
}

/// A duplicate key is a shape error under `code`; anything else is a JSON error.
fn shape_error(e: &serde_json::Error, what: &str, code: ErrorCode) -> Error {
    if e.to_string().starts_with(DUPLICATE) {
        Error::new(code, format!("{what}: {}", e.to_string().split(" at line").next().unwrap_or("")))
    } else {
        json_error(e, what)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Object;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> core::result::Result<Self::Value, A::Error> {
        let mut object = Object::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("{DUPLICATE} \"{}\"", crate::wire::truncate(&key))));
            }
            let value: Value = map.next_value()?;
            object.insert(key, value);
        }
        Ok(object)
    }
}

pub(crate) fn to_value(raw: &RawValue, what: &str) -> Result<Value> {
    serde_json::from_str(raw.get()).map_err(|e| json_error(&e, what))
}

const DUPLICATE: &str = "duplicate key";

struct RawObjectVisitor;

impl<'de> Visitor<'de> for RawObjectVisitor {
    type Value = Vec<(String, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> core::result::Result<Self::Value, A::Error> {
        let mut members: Vec<(String, &'de RawValue)> = Vec::with_capacity(8);
        // Linear scans are fastest for the handful of members x402 messages have; an attacker's object with
        // thousands of keys switches to a set so the check stays linear overall.
        let mut seen: Option<alloc::collections::BTreeSet<String>> = None;
        while let Some(key) = map.next_key::<String>()? {
            let duplicate = match &mut seen {
                Some(set) => !set.insert(key.clone()),
                None => members.iter().any(|(k, _)| *k == key),
            };
            if duplicate {
                return Err(de::Error::custom(format!("{DUPLICATE} \"{}\"", crate::wire::truncate(&key))));
            }
            let value: &'de RawValue = map.next_value()?;
            members.push((key, value));
            if seen.is_none() && members.len() == 32 {
                seen = Some(members.iter().map(|(k, _)| k.clone()).collect());
            }
        }
        Ok(members)
    }
}

/// Compact JSON text of a value (for building raw members).
pub(crate) fn raw_from_value(value: &Value) -> Box<RawValue> {
    // Serialising a `Value` to JSON cannot fail and always yields valid JSON.
    let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_string());
    RawValue::from_string(text).unwrap_or_else(|_| null_raw())
}

pub(crate) fn null_raw() -> Box<RawValue> {
    RawValue::from_string("null".to_string()).expect("\"null\" is valid JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_raw_text() {
        let o = RawObject::parse(r#"{"b": 1.50, "a": {"x" : 1}}"#, "msg", ErrorCode::InvalidPayload).unwrap();
        assert_eq!(o.members[0].0, "b");
        assert_eq!(o.members[0].1.get(), "1.50");
        assert_eq!(o.get("a").unwrap().get(), r#"{"x" : 1}"#);
    }

    #[test]
    fn refuses_duplicates_and_non_objects() {
        let e = RawObject::parse(r#"{"a":1,"a":2}"#, "msg", ErrorCode::InvalidPayload).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidPayload);
        assert!(e.message().contains("duplicate key \"a\""), "{}", e.message());
        let e = RawObject::parse("[1]", "msg", ErrorCode::InvalidPayload).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidPayload);
        let e = RawObject::parse("{nope", "msg", ErrorCode::InvalidPayload).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidJson);
        let e = RawObject::parse("{} x", "msg", ErrorCode::InvalidPayload).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidJson);
        let many: String = format!("{{{}\"k7\":0}}", (0..100).map(|i| format!("\"k{i}\":0,")).collect::<String>());
        assert!(RawObject::parse(&many, "msg", ErrorCode::InvalidPayload).unwrap_err().message().contains("\"k7\""));
        let huge = format!("{{\"a\":\"{}\"}}", "x".repeat(crate::codec::MAX_BODY_BYTES));
        assert_eq!(
            RawObject::parse(&huge, "msg", ErrorCode::InvalidPayload).unwrap_err().code(),
            ErrorCode::BodyTooLarge
        );
    }

    #[test]
    fn parse_object_reads_as_raw_object_does() {
        let code = ErrorCode::InvalidPaymentRequirements;
        let o = parse_object(r#"{"b": 1.50, "a": {"x" : 1}}"#, "offer", code).unwrap();
        assert_eq!(o.keys().collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(o["a"]["x"], 1);
        let e = parse_object(r#"{"amount":"1","amount":"2"}"#, "accepts[0]", code).unwrap_err();
        assert_eq!(e.code(), code);
        assert!(e.message().contains("accepts[0]: duplicate key \"amount\""), "{}", e.message());
        assert_eq!(parse_object("[1]", "offer", code).unwrap_err().code(), code);
        assert_eq!(parse_object("{nope", "offer", code).unwrap_err().code(), ErrorCode::InvalidJson);
        assert_eq!(parse_object("{} x", "offer", code).unwrap_err().code(), ErrorCode::InvalidJson);
        let huge = format!("{{\"a\":\"{}\"}}", "x".repeat(crate::codec::MAX_BODY_BYTES));
        assert_eq!(parse_object(&huge, "offer", code).unwrap_err().code(), ErrorCode::BodyTooLarge);
    }
}
