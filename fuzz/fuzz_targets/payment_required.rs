//! Bills: JSON text, header values and v1 bodies; what parses must re-serialise and parse to the same bill.
#![no_main]
use paywire_core::PaymentRequired;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = PaymentRequired::from_body(data);
    let text = String::from_utf8_lossy(data);
    let _ = PaymentRequired::from_header(&text);
    if let Ok(bill) = PaymentRequired::from_json(&text) {
        // Re-serialised numbers can be longer than written (1E5 is 100000.0): compare within the size cap.
        let json = bill.to_json();
        if json.len() <= paywire_core::codec::MAX_BODY_BYTES {
            assert_eq!(PaymentRequired::from_json(&json).expect("a serialised bill parses"), bill);
        }
    }
});
