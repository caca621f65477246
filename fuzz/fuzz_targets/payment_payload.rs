//! Payments: JSON and header values, and the exact-scheme payload inside.
#![no_main]
use paywire_core::PaymentPayload;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = PaymentPayload::from_header(&text);
    if let Ok(p) = PaymentPayload::from_json(&text) {
        let _ = paywire_core::exact::ExactPayload::parse(p.payload());
        assert_eq!(PaymentPayload::from_header(&p.to_header()).expect("re-encoded payment parses"), p);
        let _ = paywire_core::payment_id::of_payment(&p);
    }
});
