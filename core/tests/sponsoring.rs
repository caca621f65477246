//! The paying machine reads a chain for `eip2612GasSponsoring`: the payer's Permit2 allowance, then (when it is
//! short) the token's EIP-2612 nonce, through the JSON-RPC endpoint the user named for the offer's network;
//! the permit goes with the payment only when both say so, and a broken endpoint never stops the payment.

use std::sync::Arc;

use paywire_core::client::{
    FetchAction, FetchInput, FetchOptions, FetchRequest, PaidFetch, Payer, Policy, RpcEndpoints,
};
use paywire_core::server::{PriceTag, build_payment_required};
use paywire_core::*;
use serde_json::json;

const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const PAY_TO: &str = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";
const NOW: u64 = 1_750_000_000;
const RPC: &str = "https://rpc.test/v2/SECRET";
const API: &str = "https://api.test/data";
/// The Permit2 chain of the assets table whose USDC has EIP-2612.
const NETWORK: &str = "eip155:4326";

fn payer() -> Arc<Payer> {
    Arc::new(Payer::new(
        Arc::new(LocalSigner::from_hex(KEY).unwrap()),
        Policy::default(),
        Arc::new(FixedClock(NOW)),
        Arc::new(FixedRandomness::new((1..=64).collect())),
    ))
}

fn bill(sponsored: bool, network: &str) -> PaymentRequired {
    let mut tag = PriceTag::new("$0.01", network, PAY_TO);
    if sponsored {
        tag.extensions.insert(
            "eip2612GasSponsoring".into(),
            json!({"info": {"description": "gasless Permit to Permit2", "version": "1"}, "schema": {}}),
        );
    }
    build_payment_required(2, ResourceInfo::new(API), &[tag]).unwrap()
}

/// How the test's JSON-RPC endpoint answers a call (`None`: the connection fails).
type Rpc<'a> = &'a dyn Fn(&str) -> Option<(u16, String)>;

fn word(n: u64) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":1,"result":"0x{n:064x}"}}"#)
}

/// Drives one call; returns the payment it sent and the selectors of the chain reads, in order.
fn run(bill: &PaymentRequired, rpc: Option<RpcEndpoints>, answer: Rpc<'_>) -> (PaymentPayload, Vec<String>) {
    run_with(payer(), bill, rpc, answer, 200)
}

/// [`run`] by `payer`, the paid request answered with `paid_status`.
fn run_with(
    payer: Arc<Payer>,
    bill: &PaymentRequired,
    rpc: Option<RpcEndpoints>,
    answer: Rpc<'_>,
    paid_status: u16,
) -> (PaymentPayload, Vec<String>) {
    let options = FetchOptions { rpc: rpc.unwrap_or_default(), ..FetchOptions::default() };
    let request = FetchRequest { method: "GET".into(), url: API.into(), headers: vec![], body: None };
    let (mut call, mut action) = PaidFetch::start(payer, request, options);
    let mut reads = Vec::new();
    let mut body = Vec::new();
    let mut paid = None;
    loop {
        action = match action {
            FetchAction::SendOwn(r) => {
                assert_eq!(r.url, RPC, "a chain read goes to the network's endpoint");
                let sent: serde_json::Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
                let data = sent["params"][0]["data"].as_str().unwrap().to_string();
                reads.push(data[..10].to_string());
                match answer(&data[..10]) {
                    Some((status, text)) => {
                        body = text.into_bytes();
                        call.resume(FetchInput::Response { status, headers: vec![] })
                    }
                    None => call.resume(FetchInput::SendFailed),
                }
            }
            FetchAction::Send(r) => {
                assert_eq!(r.url, API);
                match r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("payment-signature")) {
                    Some((_, v)) => {
                        paid = Some(PaymentPayload::from_header(v).unwrap());
                        body = b"{}".to_vec();
                        call.resume(FetchInput::Response { status: paid_status, headers: vec![] })
                    }
                    None => {
                        body = Vec::new();
                        let headers = vec![("PAYMENT-REQUIRED".to_string(), bill.to_header())];
                        call.resume(FetchInput::Response { status: 402, headers })
                    }
                }
            }
            FetchAction::ReadBody => call.resume(FetchInput::Body(body.clone())),
            FetchAction::Done(_) => return (paid.expect("the call paid"), reads),
            other => panic!("unexpected step {other:?}"),
        };
    }
}

fn endpoints() -> Option<RpcEndpoints> {
    Some(RpcEndpoints::new([(NETWORK, RPC)]).unwrap())
}

/// The signed permit of a payment (its extensions echo the server's declaration either way).
fn permit(payment: &PaymentPayload) -> Option<serde_json::Value> {
    let info = payment.extensions().and_then(|x| x.get("eip2612GasSponsoring")).map(|x| x["info"].clone())?;
    info.get("signature").is_some().then_some(info)
}

const ALLOWANCE: &str = "0xdd62ed3e";
const NONCES: &str = "0x7ecebe00";

#[test]
fn a_payer_short_of_allowance_signs_a_permit_with_the_nonce_read() {
    let answer = |selector: &str| Some((200, word(if selector == NONCES { 5 } else { 0 })));
    let (payment, reads) = run(&bill(true, NETWORK), endpoints(), &answer);
    assert_eq!(reads, [ALLOWANCE, NONCES]);
    let info = permit(&payment).expect("a permit goes with the payment");
    assert_eq!(info["nonce"], "5");
    // Exactly the payment's amount (the x402 Permit2 proxy refuses any other).
    let bill = bill(true, NETWORK);
    assert_eq!(info["amount"], bill.accepts[0].to_value()["amount"]);
    assert_eq!(info["spender"], "0x000000000022D473030F116dDEE9F6B43aC78BA3");
}

#[test]
fn enough_allowance_means_no_permit_and_no_nonce_read() {
    // $0.01 of an 18-decimal token is 10^16 units.
    let answer = |_: &str| Some((200, word(u64::MAX)));
    let (payment, reads) = run(&bill(true, NETWORK), endpoints(), &answer);
    assert_eq!(reads, [ALLOWANCE]);
    assert_eq!(permit(&payment), None);
}

#[test]
fn an_unreadable_allowance_is_taken_as_short() {
    // As the official clients do: a permit costs the payer nothing.
    let reverted = r#"{"jsonrpc":"2.0","id":1,"error":{"code":3,"message":"execution reverted"}}"#;
    let answer = |selector: &str| Some((200, if selector == NONCES { word(3) } else { reverted.into() }));
    let (payment, reads) = run(&bill(true, NETWORK), endpoints(), &answer);
    assert_eq!(reads, [ALLOWANCE, NONCES]);
    assert_eq!(permit(&payment).unwrap()["nonce"], "3");
}

#[test]
fn a_broken_endpoint_never_stops_the_payment() {
    // No answer at all (unreachable, past the deadline, an empty or cut-off body): not asked again.
    let silent: [(&str, Rpc<'_>); 2] =
        [("connection fails", &|_| None), ("empty body", &|_| Some((200, String::new())))];
    for (name, answer) in silent {
        let (payment, reads) = run(&bill(true, NETWORK), endpoints(), answer);
        assert_eq!(reads, [ALLOWANCE], "{name}");
        assert_eq!(permit(&payment), None, "{name}");
    }
    let cases: [(&str, Rpc<'_>); 3] = [
        ("HTTP 500", &|_| Some((500, word(1)))),
        ("JSON-RPC error", &|_| {
            Some((200, r#"{"jsonrpc":"2.0","id":1,"error":{"code":3,"message":"execution reverted"}}"#.into()))
        }),
        ("not a word", &|_| Some((200, r#"{"jsonrpc":"2.0","id":1,"result":"0x"}"#.into()))),
    ];
    for (name, answer) in cases {
        let (payment, reads) = run(&bill(true, NETWORK), endpoints(), answer);
        assert_eq!(reads, [ALLOWANCE, NONCES], "{name}");
        assert_eq!(permit(&payment), None, "{name}: no nonce, no permit");
    }
}

#[test]
fn no_reads_without_an_endpoint_a_declaration_or_a_permit2_offer() {
    let never = |_: &str| -> Option<(u16, String)> { panic!("nothing is read") };
    // No endpoint at all, or none for the offer's network.
    assert_eq!(run(&bill(true, NETWORK), None, &never).1, Vec::<String>::new());
    let elsewhere = RpcEndpoints::new([("eip155:8453", RPC)]).unwrap();
    assert_eq!(run(&bill(true, NETWORK), Some(elsewhere), &never).1, Vec::<String>::new());
    // The server did not declare sponsoring.
    assert_eq!(run(&bill(false, NETWORK), endpoints(), &never).1, Vec::<String>::new());
    // An EIP-3009 offer needs no approval.
    let eip3009 = bill(true, "eip155:84532");
    let rpc = RpcEndpoints::new([("eip155:84532", RPC)]).unwrap();
    let (payment, reads) = run(&eip3009, Some(rpc), &never);
    assert!(reads.is_empty());
    assert_eq!(permit(&payment), None);
}

#[test]
fn endpoints_are_checked_without_showing_them() {
    for (network, url) in
        [("base", RPC), ("eip155:x", RPC), ("eip155:1", "rpc.test/SECRET"), ("eip155:1", "wss://rpc.test/SECRET")]
    {
        let e = RpcEndpoints::new([(network, url)]).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidArgument, "{network} {url}");
        assert!(!e.message().contains("SECRET"), "{}", e.message());
    }
    assert!(!format!("{:?}", endpoints().unwrap()).contains("SECRET"));
}

#[test]
fn metered_offers_are_sponsored_too() {
    let mut tag = PriceTag::new("$0.01", NETWORK, PAY_TO);
    tag.upto = true;
    tag.extra.insert("facilitatorAddress".into(), json!("0x1111111111111111111111111111111111111111"));
    tag.extensions.insert(
        "eip2612GasSponsoring".into(),
        json!({"info": {"description": "gasless Permit to Permit2", "version": "1"}, "schema": {}}),
    );
    let bill = build_payment_required(2, ResourceInfo::new(API), &[tag]).unwrap();
    let answer = |selector: &str| Some((200, word(if selector == NONCES { 9 } else { 0 })));
    let (payment, reads) = run(&bill, endpoints(), &answer);
    assert_eq!(payment.scheme(), "upto");
    assert_eq!(reads, [ALLOWANCE, NONCES]);
    // For the maximum, which Permit2 may move at most.
    let info = permit(&payment).unwrap();
    assert_eq!((info["nonce"].as_str(), &info["amount"]), (Some("9"), &bill.accepts[0].to_value()["amount"]));
}

#[test]
fn a_nonce_read_from_another_token_is_never_used() {
    let bill = bill(true, NETWORK);
    let other = paywire_core::client::PayExtras {
        eip2612_nonce: Some(alloy_primitives::U256::from(5)),
        eip2612_token: Some(alloy_primitives::Address::repeat_byte(0x22)),
        ..Default::default()
    };
    let header = payer().pay_with(&bill, None, &other).unwrap();
    assert_eq!(permit(&header.payload), None);
}

#[test]
fn a_nonce_read_on_another_network_is_never_used() {
    let bill = bill(true, NETWORK);
    let token = bill.accepts[0].to_value()["asset"].as_str().unwrap().parse().unwrap();
    let extras = |network: &str| paywire_core::client::PayExtras {
        eip2612_nonce: Some(alloy_primitives::U256::from(5)),
        eip2612_token: Some(token),
        eip2612_network: Some(network.into()),
    };
    // The same token address on another chain has its own nonces.
    assert_eq!(permit(&payer().pay_with(&bill, None, &extras("eip155:8453")).unwrap().payload), None);
    assert!(permit(&payer().pay_with(&bill, None, &extras(NETWORK)).unwrap().payload).is_some());
}

#[test]
fn chain_reads_carry_a_deadline_and_a_body_limit_and_a_longer_answer_is_no_answer() {
    let options = FetchOptions { rpc: endpoints().unwrap(), ..FetchOptions::default() };
    let request = FetchRequest { method: "GET".into(), url: API.into(), headers: vec![], body: None };
    let (mut call, first) = PaidFetch::start(payer(), request, options);
    // The caller's request: its own timeouts, no limit.
    assert_eq!((first.own(), first.timeout_ms(), first.body_limit()), (false, None, None));
    let headers = vec![("PAYMENT-REQUIRED".to_string(), bill(true, NETWORK).to_header())];
    let mut action = call.resume(FetchInput::Response { status: 402, headers });
    if let FetchAction::ReadBody = action {
        action = call.resume(FetchInput::Body(Vec::new()));
    }
    let mut reads = 0;
    loop {
        action = match action {
            FetchAction::SendOwn(r) => {
                reads += 1;
                // Asked uncompressed: the limit counts the bytes as sent.
                assert!(r.headers.contains(&("accept-encoding".to_string(), "identity".to_string())));
                call.resume(FetchInput::Response { status: 200, headers: vec![] })
            }
            FetchAction::ReadBody => {
                // The allowance answered with a valid word padded past the limit: taken as no answer.
                let mut body = word(0).into_bytes();
                body.resize(client::OWN_BODY_LIMIT + 1, b' ');
                call.resume(FetchInput::Body(body))
            }
            FetchAction::Send(r) => {
                let header = r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("payment-signature")).unwrap();
                let payment = PaymentPayload::from_header(&header.1).unwrap();
                // The allowance's answer was no answer: the endpoint is not asked again, and no permit goes.
                assert_eq!(permit(&payment), None);
                assert_eq!(reads, 1);
                return;
            }
            other => panic!("unexpected step {other:?}"),
        };
        if let FetchAction::SendOwn(_) = &action {
            assert_eq!(action.timeout_ms(), Some(client::OWN_REQUEST_TIMEOUT_MS));
            assert_eq!(action.body_limit(), Some(client::OWN_BODY_LIMIT));
        }
    }
}

#[test]
fn a_request_is_shown_without_its_path_query_or_header_values() {
    let request = FetchRequest {
        method: "POST".into(),
        url: "https://rpc.test/v2/SECRET?key=SECRET".into(),
        headers: vec![("authorization".into(), "Bearer SECRET".into())],
        body: Some(b"SECRET".to_vec()),
    };
    let shown = format!("{request:?} {:?}", FetchAction::SendOwn(request.clone()));
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains("https://rpc.test") && shown.contains("authorization"), "{shown}");
}

#[test]
fn a_retried_purchase_sends_its_payment_again_without_reading_the_chain() {
    // The paid request's answer is a 502: the outcome is open, so the payment (with its permit) is kept, and the
    // same purchase sends it again instead of reading the chain and signing anew.
    let payer = payer();
    let answer = |selector: &str| Some((200, word(if selector == NONCES { 2 } else { 0 })));
    let (first, reads) = run_with(payer.clone(), &bill(true, NETWORK), endpoints(), &answer, 502);
    assert_eq!(reads, [ALLOWANCE, NONCES]);
    let never = |_: &str| -> Option<(u16, String)> { panic!("nothing is read for a payment sent again") };
    let (again, reads) = run_with(payer, &bill(true, NETWORK), endpoints(), &never, 200);
    assert!(reads.is_empty());
    assert_eq!(again.to_value(), first.to_value());
    assert_eq!(permit(&again).unwrap()["nonce"], "2");
}
