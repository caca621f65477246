//! Who signs, what time it is, and where randomness comes from: the three things the core is handed.
//!
//! The core never reads a clock or an RNG by itself. Callers pass a [`Clock`] and a [`Randomness`]; the
//! system implementations here exist so that callers (bindings, the CLI) have them at hand.

use crate::prelude::*;
use alloy_primitives::{Address, B256};

use crate::crypto::{SecretKey, Signature};
use crate::error::{Error, ErrorCode, Result};

/// Something that signs 32-byte digests for an Ethereum address: a local key, a KMS, a hardware wallet,
/// the iOS Keychain or Android Keystore through a binding, a remote wallet.
pub trait Signer: Send + Sync {
    /// The address whose key signs.
    fn address(&self) -> Address;

    /// Signs a 32-byte EIP-712 digest as is (not as an EIP-191 personal message). Build the result with
    /// [`Signature::normalize`], which accepts `v` as 0/1 and a high `s`; paywire then checks that it
    /// recovers to [`Signer::address`].
    fn sign_digest(&self, digest: &B256) -> Result<Signature>;

    /// Whether every signature this signer returns is known to recover to its address, so the check can be
    /// skipped. Only paywire's own [`LocalSigner`] can say yes: other implementations cannot name the token.
    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn signatures_are_self_checked(&self, _: sealed::Token) -> bool {
        false
    }
}

mod sealed {
    /// Proof that the caller is paywire itself.
    pub struct Token;
}

/// A private key held in process memory. The key is erased on drop and never printed.
pub struct LocalSigner {
    key: SecretKey,
    address: Address,
}

impl LocalSigner {
    /// A signer from 32 secret bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        let key = SecretKey::from_bytes(bytes)?;
        let address = key.address();
        Ok(LocalSigner { key, address })
    }

    /// A signer from a hex private key (`0x` optional, surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self> {
        let text = text.trim();
        let hex = text.strip_prefix("0x").unwrap_or(text);
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        if hex.len() != 64 || alloy_primitives::hex::decode_to_slice(hex, bytes.as_mut()).is_err() {
            // Never echo the input: it is (almost) a secret.
            return Err(Error::new(
                ErrorCode::InvalidPrivateKey,
                format!("a private key is 32 bytes written as 64 hex characters; got {} characters", hex.len()),
            ));
        }
        Self::from_bytes(&bytes)
    }

    /// A new random key from `randomness`.
    pub fn generate(randomness: &dyn Randomness) -> Result<Self> {
        // 32 random bytes are a valid key with probability 1 - 2^-128; repeated failures mean the source is
        // broken (constant, or all zeros), not unlucky.
        for _ in 0..8 {
            let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
            randomness.fill(bytes.as_mut())?;
            if let Ok(signer) = Self::from_bytes(&bytes) {
                return Ok(signer);
            }
        }
        Err(Error::new(ErrorCode::RandomnessFailed, "the random source keeps producing invalid keys; it is broken"))
    }

    /// The secret key as `0x`-prefixed hex, in a buffer erased on drop. Only for showing a newly generated
    /// key to its owner.
    pub fn secret_hex(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(crate::wire::hex_lower(self.key.to_bytes().as_ref()))
    }

    /// The 33-byte compressed public key.
    pub fn compressed_public_key(&self) -> [u8; 33] {
        self.key.compressed_public_key()
    }

    /// Signs with the pure-Rust backend regardless of features (for tests comparing backends).
    #[doc(hidden)]
    pub fn sign_digest_k256(&self, digest: &B256) -> Result<Signature> {
        self.key.sign_k256(digest)
    }
}

impl Signer for LocalSigner {
    fn address(&self) -> Address {
        self.address
    }

    fn sign_digest(&self, digest: &B256) -> Result<Signature> {
        self.key.sign(digest)
    }

    #[allow(private_interfaces)]
    fn signatures_are_self_checked(&self, _: sealed::Token) -> bool {
        true
    }
}

impl core::fmt::Debug for LocalSigner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LocalSigner").field("address", &self.address.to_checksum(None)).finish_non_exhaustive()
    }
}

/// Signs with `signer` and makes sure the result is a strict signature by `signer.address()`.
pub fn sign_checked(signer: &dyn Signer, digest: &B256) -> Result<Signature> {
    let sig = signer.sign_digest(digest)?;
    if signer.signatures_are_self_checked(sealed::Token) {
        return Ok(sig);
    }
    check_signature(signer.address(), digest, sig.as_bytes())
}

/// Normalises a signature returned by an external signer and checks that it recovers to `expected`.
pub fn check_signature(expected: Address, digest: &B256, signature: &[u8]) -> Result<Signature> {
    let sig = Signature::normalize(signature)?;
    let recovered = crate::crypto::recover_address(digest, &sig)?;
    if recovered != expected {
        return Err(Error::new(
            ErrorCode::SignerMismatch,
            format!(
                "the signer says it is {} but its signature recovers to {}; check that it signs with the right \
                 key and signs the 32-byte digest as is (not as an EIP-191 personal message)",
                expected.to_checksum(None),
                recovered.to_checksum(None)
            ),
        ));
    }
    Ok(sig)
}

/// A source of the current time, as Unix seconds.
pub trait Clock: Send + Sync {
    /// Seconds since 1970-01-01T00:00:00Z.
    fn now(&self) -> u64;
}

/// The system clock (with `std`).
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

#[cfg(feature = "std")]
impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
    }
}

/// A clock stuck at one instant (tests, `--now`).
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn now(&self) -> u64 {
        self.0
    }
}

/// A clock a program or test sets: the system clock until [`ManualClock::set`] fixes a time, which
/// [`ManualClock::advance`] moves on. Bindings use it for their `now` options and test clocks.
#[cfg(feature = "std")]
#[derive(Debug, Default)]
pub struct ManualClock(core::sync::atomic::AtomicU64);

/// The value of a [`ManualClock`] that reads the system clock.
#[cfg(feature = "std")]
const SYSTEM_TIME: u64 = u64::MAX;

#[cfg(feature = "std")]
impl ManualClock {
    /// A clock at `now`, or on the system clock when `None`.
    pub fn new(now: Option<u64>) -> Self {
        ManualClock(core::sync::atomic::AtomicU64::new(now.unwrap_or(SYSTEM_TIME)))
    }

    /// Fixes the time at `now` (`None`: back to the system clock).
    pub fn set(&self, now: Option<u64>) {
        self.0.store(now.unwrap_or(SYSTEM_TIME), core::sync::atomic::Ordering::Relaxed);
    }

    /// Moves a fixed time on by `seconds` (from the system time if none was set).
    pub fn advance(&self, seconds: u64) {
        self.set(Some(self.now().saturating_add(seconds)));
    }
}

#[cfg(feature = "std")]
impl Clock for ManualClock {
    fn now(&self) -> u64 {
        match self.0.load(core::sync::atomic::Ordering::Relaxed) {
            SYSTEM_TIME => SystemClock.now(),
            t => t,
        }
    }
}

/// A source of unpredictable bytes (authorization nonces, payment ids).
pub trait Randomness: Send + Sync {
    /// Fills `buf` entirely.
    fn fill(&self, buf: &mut [u8]) -> Result<()>;
}

/// The operating system's CSPRNG (with `std`).
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRandomness;

#[cfg(feature = "std")]
impl Randomness for OsRandomness {
    fn fill(&self, buf: &mut [u8]) -> Result<()> {
        getrandom::fill(buf)
            .map_err(|e| Error::new(ErrorCode::RandomnessFailed, format!("the system random source failed: {e}")))
    }
}

/// Replays fixed bytes, cycling (tests, `--nonce`). Never use it for real payments.
#[derive(Clone, Debug)]
pub struct FixedRandomness {
    bytes: Vec<u8>,
    next: alloc::sync::Arc<core::sync::atomic::AtomicUsize>,
}

impl FixedRandomness {
    /// Replays `bytes` (which must not be empty) from the start.
    pub fn new(bytes: Vec<u8>) -> Self {
        let bytes = if bytes.is_empty() { vec![0] } else { bytes };
        FixedRandomness { bytes, next: Default::default() }
    }
}

impl Randomness for FixedRandomness {
    fn fill(&self, buf: &mut [u8]) -> Result<()> {
        let start = self.next.fetch_add(buf.len(), core::sync::atomic::Ordering::Relaxed);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.bytes[(start + i) % self.bytes.len()];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let s = LocalSigner::from_hex("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80").unwrap();
        let shown = format!("{s:?}");
        assert!(shown.contains("0xf39F"));
        assert!(!shown.contains("ac0974"));
    }

    #[test]
    fn bad_keys_do_not_echo_input() {
        let e = LocalSigner::from_hex("0xdeadbeefsecret").unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidPrivateKey);
        assert!(!e.message().contains("deadbeef"));
    }

    struct Wrong(LocalSigner, Address);
    impl Signer for Wrong {
        fn address(&self) -> Address {
            self.1
        }
        fn sign_digest(&self, digest: &B256) -> Result<Signature> {
            self.0.sign_digest(digest)
        }
    }

    #[test]
    fn external_signatures_are_checked() {
        let s = LocalSigner::generate(&FixedRandomness::new(vec![1, 2, 3])).unwrap();
        let wrong = Wrong(s, Address::repeat_byte(9));
        let e = sign_checked(&wrong, &B256::repeat_byte(1)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::SignerMismatch);
    }
}
