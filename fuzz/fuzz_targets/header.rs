//! Header codec: strict base64, size cap, JSON.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(bytes) = paywire_core::codec::decode_header_bytes(&text)
        && let Ok(json) = std::str::from_utf8(&bytes)
    {
        // Only canonical base64 decodes, so re-encoding gives the input back.
        assert_eq!(paywire_core::codec::encode_json_text(json), text.trim_matches([' ', '\t']));
    }
    let _ = paywire_core::codec::decode_header_json(&text);
});
