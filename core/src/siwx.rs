//! Sign-in-with-x: repeat access for a wallet that paid (the x402 `sign-in-with-x` extension, with EIP-4361
//! "Sign-In with Ethereum" messages signed under EIP-191).
//!
//! A server declares the extension in its bill (`extensions["sign-in-with-x"]`: the `info` to sign, the
//! chains it accepts, and the payload's JSON schema). A client that paid for the resource before signs the
//! SIWE message built from that `info` and sends the request again with the `SIGN-IN-WITH-X` header (the
//! payload as base64 JSON). The server checks the sign-in offline (domain, URI, times, chain, signature),
//! refuses a nonce used before, and serves without a new payment when this wallet paid for the resource.
//!
//! The messages and payloads are byte for byte the official SDKs' (`@x402/extensions`, PyPI `x402`, both on
//! the `siwe` libraries); the payment gate and the paying client use them (`server::gate`,
//! `client::fetch`). Only EVM wallets that sign with their own key (EOAs) sign in: a smart wallet's
//! signature (EIP-1271, EIP-6492) needs the chain to check, which an offline check cannot do.

use crate::prelude::*;

use alloy_primitives::{Address, B256, eip191_hash_message, hex};
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::codec;
use crate::crypto::{Signature, recover_address};
use crate::error::{Error, ErrorCode, Result};
use crate::types::PaymentRequired;

/// The extension's key in a bill's `extensions`.
pub const EXTENSION_KEY: &str = "sign-in-with-x";
/// The request header carrying a sign-in.
pub const HEADER: &str = "SIGN-IN-WITH-X";
/// The signature type of EVM wallets (EIP-191 personal messages).
pub const EVM_SIGNATURE_TYPE: &str = "eip191";
/// How old a sign-in's `issuedAt` may be, as the official servers default (five minutes).
pub const DEFAULT_MAX_AGE_SECONDS: u64 = 300;
/// How long a payment lets its wallet sign in again for the same resource, by default (a day).
pub const DEFAULT_ACCESS_SECONDS: u64 = 86_400;
/// How far in the future an `issuedAt` may be (clocks of replicas differ by a little).
pub const CLOCK_SKEW_SECONDS: u64 = 30;

/// A server's sign-in settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInOptions {
    /// The message's statement (a line the wallet shows), if any.
    pub statement: Option<String>,
    /// How long after a payment its wallet may sign in for the same resource.
    pub access_seconds: u64,
    /// How old a sign-in's `issuedAt` may be.
    pub max_age_seconds: u64,
    /// A sign-in expires this long after it was asked for (`expirationTime`); none by default.
    pub expiration_seconds: Option<u64>,
}

impl Default for SignInOptions {
    fn default() -> Self {
        SignInOptions {
            statement: None,
            access_seconds: DEFAULT_ACCESS_SECONDS,
            max_age_seconds: DEFAULT_MAX_AGE_SECONDS,
            expiration_seconds: None,
        }
    }
}

/// What a server asks a wallet to sign (the extension's `info`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInInfo {
    /// The authority (`host[:port]`) asking for the sign-in.
    pub domain: String,
    /// The resource's URL.
    pub uri: String,
    /// The message format's version ("1").
    pub version: String,
    /// A fresh token against replays (at least 8 letters and digits).
    pub nonce: String,
    /// When it was asked for (RFC 3339).
    pub issued_at: String,
    /// The resources the sign-in is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
    /// When the sign-in expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<String>,
    /// The statement shown by the wallet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// When the sign-in becomes valid (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// The server's request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// A signed sign-in, as the `SIGN-IN-WITH-X` header carries it (members in the official TypeScript SDK's order;
/// the Python SDK puts `statement` later, and writes the same bytes when there is none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInPayload {
    /// The authority the wallet signed in to.
    pub domain: String,
    /// The wallet's address.
    pub address: String,
    /// The statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// The resource's URL.
    pub uri: String,
    /// The message format's version.
    pub version: String,
    /// The chain signed for (CAIP-2, `eip155:8453`).
    pub chain_id: String,
    /// The signature type (`eip191` for EVM wallets).
    #[serde(rename = "type")]
    pub signature_type: String,
    /// The server's nonce.
    pub nonce: String,
    /// When the server asked (RFC 3339).
    pub issued_at: String,
    /// When the sign-in expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<String>,
    /// When it becomes valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// The server's request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
    /// The signature scheme, when the wallet names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_scheme: Option<String>,
    /// The signature, `0x` hex.
    pub signature: String,
}

fn refused(code: ErrorCode, message: impl Into<String>) -> Error {
    Error::new(code, message)
}

/// The numeric chain id of an `eip155:<n>` chain.
pub fn evm_chain_id(chain: &str) -> Result<u64> {
    chain.strip_prefix("eip155:").and_then(|n| n.parse::<u64>().ok()).filter(|_| !chain.ends_with(':')).ok_or_else(
        || {
            refused(
                ErrorCode::SiwxChainId,
                format!("the sign-in's chain {:?} is not eip155:<number>", crate::wire::truncate(chain)),
            )
        },
    )
}

/// A Unix time as RFC 3339 in UTC, to the second (`2026-12-04T06:48:36Z`).
pub fn rfc3339(seconds: u64) -> String {
    let at = i64::try_from(seconds).ok().and_then(|s| DateTime::from_timestamp(s, 0)).unwrap_or_default();
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An RFC 3339 time as Unix seconds (fractions dropped), or `None` when it is not one.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp())
}

/// Whether a field may go into a message: EIP-4361 fields are single lines.
fn one_line(name: &str, value: &str) -> Result<()> {
    if value.contains(['\n', '\r']) {
        return Err(refused(ErrorCode::InvalidSiwxPayload, format!("the sign-in's {name} spans several lines")));
    }
    Ok(())
}

impl SignInPayload {
    /// The EIP-4361 message this payload signs, exactly as the `siwe` libraries write it (the address in
    /// its EIP-55 form).
    pub fn message(&self) -> Result<String> {
        let address = self.address.parse::<Address>().map_err(|_| {
            refused(
                ErrorCode::InvalidSiwxPayload,
                format!("the sign-in's address {:?} is not an EVM address", crate::wire::truncate(&self.address)),
            )
        })?;
        let chain = evm_chain_id(&self.chain_id)?;
        for (name, value) in [
            ("domain", Some(&self.domain)),
            ("uri", Some(&self.uri)),
            ("version", Some(&self.version)),
            ("nonce", Some(&self.nonce)),
            ("issuedAt", Some(&self.issued_at)),
            ("statement", self.statement.as_ref()),
            ("expirationTime", self.expiration_time.as_ref()),
            ("notBefore", self.not_before.as_ref()),
            ("requestId", self.request_id.as_ref()),
        ] {
            if let Some(value) = value {
                one_line(name, value)?;
            }
        }
        for resource in self.resources.iter().flatten() {
            one_line("resources", resource)?;
        }
        let mut suffix = vec![
            format!("URI: {}", self.uri),
            format!("Version: {}", self.version),
            format!("Chain ID: {chain}"),
            format!("Nonce: {}", self.nonce),
            format!("Issued At: {}", self.issued_at),
        ];
        if let Some(t) = self.expiration_time.as_deref().filter(|t| !t.is_empty()) {
            suffix.push(format!("Expiration Time: {t}"));
        }
        if let Some(t) = self.not_before.as_deref().filter(|t| !t.is_empty()) {
            suffix.push(format!("Not Before: {t}"));
        }
        if let Some(id) = &self.request_id {
            suffix.push(format!("Request ID: {id}"));
        }
        if let Some(resources) = &self.resources {
            let mut lines = vec![String::from("Resources:")];
            lines.extend(resources.iter().map(|r| format!("- {r}")));
            suffix.push(lines.join("\n"));
        }
        let head =
            format!("{} wants you to sign in with your Ethereum account:\n{}", self.domain, address.to_checksum(None));
        let prefix = match &self.statement {
            Some(statement) => format!("{head}\n\n{statement}"),
            None => format!("{head}\n"),
        };
        Ok(format!("{prefix}\n\n{}", suffix.join("\n")))
    }

    /// The digest the wallet signs: the EIP-191 hash of [`SignInPayload::message`].
    pub fn digest(&self) -> Result<B256> {
        Ok(eip191_hash_message(self.message()?.as_bytes()))
    }

    /// The `SIGN-IN-WITH-X` header value: the payload as base64 JSON.
    pub fn to_header(&self) -> String {
        codec::encode_json_text(&serde_json::to_string(self).unwrap_or_default())
    }

    /// Reads a `SIGN-IN-WITH-X` header value.
    pub fn from_header(value: &str) -> Result<SignInPayload> {
        let text = codec::decode_header_text(value).map_err(|e| {
            refused(
                ErrorCode::InvalidSiwxPayload,
                format!("the SIGN-IN-WITH-X header is not base64 JSON: {}", e.message()),
            )
        })?;
        serde_json::from_str(&text).map_err(|e| {
            refused(
                ErrorCode::InvalidSiwxPayload,
                format!("the SIGN-IN-WITH-X header is not a sign-in ({}); sign the bill's sign-in-with-x info", e),
            )
        })
    }
}

/// The extension's declaration in a bill: `info`, the chains it may be signed for, and the payload's schema.
pub fn declaration(info: &SignInInfo, chains: &[String]) -> Value {
    let supported: Vec<Value> = chains.iter().map(|c| json!({ "chainId": c, "type": EVM_SIGNATURE_TYPE })).collect();
    json!({ "info": info, "supportedChains": supported, "schema": schema() })
}

/// The JSON schema of a sign-in payload, as the official servers declare it.
pub fn schema() -> Value {
    let uri = json!({ "type": "string", "format": "uri" });
    let time = json!({ "type": "string", "format": "date-time" });
    let text = json!({ "type": "string" });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "domain": text, "address": text, "statement": text, "uri": uri, "version": text, "chainId": text,
            "type": text, "nonce": text, "issuedAt": time, "expirationTime": time, "notBefore": time,
            "requestId": text, "resources": { "type": "array", "items": uri }, "signature": text,
        },
        "required": ["domain", "address", "uri", "version", "chainId", "type", "nonce", "issuedAt", "signature"],
    })
}

/// `scheme://host[:port]` of a URL, as it is written (the port kept when given), or `None`.
fn origin_of(url: &str) -> Option<(String, String)> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    let authority = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    Some((format!("{}://{authority}", parsed.scheme()), authority))
}

/// What a server checks a sign-in against.
#[derive(Clone, Debug)]
pub struct SignInCheck<'a> {
    /// The server's origin (`https://api.example.com`).
    pub origin: &'a str,
    /// The chains it accepts sign-ins for (CAIP-2).
    pub chains: &'a [String],
    /// Unix time now.
    pub now: u64,
    /// How old `issuedAt` may be.
    pub max_age_seconds: u64,
}

/// Checks a sign-in offline: its domain and URI are this server's, it is fresh and not expired, it is for an
/// accepted chain, and the wallet signed it. Returns the wallet. Whether the nonce was used before and
/// whether the wallet paid are the caller's to check.
pub fn check_sign_in(payload: &SignInPayload, check: &SignInCheck<'_>) -> Result<Address> {
    let (origin, authority) = origin_of(check.origin).ok_or_else(|| {
        refused(ErrorCode::InvalidArgument, format!("the server's origin {:?} is not a URL", check.origin))
    })?;
    if payload.domain != authority {
        return Err(refused(
            ErrorCode::SiwxDomainMismatch,
            format!(
                "the sign-in is for {:?}, not {authority:?}; sign in to this server's own challenge",
                crate::wire::truncate(&payload.domain)
            ),
        ));
    }
    match origin_of(&payload.uri) {
        Some((uri_origin, _)) if uri_origin == origin => {}
        _ => {
            return Err(refused(
                ErrorCode::SiwxUriMismatch,
                format!(
                    "the sign-in's URI {:?} is not on {origin}; sign in to this server's own challenge",
                    crate::wire::truncate(&payload.uri)
                ),
            ));
        }
    }
    let now = i64::try_from(check.now).unwrap_or(i64::MAX);
    let issued = parse_rfc3339(&payload.issued_at)
        .ok_or_else(|| refused(ErrorCode::SiwxIssuedAt, "the sign-in's issuedAt is not an RFC 3339 time"))?;
    if issued > now.saturating_add(CLOCK_SKEW_SECONDS as i64) {
        return Err(refused(ErrorCode::SiwxIssuedAtInFuture, "the sign-in's issuedAt is in the future"));
    }
    if now.saturating_sub(issued) > i64::try_from(check.max_age_seconds).unwrap_or(i64::MAX) {
        return Err(refused(
            ErrorCode::SiwxIssuedAtTooOld,
            format!(
                "the sign-in was asked for {} s ago, more than the {} s allowed; ask for a new one",
                now.saturating_sub(issued),
                check.max_age_seconds
            ),
        ));
    }
    if let Some(expiry) = payload.expiration_time.as_deref() {
        let at = parse_rfc3339(expiry).ok_or_else(|| {
            refused(ErrorCode::SiwxExpirationTime, "the sign-in's expirationTime is not an RFC 3339 time")
        })?;
        if at <= now {
            return Err(refused(ErrorCode::SiwxExpired, "the sign-in has expired; sign a new one"));
        }
    }
    if let Some(start) = payload.not_before.as_deref() {
        let at = parse_rfc3339(start)
            .ok_or_else(|| refused(ErrorCode::SiwxNotBefore, "the sign-in's notBefore is not an RFC 3339 time"))?;
        if now < at {
            return Err(refused(ErrorCode::SiwxNotYetValid, "the sign-in is not valid yet (notBefore)"));
        }
    }
    if payload.nonce.len() < 8 || !payload.nonce.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(refused(ErrorCode::SiwxNonce, "the sign-in's nonce is not 8 or more letters and digits"));
    }
    if payload.signature_type != EVM_SIGNATURE_TYPE || !check.chains.iter().any(|c| c == &payload.chain_id) {
        return Err(refused(
            ErrorCode::SiwxUnsupportedChain,
            format!(
                "this server takes sign-ins for {} with {EVM_SIGNATURE_TYPE} signatures, not {} {}",
                check.chains.join(", "),
                crate::wire::truncate(&payload.chain_id),
                crate::wire::truncate(&payload.signature_type)
            ),
        ));
    }
    evm_chain_id(&payload.chain_id)?;
    let claimed = payload
        .address
        .parse::<Address>()
        .map_err(|_| refused(ErrorCode::InvalidSiwxPayload, "the sign-in's address is not an EVM address"))?;
    let bytes = hex::decode(payload.signature.trim_start_matches("0x"))
        .map_err(|_| refused(ErrorCode::SiwxMalformedSignature, "the sign-in's signature is not hex"))?;
    let signature = Signature::normalize(&bytes)
        .map_err(|e| refused(ErrorCode::SiwxMalformedSignature, format!("the sign-in's signature: {}", e.message())))?;
    let signer = recover_address(&payload.digest()?, &signature)
        .map_err(|_| refused(ErrorCode::SiwxSignature, "the sign-in's signature does not recover to an address"))?;
    if signer != claimed {
        return Err(refused(
            ErrorCode::SiwxSignature,
            format!(
                "the sign-in says it is {} but was signed by another key (smart-wallet sign-ins are not taken)",
                claimed.to_checksum(None)
            ),
        ));
    }
    Ok(claimed)
}

/// The sign-in a client may make for `bill` fetched from `url`: the payload without its signature (for the
/// first accepted chain `accept` allows), or `None` when the bill declares no sign-in, names no EVM chain the
/// client accepts, or is not bound to `url`'s own origin (a server must not get a signature for another
/// site's sign-in).
pub fn sign_in_for(
    bill: &PaymentRequired,
    url: &str,
    address: Address,
    accept: impl Fn(u64) -> bool,
) -> Option<SignInPayload> {
    let declared = bill.extensions.as_ref()?.get(EXTENSION_KEY)?;
    let info: SignInInfo = serde_json::from_value(declared.get("info")?.clone()).ok()?;
    let (origin, authority) = origin_of(url)?;
    if info.domain != authority || origin_of(&info.uri).map(|(o, _)| o) != Some(origin) {
        return None;
    }
    let chain = declared.get("supportedChains")?.as_array()?.iter().find_map(|c| {
        let id = c.get("chainId")?.as_str()?;
        let kind = c.get("type").and_then(Value::as_str).unwrap_or(EVM_SIGNATURE_TYPE);
        (kind == EVM_SIGNATURE_TYPE && evm_chain_id(id).is_ok_and(&accept)).then(|| id.to_string())
    })?;
    let payload = SignInPayload {
        domain: info.domain,
        address: address.to_checksum(None),
        uri: info.uri,
        version: info.version,
        chain_id: chain,
        signature_type: EVM_SIGNATURE_TYPE.into(),
        nonce: info.nonce,
        issued_at: info.issued_at,
        statement: info.statement,
        expiration_time: info.expiration_time,
        not_before: info.not_before,
        request_id: info.request_id,
        resources: info.resources,
        signature_scheme: None,
        signature: String::new(),
    };
    // A message that cannot be written (a field over several lines, a bad chain) is not signed.
    payload.message().ok()?;
    Some(payload)
}

/// `payload` signed with `signature` (65 bytes).
pub fn signed(mut payload: SignInPayload, signature: &Signature) -> SignInPayload {
    payload.signature = format!("0x{}", hex::encode(signature.as_bytes()));
    payload
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LocalSigner, Signer};

    const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    fn payload(statement: Option<&str>) -> SignInPayload {
        SignInPayload {
            domain: "api.example.com".into(),
            address: "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266".into(),
            uri: "https://api.example.com/weather".into(),
            version: "1".into(),
            chain_id: "eip155:8453".into(),
            signature_type: "eip191".into(),
            nonce: "abcdef0123456789".into(),
            issued_at: "2026-12-04T06:00:00Z".into(),
            statement: statement.map(str::to_string),
            resources: Some(vec!["https://api.example.com/weather".into()]),
            ..SignInPayload::default()
        }
    }

    #[test]
    fn messages_are_eip4361_with_and_without_a_statement() {
        let without = payload(None).message().unwrap();
        assert_eq!(
            without,
            "api.example.com wants you to sign in with your Ethereum account:\n\
             0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\n\n\n\
             URI: https://api.example.com/weather\nVersion: 1\nChain ID: 8453\nNonce: abcdef0123456789\n\
             Issued At: 2026-12-04T06:00:00Z\nResources:\n- https://api.example.com/weather"
        );
        let with = payload(Some("Sign in")).message().unwrap();
        assert!(with.contains("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\n\nSign in\n\nURI: "));
        let mut broken = payload(Some("a\nURI: https://evil.example"));
        assert_eq!(broken.message().unwrap_err().code(), ErrorCode::InvalidSiwxPayload);
        broken.statement = None;
        broken.chain_id = "solana:1".into();
        assert_eq!(broken.message().unwrap_err().code(), ErrorCode::SiwxChainId);
    }

    #[test]
    fn a_signed_sign_in_checks_and_every_field_is_bound() {
        let key = LocalSigner::from_hex(KEY).unwrap();
        let sign = |p: SignInPayload| {
            let sig = key.sign_digest(&p.digest().unwrap()).unwrap();
            signed(p, &sig)
        };
        let chains = vec!["eip155:8453".to_string()];
        let now = parse_rfc3339("2026-12-04T06:01:00Z").unwrap() as u64;
        let check = SignInCheck { origin: "https://api.example.com", chains: &chains, now, max_age_seconds: 300 };
        let good = sign(payload(None));
        assert_eq!(check_sign_in(&good, &check).unwrap(), key.address());
        let round = SignInPayload::from_header(&good.to_header()).unwrap();
        assert_eq!(round, good);
        let code = |p: &SignInPayload, c: &SignInCheck<'_>| check_sign_in(p, c).unwrap_err().code();
        assert_eq!(
            code(&good, &SignInCheck { origin: "https://other.example.com", ..check.clone() }),
            ErrorCode::SiwxDomainMismatch
        );
        assert_eq!(
            code(&good, &SignInCheck { origin: "http://api.example.com", ..check.clone() }),
            ErrorCode::SiwxUriMismatch
        );
        assert_eq!(code(&good, &SignInCheck { now: now + 600, ..check.clone() }), ErrorCode::SiwxIssuedAtTooOld);
        assert_eq!(code(&good, &SignInCheck { now: now - 600, ..check.clone() }), ErrorCode::SiwxIssuedAtInFuture);
        let other_chain = vec!["eip155:84532".to_string()];
        assert_eq!(
            code(&good, &SignInCheck { chains: &other_chain, ..check.clone() }),
            ErrorCode::SiwxUnsupportedChain
        );
        let mut tampered = good.clone();
        tampered.nonce = "abcdef0123456780".into();
        assert_eq!(code(&tampered, &check), ErrorCode::SiwxSignature);
        let expired = sign(SignInPayload { expiration_time: Some("2026-12-04T06:00:30Z".into()), ..payload(None) });
        assert_eq!(code(&expired, &check), ErrorCode::SiwxExpired);
        let early = sign(SignInPayload { not_before: Some("2026-12-04T07:00:00Z".into()), ..payload(None) });
        assert_eq!(code(&early, &check), ErrorCode::SiwxNotYetValid);
        let short = sign(SignInPayload { nonce: "abc".into(), ..payload(None) });
        assert_eq!(code(&short, &check), ErrorCode::SiwxNonce);
        let mut junk = good.clone();
        junk.signature = "0x1234".into();
        assert_eq!(code(&junk, &check), ErrorCode::SiwxMalformedSignature);
        assert_eq!(SignInPayload::from_header("bm90IGpzb24=").unwrap_err().code(), ErrorCode::InvalidSiwxPayload);
    }

    #[test]
    fn times_are_rfc3339_to_the_second() {
        assert_eq!(rfc3339(1_750_000_000), "2025-06-15T15:06:40Z");
        assert_eq!(parse_rfc3339("2025-06-15T15:06:40.123456Z"), Some(1_750_000_000));
        assert_eq!(parse_rfc3339("2025-06-15T17:06:40+02:00"), Some(1_750_000_000));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
