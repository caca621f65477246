//! The CLI's decoder: any header value or JSON body.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = paywire_core::decode::decode_any(&String::from_utf8_lossy(data));
});
