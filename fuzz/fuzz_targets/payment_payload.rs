//! Payments: JSON and header values, and the exact-scheme payload inside.
#![no_main]
use paywire_core::PaymentPayload;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = PaymentPayload::from_header(&text);
    if let Ok(p) = PaymentPayload::from_json(&text) {
        let _ = paywire_core::exact::ExactPayload::parse(p.payload());
        // A payment's JSON may be up to the body cap; as a header it round-trips while within the header cap.
        let header = p.to_header();
        if header.len() <= paywire_core::codec::MAX_HEADER_BYTES {
            assert_eq!(PaymentPayload::from_header(&header).expect("re-encoded payment parses"), p);
        }
        let _ = paywire_core::payment_id::of_payment(&p);
    }
});
