//! Bills: JSON text, header values and v1 bodies; what parses must re-serialise and parse to the same bill.
#![no_main]
use paywire_core::PaymentRequired;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = PaymentRequired::from_body(data);
    let text = String::from_utf8_lossy(data);
    let _ = PaymentRequired::from_header(&text);
    if let Ok(bill) = PaymentRequired::from_json(&text) {
        let again = PaymentRequired::from_json(&bill.to_json()).expect("a serialised bill parses");
        assert_eq!(again, bill);
    }
});
