//! The paying client: chooses an offer under a spend policy and signs it through the firmware's signer.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ffi::{c_char, c_void};

use paywire_core::client::{Payer, Policy};
use paywire_core::{Address, B256, Clock, Error, ErrorCode, Randomness, Signature, Signer};

use crate::args;
use crate::bill::PaywireBill;
use crate::error::{PaywireError, PaywireStatus, fail};

/// Signs a 32-byte EIP-712 digest as is and writes `r || s || v` (65 bytes; v = 0, 1, 27 or 28) to
/// `signature`. Returns 0 on success. paywire checks that the signature recovers to the signer's address.
pub type PaywireSignDigest =
    Option<unsafe extern "C" fn(ctx: *mut c_void, digest: *const u8, signature: *mut u8) -> i32>;

/// The current time as Unix seconds.
pub type PaywireNow = Option<unsafe extern "C" fn(ctx: *mut c_void) -> u64>;

/// Fills `len` bytes at `buf` from a cryptographically secure source (authorization nonces). Returns 0 on
/// success.
pub type PaywireFillRandom = Option<unsafe extern "C" fn(ctx: *mut c_void, buf: *mut u8, len: usize) -> i32>;

/// The key that pays: a secure element, an HSM, or a key in firmware ([`crate::key`]).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PaywireSigner {
    /// Passed to `sign_digest` as is.
    pub ctx: *mut c_void,
    /// The 20-byte address whose key signs.
    pub address: [u8; 20],
    /// The signing callback.
    pub sign_digest: PaywireSignDigest,
}

/// The clock and random source the payer is handed (the library reads none of its own).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PaywireEnvironment {
    /// Passed to the callbacks as is.
    pub ctx: *mut c_void,
    /// The clock.
    pub now: PaywireNow,
    /// The random source.
    pub fill_random: PaywireFillRandom,
}

/// The callbacks with the checks done once, when the payer is made.
struct Callbacks {
    signer: PaywireSigner,
    env: PaywireEnvironment,
}

// SAFETY: the library calls the callbacks only from the thread that calls it; the header tells the
// firmware that a payer must be used from one thread at a time, as a single-core device does.
unsafe impl Send for Callbacks {}
unsafe impl Sync for Callbacks {}

impl Signer for Callbacks {
    fn address(&self) -> Address {
        Address::from(self.signer.address)
    }

    fn sign_digest(&self, digest: &B256) -> paywire_core::Result<Signature> {
        let mut out = [0u8; 65];
        let sign = self.signer.sign_digest.ok_or_else(|| crate::error::argument("sign_digest is NULL"))?;
        // SAFETY: the firmware's callback, given its own ctx, 32 readable and 65 writable bytes.
        let status = unsafe { sign(self.signer.ctx, digest.as_ptr(), out.as_mut_ptr()) };
        if status != 0 {
            return Err(Error::new(
                ErrorCode::SignerFailed,
                alloc::format!("the signer callback returned {status}; check the secure element or key"),
            ));
        }
        Signature::normalize(&out)
    }
}

impl Clock for Callbacks {
    fn now(&self) -> u64 {
        // SAFETY: checked non-NULL when the payer was made; the firmware's callback with its own ctx.
        self.env.now.map_or(0, |now| unsafe { now(self.env.ctx) })
    }
}

impl Randomness for Callbacks {
    fn fill(&self, buf: &mut [u8]) -> paywire_core::Result<()> {
        let status = match self.env.fill_random {
            // SAFETY: the firmware's callback with its own ctx and `buf.len()` writable bytes.
            Some(fill) => unsafe { fill(self.env.ctx, buf.as_mut_ptr(), buf.len()) },
            None => -1,
        };
        if status != 0 {
            return Err(Error::new(ErrorCode::RandomnessFailed, "the fill_random callback failed"));
        }
        Ok(())
    }
}

/// A paying client. Free it with [`paywire_payer_free`]. Use it from one thread at a time.
pub struct PaywirePayer(Payer);

/// Makes a payer that signs with `signer` under the spend policy `policy` (JSON, the members of the core's
/// `Policy::from_value`: `maxPerPayment`, `budget`, `networks`, `maxAmount`, `allowAnyAsset`…; NULL means
/// the default: known stablecoins, at most $1 per payment).
///
/// # Safety
/// `policy` is NULL or points to `policy_len` bytes; `signer` and `env` point to valid structs whose
/// callbacks stay valid while the payer lives; `out` points to writable storage for a pointer; `error` is
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn paywire_payer_new(
    policy: *const c_char,
    policy_len: usize,
    signer: *const PaywireSigner,
    env: *const PaywireEnvironment,
    out: *mut *mut PaywirePayer,
    error: *mut PaywireError,
) -> PaywireStatus {
    let made = (|| {
        let policy = match unsafe { args::optional_text(policy, policy_len) }? {
            Some(text) => Policy::from_json(text)?,
            None => Policy::default(),
        };
        let signer = *unsafe { args::object(signer, "`signer` is NULL") }?;
        let env = *unsafe { args::object(env, "`env` is NULL") }?;
        if signer.sign_digest.is_none() || env.now.is_none() || env.fill_random.is_none() || out.is_null() {
            return Err(crate::error::argument("sign_digest, now, fill_random and `out` must not be NULL"));
        }
        let callbacks = Arc::new(Callbacks { signer, env });
        Ok(Payer::new(callbacks.clone(), policy, callbacks.clone(), callbacks))
    })();
    match made {
        Ok(payer) => {
            // SAFETY: checked non-NULL above.
            unsafe { *out = Box::into_raw(Box::new(PaywirePayer(payer))) };
            PaywireStatus::Ok
        }
        Err(e) => fail(error, &e),
    }
}

/// Frees a payer. NULL is ignored.
///
/// # Safety
/// `payer` is NULL or a payer from [`paywire_payer_new`], freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn paywire_payer_free(payer: *mut PaywirePayer) {
    if !payer.is_null() {
        drop(unsafe { Box::from_raw(payer) });
    }
}

/// A signed payment: the header to retry the request with. Free it with [`paywire_payment_free`].
pub struct PaywirePayment {
    name: &'static core::ffi::CStr,
    /// The header value with a NUL after it.
    value: Vec<u8>,
    amount: Vec<u8>,
}

/// Pays `bill`: chooses an offer under the payer's policy, signs it through the signer and counts it
/// against the budget. `purchase` (NULL: none) names the purchase, e.g. "GET https://host/path": paying
/// the same purchase again before the authorization expires returns the same payment, so a retry after a
/// lost response never pays twice. On success `*out` holds the payment.
///
/// # Safety
/// `payer` and `bill` are live objects of this library; `purchase` is NULL or points to `purchase_len`
/// bytes; `out` points to writable storage for a pointer; `error` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn paywire_pay(
    payer: *const PaywirePayer,
    bill: *const PaywireBill,
    purchase: *const c_char,
    purchase_len: usize,
    out: *mut *mut PaywirePayment,
    error: *mut PaywireError,
) -> PaywireStatus {
    let paid = (|| {
        let payer = unsafe { args::object(payer, "`payer` is NULL") }?;
        let bill = unsafe { args::object(bill, "`bill` is NULL") }?;
        let purchase = unsafe { args::optional_text(purchase, purchase_len) }?;
        if out.is_null() {
            return Err(crate::error::argument("`out` is NULL"));
        }
        let header = payer.0.pay(&bill.0, purchase)?;
        let name = if header.name == "X-PAYMENT" { c"X-PAYMENT" } else { c"PAYMENT-SIGNATURE" };
        let mut value = header.value.into_bytes();
        value.push(0);
        let mut amount = alloc::string::ToString::to_string(&header.amount).into_bytes();
        amount.push(0);
        Ok(PaywirePayment { name, value, amount })
    })();
    match paid {
        Ok(payment) => {
            // SAFETY: checked non-NULL above.
            unsafe { *out = Box::into_raw(Box::new(payment)) };
            PaywireStatus::Ok
        }
        Err(e) => fail(error, &e),
    }
}

/// The header to send the payment in: `PAYMENT-SIGNATURE` (x402 v2) or `X-PAYMENT` (v1). NUL-terminated,
/// static.
///
/// # Safety
/// `payment` is a live payment of this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn paywire_payment_header_name(payment: *const PaywirePayment) -> *const c_char {
    unsafe { payment.as_ref() }.map_or(core::ptr::null(), |p| p.name.as_ptr())
}

/// The header value, NUL-terminated; its length without the NUL goes to `len` when not NULL. Valid until
/// the payment is freed.
///
/// # Safety
/// `payment` is a live payment of this library; `len` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn paywire_payment_value(payment: *const PaywirePayment, len: *mut usize) -> *const c_char {
    text(payment, len, |p| &p.value)
}

/// The amount authorized, in the token's atomic units, as a NUL-terminated decimal string; its length
/// goes to `len` when not NULL. Valid until the payment is freed.
///
/// # Safety
/// As for [`paywire_payment_value`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn paywire_payment_amount(payment: *const PaywirePayment, len: *mut usize) -> *const c_char {
    text(payment, len, |p| &p.amount)
}

fn text(payment: *const PaywirePayment, len: *mut usize, field: fn(&PaywirePayment) -> &Vec<u8>) -> *const c_char {
    // SAFETY: the caller passes a live payment or NULL.
    let Some(p) = (unsafe { payment.as_ref() }) else { return core::ptr::null() };
    let bytes = field(p);
    // SAFETY: NULL or writable (the caller's contract).
    if let Some(len) = unsafe { len.as_mut() } {
        *len = bytes.len() - 1;
    }
    bytes.as_ptr().cast()
}

/// Frees a payment. NULL is ignored.
///
/// # Safety
/// `payment` is NULL or a payment from [`paywire_pay`], freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn paywire_payment_free(payment: *mut PaywirePayment) {
    if !payment.is_null() {
        drop(unsafe { Box::from_raw(payment) });
    }
}
