//! paywire's errors across the wasm boundary: thrown as a JS `Error` whose message is the marked JSON the
//! glue (`lib/errors.js`) turns into a `PaywireError`, exactly as the Node binding does.

use paywire_core::{Error, ErrorCode};
use wasm_bindgen::prelude::*;

/// Prefix that marks an error message as a serialized paywire error.
const MARK: &str = "\u{1}paywire:";

/// An error's fields: `{code, message, category, payer, refusals}`.
pub fn error_value(error: &Error) -> serde_json::Value {
    error.to_fields()
}

/// The JS error that carries `error`.
pub fn to_js(error: Error) -> JsValue {
    js_sys::Error::new(&format!("{MARK}{}", error_value(&error))).into()
}

/// An `invalid_argument` error for a bad argument passed by JS code.
pub fn bad_argument(message: impl Into<String>) -> JsValue {
    to_js(Error::new(ErrorCode::InvalidArgument, message.into()))
}

/// `?`-friendly conversion of core results.
pub trait OrThrow<T> {
    /// The value, or the error as a marked JS error.
    fn or_throw(self) -> Result<T, JsValue>;
}

impl<T> OrThrow<T> for paywire_core::Result<T> {
    fn or_throw(self) -> Result<T, JsValue> {
        self.map_err(to_js)
    }
}

/// The core's category of an error code (throws for a code paywire does not know).
#[wasm_bindgen(js_name = "errorCategory")]
pub fn error_category(code: String) -> Result<String, JsValue> {
    Error::from_code_str(&code, "").map(|e| e.category().as_str().to_string()).or_throw()
}

/// The HTTP status for an error code (throws for a code paywire does not know).
#[wasm_bindgen(js_name = "statusFor")]
pub fn status_for(code: String) -> Result<u16, JsValue> {
    Error::from_code_str(&code, "").map(|e| e.http_status()).or_throw()
}
