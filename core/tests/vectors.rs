//! Runs every file of tests/vectors (produced by the official SDKs) through the Rust API. The Python, Node
//! and Kotlin suites run the same files through their bindings.

use std::path::PathBuf;
use std::sync::Arc;

use paywire_core::client::{Payer, PayerOptions, Policy};
use paywire_core::codec::{decode_header_json, encode_json_text};
use paywire_core::credentials::{CredentialFormat, Issuer, SignedOffer, SignedReceipt};
use paywire_core::decode::decode_any;
use paywire_core::eip712::{
    self, Permit, PermitWitnessTransferFrom, TokenPermissions, TransferWithAuthorization, Witness,
};
use paywire_core::exact::domain_separator;
use paywire_core::server::PriceTag;
use paywire_core::verify::verify_to_response;
use paywire_core::wire::{parse_address, parse_b256, parse_decimal_u256};
use paywire_core::*;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors").join(format!("{name}.json"));
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
        None => PaymentRequired::from_json(&wire["body"].to_string()).unwrap(),
    }
}

fn signers() -> impl Iterator<Item = (&'static str, fn(&LocalSigner, &B256) -> Signature)> {
    [
        (
            "default backend",
            (|k: &LocalSigner, d: &B256| k.sign_digest(d).unwrap()) as fn(&LocalSigner, &B256) -> Signature,
        ),
        ("k256", |k: &LocalSigner, d: &B256| k.sign_digest_k256(d).unwrap()),
    ]
    .into_iter()
}

#[test]
fn headers() {
    for c in cases(&load("headers")) {
        let value = s(&c["value"]);
        assert_eq!(decode_header_json(value).unwrap(), c["json"], "{}", c["name"]);
        assert_eq!(encode_json_text(&c["json"].to_string()), value, "{}", c["name"]);
        let decoded = decode_any(value).unwrap();
        assert_eq!(decoded.kind.name(), s(&c["message"]), "{}", c["name"]);
        match s(&c["message"]) {
            "PaymentRequired" => {
                assert_eq!(PaymentRequired::from_header(value).unwrap().to_header(), value, "{}", c["name"])
            }
            "PaymentPayload" => assert_eq!(PaymentPayload::from_header(value).unwrap().to_header(), value),
            _ => {
                SettleResponse::from_header(value).unwrap();
            }
        }
    }
}

#[test]
fn networks() {
    for c in cases(&load("networks")) {
        let network = s(&c["network"]);
        match c.get("error") {
            Some(code) => assert_eq!(network::chain_id(network).unwrap_err().code().as_str(), s(code), "{network}"),
            None => {
                assert_eq!(network::chain_id(network).unwrap(), c["chainId"].as_u64().unwrap());
                assert_eq!(network::to_caip2(network).unwrap(), s(&c["caip2"]));
            }
        }
    }
}

#[test]
fn assets() {
    let file = load("assets");
    assert_eq!(cases(&file).len(), assets::KNOWN_ASSETS.len(), "paywire's table has other entries than the SDK's");
    for c in cases(&file) {
        let chain_id = network::chain_id(s(&c["network"])).unwrap();
        let a = assets::known_asset(chain_id, &addr(&c["address"])).unwrap_or_else(|| panic!("missing {c}"));
        assert_eq!(
            (a.name, a.version, a.decimals as u64, a.symbol),
            (s(&c["name"]), s(&c["version"]), c["decimals"].as_u64().unwrap(), s(&c["symbol"]))
        );
        let method = if a.transfer_method == assets::TransferMethod::Permit2 { "permit2" } else { "eip3009" };
        assert_eq!(method, s(&c["transferMethod"]));
        assert_eq!(a.supports_eip2612, c["supportsEip2612"].as_bool().unwrap());
        let sep = domain_separator(a.name, a.version, chain_id, a.address);
        assert_eq!(sep, parse_b256(s(&c["domainSeparator"])).unwrap(), "{}", a.name);
        let t = &c["transfer"];
        let m = &t["message"];
        let msg = TransferWithAuthorization {
            from: addr(&m["from"]),
            to: addr(&m["to"]),
            value: u256(&m["value"]),
            validAfter: u256(&m["validAfter"]),
            validBefore: u256(&m["validBefore"]),
            nonce: parse_b256(s(&m["nonce"])).unwrap(),
        };
        let digest = eip712::digest(&sep, &msg);
        assert_eq!(digest, parse_b256(s(&t["digest"])).unwrap());
        let key = LocalSigner::from_hex(s(&t["key"])).unwrap();
        for (backend, sign) in signers() {
            assert_eq!(sign(&key, &digest).to_hex(), s(&t["signature"]), "{backend} {}", a.name);
        }
    }
    let p = &file["permit2"];
    let m = &p["message"];
    let msg = PermitWitnessTransferFrom {
        permitted: TokenPermissions { token: addr(&m["permitted"]["token"]), amount: u256(&m["permitted"]["amount"]) },
        spender: addr(&m["spender"]),
        nonce: u256(&m["nonce"]),
        deadline: u256(&m["deadline"]),
        witness: Witness { to: addr(&m["witness"]["to"]), validAfter: u256(&m["witness"]["validAfter"]) },
    };
    let sep = exact::permit2_domain_separator(p["chainId"].as_u64().unwrap());
    assert_eq!(sep, parse_b256(s(&p["domainSeparator"])).unwrap());
    let digest = eip712::digest(&sep, &msg);
    assert_eq!(digest, parse_b256(s(&p["digest"])).unwrap());
    let key = LocalSigner::from_hex(s(&p["key"])).unwrap();
    for (backend, sign) in signers() {
        assert_eq!(sign(&key, &digest).to_hex(), s(&p["signature"]), "{backend} permit2");
    }
    let e = &file["eip2612"];
    let m = &e["message"];
    let permit = Permit {
        owner: addr(&m["owner"]),
        spender: addr(&m["spender"]),
        value: u256(&m["value"]),
        nonce: u256(&m["nonce"]),
        deadline: u256(&m["deadline"]),
    };
    let sep = domain_separator(s(&e["name"]), s(&e["version"]), e["chainId"].as_u64().unwrap(), addr(&e["token"]));
    let digest = eip712::digest(&sep, &permit);
    assert_eq!(digest, parse_b256(s(&e["digest"])).unwrap());
    for (backend, sign) in signers() {
        assert_eq!(sign(&key, &digest).to_hex(), s(&e["signature"]), "{backend} eip2612");
    }
}

#[test]
fn money() {
    const PAY_TO: &str = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";
    for c in cases(&load("money")) {
        let tag = PriceTag::new(s(&c["price"]), s(&c["network"]), PAY_TO);
        match c.get("error") {
            Some(code) => {
                assert_eq!(tag.to_requirements(2, &ResourceInfo::new("u")).unwrap_err().code().as_str(), s(code), "{c}")
            }
            None => {
                let r = tag.to_requirements(2, &ResourceInfo::new("u")).unwrap();
                assert_eq!(r.amount().to_string(), s(&c["amount"]), "{c}");
                assert_eq!(r.asset(), s(&c["asset"]), "{c}");
                assert_eq!(&Value::Object(r.extra().cloned().unwrap_or_default()), &c["extra"], "{c}");
            }
        }
    }
}

#[test]
fn payments() {
    for c in cases(&load("payments")) {
        let bill = bill_of(&c["bill"]);
        let nonce = parse_b256(s(&c["nonce"])).unwrap();
        let payer = Payer::new(
            Arc::new(LocalSigner::from_hex(s(&c["key"])).unwrap()),
            Policy::default(),
            Arc::new(FixedClock(c["now"].as_u64().unwrap())),
            Arc::new(FixedRandomness::new(nonce.to_vec())),
        )
        .with_options(PayerOptions { expiry_margin: c["expiryMargin"].as_u64().unwrap(), ..Default::default() });
        let header = payer.pay(&bill, None).unwrap();
        assert_eq!(header.offer_index as u64, c["offerIndex"].as_u64().unwrap(), "{}", c["name"]);
        assert_eq!(header.name, s(&c["headerName"]), "{}", c["name"]);
        assert_eq!(header.value, s(&c["headerValue"]), "{}: paywire's header differs from @x402/core's", c["name"]);
    }
}

#[test]
fn selection() {
    let key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    for c in cases(&load("selection")) {
        let policy = Policy::from_json(&c["policy"]).unwrap();
        let payer = Payer::new(
            Arc::new(LocalSigner::from_hex(key).unwrap()),
            policy,
            Arc::new(FixedClock(1_750_000_000)),
            Arc::new(FixedRandomness::new(vec![7])),
        );
        for step in c["steps"].as_array().unwrap() {
            let bill = bill_of(&step["bill"]);
            let expect = &step["expect"];
            match expect.get("index") {
                Some(i) => {
                    assert_eq!(payer.pay(&bill, None).unwrap().offer_index as u64, i.as_u64().unwrap(), "{}", c["name"])
                }
                None => {
                    let e = payer.pay(&bill, None).unwrap_err();
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

#[test]
fn verification() {
    for c in cases(&load("verification")) {
        let payment = PaymentPayload::from_header(s(&c["payment"])).unwrap();
        let requirements = PaymentRequirements::from_json(&c["requirements"].to_string()).unwrap();
        let got =
            serde_json::to_value(verify_to_response(&payment, &requirements, c["now"].as_u64().unwrap())).unwrap();
        let expect = &c["expect"];
        assert_eq!(got["isValid"], expect["isValid"], "{}: {got}", c["name"]);
        assert_eq!(got.get("invalidReason"), expect.get("invalidReason"), "{}", c["name"]);
        assert_eq!(
            got["payer"].as_str().map(str::to_lowercase),
            expect["payer"].as_str().map(str::to_lowercase),
            "{}",
            c["name"]
        );
    }
}

#[test]
fn credentials() {
    let file = load("credentials");
    let key = LocalSigner::from_hex(s(&file["key"])).unwrap();
    let trusted = [addr(&file["signer"])];
    let now = file["issuedAt"].as_u64().unwrap();
    let url = s(&file["resourceUrl"]);
    let r = &file["requirements"];
    let req = PaymentRequirements::new_v2(
        "exact",
        s(&r["network"]),
        u256(&r["amount"]),
        s(&r["asset"]),
        s(&r["payTo"]),
        60,
        None,
    )
    .unwrap();
    let until = now + file["offerValiditySeconds"].as_u64().unwrap();
    for official in file["offers"].as_array().unwrap() {
        let parsed = SignedOffer::from_json(official).unwrap();
        parsed.verify(&trusted, Some(now)).unwrap();
        let format =
            if parsed.format == CredentialFormat::Eip712 { CredentialFormat::Eip712 } else { CredentialFormat::Jws };
        let ours = Issuer::local(LocalSigner::from_hex(s(&file["key"])).unwrap(), format)
            .issue_offer(&req, url, 0, until)
            .unwrap();
        assert_eq!(&ours.to_json(), official);
    }
    for official in file["receipts"].as_array().unwrap() {
        let parsed = SignedReceipt::from_json(official).unwrap();
        let v = parsed.verify(&trusted).unwrap();
        let p = v.payload;
        let ours = Issuer::local(LocalSigner::from_hex(s(&file["key"])).unwrap(), parsed.format)
            .issue_receipt(&p.resource_url, &p.payer, &p.network, p.transaction.as_deref(), p.issued_at)
            .unwrap();
        assert_eq!(&ours.to_json(), official);
    }
    assert_eq!(key.address(), trusted[0]);
}

#[test]
fn malformed() {
    for c in cases(&load("malformed")) {
        let input = s(&c["input"]);
        let err = match s(&c["kind"]) {
            "header" => decode_header_json(input).map(|_| ()),
            "paymentRequired" => PaymentRequired::from_header(input).map(|_| ()),
            "payment" => PaymentPayload::from_header(input).map(|_| ()),
            "settleResponse" => SettleResponse::from_header(input).map(|_| ()),
            other => panic!("unknown kind {other}"),
        }
        .expect_err(&format!("{} accepted", c["input"]));
        assert_eq!(err.code().as_str(), s(&c["error"]), "{}: {}", input.chars().take(60).collect::<String>(), err);
    }
}
