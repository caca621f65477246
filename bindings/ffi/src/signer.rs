//! Signing: `LocalSigner` (a key held in this process) and `Signer`, the interface a Swift or Kotlin app
//! implements to sign with a key kept elsewhere (Keychain, Secure Enclave, Android Keystore, a remote wallet).

use std::sync::Arc;

use alloy_primitives::{Address, B256};
use paywire_core::{ErrorCode, Signature};

use crate::convert::{address_from, digest32};
use crate::error::{PaywireError, Result, bad};
use crate::getters::getters;

/// Signs 32-byte EIP-712 digests for a payer. Implement it in Swift or Kotlin; throw a `PaywireError` (or
/// anything else: it becomes `signer_failed`) when the key refuses.
#[uniffi::export(with_foreign)]
pub trait Signer: Send + Sync {
    /// The checksummed address whose key signs.
    fn address(&self) -> String;
    /// Signs `digest` (32 bytes) as is, not as an EIP-191 message: 65 bytes `r || s || v`, `v` 0/1 or
    /// 27/28 (paywire normalises it and a high `s`, then checks the signature recovers to `address`).
    fn sign_digest(&self, digest: Vec<u8>) -> Result<Vec<u8>>;
}

/// A private key held in this process; erased from memory when dropped and never printed.
#[derive(uniffi::Object)]
#[uniffi::export(Display)]
pub struct LocalSigner(pub(crate) Arc<paywire_core::LocalSigner>);

impl std::fmt::Display for LocalSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalSigner({})", self.address())
    }
}

#[uniffi::export]
impl LocalSigner {
    /// A signer from a hex private key (`0x` optional).
    #[uniffi::constructor]
    pub fn new(key: String) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(Arc::new(paywire_core::LocalSigner::from_hex(&key)?))))
    }
    /// A signer from the key's 32 bytes.
    #[uniffi::constructor]
    pub fn from_bytes(key: Vec<u8>) -> Result<Arc<Self>> {
        let key: [u8; 32] =
            key.as_slice().try_into().map_err(|_| bad(ErrorCode::InvalidPrivateKey, "a private key is 32 bytes"))?;
        Ok(Arc::new(Self(Arc::new(paywire_core::LocalSigner::from_bytes(&key)?))))
    }
    /// A new key from the OS random source.
    #[uniffi::constructor]
    pub fn generate() -> Result<Arc<Self>> {
        Ok(Arc::new(Self(Arc::new(paywire_core::LocalSigner::generate(&paywire_core::OsRandomness)?))))
    }
    /// Signs a 32-byte digest as is: 65 bytes `r || s || v` with `v` 27/28.
    pub fn sign_digest(&self, digest: Vec<u8>) -> Result<Vec<u8>> {
        let digest = digest32(&digest)?;
        Ok(paywire_core::Signer::sign_digest(self.0.as_ref(), &digest)?.as_bytes().to_vec())
    }
}

getters!(LocalSigner {
    /// The checksummed address.
    address -> String = |v| paywire_core::Signer::address(v.as_ref()).to_checksum(None);
    /// The secret key as hex: only for showing a newly generated key to its owner.
    secret_hex -> String = |v| v.secret_hex().to_string();
});

/// A Swift or Kotlin `Signer` as the core's signer. The address is read once, when the payer is made.
pub(crate) struct ForeignSigner {
    signer: Arc<dyn Signer>,
    address: Address,
}

impl ForeignSigner {
    pub fn new(signer: Arc<dyn Signer>) -> Result<Self> {
        let address = address_from(&signer.address())?;
        Ok(ForeignSigner { signer, address })
    }
}

impl paywire_core::Signer for ForeignSigner {
    fn address(&self) -> Address {
        self.address
    }
    fn sign_digest(&self, digest: &B256) -> paywire_core::Result<Signature> {
        let signed = self.signer.sign_digest(digest.to_vec()).map_err(|e: PaywireError| {
            // A signer's own words stay as they are when it already said signer_failed.
            let detail =
                if e.code() == "signer_failed" { e.detail().to_string() } else { format!("the signer failed: {e}") };
            paywire_core::Error::new(ErrorCode::SignerFailed, detail)
        })?;
        Signature::normalize(&signed).map_err(|e| {
            paywire_core::Error::new(
                ErrorCode::SignerFailed,
                format!("the signer returned an unusable signature: {}", e.message()),
            )
        })
    }
}
