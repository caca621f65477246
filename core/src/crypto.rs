//! secp256k1 for Ethereum: 65-byte signatures, signing a digest, recovering the signer's address.
//!
//! Two backends sit behind the same functions: k256 (pure Rust, always built) and libsecp256k1 (feature
//! `libsecp256k1`, the default, about four times faster at recovery). Both are RFC 6979 deterministic and
//! produce low-s signatures, so they give identical bytes (for every digest below the group order, which is
//! every digest in practice); the test suite runs every vector through both.

use crate::prelude::*;

#[cfg(feature = "libsecp256k1")]
use alloy_primitives::keccak256;
use alloy_primitives::{Address, B256};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorCode, Result};

/// The secp256k1 group order divided by two: a signature whose `s` exceeds it is "high-s" (malleable).
const HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x5d, 0x57, 0x6e,
    0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

/// An Ethereum ECDSA signature: `r || s || v`, 65 bytes, `v` 27 or 28, `s` in the lower half of the order.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; 65]);

impl Signature {
    /// Parses a signature strictly, as a verifier must: exactly 65 bytes, `v` 27 or 28, low `s`.
    pub fn parse_strict(bytes: &[u8]) -> Result<Signature> {
        let sig = Self::exact_length(bytes)?;
        if sig.0[64] != 27 && sig.0[64] != 28 {
            return Err(Error::new(
                ErrorCode::InvalidSignatureFormat,
                format!("the signature's v is {}; an Ethereum signature uses 27 or 28", sig.0[64]),
            ));
        }
        if !sig.is_low_s() {
            return Err(Error::new(
                ErrorCode::InvalidSignatureFormat,
                "the signature's s is in the upper half of the curve order (a malleable signature); \
                 EIP-2 and USDC accept only low-s signatures",
            ));
        }
        Ok(sig)
    }

    /// Accepts what external signers produce and normalises it: `v` 0/1 becomes 27/28 and a high `s` is
    /// replaced by its low twin (flipping `v`), which is the same signature for the same key.
    pub fn normalize(bytes: &[u8]) -> Result<Signature> {
        let mut sig = Self::exact_length(bytes)?;
        let v = match sig.0[64] {
            0 | 27 => 27,
            1 | 28 => 28,
            other => {
                return Err(Error::new(
                    ErrorCode::InvalidSignatureFormat,
                    format!("the signer returned v = {other}; expected 0, 1, 27 or 28"),
                ));
            }
        };
        sig.0[64] = v;
        if !sig.is_low_s() {
            let s = scalar(&sig.0[32..64]).ok_or_else(|| {
                Error::new(ErrorCode::InvalidSignatureFormat, "the signature's s is not below the curve order")
            })?;
            sig.0[32..64].copy_from_slice(&(-s).to_bytes());
            sig.0[64] = if v == 27 { 28 } else { 27 };
        }
        Ok(sig)
    }

    fn exact_length(bytes: &[u8]) -> Result<Signature> {
        let arr: [u8; 65] = bytes.try_into().map_err(|_| {
            Error::new(
                ErrorCode::InvalidSignatureFormat,
                format!("the signature is {} bytes; an EOA signature is 65 bytes (r, s, v)", bytes.len()),
            )
        })?;
        Ok(Signature(arr))
    }

    /// Builds a signature from its parts (`recovery_id` 0 or 1).
    pub(crate) fn from_parts(rs: &[u8; 64], recovery_id: u8) -> Signature {
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(rs);
        out[64] = 27 + recovery_id;
        Signature(out)
    }

    /// The 65 bytes.
    pub fn as_bytes(&self) -> &[u8; 65] {
        &self.0
    }

    /// `0x` + 130 lowercase hex characters, as x402 payloads carry it.
    pub fn to_hex(&self) -> String {
        crate::wire::hex_lower(&self.0)
    }

    /// `v`: 27 or 28.
    pub fn v(&self) -> u8 {
        self.0[64]
    }

    fn is_low_s(&self) -> bool {
        self.0[32..64] <= HALF_ORDER[..]
    }

    fn recovery_id(&self) -> u8 {
        self.0[64] - 27
    }
}

/// A 32-byte big-endian scalar below the group order.
fn scalar(bytes: &[u8]) -> Option<k256::Scalar> {
    use k256::elliptic_curve::PrimeField;
    let arr: [u8; 32] = bytes.try_into().ok()?;
    k256::Scalar::from_repr(arr.into()).into()
}

impl core::fmt::Debug for Signature {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Signature({})", self.to_hex())
    }
}

/// A secp256k1 secret key, erased from memory when dropped.
pub(crate) struct SecretKey {
    k256: k256::ecdsa::SigningKey,
    #[cfg(feature = "libsecp256k1")]
    secp: SecpSecret,
}

/// A libsecp256k1 signing context of its own, blinded once with a seed derived from the key, and the key.
///
/// libsecp256k1 signs in constant time; blinding its context is defence in depth against side channels.
/// secp256k1 0.33 re-blinds after every signature, which doubles the cost of a payment; blinding once per
/// key, with a secret-derived seed (no random source is read), keeps the defence at no per-payment cost.
#[cfg(feature = "libsecp256k1")]
struct SecpSecret {
    ctx: secp256k1::Secp256k1<secp256k1::SignOnly>,
    key: secp256k1::SecretKey,
}

#[cfg(feature = "libsecp256k1")]
impl SecpSecret {
    fn new(bytes: &[u8; 32]) -> Option<Self> {
        let key = secp256k1::SecretKey::from_byte_array(*bytes).ok()?;
        let mut ctx = secp256k1::Secp256k1::signing_only();
        let mut seed = Zeroizing::new([0u8; 64]);
        seed[..32].copy_from_slice(b"paywire libsecp256k1 blinding v1");
        seed[32..].copy_from_slice(bytes);
        ctx.seeded_randomize(&keccak256(seed.as_ref()).0);
        Some(SecpSecret { ctx, key })
    }
}

#[cfg(feature = "libsecp256k1")]
impl Drop for SecpSecret {
    fn drop(&mut self) {
        self.key.non_secure_erase();
    }
}

impl SecretKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<SecretKey> {
        let invalid = || {
            Error::new(
                ErrorCode::InvalidPrivateKey,
                "the private key is zero or not below the secp256k1 group order; use 32 random bytes",
            )
        };
        let k256 = k256::ecdsa::SigningKey::from_bytes(bytes.into()).map_err(|_| invalid())?;
        Ok(SecretKey {
            k256,
            #[cfg(feature = "libsecp256k1")]
            secp: SecpSecret::new(bytes).ok_or_else(invalid)?,
        })
    }

    pub fn address(&self) -> Address {
        Address::from_public_key(self.k256.verifying_key())
    }

    /// The 33-byte compressed public key.
    pub fn compressed_public_key(&self) -> [u8; 33] {
        let point = self.k256.verifying_key().to_encoded_point(true);
        let mut out = [0u8; 33];
        out.copy_from_slice(point.as_bytes());
        out
    }

    pub fn sign(&self, digest: &B256) -> Result<Signature> {
        #[cfg(feature = "libsecp256k1")]
        {
            Ok(libsecp::sign(&self.secp, digest))
        }
        #[cfg(not(feature = "libsecp256k1"))]
        {
            k256_backend::sign(&self.k256, digest)
        }
    }

    /// Signs with the pure-Rust backend whatever the features (for cross-backend tests).
    pub fn sign_k256(&self, digest: &B256) -> Result<Signature> {
        k256_backend::sign(&self.k256, digest)
    }

    /// The 32 secret bytes, in a buffer erased on drop.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.k256.to_bytes().into())
    }
}

/// Recovers the address that signed `digest`. The signature must be in strict form.
pub fn recover_address(digest: &B256, signature: &Signature) -> Result<Address> {
    #[cfg(feature = "libsecp256k1")]
    {
        libsecp::recover(digest, signature)
    }
    #[cfg(not(feature = "libsecp256k1"))]
    {
        k256_backend::recover(digest, signature)
    }
}

/// Recovery with the pure-Rust backend whatever the features (for cross-backend tests).
pub fn recover_address_k256(digest: &B256, signature: &Signature) -> Result<Address> {
    k256_backend::recover(digest, signature)
}

fn recovery_failed() -> Error {
    Error::new(ErrorCode::InvalidSignature, "no public key can be recovered from this signature and message")
}

mod k256_backend {
    use super::*;
    use k256::ecdsa::{RecoveryId, Signature as K256Signature, SigningKey, VerifyingKey};

    pub fn sign(key: &SigningKey, digest: &B256) -> Result<Signature> {
        let (sig, recid) = key
            .sign_prehash_recoverable(digest.as_slice())
            .map_err(|e| Error::new(ErrorCode::SignerFailed, format!("k256 signing failed: {e}")))?;
        // k256 already emits low-s; normalising again is free and keeps the invariant explicit.
        let (sig, recid) = match sig.normalize_s() {
            Some(low) => (low, RecoveryId::new(!recid.is_y_odd(), recid.is_x_reduced())),
            None => (sig, recid),
        };
        let rs: [u8; 64] = sig.to_bytes().into();
        Ok(Signature::from_parts(&rs, recid.to_byte()))
    }

    pub fn recover(digest: &B256, signature: &Signature) -> Result<Address> {
        let bytes = signature.as_bytes();
        let sig = K256Signature::from_slice(&bytes[..64]).map_err(|_| recovery_failed())?;
        let recid = RecoveryId::from_byte(signature.recovery_id()).ok_or_else(recovery_failed)?;
        let key = VerifyingKey::recover_from_prehash(digest.as_slice(), &sig, recid).map_err(|_| recovery_failed())?;
        Ok(Address::from_public_key(&key))
    }
}

// The crate's only unsafe code: two FFI calls' worth, to pass libsecp256k1 a nonce (see `sign`).
#[cfg(feature = "libsecp256k1")]
#[allow(unsafe_code)]
mod libsecp {
    use super::*;
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
    use secp256k1::ffi::types::{c_int, c_uchar, c_uint, c_void};
    use secp256k1::ffi::{self, CPtr};
    use secp256k1::{Message, Secp256k1, VerifyOnly};
    use std::sync::OnceLock;

    /// The secp256k1 group order, big-endian.
    pub(super) const ORDER: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae,
        0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
    ];

    /// Signs with libsecp256k1, its RFC 6979 nonce derived by RustCrypto's `rfc6979` over `sha2`.
    ///
    /// Why: libsecp256k1's own RFC 6979 hashes with portable C SHA-256, about 4 µs of a 23 µs signature here;
    /// `sha2` uses the CPU's SHA extensions where present. Both follow RFC 6979 with HMAC-SHA256 over the key
    /// and the digest reduced modulo the order, so the nonce (and the signature) is the one libsecp256k1
    /// would derive itself; a test checks it against libsecp256k1's own on many keys and digests.
    pub(super) fn sign(secret: &SecpSecret, digest: &B256) -> Signature {
        let sig = sign_with_rfc6979_nonce(secret, digest)
            .unwrap_or_else(|| secret.ctx.sign_ecdsa_recoverable(Message::from_digest(digest.0), &secret.key));
        let (recid, rs) = sig.serialize_compact();
        let recid = if recid == RecoveryId::Zero { 0 } else { 1 };
        Signature::from_parts(&rs, recid)
    }

    /// `None` only if libsecp256k1 asked for a second nonce (the first gave r or s zero, which no one has
    /// ever seen happen); the caller then signs with libsecp256k1's own nonce function.
    fn sign_with_rfc6979_nonce(secret: &SecpSecret, digest: &B256) -> Option<RecoverableSignature> {
        use rfc6979::consts::U32;
        use sha2::Sha256;
        let key = Zeroizing::new(secret.key.secret_bytes());
        let reduced = reduce(digest);
        let nonce = Zeroizing::new(<[u8; 32]>::from(rfc6979::generate_k::<Sha256, U32>(
            (&*key).into(),
            (&ORDER).into(),
            (&reduced).into(),
            &[],
        )));
        let mut raw = ffi::recovery::RecoverableSignature::new();
        // SAFETY: every pointer is valid for the duration of the call: the signing context, the output, the
        // 32-byte digest and key, and `nonce`, the 32 bytes `given_nonce` reads through its data argument.
        let signed = unsafe {
            ffi::recovery::secp256k1_ecdsa_sign_recoverable(
                secret.ctx.ctx().as_ptr(),
                &mut raw,
                digest.as_ptr(),
                secret.key.as_c_ptr(),
                Some(given_nonce),
                nonce.as_ptr().cast(),
            )
        };
        (signed == 1).then(|| RecoverableSignature::from(raw))
    }

    /// A libsecp256k1 nonce function that hands over the 32 bytes `data` points to, once.
    unsafe extern "C" fn given_nonce(
        nonce32: *mut c_uchar,
        _msg32: *const c_uchar,
        _key32: *const c_uchar,
        _algo16: *const c_uchar,
        data: *mut c_void,
        attempt: c_uint,
    ) -> c_int {
        if attempt != 0 || data.is_null() {
            return 0;
        }
        // SAFETY: `data` is the 32-byte nonce `sign_with_rfc6979_nonce` passed; `nonce32` has room for 32.
        unsafe { core::ptr::copy_nonoverlapping(data.cast::<u8>().cast_const(), nonce32, 32) };
        1
    }

    /// The digest as a scalar reduced modulo the order (RFC 6979's bits2octets for a 256-bit order).
    fn reduce(digest: &B256) -> [u8; 32] {
        use k256::elliptic_curve::ops::Reduce;
        <k256::Scalar as Reduce<k256::U256>>::reduce_bytes(&digest.0.into()).to_bytes().into()
    }

    fn verifier() -> &'static Secp256k1<VerifyOnly> {
        static CTX: OnceLock<Secp256k1<VerifyOnly>> = OnceLock::new();
        CTX.get_or_init(Secp256k1::verification_only)
    }

    pub fn recover(digest: &B256, signature: &Signature) -> Result<Address> {
        let bytes = signature.as_bytes();
        let recid = RecoveryId::try_from(i32::from(signature.recovery_id())).map_err(|_| recovery_failed())?;
        let sig = RecoverableSignature::from_compact(&bytes[..64], recid).map_err(|_| recovery_failed())?;
        let key = verifier().recover_ecdsa(Message::from_digest(digest.0), &sig).map_err(|_| recovery_failed())?;
        let uncompressed = key.serialize_uncompressed();
        Ok(Address::from_slice(&keccak256(&uncompressed[1..])[12..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, b256, hex};

    const HARDHAT0: [u8; 32] = hex!("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");

    #[test]
    fn both_backends_sign_and_recover_alike() {
        // Vector from shared/research/toolchain.md §3, checked there against eth-account 0.14.
        let key = SecretKey::from_bytes(&HARDHAT0).unwrap();
        assert_eq!(key.address(), address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"));
        let digest = b256!("d08164f388a825113b3200f878bedaa3f3c6356d05ce011094fefec2887362de");
        let expected = hex!(
            "124251bb90aecc9d9423b22d14deae300b6950a8dfbafacee07049b3268d0fa624e0c311754af0205fc2a957bb6c5fbe56d89e0c9927d925d218897de9deb0aa1c"
        );
        let a = key.sign(&digest).unwrap();
        let b = key.sign_k256(&digest).unwrap();
        assert_eq!(a.as_bytes(), &expected);
        assert_eq!(b.as_bytes(), &expected);
        assert_eq!(recover_address(&digest, &a).unwrap(), key.address());
        assert_eq!(recover_address_k256(&digest, &a).unwrap(), key.address());
    }

    #[cfg(feature = "libsecp256k1")]
    #[test]
    fn the_rfc6979_nonce_is_libsecp256k1s_own() {
        use k256::elliptic_curve::{Curve, FieldBytesEncoding};
        let order: [u8; 32] = k256::Secp256k1::ORDER.encode_field_bytes().into();
        assert_eq!(order, libsecp::ORDER);
        // Keys and digests from a hash chain; every fourth digest is at or above the order, where the
        // reduction before hashing matters.
        let mut seed = keccak256(b"paywire rfc6979");
        for i in 0..256 {
            seed = keccak256(seed);
            let Ok(key) = SecretKey::from_bytes(&seed.0) else { continue };
            let mut digest = keccak256(seed.0);
            if i % 4 == 0 {
                digest.0[..16].fill(0xff);
            }
            let ours = key.sign(&digest).unwrap();
            let theirs = key.secp.ctx.sign_ecdsa_recoverable(secp256k1::Message::from_digest(digest.0), &key.secp.key);
            let (recid, rs) = theirs.serialize_compact();
            let recid = if recid == secp256k1::ecdsa::RecoveryId::Zero { 0 } else { 1 };
            assert_eq!(ours, Signature::from_parts(&rs, recid), "key {seed} digest {digest}");
            // k256 derives its nonce from the unreduced digest, so the backends part ways for digests at or
            // above the order (a keccak output lands there with probability 2^-128).
            if digest.0 < order {
                assert_eq!(ours, key.sign_k256(&digest).unwrap());
            }
        }
    }

    #[test]
    fn strict_parsing_and_normalisation() {
        let key = SecretKey::from_bytes(&HARDHAT0).unwrap();
        let digest = B256::repeat_byte(7);
        let sig = key.sign(&digest).unwrap();
        // v as 0/1
        let mut raw = *sig.as_bytes();
        raw[64] -= 27;
        assert!(Signature::parse_strict(&raw).is_err());
        assert_eq!(Signature::normalize(&raw).unwrap(), sig);
        // high-s twin
        let s = scalar(&sig.as_bytes()[32..64]).unwrap();
        let mut high = *sig.as_bytes();
        high[32..64].copy_from_slice(&(-s).to_bytes());
        high[64] = if sig.v() == 27 { 28 } else { 27 };
        assert!(Signature::parse_strict(&high).is_err());
        let fixed = Signature::normalize(&high).unwrap();
        assert_eq!(fixed, sig);
        assert_eq!(recover_address(&digest, &fixed).unwrap(), key.address());
        assert_eq!(Signature::parse_strict(&[0u8; 64]).unwrap_err().code(), ErrorCode::InvalidSignatureFormat);
    }

    #[test]
    fn invalid_keys_are_refused() {
        assert_eq!(SecretKey::from_bytes(&[0u8; 32]).err().unwrap().code(), ErrorCode::InvalidPrivateKey);
        assert!(SecretKey::from_bytes(&[0xff; 32]).is_err());
    }
}
