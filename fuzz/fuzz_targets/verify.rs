//! Offline verification of arbitrary payments against a fixed offer: never panics, never accepts other terms.
#![no_main]
use paywire_core::server::{PriceTag, build_payment_required, check_payment};
use paywire_core::*;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let bill = build_payment_required(
        2,
        ResourceInfo::new("https://fuzz.test/r"),
        &[PriceTag::new("$0.01", "eip155:84532", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C")],
    )
    .expect("a fixed bill");
    let text = String::from_utf8_lossy(data);
    if let Ok(payment) = PaymentPayload::from_json(&text) {
        for now in [0, 1_750_000_000, u64::MAX] {
            if let Ok(accepted) = check_payment(&bill, &payment, now) {
                assert_eq!(accepted.verified.amount, U256::from(10_000));
            }
        }
    }
});
