//! Compact JWS with ES256K (secp256k1 over SHA-256), and `did:key` identifiers for secp256k1 keys.

use crate::prelude::*;
use alloy_primitives::{Address, B256};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::crypto::{Signature, recover_address};
use crate::error::{Error, ErrorCode, Result};
use crate::signer::{Signer, sign_checked};

/// The only JWS algorithm paywire issues and accepts: ECDSA on secp256k1 with SHA-256.
pub const ES256K: &str = "ES256K";

/// multicodec `secp256k1-pub` as an unsigned varint.
const SECP256K1_PUB: [u8; 2] = [0xe7, 0x01];

/// The `did:key` of a compressed secp256k1 public key, with its key-id fragment
/// (`did:key:zQ3s…#zQ3s…`), as the offer-receipt issuers use for `kid`.
pub fn did_key_kid(compressed_public_key: &[u8; 33]) -> String {
    let mut bytes = Vec::with_capacity(35);
    bytes.extend_from_slice(&SECP256K1_PUB);
    bytes.extend_from_slice(compressed_public_key);
    let id = format!("z{}", bs58::encode(bytes).into_string());
    format!("did:key:{id}#{id}")
}

/// The address of the secp256k1 key a `did:key` kid names, if it names one.
pub fn did_key_address(kid: &str) -> Option<Address> {
    let did = kid.split('#').next()?;
    let encoded = did.strip_prefix("did:key:z")?;
    let bytes = bs58::decode(encoded).into_vec().ok()?;
    let key = bytes.strip_prefix(&SECP256K1_PUB)?;
    let key = k256::PublicKey::from_sec1_bytes(key).ok()?;
    Some(Address::from_public_key(&k256::ecdsa::VerifyingKey::from(&key)))
}

/// Signs `payload_json` as a compact JWS `header.payload.signature`, header `{"alg":"ES256K","kid":…}`.
pub fn sign(signer: &dyn Signer, kid: &str, payload_json: &str) -> Result<String> {
    let header = serde_json::json!({"alg": ES256K, "kid": kid}).to_string();
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload_json));
    let digest = B256::from_slice(&Sha256::digest(input.as_bytes()));
    let sig = sign_checked(signer, &digest)?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(&sig.as_bytes()[..64])))
}

/// A verified JWS: who signed it and what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedJws {
    /// The signer's address.
    pub signer: Address,
    /// The `kid` header member.
    pub kid: Option<String>,
    /// The payload as transmitted (JSON text).
    pub payload: String,
}

/// Verifies a compact ES256K JWS and finds its signer among `trusted`: the signature must recover to a
/// trusted address and, when `kid` is a `did:key`, to that key.
pub fn verify(jws: &str, trusted: &[Address]) -> Result<VerifiedJws> {
    let bad = |what: &str| Error::new(ErrorCode::InvalidCredential, format!("the JWS {what}"));
    let mut parts = jws.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad("is not three base64url parts separated by dots"));
    };
    let header = URL_SAFE_NO_PAD.decode(h).map_err(|_| bad("header is not base64url"))?;
    let header: serde_json::Value = serde_json::from_slice(&header).map_err(|_| bad("header is not JSON"))?;
    let alg = header.get("alg").and_then(|a| a.as_str()).unwrap_or("");
    if alg != ES256K {
        return Err(bad(&format!("uses alg \"{}\"; paywire verifies ES256K only", crate::wire::truncate(alg))));
    }
    let kid = header.get("kid").and_then(|k| k.as_str()).map(str::to_string);
    let payload = URL_SAFE_NO_PAD.decode(p).map_err(|_| bad("payload is not base64url"))?;
    let payload = String::from_utf8(payload).map_err(|_| bad("payload is not UTF-8"))?;
    let rs = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad("signature is not base64url"))?;
    if rs.len() != 64 {
        return Err(bad(&format!("signature is {} bytes; ES256K signatures are 64 (r, s)", rs.len())));
    }
    let digest = B256::from_slice(&Sha256::digest(format!("{h}.{p}").as_bytes()));
    let named = kid.as_deref().and_then(did_key_address);
    // The recovery id is not transmitted: try both, after bringing s into the lower half (JWS allows high s).
    let mut with_v = [0u8; 65];
    with_v[..64].copy_from_slice(&rs);
    with_v[64] = 27;
    let base =
        Signature::normalize(&with_v).map_err(|e| Error::new(ErrorCode::InvalidCredentialSignature, e.message()))?;
    let mut candidates = Vec::with_capacity(2);
    for v in [27u8, 28] {
        let mut bytes = *base.as_bytes();
        bytes[64] = v;
        if let Ok(sig) = Signature::parse_strict(&bytes)
            && let Ok(addr) = recover_address(&digest, &sig)
        {
            candidates.push(addr);
        }
    }
    let signer = match named {
        Some(addr) if candidates.contains(&addr) => addr,
        Some(addr) => {
            return Err(Error::new(
                ErrorCode::InvalidCredentialSignature,
                format!("the JWS is not signed by the key its kid names ({})", addr.to_checksum(None)),
            ));
        }
        None => *candidates
            .iter()
            .find(|a| trusted.contains(a))
            .ok_or_else(|| Error::new(ErrorCode::UntrustedSigner, "the JWS is not signed by any trusted signer"))?,
    };
    if !trusted.contains(&signer) {
        return Err(Error::new(
            ErrorCode::UntrustedSigner,
            format!("the JWS is signed by {}, which is not a trusted signer", signer.to_checksum(None)),
        ));
    }
    Ok(VerifiedJws { signer, kid, payload })
}

/// Compact JSON of a flat object with keys in sorted order and control characters escaped as `\u00xx`, the
/// canonical form the offer-receipt JWS payloads are signed in.
pub(crate) fn canonical_json(members: &mut [(&str, CanonicalValue<'_>)]) -> String {
    members.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::from("{");
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_string(&mut out, k);
        out.push(':');
        match v {
            CanonicalValue::Str(s) => push_string(&mut out, s),
            CanonicalValue::Int(n) => out.push_str(&n.to_string()),
        }
    }
    out.push('}');
    out
}

/// A member value of a canonical payload.
pub(crate) enum CanonicalValue<'a> {
    Str(&'a str),
    Int(u64),
}

fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalSigner;

    #[test]
    fn did_key_round_trip() {
        let s = LocalSigner::from_hex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80").unwrap();
        let kid = did_key_kid(&s.compressed_public_key());
        // The kid @x402/extensions 2.27 derives for this key.
        assert_eq!(
            kid,
            "did:key:zQ3shoTr3pToxjQqfp58mLTBt3GqPvdQSZpm4eGXFZbTVwpyz#zQ3shoTr3pToxjQqfp58mLTBt3GqPvdQSZpm4eGXFZbTVwpyz"
        );
        assert_eq!(did_key_address(&kid), Some(s.address()));
        assert_eq!(did_key_address("did:pkh:eip155:1:0x00"), None);
    }

    #[test]
    fn canonical_escaping() {
        let mut m = [("b", CanonicalValue::Int(1)), ("a", CanonicalValue::Str("x\n\"y"))];
        assert_eq!(canonical_json(&mut m), r#"{"a":"x\u000a\"y","b":1}"#);
    }

    #[test]
    fn sign_verify_and_refuse() {
        let s = LocalSigner::from_hex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80").unwrap();
        let kid = did_key_kid(&s.compressed_public_key());
        let jws = sign(&s, &kid, r#"{"a":1}"#).unwrap();
        let v = verify(&jws, &[s.address()]).unwrap();
        assert_eq!(v.payload, r#"{"a":1}"#);
        assert_eq!(verify(&jws, &[Address::ZERO]).unwrap_err().code(), ErrorCode::UntrustedSigner);
        let parts: Vec<&str> = jws.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(r#"{"a":2}"#), parts[2]);
        assert_eq!(verify(&tampered, &[s.address()]).unwrap_err().code(), ErrorCode::InvalidCredentialSignature);
        assert_eq!(verify("a.b", &[]).unwrap_err().code(), ErrorCode::InvalidCredential);
    }
}
