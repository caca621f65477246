//! Runs every file of tests/vectors (produced by the official SDKs) through the Rust API. The Python, Node
//! and Kotlin suites run the same files through their bindings. tests/vectors/README.md describes the formats.

mod exchange;

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use alloy_sol_types::Eip712Domain;
use paywire_core::client::{PayExtras, Payer, PayerOptions, Policy, read_settlement};
use paywire_core::codec::{decode_header_json, decode_header_text, encode_json_text};
use paywire_core::credentials::{CredentialFormat, Issuer, SignedOffer, SignedReceipt};
use paywire_core::decode::decode_any;
use paywire_core::eip712::{
    self, Permit, PermitWitnessTransferFrom, TokenPermissions, TransferWithAuthorization, Witness,
};
use paywire_core::exact::domain_separator;
use paywire_core::server::{PriceTag, read_payment};
use paywire_core::verify::verify_to_response;
use paywire_core::wire::{parse_address, parse_b256, parse_decimal_u256};
use paywire_core::*;
use serde_json::Value;

/// Checks every case of one vector file.
type Runner = fn(&Value);

/// The vector files and their runners; every file in tests/vectors must be here.
const RUNNERS: &[(&str, Runner)] = &[
    ("headers", headers),
    ("responses", responses),
    ("networks", networks),
    ("assets", assets),
    ("typed_data", typed_data),
    ("money", money),
    ("payments", payments),
    ("selection", selection),
    ("verification", verification),
    ("credentials", credentials),
    ("malformed", malformed),
    ("routes", exchange::routes),
    ("gate", exchange::gate),
    ("client", exchange::client),
];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

fn load(name: &str) -> Value {
    let path = dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn cases(file: &Value) -> &Vec<Value> {
    file["cases"].as_array().unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("expected a string, found {v}"))
}

fn u256(v: &Value) -> U256 {
    parse_decimal_u256(s(v)).unwrap()
}

fn addr(v: &Value) -> Address {
    parse_address(s(v)).unwrap()
}

fn bill_of(wire: &Value) -> PaymentRequired {
    match wire.get("header") {
        Some(h) => PaymentRequired::from_header(s(h)).unwrap(),
        None => PaymentRequired::from_body(s(&wire["body"]).as_bytes()).unwrap(),
    }
}

fn header_list(v: &Value) -> Vec<(String, String)> {
    v.as_array().unwrap().iter().map(|p| (s(&p[0]).to_string(), s(&p[1]).to_string())).collect()
}

fn payer(key: &str, now: u64, randomness: Vec<u8>) -> Payer {
    Payer::new(
        Arc::new(LocalSigner::from_hex(key).unwrap()),
        Policy::default(),
        Arc::new(FixedClock(now)),
        Arc::new(FixedRandomness::new(randomness)),
    )
}

/// Both secp256k1 backends, so every signature vector checks each of them.
fn sign_both(key: &LocalSigner, digest: &B256) -> [Signature; 2] {
    [key.sign_digest(digest).unwrap(), key.sign_digest_k256(digest).unwrap()]
}

#[test]
fn every_vector_file_runs() {
    let mut files: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .collect();
    files.sort();
    for name in &files {
        let (_, run) = RUNNERS.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no runner for {name}.json"));
        let file = load(name);
        assert_eq!(file["formatVersion"], 1, "{name}");
        assert!(!cases(&file).is_empty(), "{name} has no cases");
        run(&file);
    }
    assert_eq!(files.len(), RUNNERS.len(), "a vector file is missing: {files:?}");
}

fn headers(file: &Value) {
    for c in cases(file) {
        let value = s(&c["value"]);
        assert_eq!(decode_header_text(value).unwrap(), s(&c["jsonText"]), "{}", c["name"]);
        assert_eq!(decode_header_json(value).unwrap(), c["json"], "{}", c["name"]);
        assert_eq!(encode_json_text(s(&c["jsonText"])), value, "{}", c["name"]);
        assert_eq!(decode_any(value).unwrap().kind.name(), s(&c["message"]), "{}", c["name"]);
        match s(&c["message"]) {
            "PaymentRequired" => {
                assert_eq!(PaymentRequired::from_header(value).unwrap().to_header(), value, "{}", c["name"])
            }
            "PaymentPayload" => assert_eq!(PaymentPayload::from_header(value).unwrap().to_header(), value),
            _ => drop(SettleResponse::from_header(value).unwrap()),
        }
    }
}

fn responses(file: &Value) {
    for c in cases(file) {
        let headers = header_list(&c["headers"]);
        let body = s(&c["body"]).as_bytes();
        let expect = &c["expect"];
        let got: Result<Option<(Option<u8>, Value)>> = match s(&c["read"]) {
            "paymentRequired" => PaymentRequired::from_response(&headers, body)
                .map(|b| Some((Some(b.x402_version), serde_json::from_str(&b.to_json()).unwrap()))),
            "payment" => read_payment(&headers).map(|p| p.map(|p| (Some(p.x402_version()), p.to_value()))),
            "settlement" => read_settlement(&headers).map(|r| r.map(|r| (None, serde_json::to_value(r).unwrap()))),
            other => panic!("unknown read {other}"),
        };
        match (got, expect.get("error"), expect.get("none")) {
            (Err(e), Some(code), _) => assert_eq!(e.code().as_str(), s(code), "{}", c["name"]),
            (Ok(None), None, Some(_)) => {}
            (Ok(Some((version, json))), None, None) => {
                if let Some(v) = expect.get("x402Version") {
                    assert_eq!(version.map(u64::from), v.as_u64(), "{}", c["name"]);
                }
                assert_eq!(json, expect["json"], "{}", c["name"]);
            }
            (got, _, _) => panic!("{}: got {got:?}, expected {expect}", c["name"]),
        }
    }
}

fn networks(file: &Value) {
    for c in cases(file) {
        let network = s(&c["network"]);
        let expect = &c["expect"];
        match expect.get("error") {
            Some(code) => assert_eq!(network::chain_id(network).unwrap_err().code().as_str(), s(code), "{network}"),
            None => {
                assert_eq!(network::chain_id(network).unwrap(), expect["chainId"].as_u64().unwrap());
                assert_eq!(network::to_caip2(network).unwrap(), s(&expect["caip2"]));
            }
        }
    }
}

fn assets(file: &Value) {
    assert_eq!(cases(file).len(), assets::KNOWN_ASSETS.len(), "paywire's table has other entries than the SDK's");
    for (c, ours) in cases(file).iter().zip(assets::KNOWN_ASSETS) {
        let e = &c["asset"];
        let chain_id = network::chain_id(s(&e["network"])).unwrap();
        assert_eq!(
            (ours.chain_id, ours.address),
            (chain_id, addr(&e["address"])),
            "table order differs at {}",
            c["name"]
        );
        assert_eq!(
            (ours.name, ours.version, u64::from(ours.decimals), ours.symbol),
            (s(&e["eip712Name"]), s(&e["eip712Version"]), e["decimals"].as_u64().unwrap(), s(&e["symbol"])),
            "{}",
            c["name"]
        );
        let method = if ours.transfer_method == assets::TransferMethod::Permit2 { "permit2" } else { "eip3009" };
        assert_eq!(method, s(&e["transferMethod"]), "{}", c["name"]);
        assert_eq!(ours.supports_eip2612, e["supportsEip2612"].as_bool().unwrap(), "{}", c["name"]);
        let sep = domain_separator(ours.name, ours.version, chain_id, ours.address);
        assert_eq!(sep, parse_b256(s(&c["domainSeparator"])).unwrap(), "{}", c["name"]);
        let t = &c["transfer"];
        let digest = eip712::digest(&sep, &transfer(&t["message"]));
        assert_eq!(digest, parse_b256(s(&t["digest"])).unwrap(), "{}", c["name"]);
        for sig in sign_both(&LocalSigner::from_hex(s(&t["key"])).unwrap(), &digest) {
            assert_eq!(sig.to_hex(), s(&t["signature"]), "{}", c["name"]);
        }
    }
}

fn transfer(m: &Value) -> TransferWithAuthorization {
    TransferWithAuthorization {
        from: addr(&m["from"]),
        to: addr(&m["to"]),
        value: u256(&m["value"]),
        validAfter: u256(&m["validAfter"]),
        validBefore: u256(&m["validBefore"]),
        nonce: parse_b256(s(&m["nonce"])).unwrap(),
    }
}

fn typed_data(file: &Value) {
    for c in cases(file) {
        let d = &c["domain"];
        let domain = Eip712Domain::new(
            d.get("name").map(|v| Cow::Owned(s(v).to_string())),
            d.get("version").map(|v| Cow::Owned(s(v).to_string())),
            d.get("chainId").map(|v| U256::from(v.as_u64().unwrap())),
            d.get("verifyingContract").map(addr),
            None,
        );
        let sep = domain.separator();
        assert_eq!(sep, parse_b256(s(&c["domainSeparator"])).unwrap(), "{}", c["name"]);
        let m = &c["message"];
        let digest = match s(&c["primaryType"]) {
            "TransferWithAuthorization" => eip712::digest(&sep, &transfer(m)),
            "PermitWitnessTransferFrom" => eip712::digest(
                &sep,
                &PermitWitnessTransferFrom {
                    permitted: TokenPermissions {
                        token: addr(&m["permitted"]["token"]),
                        amount: u256(&m["permitted"]["amount"]),
                    },
                    spender: addr(&m["spender"]),
                    nonce: u256(&m["nonce"]),
                    deadline: u256(&m["deadline"]),
                    witness: Witness { to: addr(&m["witness"]["to"]), validAfter: u256(&m["witness"]["validAfter"]) },
                },
            ),
            "Permit" => eip712::digest(
                &sep,
                &Permit {
                    owner: addr(&m["owner"]),
                    spender: addr(&m["spender"]),
                    value: u256(&m["value"]),
                    nonce: u256(&m["nonce"]),
                    deadline: u256(&m["deadline"]),
                },
            ),
            // batch-settlement: through the batch module's own hashing (its cached domain of the chain).
            batch_type @ ("ChannelConfig" | "Voucher" | "Refund" | "ClaimBatch") => {
                let chain_id = d["chainId"].as_u64().unwrap();
                assert_eq!(batch::domain_separator(chain_id), sep, "{}: the batch domain", c["name"]);
                let u128_of = |v: &Value| s(v).parse::<u128>().unwrap();
                let b256_of = |v: &Value| parse_b256(s(v)).unwrap();
                match batch_type {
                    "ChannelConfig" => batch::ChannelConfig {
                        payer: addr(&m["payer"]),
                        payerAuthorizer: addr(&m["payerAuthorizer"]),
                        receiver: addr(&m["receiver"]),
                        receiverAuthorizer: addr(&m["receiverAuthorizer"]),
                        token: addr(&m["token"]),
                        withdrawDelay: alloy_primitives::aliases::U40::from(m["withdrawDelay"].as_u64().unwrap()),
                        salt: b256_of(&m["salt"]),
                    }
                    .channel_id(chain_id),
                    "Voucher" => batch::Voucher {
                        channelId: b256_of(&m["channelId"]),
                        maxClaimableAmount: u128_of(&m["maxClaimableAmount"]),
                    }
                    .digest(chain_id),
                    "Refund" => batch::Refund {
                        channelId: b256_of(&m["channelId"]),
                        nonce: u256(&m["nonce"]),
                        amount: u128_of(&m["amount"]),
                    }
                    .digest(chain_id),
                    _ => batch::ClaimBatch {
                        claims: m["claims"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|e| batch::ClaimEntry {
                                channelId: b256_of(&e["channelId"]),
                                maxClaimableAmount: u128_of(&e["maxClaimableAmount"]),
                                totalClaimed: u128_of(&e["totalClaimed"]),
                            })
                            .collect(),
                    }
                    .digest(chain_id),
                }
            }
            "ReceiveWithAuthorization" => eip712::digest(
                &sep,
                &batch::ReceiveWithAuthorization {
                    from: addr(&m["from"]),
                    to: addr(&m["to"]),
                    value: u256(&m["value"]),
                    validAfter: u256(&m["validAfter"]),
                    validBefore: u256(&m["validBefore"]),
                    nonce: parse_b256(s(&m["nonce"])).unwrap(),
                },
            ),
            other => panic!("unknown primary type {other}"),
        };
        assert_eq!(digest, parse_b256(s(&c["digest"])).unwrap(), "{}", c["name"]);
        let typed = serde_json::json!({"domain": d, "primaryType": c["primaryType"], "message": m});
        let hashes = eip712::typed_data_hashes(&typed).unwrap();
        assert_eq!((hashes.domain_separator, hashes.digest), (sep, digest), "{}: typed_data_hashes", c["name"]);
        let signature =
            Signature::parse_strict(&paywire_core::wire::parse_hex_bytes(s(&c["signature"])).unwrap()).unwrap();
        assert_eq!(crypto::recover_address(&digest, &signature).unwrap(), addr(&c["signer"]), "{}", c["name"]);
        assert_eq!(crypto::recover_address_k256(&digest, &signature).unwrap(), addr(&c["signer"]), "{}", c["name"]);
        if let Some(key) = c.get("key") {
            for sig in sign_both(&LocalSigner::from_hex(s(key)).unwrap(), &digest) {
                assert_eq!(sig, signature, "{}", c["name"]);
            }
        }
    }
}

fn money(file: &Value) {
    for c in cases(file) {
        let tag = PriceTag::new(s(&c["price"]), s(&c["network"]), s(&c["payTo"]));
        let got = tag.to_requirements(2, &ResourceInfo::new("https://example.com/r"));
        let expect = &c["expect"];
        match expect.get("error") {
            Some(code) => assert_eq!(got.unwrap_err().code().as_str(), s(code), "{}", c["name"]),
            None => {
                let r = got.unwrap();
                assert_eq!(r.amount().to_string(), s(&expect["amount"]), "{}", c["name"]);
                assert_eq!(r.asset(), s(&expect["asset"]), "{}", c["name"]);
                assert_eq!(&Value::Object(r.extra().cloned().unwrap_or_default()), &expect["extra"], "{}", c["name"]);
            }
        }
    }
}

fn payments(file: &Value) {
    for c in cases(file) {
        let bill = bill_of(&c["bill"]);
        let nonce = parse_b256(s(&c["nonce"])).unwrap();
        let p = payer(s(&c["key"]), c["now"].as_u64().unwrap(), nonce.to_vec())
            .with_options(PayerOptions { expiry_margin: c["expiryMargin"].as_u64().unwrap(), ..Default::default() });
        let extras = PayExtras { eip2612_nonce: c.get("eip2612Nonce").map(u256), ..Default::default() };
        let header = p.pay_with(&bill, None, &extras).unwrap();
        let expect = &c["expect"];
        assert_eq!(header.offer_index as u64, expect["offerIndex"].as_u64().unwrap(), "{}", c["name"]);
        assert_eq!(header.name, s(&expect["headerName"]), "{}", c["name"]);
        assert_eq!(
            header.value,
            s(&expect["headerValue"]),
            "{}: paywire's header differs from @x402/core's",
            c["name"]
        );
    }
}

fn selection(file: &Value) {
    for c in cases(file) {
        let nonce = parse_b256(s(&c["nonce"])).unwrap();
        let p = Payer::new(
            Arc::new(LocalSigner::from_hex(s(&c["key"])).unwrap()),
            Policy::from_value(&c["policy"]).unwrap(),
            Arc::new(FixedClock(c["now"].as_u64().unwrap())),
            Arc::new(FixedRandomness::new(nonce.to_vec())),
        );
        for step in c["steps"].as_array().unwrap() {
            let bill = bill_of(&step["bill"]);
            let expect = &step["expect"];
            match expect.get("index") {
                Some(i) => {
                    assert_eq!(p.pay(&bill, None).unwrap().offer_index as u64, i.as_u64().unwrap(), "{}", c["name"])
                }
                None => {
                    let e = p.pay(&bill, None).unwrap_err();
                    assert_eq!(e.code().as_str(), s(&expect["error"]), "{}", c["name"]);
                    let refused: Vec<u64> = e.refusals().iter().map(|r| r.index as u64).collect();
                    let want: Vec<u64> =
                        expect["refused"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
                    assert_eq!(refused, want, "{}", c["name"]);
                }
            }
        }
    }
}

fn verification(file: &Value) {
    for c in cases(file) {
        let payment = PaymentPayload::from_header(s(&c["payment"])).unwrap();
        let requirements = PaymentRequirements::from_json(&c["requirements"].to_string()).unwrap();
        let got =
            serde_json::to_value(verify_to_response(&payment, &requirements, c["now"].as_u64().unwrap())).unwrap();
        let expect = &c["expect"];
        assert_eq!(got["isValid"], expect["isValid"], "{}: {got}", c["name"]);
        assert_eq!(got.get("invalidReason"), expect.get("invalidReason"), "{}: {got}", c["name"]);
        assert_eq!(got["payer"], expect["payer"], "{}", c["name"]);
    }
}

fn credentials(file: &Value) {
    for c in cases(file) {
        let trusted = [addr(&c["signer"])];
        let format = if s(&c["format"]) == "jws" { CredentialFormat::Jws } else { CredentialFormat::Eip712 };
        let issuer = Issuer::local(LocalSigner::from_hex(s(&c["key"])).unwrap(), format);
        assert_eq!(issuer.address(), trusted[0], "{}", c["name"]);
        assert_eq!(issuer.kid(), s(&c["kid"]), "{}", c["name"]);
        let i = &c["input"];
        match s(&c["kind"]) {
            "offer" => {
                let r = &i["requirements"];
                let req = PaymentRequirements::new_v2(
                    s(&r["scheme"]),
                    s(&r["network"]),
                    u256(&r["amount"]),
                    s(&r["asset"]),
                    s(&r["payTo"]),
                    60,
                    None,
                )
                .unwrap();
                let until = i["validUntil"].as_u64().unwrap();
                let ours = issuer
                    .issue_offer(&req, s(&i["resourceUrl"]), i["acceptIndex"].as_u64().unwrap() as usize, until)
                    .unwrap();
                assert_eq!(ours.to_json(), c["expect"], "{}", c["name"]);
                let official = SignedOffer::from_value(&c["expect"]).unwrap();
                assert!(official.verify(&trusted, until).unwrap().payload.describes(&req), "{}", c["name"]);
            }
            _ => {
                let tx = i.get("transaction").map(s);
                let ours = issuer
                    .issue_receipt(
                        s(&i["resourceUrl"]),
                        s(&i["payer"]),
                        s(&i["network"]),
                        tx,
                        i["issuedAt"].as_u64().unwrap(),
                    )
                    .unwrap();
                assert_eq!(ours.to_json(), c["expect"], "{}", c["name"]);
                let v = SignedReceipt::from_value(&c["expect"]).unwrap().verify(&trusted).unwrap();
                assert_eq!(v.payload.payer, s(&i["payer"]), "{}", c["name"]);
                assert_eq!(v.payload.transaction.as_deref(), tx, "{}", c["name"]);
            }
        }
    }
}

fn malformed(file: &Value) {
    for c in cases(file) {
        let input = s(&c["input"]);
        let err = match s(&c["kind"]) {
            "header" => decode_header_json(input).map(|_| ()),
            "paymentRequired" => PaymentRequired::from_header(input).map(|_| ()),
            "payment" => PaymentPayload::from_header(input).map(|_| ()),
            "settleResponse" => SettleResponse::from_header(input).map(|_| ()),
            other => panic!("unknown kind {other}"),
        }
        .expect_err(&format!("{} was accepted", c["name"]));
        assert_eq!(err.code().as_str(), s(&c["error"]), "{}: {err}", c["name"]);
    }
}
