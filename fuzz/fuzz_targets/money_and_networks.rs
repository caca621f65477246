//! Prices, USD amounts, network identifiers, addresses and private keys.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for decimals in [0, 6, 18, 77, 255] {
        let _ = paywire_core::money::parse_price(&text, decimals);
    }
    if let Ok(usd) = paywire_core::money::Usd::parse(&text) {
        let _ = usd.to_atomic(6);
        let _ = usd.to_string();
    }
    let _ = paywire_core::network::chain_id(&text);
    let _ = paywire_core::wire::parse_address(&text);
    let _ = paywire_core::wire::parse_decimal_u256(&text);
    let _ = paywire_core::LocalSigner::from_hex(&text);
});
