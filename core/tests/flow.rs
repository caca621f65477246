//! A server bills, a client pays, the server checks: the whole protocol in process, with every refusal.

use std::sync::Arc;

use paywire_core::client::{AllowedAsset, PayExtras, Payer, PayerOptions, Policy, Prepared};
use paywire_core::exact::ExactPayload;
use paywire_core::money::Usd;
use paywire_core::server::{Price, PriceTag, build_payment_required, check_payment, status_for};
use paywire_core::verify::{SignatureCheck, VerifyOptions, verify_payment, verify_payment_with};
use paywire_core::wire::Object;
use paywire_core::*;
use serde_json::json;

const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const PAY_TO: &str = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";
const NOW: u64 = 1_750_000_000;

fn payer(policy: Policy) -> Payer {
    Payer::new(
        Arc::new(LocalSigner::from_hex(KEY).unwrap()),
        policy,
        Arc::new(FixedClock(NOW)),
        Arc::new(FixedRandomness::new((1..=64).collect())),
    )
}

fn bill(version: u8, tags: &[PriceTag]) -> PaymentRequired {
    build_payment_required(version, ResourceInfo::new("https://api.example.com/data"), tags).unwrap()
}

fn usdc_tag(price: &str) -> PriceTag {
    PriceTag::new(price, "eip155:84532", PAY_TO)
}

/// Rebuilds a payment with its payload (or other parts) changed.
fn tampered(payment: &PaymentPayload, edit: impl FnOnce(&mut serde_json::Value)) -> PaymentPayload {
    let mut v = payment.to_value();
    edit(&mut v);
    PaymentPayload::from_json(&v.to_string()).unwrap()
}

#[test]
fn v2_payment_round_trip() {
    let b = bill(2, &[usdc_tag("$0.01")]);
    let p = payer(Policy::default());
    let header = p.pay(&b, None).unwrap();
    assert_eq!(header.name, "PAYMENT-SIGNATURE");
    assert_eq!(header.amount, U256::from(10_000));
    assert_eq!(header.valid_before, NOW + 300 + 300);
    let received = PaymentPayload::from_header(&header.value).unwrap();
    // `accepted` is the server's offer, byte for byte.
    assert_eq!(received.accepted().unwrap().raw_json(), b.accepts[0].raw_json());
    let accepted = check_payment(&b, &received, NOW).unwrap();
    assert_eq!(accepted.verified.payer, p.address());
    assert_eq!(accepted.verified.signature, SignatureCheck::Recovered);
    let body = accepted.facilitator_request().to_json();
    let parsed = FacilitatorRequest::from_json(&body).unwrap();
    assert_eq!(parsed.payment_payload.raw_json(), received.raw_json());
    assert_eq!(parsed.payment_requirements.raw_json(), b.accepts[0].raw_json());
}

#[test]
fn v1_payment_round_trip() {
    let b = bill(1, &[usdc_tag("0.05")]);
    let header = payer(Policy::default()).pay(&b, None).unwrap();
    assert_eq!(header.name, "X-PAYMENT");
    let received = PaymentPayload::from_header(&header.value).unwrap();
    assert_eq!(received.network(), "base-sepolia");
    let accepted = check_payment(&b, &received, NOW).unwrap();
    let ExactPayload::Eip3009 { authorization, .. } = ExactPayload::parse(received.payload()).unwrap() else {
        panic!()
    };
    assert_eq!(authorization.valid_after, U256::from(NOW - 600));
    assert_eq!(accepted.verified.amount, U256::from(50_000));
}

#[test]
fn every_refusal_has_its_reason() {
    let b = bill(2, &[usdc_tag("$0.01")]);
    let good = payer(Policy::default()).pay(&b, None).unwrap().payload;
    let req = &b.accepts[0];
    let code = |p: &PaymentPayload, now: u64| verify_payment(p, req, now).unwrap_err();

    // Expired and not yet valid.
    let e = code(&good, NOW + 600 - 5);
    assert_eq!(e.code().as_str(), "invalid_exact_evm_payload_authorization_valid_before");
    assert_eq!(e.payer(), Some("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"));
    let future = tampered(&good, |v| v["payload"]["authorization"]["validAfter"] = json!((NOW + 10).to_string()));
    assert_eq!(code(&future, NOW).code().as_str(), "invalid_exact_evm_payload_authorization_valid_after");
    // Wrong amount, wrong payee.
    let more = tampered(&good, |v| v["payload"]["authorization"]["value"] = json!("10001"));
    assert_eq!(code(&more, NOW).code().as_str(), "invalid_exact_evm_payload_authorization_value_mismatch");
    let elsewhere =
        tampered(&good, |v| v["payload"]["authorization"]["to"] = json!("0x0000000000000000000000000000000000000001"));
    assert_eq!(code(&elsewhere, NOW).code().as_str(), "invalid_exact_evm_payload_recipient_mismatch");
    // A different nonce: the signature no longer matches.
    let renonced =
        tampered(&good, |v| v["payload"]["authorization"]["nonce"] = json!(format!("0x{}", "11".repeat(32))));
    assert_eq!(code(&renonced, NOW).code().as_str(), "invalid_exact_evm_payload_signature");
    // Signature forms: high-s, bad v, short.
    let sig_hex = good.payload()["signature"].as_str().unwrap().to_string();
    let mut sig = alloy_primitives::hex::decode(&sig_hex).unwrap();
    sig[64] = 5;
    let bad_v = tampered(&good, |v| v["payload"]["signature"] = json!(alloy_primitives::hex::encode_prefixed(&sig)));
    assert!(code(&bad_v, NOW).message().contains("27 or 28"));
    let short = tampered(&good, |v| v["payload"]["signature"] = json!("0x1234"));
    assert_eq!(code(&short, NOW).code(), ErrorCode::InvalidSignature);
    // A smart-wallet-length signature needs the chain: refused offline unless the caller opts in.
    let long = tampered(&good, |v| v["payload"]["signature"] = json!(format!("0x{}", "ab".repeat(100))));
    let e = verify_payment(&long, req, NOW).unwrap_err();
    assert_eq!(e.code().as_str(), "onchain_verification_required");
    assert_eq!(e.payer(), Some("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"));
    let lenient = VerifyOptions { allow_onchain_signatures: true };
    let verdict = verify_payment_with(&long, req, NOW, &lenient).unwrap();
    assert!(!verdict.is_fully_verified());
    assert_eq!(verdict.to_verify_response().invalid_reason.as_deref(), Some("onchain_verification_required"));
    // With the option, a 65-byte signature that is not the payer's may be a contract wallet's: the chain decides.
    let verdict = verify_payment_with(&renonced, req, NOW, &lenient).unwrap();
    assert!(matches!(verdict.signature, SignatureCheck::RequiresOnchain { .. }));
    assert!(verify_payment_with(&good, req, NOW, &lenient).unwrap().is_fully_verified());

    // Wrong chain id (same payment checked against another network's offer).
    let other_chain = bill(2, &[PriceTag::new("$0.01", "eip155:8453", PAY_TO)]);
    let e = verify_payment(&good, &other_chain.accepts[0], NOW).unwrap_err();
    assert_eq!(e.code().as_str(), "invalid_exact_evm_network_mismatch");
    // Wrong EIP-712 domain name: the server's offer says "USD Coin", the client signed "USDC".
    let mut wrong_name: Object = req.extra().unwrap().clone();
    wrong_name.insert("name".into(), json!("USD Coin"));
    let offer = PaymentRequirements::new_v2(
        "exact",
        req.network(),
        req.amount(),
        req.asset(),
        req.pay_to(),
        300,
        Some(wrong_name),
    )
    .unwrap();
    assert_eq!(verify_payment(&good, &offer, NOW).unwrap_err().code(), ErrorCode::InvalidSignature);
    // Missing domain.
    let bare = PaymentRequirements::new_v2("exact", req.network(), req.amount(), req.asset(), req.pay_to(), 300, None)
        .unwrap();
    assert_eq!(
        verify_payment(&good, &bare, NOW).unwrap_err().code().as_str(),
        "invalid_exact_evm_missing_eip712_domain"
    );
    // Unsupported scheme: the server's own offer is at fault.
    let unknown =
        PaymentRequirements::new_v2("deferred", req.network(), req.amount(), req.asset(), req.pay_to(), 300, None)
            .unwrap();
    let e = verify_payment(&good, &unknown, NOW).unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnsupportedScheme);
    assert_eq!(status_for(&e), 500);
    // An exact payment for an upto offer: another scheme.
    let upto =
        PaymentRequirements::new_v2("upto", req.network(), req.amount(), req.asset(), req.pay_to(), 300, None).unwrap();
    assert_eq!(verify_payment(&good, &upto, NOW).unwrap_err().code(), ErrorCode::InvalidScheme);
    // An EIP-3009 payment for an offer that asks for Permit2.
    let mut permit2_extra = req.extra().unwrap().clone();
    permit2_extra.insert("assetTransferMethod".into(), json!("permit2"));
    let permit2_offer = PaymentRequirements::new_v2(
        "exact",
        req.network(),
        req.amount(),
        req.asset(),
        req.pay_to(),
        300,
        Some(permit2_extra),
    )
    .unwrap();
    assert_eq!(verify_payment(&good, &permit2_offer, NOW).unwrap_err().code().as_str(), "unsupported_payload_type");
}

#[test]
fn the_spec_signature_verifies() {
    // specs/x402-specification-v2.md §5.2: a real signature by 0x857b…6b66 on Base Sepolia USDC.
    let req = PaymentRequirements::new_v1(
        "exact",
        "base-sepolia",
        U256::from(10000),
        "https://api.example.com/premium-data",
        "",
        "application/json",
        PAY_TO,
        60,
        "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        serde_json::from_value(json!({"name":"USDC","version":"2"})).unwrap(),
    )
    .unwrap();
    let payment = PaymentPayload::from_json(r#"{"x402Version":1,"scheme":"exact","network":"base-sepolia","payload":{"signature":"0x2d6a7588d6acca505cbf0d9a4a227e0c52c6c34008c8e8986a1283259764173608a2ce6496642e377d6da8dbbf5836e9bd15092f9ecab05ded3d6293af148b571c","authorization":{"from":"0x857b06519E91e3A54538791bDbb0E22373e36b66","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"10000","validAfter":"1740672089","validBefore":"1740672154","nonce":"0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"}}}"#).unwrap();
    let v = verify_payment(&payment, &req, 1740672100).unwrap();
    assert_eq!(v.payer.to_checksum(None), "0x857b06519E91e3A54538791bDbb0E22373e36b66");
}

#[test]
fn policy_refusals_list_every_offer() {
    let b = bill(2, &[usdc_tag("$2"), PriceTag::new("$0.01", "eip155:8453", PAY_TO)]);
    let p = payer(Policy::default().with_networks([84532]));
    let e = p.pay(&b, None).unwrap_err();
    assert_eq!(e.code(), ErrorCode::NoAcceptableOffer);
    assert_eq!(e.refusals().len(), 2);
    assert!(e.refusals()[0].reasons[0].contains("over the $1 per-payment cap"), "{:?}", e.refusals());
    assert!(e.refusals()[1].reasons[0].contains("chain 8453 is not among"), "{:?}", e.refusals());
    assert!(e.message().contains("[0]") && e.message().contains("[1]"));

    // Unknown tokens need an explicit allowance with their own cap.
    let token = Address::repeat_byte(0x42);
    let custom = PriceTag {
        price: Price::Atomic {
            amount: U256::from(500),
            asset: token,
            name: Some("Test".into()),
            version: Some("1".into()),
            transfer_method: None,
        },
        ..PriceTag::new("", "eip155:31337", PAY_TO)
    };
    let b = bill(2, &[custom]);
    assert!(
        payer(Policy::default()).pay(&b, None).unwrap_err().refusals()[0].reasons[0].contains("not a known stablecoin")
    );
    let allowing = Policy::default().allow_asset(AllowedAsset {
        chain_id: 31337,
        address: token,
        max_per_payment: U256::from(1000),
        budget: Some(U256::from(1200)),
    });
    let p = payer(allowing);
    p.pay(&b, None).unwrap();
    p.pay(&b, None).unwrap();
    assert!(p.pay(&b, None).unwrap_err().refusals()[0].reasons[0].contains("budget"));
}

#[test]
fn preference_order_and_budget() {
    let b = bill(2, &[usdc_tag("$0.40"), PriceTag::new("$0.40", "eip155:8453", PAY_TO)]);
    let p = payer(Policy::default().prefer([8453]).with_budget(Usd::parse("$1").unwrap()));
    assert_eq!(p.pay(&b, None).unwrap().offer_index, 1);
    p.pay(&b, None).unwrap();
    let e = p.pay(&b, None).unwrap_err();
    assert!(e.refusals()[0].reasons[0].contains("budget"), "{e}");
    assert_eq!(p.spent_usd(), Usd::parse("0.8").unwrap());
}

#[test]
fn a_retried_purchase_reuses_its_payment() {
    let b = bill(2, &[usdc_tag("$0.01")]);
    let p = payer(Policy::default().with_budget(Usd::parse("$0.015").unwrap()));
    let first = p.pay(&b, Some("GET https://api.example.com/data")).unwrap();
    let again = p.pay(&b, Some("GET https://api.example.com/data")).unwrap();
    assert!(again.reused);
    assert_eq!(again.value, first.value);
    assert_eq!(p.spent_usd(), Usd::parse("0.01").unwrap());
    p.forget("GET https://api.example.com/data");
    // Paying the same resource again is a new purchase; the budget now refuses it.
    assert_eq!(p.pay(&b, Some("GET https://api.example.com/data")).unwrap_err().code(), ErrorCode::NoAcceptableOffer);
}

#[test]
fn payment_identifier_is_attached_and_required() {
    let mut tag = usdc_tag("$0.01");
    tag.extensions.insert("payment-identifier".into(), paywire_core::payment_id::declaration(true));
    let b = bill(2, &[tag]);
    let header = payer(Policy::default()).pay(&b, Some("k")).unwrap();
    let id = header.payment_id.clone().unwrap();
    assert!(id.starts_with("pay_") && id.len() == 36);
    let received = PaymentPayload::from_header(&header.value).unwrap();
    assert_eq!(received.extensions().unwrap()["payment-identifier"]["info"]["id"], json!(id));
    assert_eq!(check_payment(&b, &received, NOW).unwrap().payment_id.as_deref(), Some(id.as_str()));
    let stripped = tampered(&received, |v| v["extensions"] = json!({}));
    let e = check_payment(&b, &stripped, NOW).unwrap_err();
    assert_eq!(e.code(), ErrorCode::PaymentIdentifierRequired);
    assert_eq!(status_for(&e), 400);
}

#[test]
fn unmatched_payments_are_refused_with_402() {
    let b = bill(2, &[usdc_tag("$0.01")]);
    let cheaper = bill(2, &[usdc_tag("$0.001")]);
    let payment = payer(Policy::default()).pay(&cheaper, None).unwrap().payload;
    let e = check_payment(&b, &payment, NOW).unwrap_err();
    assert_eq!(e.code(), ErrorCode::NoMatchingRequirements);
    assert!(e.message().starts_with("No matching payment requirements"));
    assert_eq!(status_for(&e), 402);
    let v1 = payer(Policy::default()).pay(&bill(1, &[usdc_tag("$0.01")]), None).unwrap().payload;
    assert_eq!(status_for(&check_payment(&b, &v1, NOW).unwrap_err()), 400);
}

#[test]
fn permit2_with_eip2612_sponsoring() {
    let mut tag = PriceTag::new("$0.01", "eip155:4326", PAY_TO);
    tag.extensions.insert(
        "eip2612GasSponsoring".into(),
        json!({"info": {"description": "gasless Permit to Permit2", "version": "1"}, "schema": {}}),
    );
    let b = bill(2, &[tag]);
    let p = payer(Policy::default());
    let header = p.pay_with(&b, None, &PayExtras { eip2612_nonce: Some(U256::from(7)), ..Default::default() }).unwrap();
    let received = PaymentPayload::from_header(&header.value).unwrap();
    let info = &received.extensions().unwrap()["eip2612GasSponsoring"]["info"];
    let keys: Vec<&str> = info.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["description", "version", "from", "asset", "spender", "amount", "nonce", "deadline", "signature"]
    );
    let v = check_payment(&b, &received, NOW).unwrap().verified;
    assert_eq!(v.method, paywire_core::assets::TransferMethod::Permit2);
    assert_eq!(v.eip2612_permit.unwrap().nonce, U256::from(7));
    // A permit for less than the price is refused.
    let short = tampered(&received, |v| v["extensions"]["eip2612GasSponsoring"]["info"]["amount"] = json!("1"));
    assert_eq!(check_payment(&b, &short, NOW).unwrap_err().code().as_str(), "permit2_2612_amount_mismatch");
    // Permit2 refusals.
    let spender = tampered(&received, |v| v["payload"]["permit2Authorization"]["spender"] = json!(PAY_TO));
    assert_eq!(check_payment(&b, &spender, NOW).unwrap_err().code().as_str(), "invalid_permit2_spender");
    let late = check_payment(&b, &received, NOW + 10_000).unwrap_err();
    assert_eq!(late.code().as_str(), "permit2_deadline_expired");
}

#[test]
fn two_phase_signing_with_an_external_signer() {
    let b = bill(2, &[usdc_tag("$0.01")]);
    let key = LocalSigner::from_hex(KEY).unwrap();
    let p = payer(Policy::default());
    let Prepared::NeedsSignatures(prepared) = p.prepare(&b, None, &PayExtras::default()).unwrap() else { panic!() };
    // The external signer answers with the high-s twin of the signature and v = 0/1; paywire normalises both.
    let sig = key.sign_digest(&prepared.digests()[0]).unwrap();
    let mut raw = sig.as_bytes().to_vec();
    let n = U256::from_str_radix("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16).unwrap();
    let high_s = n - U256::from_be_slice(&raw[32..64]);
    raw[32..64].copy_from_slice(&high_s.to_be_bytes::<32>());
    raw[64] = if sig.v() == 27 { 1 } else { 0 };
    // A signature from another key is a coded error, and leaves the preparation usable.
    let other = LocalSigner::from_hex(&format!("0x{}", "11".repeat(32))).unwrap();
    let wrong = other.sign_digest(&prepared.digests()[0]).unwrap().as_bytes().to_vec();
    assert_eq!(p.complete(prepared.clone(), &[wrong]).unwrap_err().code(), ErrorCode::SignerMismatch);
    let header = p.complete(prepared.clone(), &[raw.clone()]).unwrap();
    assert_eq!(header.payload.payload()["signature"], json!(sig.to_hex()));
    assert!(check_payment(&b, &header.payload, NOW).is_ok());
    // A preparation completes once.
    assert_eq!(p.complete(prepared, &[raw]).unwrap_err().code(), ErrorCode::InvalidPreparedPayment);
}

#[test]
fn official_window_is_reproducible() {
    let b = bill(2, &[usdc_tag("$0.01")]);
    let p = payer(Policy::default()).with_options(PayerOptions { expiry_margin: 0, ..Default::default() });
    let header = p.pay(&b, None).unwrap();
    let ExactPayload::Eip3009 { authorization, .. } = ExactPayload::parse(header.payload.payload()).unwrap() else {
        panic!()
    };
    assert_eq!(authorization.valid_after, U256::ZERO);
    assert_eq!(authorization.valid_before, U256::from(NOW + 300));
}

#[test]
fn one_purchase_is_paid_once() {
    let b = bill(2, &[usdc_tag("$0.01")]);
    let p = payer(Policy::default());
    // Two preparations of the same purchase race; the second to complete gets the first's payment.
    let Prepared::NeedsSignatures(a) = p.prepare(&b, Some("k"), &PayExtras::default()).unwrap() else { panic!() };
    let Prepared::NeedsSignatures(c) = p.prepare(&b, Some("k"), &PayExtras::default()).unwrap() else { panic!() };
    let key = LocalSigner::from_hex(KEY).unwrap();
    let sign = |prep: &paywire_core::client::PreparedPayment| {
        vec![key.sign_digest(&prep.digests()[0]).unwrap().as_bytes().to_vec()]
    };
    let first = p.complete(a.clone(), &sign(&a)).unwrap();
    let second = p.complete(c.clone(), &sign(&c)).unwrap();
    assert_eq!(second.value, first.value);
    assert!(second.reused);
    assert_eq!(p.spent_usd(), Usd::parse("$0.01").unwrap());
}

/// A clock the test moves.
struct Shared(Arc<std::sync::Mutex<u64>>);

impl Clock for Shared {
    fn now(&self) -> u64 {
        *self.0.lock().unwrap()
    }
}

#[test]
fn a_payment_that_may_still_settle_blocks_a_second_one() {
    let b = bill(2, &[usdc_tag("$0.01")]);
    let clock = Arc::new(std::sync::Mutex::new(NOW));
    let p = Payer::new(
        Arc::new(LocalSigner::from_hex(KEY).unwrap()),
        Policy::default(),
        Arc::new(Shared(clock.clone())),
        Arc::new(FixedRandomness::new((1..=64).collect())),
    );
    let first = p.pay(&b, Some("k")).unwrap();
    // Close to its expiry the payment cannot be reused safely, and a new one could be a second charge.
    *clock.lock().unwrap() = first.valid_before - 10;
    assert_eq!(p.pay(&b, Some("k")).unwrap_err().code(), ErrorCode::PaymentAlreadyAttempted);
    // A different bill for the same purchase while the first payment may settle: refused as well.
    *clock.lock().unwrap() = NOW + 1;
    let dearer = bill(2, &[usdc_tag("$0.02")]);
    assert_eq!(p.pay(&dearer, Some("k")).unwrap_err().code(), ErrorCode::PaymentAlreadyAttempted);
    // Once the outcome is known (forget), or once the payment expired, a new payment is fine.
    p.forget("k");
    assert!(!p.pay(&dearer, Some("k")).unwrap().reused);
    *clock.lock().unwrap() = first.valid_before + 1_000;
    assert!(!p.pay(&b, Some("k")).unwrap().reused);
}

#[test]
fn a_preparation_that_expired_before_signing_is_refused() {
    let b = bill(2, &[usdc_tag("$0.01")]);
    let clock = Arc::new(std::sync::Mutex::new(NOW));
    let p = Payer::new(
        Arc::new(LocalSigner::from_hex(KEY).unwrap()),
        Policy::default(),
        Arc::new(Shared(clock.clone())),
        Arc::new(FixedRandomness::new(vec![9])),
    );
    let Prepared::NeedsSignatures(prep) = p.prepare(&b, None, &PayExtras::default()).unwrap() else { panic!() };
    *clock.lock().unwrap() = NOW + 10_000;
    let sig = LocalSigner::from_hex(KEY).unwrap().sign_digest(&prep.digests()[0]).unwrap().as_bytes().to_vec();
    assert_eq!(p.complete(prep, &[sig]).unwrap_err().code(), ErrorCode::InvalidPreparedPayment);
}

#[test]
fn long_server_timeouts_are_capped() {
    let mut tag = usdc_tag("$0.01");
    tag.max_timeout_seconds = Some(1_000_000_000);
    let header = payer(Policy::default()).pay(&bill(2, &[tag]), None).unwrap();
    assert_eq!(header.valid_before, NOW + 3600 + 300);
}

#[test]
fn extensions_must_be_echoed() {
    let mut tag = usdc_tag("$0.01");
    tag.extensions.insert("bazaar".into(), json!({"info": {"input": {"type": "http", "method": "GET"}}, "schema": {}}));
    let b = bill(2, &[tag]);
    let paid = payer(Policy::default()).pay(&b, None).unwrap().payload;
    assert!(check_payment(&b, &paid, NOW).is_ok());
    let changed = tampered(&paid, |v| v["extensions"]["bazaar"]["info"]["input"]["method"] = json!("POST"));
    assert_eq!(check_payment(&b, &changed, NOW).unwrap_err().code().as_str(), "extension_echo_mismatch");
}

#[test]
fn settlement_headers_carry_only_x402_members() {
    let settled = SettleResponse::from_json(
        r#"{"success":true,"transaction":"0xab","network":"eip155:8453","payer":"0x1","extensionResponses":{"internal":1},"debug":"x"}"#,
    )
    .unwrap();
    let (name, value) = paywire_core::server::settlement_header(2, &settled);
    assert_eq!(name, "PAYMENT-RESPONSE");
    let sent = codec::decode_header_json(&value).unwrap();
    assert_eq!(sent, json!({"success":true,"payer":"0x1","transaction":"0xab","network":"eip155:8453"}));
}

#[test]
fn last_acceptable_time_is_the_edge_of_the_window() {
    let tags = [usdc_tag("$0.01"), PriceTag::new("$0.01", "eip155:4326", PAY_TO)];
    for tag in tags {
        let b = bill(2, std::slice::from_ref(&tag));
        let payment = PaymentPayload::from_header(&payer(Policy::default()).pay(&b, None).unwrap().value).unwrap();
        let last = paywire_core::verify::last_acceptable_time(&payment).unwrap();
        assert!(check_payment(&b, &payment, last).is_ok(), "{tag:?}");
        let late = check_payment(&b, &payment, last + 1).unwrap_err();
        assert!(
            matches!(late.code(), ErrorCode::ValidBeforeExpired | ErrorCode::Permit2DeadlineExpired),
            "{tag:?}: {late}"
        );
    }
    let not_exact = tampered(
        &PaymentPayload::from_header(
            &payer(Policy::default()).pay(&bill(2, &[usdc_tag("$0.01")]), None).unwrap().value,
        )
        .unwrap(),
        |v| v["payload"] = json!({"other": 1}),
    );
    assert_eq!(paywire_core::verify::last_acceptable_time(&not_exact), None);
}

#[test]
fn a_request_head_is_shown_without_its_query_or_header_values() {
    let head = paywire_core::server::gate::RequestHead {
        method: "GET".into(),
        path: "/weather".into(),
        path_and_query: "/weather?key=SECRET".into(),
        origin: "https://api.test".into(),
        headers: vec![("payment-signature".into(), "SECRET".into())],
    };
    let shown = format!("{head:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(
        shown.contains("/weather") && shown.contains("https://api.test") && shown.contains("payment-signature"),
        "{shown}"
    );
}
