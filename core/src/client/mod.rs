//! The paying side: policy, payer, and reading the server's settlement receipt.

use crate::prelude::*;

pub mod chain_read;
mod channels;
pub mod fetch;
mod payer;
mod policy;

pub use chain_read::{RpcEndpoints, Sponsorship};
pub use fetch::{
    FetchAction, FetchInput, FetchOptions, FetchOutcome, FetchRequest, OWN_BODY_LIMIT, OWN_REQUEST_TIMEOUT_MS,
    PaidFetch,
};
pub use payer::{
    DEFAULT_EXPIRY_MARGIN, PayExtras, Payer, PayerOptions, PaymentHeader, Prepared, PreparedPayment, REUSE_MARGIN,
    V1_VALID_AFTER_LEAD,
};
pub use policy::{AllowedAsset, DEFAULT_MAX_PER_PAYMENT, Policy};

use crate::codec::{self, header};
use crate::error::Result;
use crate::types::SettleResponse;

/// Reads the settlement receipt of a response: `PAYMENT-RESPONSE`, else `X-PAYMENT-RESPONSE` (any letter
/// case). `Ok(None)` when the response carries neither.
pub fn read_settlement<'a, I, K, V>(headers: I) -> Result<Option<SettleResponse>>
where
    I: IntoIterator<Item = &'a (K, V)> + Clone,
    K: AsRef<str> + 'a,
    V: AsRef<str> + 'a,
{
    let value = codec::find_header(headers.clone(), header::PAYMENT_RESPONSE)
        .or_else(|| codec::find_header(headers, header::X_PAYMENT_RESPONSE));
    value.map(SettleResponse::from_header).transpose()
}

/// Whether a request already carries a payment (`PAYMENT-SIGNATURE` or `X-PAYMENT`): paying again for it
/// would pay twice.
pub fn carries_payment<'a, I, K, V>(headers: I) -> bool
where
    I: IntoIterator<Item = &'a (K, V)> + Clone,
    K: AsRef<str> + 'a,
    V: AsRef<str> + 'a,
{
    codec::find_header(headers.clone(), header::PAYMENT_SIGNATURE).is_some()
        || codec::find_header(headers, header::X_PAYMENT).is_some()
}

/// Whether a paid request's outcome is still open after its answer, so the payment must stay remembered
/// for a retry of the same purchase (and [`Payer::forget`] must not be called yet): the server is still
/// processing it (409), failed or could not reach its facilitator (5xx: the payment may yet settle), or
/// reports the settlement pending. Any other answer is definite.
pub fn outcome_is_open(status: u16, settlement: Option<&SettleResponse>) -> bool {
    status == 409 || status >= 500 || settlement.is_some_and(SettleResponse::is_pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_outcomes() {
        let pending = SettleResponse::from_json(
            r#"{"success":false,"errorReason":"settlement_pending","transaction":"0x1","network":"eip155:8453"}"#,
        )
        .unwrap();
        let failed = SettleResponse::from_json(
            r#"{"success":false,"errorReason":"insufficient_funds","transaction":"","network":"eip155:8453"}"#,
        )
        .unwrap();
        for status in [409, 500, 502, 503, 504] {
            assert!(outcome_is_open(status, None), "{status}");
        }
        assert!(outcome_is_open(402, Some(&pending)));
        for status in [200, 201, 400, 402, 404] {
            assert!(!outcome_is_open(status, None), "{status}");
        }
        assert!(!outcome_is_open(402, Some(&failed)));
    }

    /// A channel's deposit counts against the policy: the largest the per-payment cap allows (halving from a
    /// hundred requests' worth), and a payer whose budget cannot cover one request pays nothing.
    #[test]
    fn deposits_fit_the_spend_policy() {
        use crate::server::{PriceTag, PriceTagSpec};
        use crate::signer::FixedRandomness;
        use crate::{FixedClock, LocalSigner, PaymentPayload, PaymentRequired, ResourceInfo};
        use alloc::sync::Arc;
        let spec = PriceTagSpec {
            network: "eip155:84532".into(),
            pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C".into(),
            amount: Some(alloy_primitives::U256::from(1000u64)),
            asset: Some("0x036CbD53842c5426634e7929541eC2318f3dCF7e".into()),
            scheme: Some(crate::batch::SCHEME.into()),
            extra: serde_json::json!({"receiverAuthorizer": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"})
                .as_object()
                .cloned(),
            ..PriceTagSpec::default()
        };
        let tag = PriceTag::from_spec(spec).unwrap();
        let bill = crate::server::build_payment_required(2, ResourceInfo::new("http://api.test/"), &[tag]).unwrap();
        let bill = PaymentRequired::from_header(&bill.to_header()).unwrap();
        let deposit_of = |policy: &str| {
            let payer = Payer::new(
                Arc::new(LocalSigner::from_bytes(&[9; 32]).unwrap()),
                Policy::from_json(policy).unwrap(),
                Arc::new(FixedClock(1_750_000_000)),
                Arc::new(FixedRandomness::new(vec![7; 32])),
            );
            payer.pay(&bill, None).map(|h| {
                let payment = PaymentPayload::from_header(&h.value).unwrap();
                match crate::batch::BatchPayload::parse(payment.payload()).unwrap() {
                    crate::batch::BatchPayload::Deposit { deposit, .. } => deposit.amount,
                    other => panic!("a first payment deposits: {other:?}"),
                }
            })
        };
        assert_eq!(deposit_of("{}").unwrap(), 100_000);
        assert_eq!(deposit_of(r#"{"maxPerPayment": "$0.03"}"#).unwrap(), 25_000);
        assert_eq!(deposit_of(r#"{"budget": "$0.0005"}"#).unwrap_err().code(), crate::ErrorCode::NoAcceptableOffer);
    }
}

/// Names a purchase for [`Payer::pay_with`]: the same method, URL and body are the same purchase, so a retry
/// of it reuses its payment instead of paying twice. Every paywire HTTP client names purchases this way.
pub fn purchase_key(method: &str, url: &str, body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("{} {url} {}", method.to_ascii_uppercase(), alloy_primitives::hex::encode(Sha256::digest(body)))
}

#[cfg(test)]
mod purchase_key_tests {
    use super::purchase_key;

    #[test]
    fn a_purchase_is_method_url_and_body_digest() {
        assert_eq!(
            purchase_key("post", "https://api.example.com/a", b"abc"),
            "POST https://api.example.com/a ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(purchase_key("GET", "https://x/", b""), purchase_key("GET", "https://x/", b" "));
    }
}
