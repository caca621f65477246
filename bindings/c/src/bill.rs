//! A bill: what a server answered with HTTP 402.

use alloc::boxed::Box;
use core::ffi::c_char;

use paywire_core::PaymentRequired;

use crate::args;
use crate::error::{PaywireError, PaywireStatus, fail};

/// A parsed bill. Free it with [`paywire_bill_free`].
pub struct PaywireBill(pub(crate) PaymentRequired);

/// Reads a bill from a 402 response: the `PAYMENT-REQUIRED` header value (x402 v2; NULL if the response
/// has none) and the body (x402 v1 carries the bill there; NULL with length 0 if empty). On success
/// `*out` holds a new bill.
///
/// # Safety
/// `header` is NULL or points to `header_len` bytes; `body` is NULL or points to `body_len` bytes; `out`
/// points to writable storage for a pointer; `error` is NULL or points to a writable `PaywireError`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn paywire_bill_parse(
    header: *const c_char,
    header_len: usize,
    body: *const u8,
    body_len: usize,
    out: *mut *mut PaywireBill,
    error: *mut PaywireError,
) -> PaywireStatus {
    let parsed = (|| {
        let header = unsafe { args::optional_text(header, header_len) }?;
        let body: &[u8] = if body.is_null() { &[] } else { unsafe { core::slice::from_raw_parts(body, body_len) } };
        if out.is_null() {
            return Err(crate::error::argument("`out` is NULL"));
        }
        match header {
            Some(value) => PaymentRequired::from_response(&[("payment-required", value)], body),
            None => PaymentRequired::from_response(&[] as &[(&str, &str)], body),
        }
    })();
    match parsed {
        Ok(bill) => {
            // SAFETY: checked non-NULL above; the caller owns the storage.
            unsafe { *out = Box::into_raw(Box::new(PaywireBill(bill))) };
            PaywireStatus::Ok
        }
        Err(e) => fail(error, &e),
    }
}

/// How many offers the bill makes (its `accepts`); 0 for NULL.
///
/// # Safety
/// `bill` is NULL or a bill from [`paywire_bill_parse`] not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn paywire_bill_offer_count(bill: *const PaywireBill) -> usize {
    unsafe { bill.as_ref() }.map_or(0, |b| b.0.accepts.len())
}

/// Frees a bill. NULL is ignored.
///
/// # Safety
/// `bill` is NULL or a bill from [`paywire_bill_parse`], freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn paywire_bill_free(bill: *mut PaywireBill) {
    if !bill.is_null() {
        drop(unsafe { Box::from_raw(bill) });
    }
}
