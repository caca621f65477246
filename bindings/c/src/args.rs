//! Reading the caller's pointers: NULL and non-UTF-8 text are errors, never undefined behaviour here.

use core::ffi::c_char;

use paywire_core::Result;

use crate::error::argument;

/// `len` bytes of UTF-8 text at `ptr`, which must not be NULL.
///
/// # Safety
/// `ptr` must be NULL or point to `len` readable bytes that stay unchanged during the call.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, len: usize, what: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(argument(what));
    }
    let bytes = unsafe { core::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    core::str::from_utf8(bytes).map_err(|_| argument("text arguments must be UTF-8"))
}

/// Like [`text`], but NULL means absent.
///
/// # Safety
/// As for [`text`].
pub(crate) unsafe fn optional_text<'a>(ptr: *const c_char, len: usize) -> Result<Option<&'a str>> {
    if ptr.is_null() { Ok(None) } else { unsafe { text(ptr, len, "") }.map(Some) }
}

/// A reference from a pointer that must not be NULL.
///
/// # Safety
/// `ptr` must be NULL or valid for the call.
pub(crate) unsafe fn object<'a, T>(ptr: *const T, what: &str) -> Result<&'a T> {
    unsafe { ptr.as_ref() }.ok_or_else(|| argument(what))
}
