//! x402 header codecs: standard padded base64 over compact UTF-8 JSON, decoded strictly.

use crate::prelude::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use crate::error::{Error, ErrorCode, Result};

/// The largest header value paywire decodes, in bytes of base64 text (16 KiB).
///
/// Real x402 headers are well under 4 KiB; the cap bounds the memory and time an attacker can make a server
/// spend on one header before any signature is checked.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The largest JSON body (a v1 402 body, a facilitator answer) paywire parses, in bytes (64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Header names, as x402 spells them. Lookups are case-insensitive.
pub mod header {
    /// v2 challenge from the server (base64 `PaymentRequired`).
    pub const PAYMENT_REQUIRED: &str = "PAYMENT-REQUIRED";
    /// v2 payment from the client (base64 `PaymentPayload`).
    pub const PAYMENT_SIGNATURE: &str = "PAYMENT-SIGNATURE";
    /// v2 settlement receipt from the server (base64 `SettleResponse`).
    pub const PAYMENT_RESPONSE: &str = "PAYMENT-RESPONSE";
    /// v1 payment from the client.
    pub const X_PAYMENT: &str = "X-PAYMENT";
    /// v1 settlement receipt from the server.
    pub const X_PAYMENT_RESPONSE: &str = "X-PAYMENT-RESPONSE";
}

/// Encodes a message as an x402 header value: compact JSON, then standard padded base64.
pub fn encode_json_header<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    let json = serde_json::to_vec(value)
        .map_err(|e| Error::new(ErrorCode::InvalidJson, format!("cannot serialise message: {e}")))?;
    Ok(STANDARD.encode(json))
}

/// Encodes raw JSON text as a header value.
pub fn encode_json_text(json: &str) -> String {
    STANDARD.encode(json.as_bytes())
}

/// Decodes a header value to its JSON bytes, strictly: standard alphabet, canonical padding, at most
/// [`MAX_HEADER_BYTES`]. Each way of being wrong has its own error code.
pub fn decode_header_bytes(value: &str) -> Result<Vec<u8>> {
    let value = value.trim_matches(|c: char| c == ' ' || c == '\t');
    if value.is_empty() {
        return Err(Error::new(ErrorCode::HeaderEmpty, "the header value is empty"));
    }
    if value.len() > MAX_HEADER_BYTES {
        return Err(Error::new(
            ErrorCode::HeaderTooLarge,
            format!("the header value is {} bytes; paywire decodes at most {MAX_HEADER_BYTES}", value.len()),
        ));
    }
    // A well-formed value decodes at once (the engine is as strict as the rules); the checks below only
    // name what is wrong with one that does not.
    if let Ok(decoded) = STANDARD.decode(value) {
        return Ok(decoded);
    }
    let bytes = value.as_bytes();
    if let Some(bad) = bytes.iter().find(|b| !is_std_base64_byte(**b)) {
        if *bad == b'-' || *bad == b'_' {
            return Err(Error::new(
                ErrorCode::HeaderBase64Url,
                "the header value is base64url (it contains '-' or '_'); x402 headers use standard base64 \
                 with '+', '/' and '=' padding",
            ));
        }
        return Err(Error::new(
            ErrorCode::HeaderInvalidBase64,
            format!("the header value is not base64: it contains the byte 0x{bad:02x}"),
        ));
    }
    let body = bytes.iter().take_while(|b| **b != b'=').count();
    let padding = bytes.len() - body;
    if bytes[body..].iter().any(|b| *b != b'=') || padding > 2 {
        return Err(Error::new(
            ErrorCode::HeaderInvalidBase64,
            "the header value is not base64: '=' may only end the value, at most twice",
        ));
    }
    if bytes.len() % 4 != 0 {
        if padding == 0 {
            return Err(Error::new(
                ErrorCode::HeaderMissingPadding,
                "the header value lacks its '=' padding; x402 headers are padded standard base64",
            ));
        }
        return Err(Error::new(
            ErrorCode::HeaderInvalidBase64,
            "the header value is not base64: its length is not a multiple of 4",
        ));
    }
    STANDARD
        .decode(bytes)
        .map_err(|e| Error::new(ErrorCode::HeaderInvalidBase64, format!("the header value is not valid base64: {e}")))
}

/// Decodes a header value to the UTF-8 JSON text it carries (see [`decode_header_bytes`] for the rules).
pub fn decode_header_text(value: &str) -> Result<String> {
    String::from_utf8(decode_header_bytes(value)?)
        .map_err(|_| Error::new(ErrorCode::InvalidJson, "the decoded header is not UTF-8 text"))
}

/// Refuses text longer than [`MAX_BODY_BYTES`] before it is parsed.
pub(crate) fn check_body_size(len: usize, what: &str) -> Result<()> {
    if len > MAX_BODY_BYTES {
        return Err(Error::new(
            ErrorCode::BodyTooLarge,
            format!("{what} is {len} bytes; paywire parses at most {MAX_BODY_BYTES}"),
        ));
    }
    Ok(())
}

/// Decodes a header value to a JSON value (see [`decode_header_bytes`] for the base64 rules).
pub fn decode_header_json(value: &str) -> Result<serde_json::Value> {
    let bytes = decode_header_bytes(value)?;
    parse_json(&bytes, "the decoded header")
}

/// Parses JSON bytes with a readable error naming `what` was being parsed.
pub(crate) fn parse_json(bytes: &[u8], what: &str) -> Result<serde_json::Value> {
    serde_json::from_slice(bytes).map_err(|e| json_error(&e, what))
}

/// Turns a serde_json syntax error into paywire's error, naming what was being parsed.
pub(crate) fn json_error(e: &serde_json::Error, what: &str) -> Error {
    Error::new(ErrorCode::InvalidJson, format!("{what} is not JSON: {e}"))
}

fn is_std_base64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='
}

/// Finds a header by name, ignoring ASCII case, in any list of (name, value) pairs.
pub fn find_header<'a, I, K, V>(headers: I, name: &str) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a (K, V)>,
    K: AsRef<str> + 'a,
    V: AsRef<str> + 'a,
{
    headers.into_iter().find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name)).map(|(_, v)| v.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_pads() {
        let v = serde_json::json!({"a": 1});
        let h = encode_json_header(&v).unwrap();
        assert_eq!(h, "eyJhIjoxfQ==");
        assert_eq!(decode_header_json(&h).unwrap(), v);
        assert_eq!(STANDARD.encode(b"hello"), "aGVsbG8=");
    }

    #[test]
    fn each_malformation_has_its_own_code() {
        let code = |v: &str| decode_header_bytes(v).unwrap_err().code();
        assert_eq!(code(""), ErrorCode::HeaderEmpty);
        assert_eq!(code("aGVsbG8"), ErrorCode::HeaderMissingPadding);
        assert_eq!(code("a-_b"), ErrorCode::HeaderBase64Url);
        assert_eq!(code("aGVs bG8="), ErrorCode::HeaderInvalidBase64);
        assert_eq!(code("a=bc"), ErrorCode::HeaderInvalidBase64);
        assert_eq!(code("abc==="), ErrorCode::HeaderInvalidBase64);
        assert_eq!(code(&"A".repeat(MAX_HEADER_BYTES + 4)), ErrorCode::HeaderTooLarge);
        // Non-canonical trailing bits are rejected by the engine.
        assert_eq!(code("aGVsbG9="), ErrorCode::HeaderInvalidBase64);
        assert_eq!(decode_header_json("aGVsbG8=").unwrap_err().code(), ErrorCode::InvalidJson);
    }

    #[test]
    fn header_lookup_ignores_case() {
        let headers = vec![("payment-required".to_string(), "x".to_string())];
        assert_eq!(find_header(&headers, header::PAYMENT_REQUIRED), Some("x"));
        assert_eq!(find_header(&headers, header::X_PAYMENT), None);
    }
}
