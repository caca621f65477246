//! The paying side: `LocalSigner`, `Policy`, `Payer`, `PaymentHeader`, `PreparedPayment`.
//!
//! JS signers sign asynchronously, so the native `Payer` never calls into JS: it signs with a `LocalSigner`
//! itself, and for any other signer the glue (`lib/payer.js`) runs `prepare`, has the JS signer sign the
//! digests, then `complete`.

use std::sync::Arc;

use alloy_primitives::{Address, B256};
use napi::bindgen_prelude::{BigInt, Either, Uint8Array};
use napi_derive::napi;
use paywire_core::client as core;
use paywire_core::money::Usd;
use paywire_core::{Error, ErrorCode};
use serde_json::Value;

use crate::convert::{Amount, address_from, bytes, digest32, u256_from, u256_to_bigint};
use crate::errors::OrThrow;
use crate::getters::getters;
use crate::messages::{PaymentPayload, PaymentRequired, PaymentRequirements};

/// A private key held in this process; erased from memory when dropped and never printed.
#[napi]
pub struct LocalSigner(pub(crate) Arc<paywire_core::LocalSigner>);

#[napi]
impl LocalSigner {
    /// A signer from a hex private key (`0x` optional) or its 32 bytes.
    #[napi(constructor)]
    pub fn new(key: Either<String, Uint8Array>) -> napi::Result<Self> {
        let signer = match key {
            Either::A(hex) => paywire_core::LocalSigner::from_hex(&hex),
            Either::B(raw) => {
                let arr: [u8; 32] = raw.as_ref().try_into().map_err(|_| {
                    crate::errors::to_napi(Error::new(ErrorCode::InvalidPrivateKey, "a private key is 32 bytes"))
                })?;
                paywire_core::LocalSigner::from_bytes(&arr)
            }
        };
        signer.or_throw().map(|s| Self(Arc::new(s)))
    }
    /// A new key from the OS random source.
    #[napi(factory)]
    pub fn generate() -> napi::Result<Self> {
        paywire_core::LocalSigner::generate(&paywire_core::OsRandomness).or_throw().map(|s| Self(Arc::new(s)))
    }
    /// Signs a 32-byte digest as is: 65 bytes `r || s || v` with `v` 27/28.
    #[napi]
    pub fn sign_digest(&self, digest: Uint8Array) -> napi::Result<Uint8Array> {
        let digest = digest32(&digest)?;
        let sig = paywire_core::Signer::sign_digest(self.0.as_ref(), &digest).or_throw()?;
        Ok(bytes(sig.as_bytes()))
    }
    /// The secret key as hex: only for showing a newly generated key to its owner.
    #[napi]
    pub fn secret_hex(&self) -> String {
        self.0.secret_hex().to_string()
    }
    /// Never the key.
    #[napi(js_name = "toString")]
    pub fn to_display(&self) -> String {
        format!("LocalSigner({})", self.address())
    }
}

getters!(LocalSigner {
    #[doc = "The checksummed address."]
    address -> String = |v| paywire_core::Signer::address(v.as_ref()).to_checksum(None);
});

/// What a payer may pay (default: known stablecoins only, at most $1 per payment).
#[napi]
#[derive(Clone)]
pub struct Policy(pub(crate) core::Policy);

#[napi]
impl Policy {
    /// A policy from paywire's JSON policy (camelCase members, as in tests/vectors/selection.json); the glue
    /// has already turned bigints into decimal strings.
    #[napi(constructor)]
    pub fn new(policy: Option<Value>) -> napi::Result<Self> {
        let value = policy.unwrap_or_else(|| Value::Object(Default::default()));
        core::Policy::from_value(&value).or_throw().map(Self)
    }
    /// Debug text.
    #[napi(js_name = "toString")]
    pub fn to_display(&self) -> String {
        format!("{:?}", self.0)
    }
}

/// A signed payment, ready to send as `headers[header.name] = header.value`.
#[napi]
pub struct PaymentHeader(pub(crate) core::PaymentHeader);

getters!(PaymentHeader {
    #[doc = "`PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1)."]
    name -> String = |v| v.name.to_string();
    #[doc = "The header value."]
    value -> String = |v| v.value.clone();
    #[doc = "The payment."]
    payload -> PaymentPayload = |v| PaymentPayload(v.payload.clone());
    #[doc = "The offer paid."]
    requirements -> PaymentRequirements = |v| PaymentRequirements(v.requirements.clone());
    #[doc = "Its index in the bill."]
    offer_index -> u32 = |v| u32::try_from(v.offer_index).unwrap_or(u32::MAX);
    #[doc = "The payer's address."]
    payer -> String = |v| v.payer.to_checksum(None);
    #[doc = "Atomic units authorized."]
    amount -> BigInt = |v| u256_to_bigint(v.amount);
    #[doc = "Valid strictly before this Unix time."]
    valid_before -> i64 = |v| i64::try_from(v.valid_before).unwrap_or(i64::MAX);
    #[doc = "The payment-identifier id, when the server declared the extension."]
    payment_id -> Option<String> = |v| v.payment_id.clone();
    #[doc = "True when this is the remembered payment of the same purchase, not a new signature."]
    reused -> bool = |v| v.reused;
});

/// A payment waiting for its signatures (for asynchronous or remote signers).
#[napi]
pub struct PreparedPayment(pub(crate) core::PreparedPayment);

getters!(PreparedPayment {
    #[doc = "The 32-byte digests to sign, in order."]
    digests -> Vec<Uint8Array> = |v| v.digests().iter().map(|d| bytes(d.as_slice())).collect();
    #[doc = "The address that must sign."]
    payer -> String = |v| v.payer().to_checksum(None);
    #[doc = "The offer being paid."]
    requirements -> PaymentRequirements = |v| PaymentRequirements(v.requirements().clone());
});

/// A signer whose key lives in JS (a KMS, a wallet, a viem account): it only names its address; the glue
/// signs through `prepare`/`complete`.
struct ForeignSigner(Address);

impl paywire_core::Signer for ForeignSigner {
    fn address(&self) -> Address {
        self.0
    }
    fn sign_digest(&self, _: &B256) -> paywire_core::Result<paywire_core::Signature> {
        Err(Error::new(
            ErrorCode::SignerFailed,
            "this payer's signer lives in JavaScript and signs asynchronously; use payer.pay(), which awaits it",
        ))
    }
}

/// Options of the native payer (the glue documents them).
#[napi(object)]
pub struct PayerOptions {
    /// Seconds added to `maxTimeoutSeconds` when choosing `validBefore` (default 300).
    pub expiry_margin: Option<u32>,
    /// How many purchases are remembered for reuse on retry (default 4096).
    pub max_remembered: Option<u32>,
    /// A fixed Unix time (tests).
    pub now: Option<i64>,
    /// Fixed randomness, consumed in order (tests).
    pub randomness: Option<Uint8Array>,
}

fn extras(nonce: Option<Amount>) -> napi::Result<core::PayExtras> {
    Ok(core::PayExtras { eip2612_nonce: nonce.as_ref().map(u256_from).transpose()?, ..Default::default() })
}

fn bill_from(bill: Either<&PaymentRequired, String>) -> napi::Result<paywire_core::PaymentRequired> {
    match bill {
        Either::A(b) => Ok(b.0.clone()),
        Either::B(text) => paywire_core::PaymentRequired::from_text(&text).or_throw(),
    }
}

impl Payer {
    /// The core payer, shared with a paid fetch.
    pub fn shared(&self) -> Arc<core::Payer> {
        self.inner.clone()
    }
}

/// Pays bills under a policy, signing at most one live payment per purchase.
#[napi(js_name = "NativePayer")]
pub struct Payer {
    inner: Arc<core::Payer>,
    clock: Arc<paywire_core::ManualClock>,
    signs_itself: bool,
}

#[napi]
impl Payer {
    /// A payer for a `LocalSigner`, or for the address of a signer that lives in JS.
    #[napi(constructor)]
    pub fn new(
        signer: Either<&LocalSigner, String>,
        policy: Option<&Policy>,
        options: Option<PayerOptions>,
    ) -> napi::Result<Self> {
        let (signer, signs_itself): (Arc<dyn paywire_core::Signer>, bool) = match signer {
            Either::A(local) => (local.0.clone(), true),
            Either::B(address) => (Arc::new(ForeignSigner(address_from(&address)?)), false),
        };
        let options =
            options.unwrap_or(PayerOptions { expiry_margin: None, max_remembered: None, now: None, randomness: None });
        let clock = Arc::new(paywire_core::ManualClock::new(None));
        if let Some(now) = options.now {
            clock.set(Some(crate::convert::now_or_system(Some(now))?));
        }
        let randomness: Arc<dyn paywire_core::Randomness> = match options.randomness {
            Some(bytes) => Arc::new(paywire_core::FixedRandomness::new(bytes.to_vec())),
            None => Arc::new(paywire_core::OsRandomness),
        };
        let defaults = core::PayerOptions::default();
        let tuning = core::PayerOptions {
            expiry_margin: options.expiry_margin.map_or(defaults.expiry_margin, u64::from),
            max_remembered: options.max_remembered.map_or(defaults.max_remembered, |m| m as usize),
        };
        let inner =
            core::Payer::new(signer, policy.map(|p| p.0.clone()).unwrap_or_default(), clock.clone(), randomness)
                .with_options(tuning);
        Ok(Self { inner: Arc::new(inner), clock, signs_itself })
    }
    /// Sets the time the next payments are dated with (`undefined`: the system clock).
    #[napi]
    pub fn set_now(&self, now: Option<i64>) -> napi::Result<()> {
        self.clock.set(now.map(|t| crate::convert::now_or_system(Some(t))).transpose()?);
        Ok(())
    }
    /// Whether this payer signs by itself (a `LocalSigner`).
    #[napi(getter)]
    pub fn signs_itself(&self) -> bool {
        self.signs_itself
    }
    /// The paying address.
    #[napi(getter)]
    pub fn address(&self) -> String {
        self.inner.address().to_checksum(None)
    }
    /// Spent so far in known stablecoins, as a USD string such as "$0.03".
    #[napi(getter)]
    pub fn spent_usd(&self) -> String {
        self.inner.spent_usd().to_string()
    }
    /// Restores the USD spent before (e.g. by the previous run of a long-lived agent).
    #[napi]
    pub fn restore_spent_usd(&self, spent: String) -> napi::Result<()> {
        self.inner.restore_spent_usd(Usd::parse(&spent).or_throw()?);
        Ok(())
    }
    /// The index of the offer this payer would pay (throws with every refusal when none fits).
    #[napi]
    pub fn select(&self, bill: Either<&PaymentRequired, String>) -> napi::Result<u32> {
        let index = self.inner.select(&bill_from(bill)?).or_throw()?;
        Ok(u32::try_from(index).unwrap_or(u32::MAX))
    }
    /// Pays a bill with the payer's own `LocalSigner`.
    #[napi]
    pub fn pay(
        &self,
        bill: Either<&PaymentRequired, String>,
        purchase: Option<String>,
        eip2612_nonce: Option<Amount>,
    ) -> napi::Result<PaymentHeader> {
        let bill = bill_from(bill)?;
        self.inner.pay_with(&bill, purchase.as_deref(), &extras(eip2612_nonce)?).or_throw().map(PaymentHeader)
    }
    /// First half of a payment: a `PaymentHeader` when the purchase already has one, else a
    /// `PreparedPayment` whose digests must be signed.
    #[napi]
    pub fn prepare(
        &self,
        bill: Either<&PaymentRequired, String>,
        purchase: Option<String>,
        eip2612_nonce: Option<Amount>,
    ) -> napi::Result<Either<PaymentHeader, PreparedPayment>> {
        let bill = bill_from(bill)?;
        match self.inner.prepare(&bill, purchase.as_deref(), &extras(eip2612_nonce)?).or_throw()? {
            core::Prepared::Ready(header) => Ok(Either::A(PaymentHeader(header))),
            core::Prepared::NeedsSignatures(p) => Ok(Either::B(PreparedPayment(p))),
        }
    }
    /// Second half: the signatures of `prepared.digests` (65 bytes each), checked against the payer.
    #[napi]
    pub fn complete(&self, prepared: &PreparedPayment, signatures: Vec<Uint8Array>) -> napi::Result<PaymentHeader> {
        let signatures: Vec<Vec<u8>> = signatures.iter().map(|s| s.to_vec()).collect();
        self.inner.complete(prepared.0.clone(), &signatures).or_throw().map(PaymentHeader)
    }
    /// Forgets the payment of a purchase once a response to the paid request arrived.
    #[napi]
    pub fn forget(&self, purchase: String) {
        self.inner.forget(&purchase)
    }
    /// This payer's batch-settlement channels as JSON text, to keep where you choose and give to
    /// `importChannels` in the next process (it then pays on from the same channels).
    #[napi]
    pub fn export_channels(&self) -> String {
        self.inner.export_channels()
    }
    /// Takes in channels `exportChannels` wrote; returns how many. A malformed text changes nothing.
    #[napi]
    pub fn import_channels(&self, text: String) -> napi::Result<u32> {
        self.inner.import_channels(&text).or_throw().map(|n| n as u32)
    }
}
