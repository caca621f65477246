//! What a signature that does not recover to the payer can still be, decided offline: a smart wallet's
//! (EIP-1271), a counterfactual wallet's (EIP-6492, from a trusted factory only), or nothing worth a call to
//! the chain.

use std::collections::BTreeSet;

use alloy::primitives::{Address, B256, Bytes, b256};
use alloy::sol_types::SolValue;
use paywire_core::Signature;
use paywire_core::crypto::recover_address;

/// The suffix that marks an EIP-6492 signature.
pub const EIP6492_MAGIC: B256 = b256!("6492649264926492649264926492649264926492649264926492649264926492");

/// The longest signature looked at: a passkey wallet's, wrapped for EIP-6492, is about 1.5 KiB.
pub const MAX_SIGNATURE_BYTES: usize = 4096;

/// How a payment's signature is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureForm {
    /// An EOA signature that recovers to the payer (checked offline).
    Eoa(Vec<u8>),
    /// A smart wallet's signature: the payer must be a deployed contract, which the token asks (EIP-1271).
    Contract(Vec<u8>),
    /// An EIP-6492 signature: the wallet `factory` deploys with `calldata`; `inner` is its EIP-1271 signature.
    Counterfactual {
        /// The trusted factory.
        factory: Address,
        /// The deployment call.
        calldata: Bytes,
        /// The signature the deployed wallet checks.
        inner: Vec<u8>,
    },
}

/// Classifies a signature that did not recover to the payer of `digest`. Refuses (with a message) what no
/// wallet could have made: empty or all-zero bytes, too short or too long, a 65-byte ECDSA signature that
/// recovers to no key, an EIP-6492 wrapper that does not decode or names a factory not in `factories`.
pub fn classify(signature: &[u8], digest: &B256, factories: &BTreeSet<Address>) -> Result<SignatureForm, String> {
    if signature.len() > MAX_SIGNATURE_BYTES {
        return Err(format!(
            "the signature is {} bytes, longer than any wallet's ({MAX_SIGNATURE_BYTES} at most)",
            signature.len()
        ));
    }
    if signature.len() < 65 || signature.iter().all(|b| *b == 0) {
        return Err("the signature is empty, all zero or shorter than 65 bytes: no wallet signs like that".into());
    }
    if signature.len() > 32 && signature[signature.len() - 32..] == EIP6492_MAGIC[..] {
        let body = &signature[..signature.len() - 32];
        let (factory, calldata, inner) = <(Address, Bytes, Bytes)>::abi_decode_params(body)
            .map_err(|_| "the EIP-6492 signature does not decode as (factory, calldata, signature)".to_string())?;
        if !factories.contains(&factory) {
            return Err(format!(
                "the EIP-6492 signature deploys its wallet through {}, a factory this facilitator does not trust",
                factory.to_checksum(None)
            ));
        }
        return Ok(SignatureForm::Counterfactual { factory, calldata, inner: inner.to_vec() });
    }
    if signature.len() == 65 && matches!(signature[64], 27 | 28) {
        // An ECDSA signature (of a wallet's owner): it must at least recover to some key.
        let recovers = Signature::normalize(signature).and_then(|s| recover_address(digest, &s)).is_ok();
        if !recovers {
            return Err("the signature is not a valid secp256k1 signature of these terms".into());
        }
    }
    Ok(SignatureForm::Contract(signature.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: B256 = b256!("1111111111111111111111111111111111111111111111111111111111111111");

    #[test]
    fn what_no_wallet_signs_is_refused_offline() {
        let none = BTreeSet::new();
        for bad in [vec![], vec![0u8; 65], vec![7u8; 64], vec![1u8; MAX_SIGNATURE_BYTES + 1], vec![0u8; 5000]] {
            assert!(classify(&bad, &DIGEST, &none).is_err(), "{} bytes", bad.len());
        }
        // r = s = 0xff..: not a curve scalar, so it recovers to nothing.
        let mut junk = vec![0xffu8; 64];
        junk.push(27);
        assert!(classify(&junk, &DIGEST, &none).is_err());
        assert_eq!(classify(&[5u8; 200], &DIGEST, &none), Ok(SignatureForm::Contract(vec![5u8; 200])));
    }

    #[test]
    fn an_eip6492_signature_needs_a_trusted_factory() {
        let factory: Address = "0x0ba5ed0c6aa8c49038f819e587e2633c4a9f428a".parse().unwrap();
        let mut wrapped = (factory, Bytes::from(vec![1u8, 2, 3]), Bytes::from(vec![9u8; 80])).abi_encode_params();
        wrapped.extend_from_slice(EIP6492_MAGIC.as_slice());
        let error = classify(&wrapped, &DIGEST, &BTreeSet::new()).unwrap_err();
        assert!(error.contains("does not trust"), "{error}");
        let trusted = BTreeSet::from([factory]);
        let form = classify(&wrapped, &DIGEST, &trusted).unwrap();
        assert_eq!(
            form,
            SignatureForm::Counterfactual { factory, calldata: Bytes::from(vec![1u8, 2, 3]), inner: vec![9u8; 80] }
        );
        let mut broken = vec![3u8; 40];
        broken.extend_from_slice(EIP6492_MAGIC.as_slice());
        assert!(classify(&broken, &DIGEST, &trusted).is_err());
    }
}
