//! The paying side: `LocalSigner`, `Policy`, `PaymentHeader`, `PreparedPayment`, `NativePayer`, as in the
//! Node binding. Where that binding takes "a `LocalSigner` or an address" or "a bill or its text" in one
//! argument, this one has a function for each, and `node/wasm/native.js` picks one by the argument's type.

use alloc::sync::Arc;

use alloy_primitives::{Address, B256};
use paywire_core::client as core;
use paywire_core::money::Usd;
use paywire_core::{Error, ErrorCode};
use wasm_bindgen::prelude::*;

use crate::env::{JsClock, JsRandomness};
use crate::errors::{OrThrow, bad_argument};
use crate::js::{bigint, byte_list, bytes, member, signatures, u64_member, u256_from};
use crate::messages::{PaymentPayload, PaymentRequired, PaymentRequirements, getters};

extern crate alloc;

/// A private key held in this page or worker; never printed.
#[wasm_bindgen]
pub struct LocalSigner(pub(crate) Arc<paywire_core::LocalSigner>);

#[wasm_bindgen]
impl LocalSigner {
    /// A signer from a hex private key (`0x` optional) or its 32 bytes.
    #[wasm_bindgen(constructor)]
    pub fn new(key: JsValue) -> Result<LocalSigner, JsValue> {
        let signer = if let Some(hex) = key.as_string() {
            paywire_core::LocalSigner::from_hex(&hex)
        } else {
            let raw = crate::js::optional_bytes(&key)?.unwrap_or_default();
            let arr: [u8; 32] = raw.as_slice().try_into().map_err(|_| {
                crate::errors::to_js(Error::new(ErrorCode::InvalidPrivateKey, "a private key is 32 bytes"))
            })?;
            paywire_core::LocalSigner::from_bytes(&arr)
        };
        signer.or_throw().map(|s| Self(Arc::new(s)))
    }
    /// The same key, as another handle (for a call that takes ownership of its argument).
    pub fn copy(&self) -> LocalSigner {
        LocalSigner(self.0.clone())
    }
    /// A new key from `crypto.getRandomValues`.
    pub fn generate() -> Result<LocalSigner, JsValue> {
        paywire_core::LocalSigner::generate(&JsRandomness).or_throw().map(|s| Self(Arc::new(s)))
    }
    /// Signs a 32-byte digest as is: 65 bytes `r || s || v` with `v` 27/28.
    #[wasm_bindgen(js_name = "signDigest")]
    pub fn sign_digest(&self, digest: &[u8]) -> Result<js_sys::Uint8Array, JsValue> {
        let digest: [u8; 32] = digest.try_into().map_err(|_| bad_argument("a digest is 32 bytes"))?;
        let sig = paywire_core::Signer::sign_digest(self.0.as_ref(), &B256::from(digest)).or_throw()?;
        Ok(bytes(sig.as_bytes()))
    }
    /// The secret key as hex: only for showing a newly generated key to its owner.
    #[wasm_bindgen(js_name = "secretHex")]
    pub fn secret_hex(&self) -> String {
        self.0.secret_hex().to_string()
    }
    /// Never the key.
    #[wasm_bindgen(js_name = "toString")]
    pub fn to_display(&self) -> String {
        format!("LocalSigner({})", self.address())
    }
    /// The checksummed address.
    #[wasm_bindgen(getter)]
    pub fn address(&self) -> String {
        paywire_core::Signer::address(self.0.as_ref()).to_checksum(None)
    }
}

/// What a payer may pay (default: known stablecoins only, at most $1 per payment).
#[wasm_bindgen]
#[derive(Clone)]
pub struct Policy(pub(crate) core::Policy);

#[wasm_bindgen]
impl Policy {
    /// A policy from paywire's JSON policy (camelCase members); the glue has turned bigints into strings.
    #[wasm_bindgen(constructor)]
    pub fn new(policy: JsValue) -> Result<Policy, JsValue> {
        if policy.is_undefined() || policy.is_null() {
            return Ok(Self(core::Policy::default()));
        }
        let text = js_sys::JSON::stringify(&policy).map_err(|_| bad_argument("a policy must be a plain object"))?;
        core::Policy::from_json(&String::from(text)).or_throw().map(Self)
    }
    /// Debug text.
    #[wasm_bindgen(js_name = "toString")]
    pub fn to_display(&self) -> String {
        format!("{:?}", self.0)
    }
}

/// A signed payment, ready to send as `headers[header.name] = header.value`.
#[wasm_bindgen]
pub struct PaymentHeader(pub(crate) core::PaymentHeader);

getters!(PaymentHeader {
    #[doc = "`PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1)."]
    name / "name" -> String = |v| v.name.to_string();
    #[doc = "The header value."]
    value / "value" -> String = |v| v.value.clone();
    #[doc = "The payment."]
    payload / "payload" -> PaymentPayload = |v| PaymentPayload(v.payload.clone());
    #[doc = "The offer paid."]
    requirements / "requirements" -> PaymentRequirements = |v| PaymentRequirements(v.requirements.clone());
    #[doc = "Its index in the bill."]
    offer_index / "offerIndex" -> u32 = |v| u32::try_from(v.offer_index).unwrap_or(u32::MAX);
    #[doc = "The payer's address."]
    payer / "payer" -> String = |v| v.payer.to_checksum(None);
    #[doc = "Atomic units authorized."]
    amount / "amount" -> JsValue = |v| bigint(v.amount);
    #[doc = "Valid strictly before this Unix time."]
    valid_before / "validBefore" -> f64 = |v| v.valid_before as f64;
    #[doc = "The payment-identifier id, when the server declared the extension."]
    payment_id / "paymentId" -> JsValue = |v| crate::js::opt(v.payment_id.clone());
    #[doc = "True when this is the remembered payment of the same purchase, not a new signature."]
    reused / "reused" -> bool = |v| v.reused;
});

/// A payment waiting for its signatures (for asynchronous or remote signers).
#[wasm_bindgen]
pub struct PreparedPayment(pub(crate) core::PreparedPayment);

getters!(PreparedPayment {
    #[doc = "The 32-byte digests to sign, in order."]
    digests / "digests" -> js_sys::Array = |v| byte_list(v.digests().iter().map(|d| d.as_slice()));
    #[doc = "The address that must sign."]
    payer / "payer" -> String = |v| v.payer().to_checksum(None);
    #[doc = "The offer being paid."]
    requirements / "requirements" -> PaymentRequirements = |v| PaymentRequirements(v.requirements().clone());
});

/// A signer whose key lives in JS (a wallet, a KMS): it only names its address; the glue signs through
/// `prepare`/`complete`.
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

fn extras(nonce: JsValue) -> Result<core::PayExtras, JsValue> {
    let eip2612_nonce = if nonce.is_undefined() || nonce.is_null() { None } else { Some(u256_from(&nonce)?) };
    Ok(core::PayExtras { eip2612_nonce, ..Default::default() })
}

fn bill_text(text: &str) -> Result<paywire_core::PaymentRequired, JsValue> {
    paywire_core::PaymentRequired::from_text(text).or_throw()
}

/// Pays bills under a policy, signing at most one live payment per purchase.
#[wasm_bindgen(js_name = "NativePayer")]
pub struct Payer {
    pub(crate) inner: Arc<core::Payer>,
    clock: Arc<JsClock>,
    signs_itself: bool,
}

impl Payer {
    fn make(
        signer: Arc<dyn paywire_core::Signer>,
        signs_itself: bool,
        policy: &Policy,
        options: &JsValue,
    ) -> Result<Payer, JsValue> {
        let clock = Arc::new(JsClock::new(u64_member(options, "now")?));
        let randomness: Arc<dyn paywire_core::Randomness> =
            match crate::js::optional_bytes(&member(options, "randomness"))? {
                Some(bytes) => Arc::new(paywire_core::FixedRandomness::new(bytes)),
                None => Arc::new(JsRandomness),
            };
        let defaults = core::PayerOptions::default();
        let tuning = core::PayerOptions {
            expiry_margin: u64_member(options, "expiryMargin")?.unwrap_or(defaults.expiry_margin),
            max_remembered: u64_member(options, "maxRemembered")?.map_or(defaults.max_remembered, |m| m as usize),
        };
        let inner = core::Payer::new(signer, policy.0.clone(), clock.clone(), randomness).with_options(tuning);
        Ok(Payer { inner: Arc::new(inner), clock, signs_itself })
    }

    fn select(&self, bill: &paywire_core::PaymentRequired) -> Result<u32, JsValue> {
        let index = self.inner.select(bill).or_throw()?;
        Ok(u32::try_from(index).unwrap_or(u32::MAX))
    }

    fn pay(
        &self,
        bill: &paywire_core::PaymentRequired,
        purchase: Option<String>,
        nonce: JsValue,
    ) -> Result<PaymentHeader, JsValue> {
        self.inner.pay_with(bill, purchase.as_deref(), &extras(nonce)?).or_throw().map(PaymentHeader)
    }

    fn prepare(
        &self,
        bill: &paywire_core::PaymentRequired,
        purchase: Option<String>,
        nonce: JsValue,
    ) -> Result<JsValue, JsValue> {
        match self.inner.prepare(bill, purchase.as_deref(), &extras(nonce)?).or_throw()? {
            core::Prepared::Ready(header) => Ok(PaymentHeader(header).into()),
            core::Prepared::NeedsSignatures(p) => Ok(PreparedPayment(p).into()),
        }
    }
}

#[wasm_bindgen(js_class = "NativePayer")]
impl Payer {
    /// A payer signing with a `LocalSigner`.
    #[wasm_bindgen(js_name = "forLocalSigner")]
    pub fn for_local_signer(signer: &LocalSigner, policy: &Policy, options: JsValue) -> Result<Payer, JsValue> {
        Self::make(signer.0.clone(), true, policy, &options)
    }
    /// A payer for the address of a signer that lives in JS.
    #[wasm_bindgen(js_name = "forAddress")]
    pub fn for_address(address: String, policy: &Policy, options: JsValue) -> Result<Payer, JsValue> {
        let address = paywire_core::wire::parse_address(&address)
            .map_err(|e| bad_argument(format!("the signer's address: {e}")))?;
        Self::make(Arc::new(ForeignSigner(address)), false, policy, &options)
    }
    /// Sets the time the next payments are dated with (`undefined`: `Date.now()`).
    #[wasm_bindgen(js_name = "setNow")]
    pub fn set_now(&self, now: Option<f64>) -> Result<(), JsValue> {
        match now {
            Some(t) if t.is_nan() || t < 0.0 => Err(bad_argument(format!("time {t} is before 1970"))),
            t => {
                self.clock.set(t.map(|t| t as u64));
                Ok(())
            }
        }
    }
    /// Whether this payer signs by itself (a `LocalSigner`).
    #[wasm_bindgen(getter, js_name = "signsItself")]
    pub fn signs_itself(&self) -> bool {
        self.signs_itself
    }
    /// The paying address.
    #[wasm_bindgen(getter)]
    pub fn address(&self) -> String {
        self.inner.address().to_checksum(None)
    }
    /// Spent so far in known stablecoins, as a USD string such as "$0.03".
    #[wasm_bindgen(getter, js_name = "spentUsd")]
    pub fn spent_usd(&self) -> String {
        self.inner.spent_usd().to_string()
    }
    /// Restores the USD spent before (e.g. by an earlier session of a long-lived agent).
    #[wasm_bindgen(js_name = "restoreSpentUsd")]
    pub fn restore_spent_usd(&self, spent: String) -> Result<(), JsValue> {
        self.inner.restore_spent_usd(Usd::parse(&spent).or_throw()?);
        Ok(())
    }
    /// The index of the offer this payer would pay (throws with every refusal when none fits).
    #[wasm_bindgen(js_name = "selectBill")]
    pub fn select_bill(&self, bill: &PaymentRequired) -> Result<u32, JsValue> {
        self.select(&bill.0)
    }
    /// [`Payer::select_bill`] for a bill's header value or JSON text.
    #[wasm_bindgen(js_name = "selectText")]
    pub fn select_text(&self, bill: String) -> Result<u32, JsValue> {
        self.select(&bill_text(&bill)?)
    }
    /// Pays a bill with the payer's own `LocalSigner`.
    #[wasm_bindgen(js_name = "payBill")]
    pub fn pay_bill(
        &self,
        bill: &PaymentRequired,
        purchase: Option<String>,
        eip2612_nonce: JsValue,
    ) -> Result<PaymentHeader, JsValue> {
        self.pay(&bill.0, purchase, eip2612_nonce)
    }
    /// [`Payer::pay_bill`] for a bill's header value or JSON text.
    #[wasm_bindgen(js_name = "payText")]
    pub fn pay_text(
        &self,
        bill: String,
        purchase: Option<String>,
        eip2612_nonce: JsValue,
    ) -> Result<PaymentHeader, JsValue> {
        self.pay(&bill_text(&bill)?, purchase, eip2612_nonce)
    }
    /// First half of a payment: a `PaymentHeader` when the purchase already has one, else a
    /// `PreparedPayment` whose digests must be signed.
    #[wasm_bindgen(js_name = "prepareBill")]
    pub fn prepare_bill(
        &self,
        bill: &PaymentRequired,
        purchase: Option<String>,
        eip2612_nonce: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.prepare(&bill.0, purchase, eip2612_nonce)
    }
    /// [`Payer::prepare_bill`] for a bill's header value or JSON text.
    #[wasm_bindgen(js_name = "prepareText")]
    pub fn prepare_text(
        &self,
        bill: String,
        purchase: Option<String>,
        eip2612_nonce: JsValue,
    ) -> Result<JsValue, JsValue> {
        self.prepare(&bill_text(&bill)?, purchase, eip2612_nonce)
    }
    /// Second half: the signatures of `prepared.digests` (65 bytes each), checked against the payer.
    pub fn complete(&self, prepared: &PreparedPayment, signatures_: JsValue) -> Result<PaymentHeader, JsValue> {
        self.inner.complete(prepared.0.clone(), &signatures(&signatures_)?).or_throw().map(PaymentHeader)
    }
    /// Forgets the payment of a purchase once a response to the paid request arrived.
    pub fn forget(&self, purchase: String) {
        self.inner.forget(&purchase)
    }
    /// This payer's batch-settlement channels as JSON text (see `importChannels`).
    #[wasm_bindgen(js_name = "exportChannels")]
    pub fn export_channels(&self) -> String {
        self.inner.export_channels()
    }
    /// Takes in channels `exportChannels` wrote; returns how many. A malformed text changes nothing.
    #[wasm_bindgen(js_name = "importChannels")]
    pub fn import_channels(&self, text: String) -> Result<u32, JsValue> {
        self.inner.import_channels(&text).or_throw().map(|n| n as u32)
    }
}
