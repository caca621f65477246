//! Signed offers, receipts, JWS tokens, did:key ids, and receipts presented as access credentials.
#![no_main]
use paywire_core::Address;
use paywire_core::credentials::{SignedOffer, SignedReceipt, access::AccessPolicy, jws};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let trusted = [Address::repeat_byte(1)];
    let _ = jws::verify(&text, &trusted);
    let _ = jws::did_key_address(&text);
    if let Ok(r) = SignedReceipt::from_header(&text) {
        let _ = AccessPolicy::new(trusted.to_vec(), 60).check(&r, "https://x", 0);
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        if let Ok(o) = SignedOffer::from_value(&v) {
            let _ = o.verify(&trusted, 0);
        }
        if let Ok(r) = SignedReceipt::from_value(&v) {
            let _ = r.verify(&trusted);
        }
        let _ = paywire_core::client::Policy::from_value(&v);
    }
});
