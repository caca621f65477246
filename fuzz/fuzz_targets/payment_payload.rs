//! Payments: JSON and header values, and the exact-scheme and batch-settlement payloads inside.
#![no_main]
use paywire_core::PaymentPayload;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = PaymentPayload::from_header(&text);
    if let Ok(p) = PaymentPayload::from_json(&text) {
        let _ = paywire_core::exact::ExactPayload::parse(p.payload());
        if let Ok(batch) = paywire_core::batch::BatchPayload::parse(p.payload()) {
            // What parses re-encodes to the same payload, and a voucher is checked without panicking.
            assert_eq!(paywire_core::batch::BatchPayload::parse(&batch.to_object()).expect("re-encoded"), batch);
            if let Some((channel, voucher)) = batch.channel_and_voucher() {
                let _ = paywire_core::batch::check_voucher(channel, voucher, 84532);
            }
        }
        // A payment's JSON may be up to the body cap; as a header it round-trips while within the header cap.
        let header = p.to_header();
        if header.len() <= paywire_core::codec::MAX_HEADER_BYTES {
            assert_eq!(PaymentPayload::from_header(&header).expect("re-encoded payment parses"), p);
        }
        let _ = paywire_core::payment_id::of_payment(&p);
    }
});
