//! paywire's WebAssembly binding: the core's paying client and payment gate for browsers and edge runtimes, with the names
//! and shapes of the Node binding (`bindings/node`), so the npm package's glue (`node/lib/`) runs on either.
//! No protocol logic lives here.
//!
//! The core is built without std: the time comes from `Date.now()` and randomness from
//! `crypto.getRandomValues`, both handed to the core as its `Clock` and `Randomness`.

mod env;
mod errors;
mod exchange;
mod facilitator;
mod fetch;
mod js;
mod messages;
mod payer;
mod server;

use wasm_bindgen::prelude::*;

/// The core's version.
#[wasm_bindgen(js_name = "VERSION")]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").into()
}

/// Decodes a base64 header value into its JSON.
#[wasm_bindgen(js_name = "decodeHeaderJson")]
pub fn decode_header_json(value: String) -> Result<JsValue, JsValue> {
    use errors::OrThrow;
    paywire_core::codec::decode_header_json(&value).or_throw().map(|v| js::to_js(&v))
}
