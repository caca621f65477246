//! The paying side: `Policy`, `Payer`, `PaymentHeader`, `PreparedPayment`.

use std::sync::Arc;

use paywire_core::client as core;
use paywire_core::money::Usd;

use crate::convert::{u256_from, value_from};
use crate::error::Result;
use crate::getters::getters;
use crate::messages::{PaymentPayload, PaymentRequired, PaymentRequirements};
use crate::signer::{ForeignSigner, LocalSigner, Signer};

/// What a payer may pay (default: known stablecoins only, at most $1 per payment).
#[derive(Debug, uniffi::Object)]
pub struct Policy(pub(crate) core::Policy);

#[uniffi::export]
impl Policy {
    /// The default policy.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(Self(core::Policy::default()))
    }
    /// A policy from paywire's JSON policy document (camelCase members, as in
    /// tests/vectors/selection.json: `networks`, `maxPerPayment`, `budget`, `allowedAssets`...).
    #[uniffi::constructor]
    pub fn from_json(json: String) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(core::Policy::from_value(&value_from(&json, "the policy")?)?)))
    }
}

/// Tuning and test hooks of a payer.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct PayerOptions {
    /// Seconds added to `maxTimeoutSeconds` when choosing `validBefore` (default 300).
    #[uniffi(default = None)]
    pub expiry_margin: Option<u64>,
    /// How many purchases are remembered for reuse on retry (default 4096).
    #[uniffi(default = None)]
    pub max_remembered: Option<u32>,
    /// A fixed Unix time (tests); see also `Payer.setNow`.
    #[uniffi(default = None)]
    pub now: Option<u64>,
    /// Fixed randomness, consumed in order (tests).
    #[uniffi(default = None)]
    pub randomness: Option<Vec<u8>>,
}

/// A signed payment, ready to send as a request header.
#[derive(Debug, uniffi::Object)]
pub struct PaymentHeader(pub(crate) core::PaymentHeader);

getters!(PaymentHeader {
    /// `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1).
    name -> String = |v| v.name.to_string();
    /// The header value.
    value -> String = |v| v.value.clone();
    /// The payment.
    payload -> Arc<PaymentPayload> = |v| Arc::new(PaymentPayload(v.payload.clone()));
    /// The offer paid.
    requirements -> Arc<PaymentRequirements> = |v| Arc::new(PaymentRequirements(v.requirements.clone()));
    /// Its index in the bill.
    offer_index -> u32 = |v| u32::try_from(v.offer_index).unwrap_or(u32::MAX);
    /// The payer's address.
    payer -> String = |v| v.payer.to_checksum(None);
    /// Atomic units authorized, in decimal.
    amount -> String = |v| v.amount.to_string();
    /// Valid strictly before this Unix time.
    valid_before -> u64 = |v| v.valid_before;
    /// The payment-identifier id, when the server declared the extension.
    payment_id -> Option<String> = |v| v.payment_id.clone();
    /// True when this is the remembered payment of the same purchase, not a new signature.
    reused -> bool = |v| v.reused;
});

/// A payment waiting for its signatures (for signers that cannot answer synchronously).
#[derive(Debug, uniffi::Object)]
pub struct PreparedPayment(pub(crate) core::PreparedPayment);

getters!(PreparedPayment {
    /// The 32-byte digests to sign, in order.
    digests -> Vec<Vec<u8>> = |v| v.digests().iter().map(|d| d.to_vec()).collect();
    /// The address that must sign.
    payer -> String = |v| v.payer().to_checksum(None);
    /// The offer being paid.
    requirements -> Arc<PaymentRequirements> = |v| Arc::new(PaymentRequirements(v.requirements().clone()));
});

/// The first half of a payment: the remembered header of the purchase, or what must be signed.
#[derive(uniffi::Enum)]
pub enum Prepared {
    /// The purchase already has a live payment.
    Ready { header: Arc<PaymentHeader> },
    /// Sign `prepared.digests()`, then call `Payer.complete`.
    NeedsSignatures { prepared: Arc<PreparedPayment> },
}

/// Pays bills under a policy, signing at most one live payment per purchase. Thread-safe: share one payer.
#[derive(uniffi::Object)]
pub struct Payer {
    inner: Arc<core::Payer>,
    clock: Arc<paywire_core::ManualClock>,
}

impl Payer {
    fn build(
        signer: Arc<dyn paywire_core::Signer>,
        policy: Option<Arc<Policy>>,
        options: Option<PayerOptions>,
    ) -> Arc<Self> {
        let options = options.unwrap_or_default();
        let clock = Arc::new(paywire_core::ManualClock::new(options.now));
        let randomness: Arc<dyn paywire_core::Randomness> = match options.randomness {
            Some(bytes) => Arc::new(paywire_core::FixedRandomness::new(bytes)),
            None => Arc::new(paywire_core::OsRandomness),
        };
        let defaults = core::PayerOptions::default();
        let tuning = core::PayerOptions {
            expiry_margin: options.expiry_margin.unwrap_or(defaults.expiry_margin),
            max_remembered: options.max_remembered.map_or(defaults.max_remembered, |m| m as usize),
        };
        let policy = policy.map(|p| p.0.clone()).unwrap_or_default();
        let inner = core::Payer::new(signer, policy, clock.clone(), randomness).with_options(tuning);
        Arc::new(Self { inner: Arc::new(inner), clock })
    }
}

impl Payer {
    /// The core payer, shared with a paid fetch.
    pub fn shared(&self) -> Arc<core::Payer> {
        self.inner.clone()
    }
}

fn extras(eip2612_nonce: Option<String>) -> Result<core::PayExtras> {
    Ok(core::PayExtras { eip2612_nonce: eip2612_nonce.as_deref().map(u256_from).transpose()?, ..Default::default() })
}

#[uniffi::export]
impl Payer {
    /// A payer that signs with an app-provided `Signer` (called synchronously, on the paying thread).
    #[uniffi::constructor(default(policy = None, options = None))]
    pub fn new(
        signer: Arc<dyn Signer>,
        policy: Option<Arc<Policy>>,
        options: Option<PayerOptions>,
    ) -> Result<Arc<Self>> {
        Ok(Self::build(Arc::new(ForeignSigner::new(signer)?), policy, options))
    }
    /// A payer that signs with a `LocalSigner` (no call leaves the native library).
    #[uniffi::constructor(default(policy = None, options = None))]
    pub fn with_local_signer(
        signer: Arc<LocalSigner>,
        policy: Option<Arc<Policy>>,
        options: Option<PayerOptions>,
    ) -> Arc<Self> {
        Self::build(signer.0.clone(), policy, options)
    }
    /// Sets the time the next payments are dated with (`None`: the system clock).
    pub fn set_now(&self, now: Option<u64>) {
        self.clock.set(now);
    }
    /// The paying address.
    pub fn address(&self) -> String {
        self.inner.address().to_checksum(None)
    }
    /// Spent so far in known stablecoins, as a USD string such as "$0.03".
    pub fn spent_usd(&self) -> String {
        self.inner.spent_usd().to_string()
    }
    /// Restores the USD spent before (e.g. by the previous run of a long-lived app).
    pub fn restore_spent_usd(&self, spent: String) -> Result<()> {
        self.inner.restore_spent_usd(Usd::parse(&spent)?);
        Ok(())
    }
    /// The index of the offer this payer would pay (throws with every refusal when none fits).
    pub fn select(&self, bill: Arc<PaymentRequired>) -> Result<u32> {
        Ok(u32::try_from(self.inner.select(&bill.0)?).unwrap_or(u32::MAX))
    }
    /// Pays a bill. `purchase` names the purchase, so a retry of the same purchase gets the same payment;
    /// `eip2612_nonce` (decimal) enables the EIP-2612 gas-sponsoring permit for Permit2 offers.
    #[uniffi::method(default(purchase = None, eip2612_nonce = None))]
    pub fn pay(
        &self,
        bill: Arc<PaymentRequired>,
        purchase: Option<String>,
        eip2612_nonce: Option<String>,
    ) -> Result<Arc<PaymentHeader>> {
        let header = self.inner.pay_with(&bill.0, purchase.as_deref(), &extras(eip2612_nonce)?)?;
        Ok(Arc::new(PaymentHeader(header)))
    }
    /// First half of a payment, for a signer that answers later (see `complete`).
    #[uniffi::method(default(purchase = None, eip2612_nonce = None))]
    pub fn prepare(
        &self,
        bill: Arc<PaymentRequired>,
        purchase: Option<String>,
        eip2612_nonce: Option<String>,
    ) -> Result<Prepared> {
        Ok(match self.inner.prepare(&bill.0, purchase.as_deref(), &extras(eip2612_nonce)?)? {
            core::Prepared::Ready(header) => Prepared::Ready { header: Arc::new(PaymentHeader(header)) },
            core::Prepared::NeedsSignatures(p) => Prepared::NeedsSignatures { prepared: Arc::new(PreparedPayment(p)) },
        })
    }
    /// Second half: the signatures of `prepared.digests()` (65 bytes each), checked against the payer.
    pub fn complete(&self, prepared: Arc<PreparedPayment>, signatures: Vec<Vec<u8>>) -> Result<Arc<PaymentHeader>> {
        Ok(Arc::new(PaymentHeader(self.inner.complete(prepared.0.clone(), &signatures)?)))
    }
    /// Forgets the payment of a purchase once a response to the paid request arrived.
    pub fn forget(&self, purchase: String) {
        self.inner.forget(&purchase)
    }
    /// This payer's batch-settlement channels as JSON text, to keep where you choose and give to
    /// `importChannels` in the next process (it then pays on from the same channels).
    pub fn export_channels(&self) -> String {
        self.inner.export_channels()
    }
    /// Takes in channels `exportChannels` wrote; returns how many. A malformed text changes nothing.
    pub fn import_channels(&self, text: String) -> Result<u32> {
        Ok(self.inner.import_channels(&text)? as u32)
    }
}
