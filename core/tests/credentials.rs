//! Signed offers and receipts, both formats, against the vectors `@x402/extensions` 2.27 produced.

use paywire_core::credentials::access::AccessPolicy;
use paywire_core::credentials::{
    CredentialFormat, Issuer, SignedOffer, SignedReceipt, offers_in, receipt_extension, receipt_in,
};
use paywire_core::server::{PriceTag, build_payment_required};
use paywire_core::*;
use serde_json::json;

const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const SIGNER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const PAYER: &str = "0x857b06519E91e3A54538791bDbb0E22373e36b66";
const URL: &str = "https://api.example.com/premium-data";
const TX: &str = "0x1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef";

fn issuer(format: CredentialFormat) -> Issuer {
    Issuer::local(LocalSigner::from_hex(KEY).unwrap(), format)
}

fn base_offer() -> PaymentRequirements {
    PaymentRequirements::new_v2(
        "exact",
        "eip155:8453",
        U256::from(10000),
        "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
        SIGNER,
        60,
        None,
    )
    .unwrap()
}

fn trusted() -> Vec<Address> {
    vec![SIGNER.parse().unwrap()]
}

#[test]
fn offers_match_the_official_sdk_byte_for_byte() {
    let eip712 = issuer(CredentialFormat::Eip712).issue_offer(&base_offer(), URL, 0, 1703123516).unwrap();
    assert_eq!(
        eip712.signature,
        "0xc3a568b4e5eccb4156560d7907959ce630ebe7c0e4961a8689702b255f1f60642cff9803c6275d659c7d67f2204a495e67cd8d6cacec1a38308d9bfd227ef7741b"
    );
    assert_eq!(
        eip712.to_json(),
        json!({"format":"eip712","acceptIndex":0,"payload":{"version":1,"resourceUrl":URL,"scheme":"exact","network":"eip155:8453","asset":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","payTo":SIGNER,"amount":"10000","validUntil":1703123516},"signature":eip712.signature})
    );
    let jws = issuer(CredentialFormat::Jws).issue_offer(&base_offer(), URL, 0, 1703123516).unwrap();
    assert_eq!(
        jws.signature,
        "eyJhbGciOiJFUzI1NksiLCJraWQiOiJkaWQ6a2V5OnpRM3Nob1RyM3BUb3hqUXFmcDU4bUxUQnQzR3FQdmRRU1pwbTRlR1hGWmJUVndweXojelEzc2hvVHIzcFRveGpRcWZwNThtTFRCdDNHcVB2ZFFTWnBtNGVHWEZaYlRWd3B5eiJ9.eyJhbW91bnQiOiIxMDAwMCIsImFzc2V0IjoiMHg4MzM1ODlmQ0Q2ZURiNkUwOGY0YzdDMzJENGY3MWI1NGJkQTAyOTEzIiwibmV0d29yayI6ImVpcDE1NTo4NDUzIiwicGF5VG8iOiIweGYzOUZkNmU1MWFhZDg4RjZGNGNlNmFCODgyNzI3OWNmZkZiOTIyNjYiLCJyZXNvdXJjZVVybCI6Imh0dHBzOi8vYXBpLmV4YW1wbGUuY29tL3ByZW1pdW0tZGF0YSIsInNjaGVtZSI6ImV4YWN0IiwidmFsaWRVbnRpbCI6MTcwMzEyMzUxNiwidmVyc2lvbiI6MX0.3xVUFUe0s-778UfOjUSvR6ARkpyysoErzd16RTsdTRMjhgMNB_qS_CxFMcdi5XGUIRWxe3yQoBRKOecm2HiKXg"
    );
    for offer in [eip712, jws] {
        let round = SignedOffer::from_value(&offer.to_json()).unwrap();
        let v = round.verify(&trusted(), 1703123500).unwrap();
        assert_eq!(v.signer.to_checksum(None), SIGNER);
        assert!(v.payload.describes(&base_offer()));
        assert_eq!(round.verify(&trusted(), 1703123517).unwrap_err().code(), ErrorCode::CredentialExpired);
        assert_eq!(round.verify(&[Address::ZERO], 1703123500).unwrap_err().code(), ErrorCode::UntrustedSigner);
    }
}

#[test]
fn receipts_match_the_official_sdk_byte_for_byte() {
    let with_tx =
        issuer(CredentialFormat::Eip712).issue_receipt(URL, PAYER, "eip155:8453", Some(TX), 1703123456).unwrap();
    assert_eq!(
        with_tx.signature,
        "0xda9b51306cb6a04583482966c7364933cd3da74ab9bef577cdc22aa2422c09193d286960a386dbd749c597797f2b7ccfde75ae6a94fd596cbef47557834d90541b"
    );
    let minimal = issuer(CredentialFormat::Eip712).issue_receipt(URL, PAYER, "eip155:8453", None, 1703123456).unwrap();
    assert_eq!(
        minimal.signature,
        "0x4f98ad0be21e9eb48ec1aeb7a65f25100f7db10a8e1870aa4021cbd6985013d01451045373c2f5f74ac168e90cee435f13284beaa500f570ab7584cdde05e1021c"
    );
    assert_eq!(minimal.to_json()["payload"]["transaction"], json!(""));
    let jws = issuer(CredentialFormat::Jws).issue_receipt(URL, PAYER, "eip155:8453", Some(TX), 1703123456).unwrap();
    assert!(
        jws.signature
            .ends_with(".hF2QDopeZ6QcJVmtn-mEzoutGypEsD-Sgba05WqpCFRgd0E9tlVUZABAsJRfc7vrPYFYwYhPexPFCGljZhMSiQ")
    );
    let jws_min = issuer(CredentialFormat::Jws).issue_receipt(URL, PAYER, "eip155:8453", None, 1703123456).unwrap();
    assert!(
        jws_min
            .signature
            .ends_with(".xgAZ59d-m9Wdq3uX8UIHhObG23DTE0PlQsU9JysbYSd7EW2OK5qYeHhb1kJkkXRZ2DHc1FXer3bB0lKVt4njfg")
    );
    for r in [with_tx, minimal, jws, jws_min] {
        let v = SignedReceipt::from_value(&r.to_json()).unwrap().verify(&trusted()).unwrap();
        assert_eq!(v.payload.payer, PAYER);
    }
}

#[test]
fn tampered_credentials_are_refused() {
    let mut r = issuer(CredentialFormat::Eip712).issue_receipt(URL, PAYER, "eip155:8453", None, 1703123456).unwrap();
    r.payload.resource_url = "https://api.example.com/other".into();
    assert_eq!(r.verify(&trusted()).unwrap_err().code(), ErrorCode::UntrustedSigner);
    let bad = SignedReceipt::from_value(&json!({"format":"cose","signature":"x"})).unwrap_err();
    assert_eq!(bad.code(), ErrorCode::InvalidCredential);
}

#[test]
fn bills_and_settlements_carry_credentials() {
    let mut bill =
        build_payment_required(2, ResourceInfo::new(URL), &[PriceTag::new("$0.01", "eip155:8453", SIGNER)]).unwrap();
    issuer(CredentialFormat::Eip712).sign_bill(&mut bill, 1703123456, Some(60)).unwrap();
    let bill = PaymentRequired::from_header(&bill.to_header()).unwrap();
    let offers = offers_in(&bill).unwrap();
    assert_eq!(offers.len(), 1);
    assert!(offers[0].verify(&trusted(), 1703123456).unwrap().payload.describes(&bill.accepts[0]));

    let receipt = issuer(CredentialFormat::Jws).issue_receipt(URL, PAYER, "eip155:8453", None, 1703123456).unwrap();
    let mut settle = SettleResponse::from_json(r#"{"success":true,"transaction":"0xab","network":"eip155:8453","payer":"0x857b06519E91e3A54538791bDbb0E22373e36b66"}"#).unwrap();
    settle.extensions = Some(serde_json::from_value(json!({"offer-receipt": receipt_extension(&receipt)})).unwrap());
    let back = receipt_in(&SettleResponse::from_header(&settle.to_header()).unwrap()).unwrap().unwrap();
    assert_eq!(back, receipt);
}

#[test]
fn receipts_grant_time_limited_access() {
    let receipt = issuer(CredentialFormat::Eip712).issue_receipt(URL, PAYER, "eip155:8453", None, 1000).unwrap();
    let policy = AccessPolicy::new(trusted(), 3600);
    let headers = vec![("x-paywire-receipt".to_string(), receipt.to_header())];
    assert!(policy.check_request(&headers, URL, 2000).unwrap().is_some());
    assert_eq!(policy.check_request(&headers, URL, 4601).unwrap_err().code(), ErrorCode::CredentialExpired);
    assert_eq!(
        policy.check(&receipt, "https://api.example.com/other", 2000).unwrap_err().code(),
        ErrorCode::CredentialResourceMismatch
    );
    assert_eq!(
        AccessPolicy::new(vec![Address::ZERO], 3600).check(&receipt, URL, 2000).unwrap_err().code(),
        ErrorCode::UntrustedSigner
    );
    assert_eq!(policy.check(&receipt, URL, 800).unwrap_err().code(), ErrorCode::InvalidCredential);
    let none: Vec<(String, String)> = vec![];
    assert!(policy.check_request(&none, URL, 2000).unwrap().is_none());
}
