//! Property tests: every decoder survives any input (no panic, a coded error or a value), and what paywire
//! encodes it decodes back unchanged.

use std::sync::Arc;

use base64::Engine as _;
use paywire_core::client::{Payer, Policy};
use paywire_core::credentials::access::AccessPolicy;
use paywire_core::credentials::{SignedOffer, SignedReceipt, jws};
use paywire_core::decode::decode_any;
use paywire_core::exact::{Eip2612Permit, ExactPayload};
use paywire_core::money::{Usd, parse_price};
use paywire_core::server::{PriceTag, build_payment_required, check_payment};
use paywire_core::verify::verify_payment;
use paywire_core::*;
use proptest::prelude::*;

const PAY_TO: &str = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";

fn std_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Feeds one input to every decoder; each must return, never panic.
fn every_decoder(text: &str) {
    let _ = codec::decode_header_bytes(text);
    let _ = codec::decode_header_json(text);
    let _ = PaymentRequired::from_json(text);
    let _ = PaymentRequired::from_header(text);
    let _ = PaymentRequired::from_body(text.as_bytes());
    let _ = PaymentPayload::from_json(text);
    let _ = PaymentPayload::from_header(text);
    let _ = PaymentRequirements::from_json(text);
    let _ = SettleResponse::from_json(text);
    let _ = SettleResponse::from_header(text);
    let _ = VerifyResponse::from_json(text);
    let _ = SupportedResponse::from_json(text);
    let _ = FacilitatorRequest::from_json(text);
    let _ = decode_any(text);
    let _ = parse_price(text, 6);
    let _ = Usd::parse(text);
    let _ = network::chain_id(text);
    let _ = LocalSigner::from_hex(text);
    let _ = jws::verify(text, &[Address::ZERO]);
    let _ = jws::did_key_address(text);
    let _ = SignedReceipt::from_header(text);
    let _ = SignedOffer::from_json(text);
    let _ = SignedReceipt::from_json(text);
    let _ = Policy::from_json(text);
    let _ = paywire_core::payment_id::validate(text);
    let _ = Signature::parse_strict(text.as_bytes());
    let _ = Signature::normalize(text.as_bytes());
    // The readers that look headers up by name, with the input as each header's value.
    for name in [
        "PAYMENT-REQUIRED",
        "payment-signature",
        "X-PAYMENT",
        "Payment-Response",
        "x-payment-response",
        "X-PAYWIRE-RECEIPT",
    ] {
        let headers = vec![(name.to_string(), text.to_string())];
        let _ = PaymentRequired::from_response(&headers, text.as_bytes());
        let _ = paywire_core::server::read_payment(&headers);
        let _ = paywire_core::client::read_settlement(&headers);
        let _ = AccessPolicy::new(vec![Address::ZERO], 60).check_request(&headers, "https://x.test/a", 0);
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = SignedOffer::from_value(&v);
        let _ = SignedReceipt::from_value(&v);
        let _ = Policy::from_value(&v);
        if let Some(o) = v.as_object() {
            let _ = ExactPayload::parse(o);
            let _ = Eip2612Permit::from_extension_info(o);
            let _ = PaymentRequirements::from_object(o.clone(), 1);
            let _ = PaymentRequirements::from_object(o.clone(), 2);
        }
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        "[a-zA-Z0-9 _:.$-]{0,12}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec(("[a-zA-Z]{1,10}", inner), 0..5)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A valid bill and a valid payment for it, built once.
fn paid() -> (PaymentRequired, PaymentPayload) {
    let bill = build_payment_required(
        2,
        ResourceInfo::new("https://x.test/a"),
        &[PriceTag::new("$0.01", "eip155:84532", PAY_TO)],
    )
    .unwrap();
    let payer = Payer::new(
        Arc::new(LocalSigner::from_hex("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d").unwrap()),
        Policy::default(),
        Arc::new(FixedClock(1_750_000_000)),
        Arc::new(FixedRandomness::new(vec![3, 1, 4, 1, 5])),
    );
    let header = payer.pay(&bill, None).unwrap();
    (bill, header.payload)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn decoders_never_panic_on_text(text in "\\PC{0,300}") {
        every_decoder(&text);
    }

    #[test]
    fn decoders_never_panic_on_base64_of_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        every_decoder(&std_b64(&bytes));
        every_decoder(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn decoders_never_panic_on_json(v in json_value()) {
        let text = v.to_string();
        every_decoder(&text);
        every_decoder(&std_b64(text.as_bytes()));
    }

    #[test]
    fn base64_round_trips(bytes in prop::collection::vec(any::<u8>(), 1..2000)) {
        let encoded = std_b64(&bytes);
        prop_assert_eq!(codec::decode_header_bytes(&encoded).unwrap(), bytes);
    }

    #[test]
    fn mutated_payments_never_panic_and_never_verify_wrongly(pos in 0usize..2000, byte in any::<u8>()) {
        let (bill, payment) = paid();
        let mut text = payment.raw_json().as_bytes().to_vec();
        let i = pos % text.len();
        let changed = text[i] != byte;
        text[i] = byte;
        let text = String::from_utf8_lossy(&text).into_owned();
        every_decoder(&text);
        if let Ok(p) = PaymentPayload::from_json(&text) {
            let verdict = check_payment(&bill, &p, 1_750_000_000);
            // Changing a byte of a signed member must never leave a valid payment for someone else's terms.
            if changed && verdict.is_ok() {
                let v = verdict.unwrap().verified;
                prop_assert_eq!(v.amount, U256::from(10_000));
                prop_assert_eq!(v.pay_to.to_checksum(None), PAY_TO);
            }
        }
    }

    #[test]
    fn bills_round_trip(
        amount in prop::array::uniform32(any::<u8>()).prop_map(U256::from_be_bytes),
        timeout in 1u64..100_000,
        chain in prop::sample::select(vec![8453u64, 84532, 1, 137, 42161, 43114]),
        extra in prop::collection::btree_map("[a-z]{1,8}", "[ -~]{0,16}", 0..4),
        url in "https://[a-z]{1,12}\\.test/[a-zA-Z0-9/_-]{0,30}",
    ) {
        let mut extra_obj = paywire_core::wire::Object::new();
        for (k, v) in extra { extra_obj.insert(k, serde_json::Value::String(v)); }
        let req = PaymentRequirements::new_v2("exact", &format!("eip155:{chain}"), amount,
            "0x036CbD53842c5426634e7929541eC2318f3dCF7e", PAY_TO, timeout, Some(extra_obj)).unwrap();
        let bill = PaymentRequired { x402_version: 2, error: None, resource: Some(ResourceInfo::new(url)), accepts: vec![req],
            extensions: None, other: Default::default() };
        let back = PaymentRequired::from_header(&bill.to_header()).unwrap();
        prop_assert_eq!(back.to_json(), bill.to_json());
        prop_assert_eq!(back.accepts[0].amount(), amount);
    }

    #[test]
    fn prices_convert_exactly(int in 0u64..1_000_000_000, frac in "[0-9]{0,6}", decimals in 6u8..=18) {
        let text = if frac.is_empty() { format!("${int}") } else { format!("${int}.{frac}") };
        let scale = U256::from(10u8).pow(U256::from(decimals));
        let frac_value = if frac.is_empty() { U256::ZERO } else {
            U256::from_str_radix(&frac, 10).unwrap() * U256::from(10u8).pow(U256::from(decimals as usize - frac.len()))
        };
        let want = U256::from(int) * scale + frac_value;
        match parse_price(&text, decimals) {
            Ok(v) => prop_assert_eq!(v, want),
            Err(e) => {
                prop_assert!(want.is_zero());
                prop_assert_eq!(e.code(), ErrorCode::InvalidPrice);
            }
        }
    }

    #[test]
    fn too_precise_prices_are_refused(digits in "[0-9]{7,12}") {
        prop_assume!(digits.trim_end_matches('0').len() > 6);
        prop_assert_eq!(parse_price(&format!("0.{digits}"), 6).unwrap_err().code(), ErrorCode::PriceTooPrecise);
    }

    #[test]
    fn random_signatures_never_verify(sig in prop::collection::vec(any::<u8>(), 0..140)) {
        let (bill, payment) = paid();
        let mut v = payment.to_value();
        v["payload"]["signature"] = serde_json::Value::String(paywire_core::wire::hex_lower(&sig));
        let p = PaymentPayload::from_json(&v.to_string()).unwrap();
        let _ = Signature::normalize(&sig);
        let e = verify_payment(&p, &bill.accepts[0], 1_750_000_000).unwrap_err();
        let want = if sig.len() > 65 { ErrorCode::OnchainVerificationRequired } else { ErrorCode::InvalidSignature };
        prop_assert_eq!(e.code(), want);
        let _ = paywire_core::payment_id::of_payment(&p);
    }
}
