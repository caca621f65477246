//! A private key held by the firmware itself, for devices without a secure element: its address, and a
//! digest signer that a `PaywireSigner` callback can call.

use paywire_core::{B256, Error, LocalSigner, Signer};

use crate::error::{PaywireError, PaywireStatus, fail};

fn key(secret: *const u8) -> Result<LocalSigner, Error> {
    if secret.is_null() {
        return Err(crate::error::argument("the private key pointer is NULL"));
    }
    // SAFETY: the caller passes 32 readable bytes (the header's contract).
    let bytes: &[u8; 32] = unsafe { &*secret.cast::<[u8; 32]>() };
    LocalSigner::from_bytes(bytes)
}

/// Writes the 20-byte address of the 32-byte private key `secret` to `address`.
///
/// # Safety
/// `secret` points to 32 readable bytes, `address` to 20 writable bytes; `error` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn paywire_key_address(
    secret: *const u8,
    address: *mut u8,
    error: *mut PaywireError,
) -> PaywireStatus {
    match key(secret) {
        Ok(k) if !address.is_null() => {
            unsafe { core::ptr::copy_nonoverlapping(k.address().as_ptr(), address, 20) };
            PaywireStatus::Ok
        }
        Ok(_) => fail(error, &crate::error::argument("`address` is NULL")),
        Err(e) => fail(error, &e),
    }
}

/// Signs a 32-byte digest with the private key `secret` (RFC 6979, low s) and writes `r || s || v` (65
/// bytes, v = 27 or 28) to `signature`. The digest is signed as is, not as an EIP-191 message.
///
/// # Safety
/// `secret` and `digest` point to 32 readable bytes, `signature` to 65 writable bytes; `error` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn paywire_key_sign_digest(
    secret: *const u8,
    digest: *const u8,
    signature: *mut u8,
    error: *mut PaywireError,
) -> PaywireStatus {
    let signed = key(secret).and_then(|k| {
        if digest.is_null() || signature.is_null() {
            return Err(crate::error::argument("`digest` or `signature` is NULL"));
        }
        // SAFETY: 32 readable bytes (the header's contract).
        let digest = B256::from(unsafe { *digest.cast::<[u8; 32]>() });
        k.sign_digest(&digest)
    });
    match signed {
        Ok(sig) => {
            unsafe { core::ptr::copy_nonoverlapping(sig.as_bytes().as_ptr(), signature, 65) };
            PaywireStatus::Ok
        }
        Err(e) => fail(error, &e),
    }
}
