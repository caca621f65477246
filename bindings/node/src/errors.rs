//! paywire's errors across the napi boundary.
//!
//! napi-rs errors carry only a status and a string, so a core error travels as a marked JSON string that the
//! JS glue (`lib/errors.js`) turns into a `PaywireError` with `code`, `message`, `category`, `payer` and
//! `refusals`. Every native call goes through that glue, so users never see the marked string.

use napi::{Error, Status};

/// Prefix that marks an error message as a serialized paywire error.
pub const MARK: &str = "\u{1}paywire:";

/// An error's fields as a JS object: `{code, message, category, payer, refusals}` (the glue makes a
/// `PaywireError` of it).
pub fn error_value(error: &paywire_core::Error) -> serde_json::Value {
    error.to_fields()
}

/// The napi error that carries `error`.
pub fn to_napi(error: paywire_core::Error) -> Error {
    Error::new(Status::GenericFailure, format!("{MARK}{}", error_value(&error)))
}

/// An `invalid_argument` error for a bad argument passed by JS code.
pub fn bad_argument(message: impl Into<String>) -> Error {
    to_napi(paywire_core::Error::new(paywire_core::ErrorCode::InvalidArgument, message.into()))
}

/// `?`-friendly conversion of core results.
pub trait OrThrow<T> {
    /// The value, or the error as a marked napi error.
    fn or_throw(self) -> napi::Result<T>;
}

impl<T> OrThrow<T> for paywire_core::Result<T> {
    fn or_throw(self) -> napi::Result<T> {
        self.map_err(to_napi)
    }
}
