//! The server's side: a payment checked offline against the bill the device issued.

use core::ffi::c_char;

use paywire_core::PaymentPayload;
use paywire_core::server::check_payment;

use crate::args;
use crate::bill::PaywireBill;
use crate::error::{PaywireError, PaywireStatus, fail};

/// Checks a payment offline against `bill` at time `now` (Unix seconds): it matches one of the bill's
/// offers, its signature recovers to its payer, and amount, payee, token and time window are right. On
/// success the payer's 20-byte address goes to `payer` (when not NULL). A valid payment must still be
/// settled by a facilitator before the device serves; this check is what the device can do alone.
///
/// # Safety
/// `bill` is a live bill of this library; `payment` points to `payment_len` bytes (the `PAYMENT-SIGNATURE`
/// or `X-PAYMENT` header value); `payer` is NULL or points to 20 writable bytes; `error` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn paywire_check_payment(
    bill: *const PaywireBill,
    payment: *const c_char,
    payment_len: usize,
    now: u64,
    payer: *mut u8,
    error: *mut PaywireError,
) -> PaywireStatus {
    let checked = (|| {
        let bill = unsafe { args::object(bill, "`bill` is NULL") }?;
        let value = unsafe { args::text(payment, payment_len, "`payment` is NULL") }?;
        let payment = PaymentPayload::from_header(value)?;
        check_payment(&bill.0, &payment, now)
    })();
    match checked {
        Ok(accepted) => {
            if !payer.is_null() {
                // SAFETY: 20 writable bytes (the caller's contract).
                unsafe { core::ptr::copy_nonoverlapping(accepted.verified.payer.as_ptr(), payer, 20) };
            }
            PaywireStatus::Ok
        }
        Err(e) => fail(error, &e),
    }
}
