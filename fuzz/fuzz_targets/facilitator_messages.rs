//! Facilitator answers and request bodies, and settlement receipts.
#![no_main]
use paywire_core::*;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = VerifyResponse::from_json(&text);
    let _ = SupportedResponse::from_json(&text);
    let _ = SettleResponse::from_header(&text);
    if let Ok(s) = SettleResponse::from_json(&text) {
        let _ = paywire_core::credentials::receipt_in(&s);
    }
    if let Ok(r) = FacilitatorRequest::from_json(&text) {
        let json = r.to_json();
        if json.len() <= paywire_core::codec::MAX_BODY_BYTES {
            assert_eq!(FacilitatorRequest::from_json(&json).expect("a serialised request parses"), r);
        }
    }
});
