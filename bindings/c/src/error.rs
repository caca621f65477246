//! What every call returns: a status (the core's error category) and, on failure, the error's stable code
//! and a message a person can act on.

use core::ffi::c_char;

use paywire_core::error::Category;
use paywire_core::{Error, ErrorCode};

/// The outcome of a call. `PAYWIRE_STATUS_OK` is 0; the others are the core's error categories.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaywireStatus {
    /// Success.
    Ok = 0,
    /// A message could not be read (undecodable header, bad JSON, wrong shape): HTTP 400.
    MalformedInput = 1,
    /// A well-formed payment is not acceptable: HTTP 402.
    Refused = 2,
    /// The caller's configuration is wrong (policy, arguments).
    Configuration = 3,
    /// A local failure on the paying side (signer, randomness, budget, no acceptable offer).
    Local = 4,
    /// Reserved for failures of a facilitator (never returned by the offline calls of this API).
    Upstream = 5,
}

/// Bytes in [`PaywireError::code`], NUL included.
pub const PAYWIRE_ERROR_CODE_LEN: usize = 48;
/// Bytes in [`PaywireError::message`], NUL included. Longer messages are cut at a character boundary.
pub const PAYWIRE_ERROR_MESSAGE_LEN: usize = 200;

/// Details of a failure, written by any call given a non-NULL pointer to one.
#[repr(C)]
pub struct PaywireError {
    /// The stable code: x402's reason string where one exists (`invalid_exact_evm_payload_signature`…),
    /// else paywire's (`budget_exceeded`…). NUL-terminated.
    pub code: [c_char; PAYWIRE_ERROR_CODE_LEN],
    /// What was wrong and what to do. NUL-terminated.
    pub message: [c_char; PAYWIRE_ERROR_MESSAGE_LEN],
}

/// The status for an error, after writing it to `out` (when not NULL).
pub(crate) fn fail(out: *mut PaywireError, error: &Error) -> PaywireStatus {
    // SAFETY: the caller passes NULL or a pointer to a writable PaywireError (the header's contract).
    if let Some(out) = unsafe { out.as_mut() } {
        copy(&mut out.code, error.code().as_str());
        copy(&mut out.message, error.message());
    }
    match error.category() {
        Category::MalformedInput => PaywireStatus::MalformedInput,
        Category::Refused => PaywireStatus::Refused,
        Category::Configuration => PaywireStatus::Configuration,
        Category::Local => PaywireStatus::Local,
        Category::Upstream => PaywireStatus::Upstream,
    }
}

/// An argument error (NULL pointer, text that is not UTF-8).
pub(crate) fn argument(message: &str) -> Error {
    Error::new(ErrorCode::InvalidArgument, message)
}

/// Copies `text` into `buf`, cut at a character boundary, NUL-terminated.
fn copy(buf: &mut [c_char], text: &str) {
    let mut n = text.len().min(buf.len() - 1);
    while !text.is_char_boundary(n) {
        n -= 1;
    }
    for (dst, src) in buf.iter_mut().zip(&text.as_bytes()[..n]) {
        *dst = *src as c_char;
    }
    buf[n] = 0;
}

/// The name of a status: `ok`, `malformed_input`, `refused`, `configuration`, `local`, `upstream`.
#[unsafe(no_mangle)]
pub extern "C" fn paywire_status_name(status: PaywireStatus) -> *const c_char {
    let name: &'static core::ffi::CStr = match status {
        PaywireStatus::Ok => c"ok",
        PaywireStatus::MalformedInput => c"malformed_input",
        PaywireStatus::Refused => c"refused",
        PaywireStatus::Configuration => c"configuration",
        PaywireStatus::Local => c"local",
        PaywireStatus::Upstream => c"upstream",
    };
    name.as_ptr()
}
