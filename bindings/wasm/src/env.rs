//! The clock and random source of a JS host, for the core.

use paywire_core::{Clock, Error, ErrorCode, Randomness};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `globalThis.crypto.getRandomValues`: browsers, Deno, Node 19+, Cloudflare Workers.
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    fn get_random_values(buf: &mut [u8]) -> Result<JsValue, JsValue>;
}

/// `Date.now()`, or a time the glue fixed (`setNow`).
#[derive(Default)]
pub struct JsClock(core::sync::atomic::AtomicU64);

/// The value of [`JsClock`] that reads `Date.now()`.
const HOST_TIME: u64 = u64::MAX;

impl JsClock {
    pub fn new(now: Option<u64>) -> Self {
        JsClock(core::sync::atomic::AtomicU64::new(now.unwrap_or(HOST_TIME)))
    }

    pub fn set(&self, now: Option<u64>) {
        self.0.store(now.unwrap_or(HOST_TIME), core::sync::atomic::Ordering::Relaxed);
    }
}

impl Clock for JsClock {
    fn now(&self) -> u64 {
        match self.0.load(core::sync::atomic::Ordering::Relaxed) {
            HOST_TIME => (js_sys::Date::now() / 1000.0) as u64,
            t => t,
        }
    }
}

/// `crypto.getRandomValues`, the host's CSPRNG.
pub struct JsRandomness;

impl Randomness for JsRandomness {
    fn fill(&self, buf: &mut [u8]) -> paywire_core::Result<()> {
        // getRandomValues fills at most 65536 bytes per call.
        for chunk in buf.chunks_mut(65536) {
            get_random_values(chunk).map_err(|_| {
                Error::new(ErrorCode::RandomnessFailed, "crypto.getRandomValues is missing or failed in this runtime")
            })?;
        }
        Ok(())
    }
}
