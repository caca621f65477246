//! Passes: time-limited access credentials a facilitator issues for a payment it checked on chain, which a
//! server accepts offline (`credentials::access`) instead of a new payment.
//!
//! The flow: a server's bill names where passes are issued (`paywire-pass`: the facilitator, its endpoint,
//! the issuers the server trusts, the lifetime it grants) and carries the server's signed offers
//! (`offer-receipt`), which tell the facilitator what the resource costs. A client that paid (a settled
//! `exact` payment, or a transfer it broadcast itself) asks that endpoint for a pass, with the transaction,
//! the resource and the signed offer it paid, and signs the request with the paying key ([`proof_message`],
//! EIP-191). The facilitator checks the transfer against the offer on chain, refuses a transaction that
//! already bought a pass, and signs a receipt. The client presents it in `X-PAYWIRE-RECEIPT` until it expires
//! or is refused, then pays again.

use crate::prelude::*;

use alloy_primitives::{B256, eip191_hash_message};
use serde_json::Value;

use crate::types::PaymentRequired;

/// The bill extension naming where a client gets a pass (paywire's own).
pub const EXTENSION_KEY: &str = "paywire-pass";
/// The facilitator endpoint that issues a pass for a transaction.
pub const TRANSACTION_ENDPOINT: &str = "/passes/transaction";
/// The facilitator endpoint that issues a pass for an authorization it settled (the `/settle` body).
pub const SETTLEMENT_ENDPOINT: &str = "/passes/settlement";

/// The message a payer signs (EIP-191) to ask for a pass for its transfer. It names the transaction and the
/// resource, so a captured request cannot buy a pass for another resource.
pub fn proof_message(network: &str, transaction: &str, resource: &str) -> String {
    format!(
        "paywire pass request\nnetwork: {network}\ntransaction: {}\nresource: {resource}",
        transaction.to_ascii_lowercase()
    )
}

/// The digest the payer signs for [`proof_message`].
pub fn proof_digest(network: &str, transaction: &str, resource: &str) -> B256 {
    eip191_hash_message(proof_message(network, transaction, resource).as_bytes())
}

/// Where a bill says passes are issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassOffer {
    /// The facilitator's base URL.
    pub facilitator: String,
    /// The endpoint to ask (`{facilitator}/passes/transaction`).
    pub endpoint: String,
    /// How long the server accepts a pass, in seconds.
    pub lifetime_seconds: u64,
}

/// The pass offer a bill declares, when it names one of `trusted` facilitators (a client asks only the
/// facilitators its user configured: a bill must not send it to any URL).
pub fn offer_in(bill: &PaymentRequired, trusted: &[String]) -> Option<PassOffer> {
    let info = bill.extensions.as_ref()?.get(EXTENSION_KEY)?.get("info")?;
    let facilitator = info.get("facilitator")?.as_str()?.trim_end_matches('/').to_string();
    if !trusted.iter().any(|t| t.trim_end_matches('/') == facilitator) {
        return None;
    }
    let endpoint = format!("{facilitator}{TRANSACTION_ENDPOINT}");
    let lifetime_seconds = info.get("lifetimeSeconds").and_then(Value::as_u64).unwrap_or(0);
    Some(PassOffer { facilitator, endpoint, lifetime_seconds })
}

/// A pass request's JSON body: the transaction, the resource, the server's signed offer paid, the proof.
pub fn request_body(transaction: &str, resource: &str, offer: &Value, signature: &str) -> String {
    serde_json::json!({
        "transaction": transaction,
        "resource": resource,
        "offer": offer,
        "signature": signature,
    })
    .to_string()
}

/// The server's signed offer in `bill` for the offer paid (`requirements`), as JSON: the one whose signed terms
/// are exactly those requirements'. `None` when the bill carries none (then no pass can be asked for).
pub fn signed_offer_for(bill: &PaymentRequired, requirements: &crate::types::PaymentRequirements) -> Option<Value> {
    let offers = crate::credentials::offers_in(bill).ok()?;
    offers
        .into_iter()
        .find(|o| {
            let p = &o.payload;
            p.scheme == requirements.scheme()
                && p.network == requirements.network()
                && p.asset.eq_ignore_ascii_case(requirements.asset())
                && p.pay_to.eq_ignore_ascii_case(requirements.pay_to())
                && p.amount == requirements.amount().to_string()
        })
        .map(|o| o.to_json())
}

/// A pass from a facilitator's answer: the `X-PAYWIRE-RECEIPT` value and when the facilitator says it ends.
pub fn read_answer(body: &[u8]) -> Option<(String, u64)> {
    let answer: Value = serde_json::from_slice(body).ok()?;
    if answer.get("success")?.as_bool()? {
        let header = answer.get("header")?.as_str()?.to_string();
        let expires_at = answer.get("expiresAt")?.as_u64()?;
        return Some((header, expires_at));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_trusted_facilitators_are_asked() {
        let mut bill = crate::server::build_payment_required(
            2,
            crate::types::ResourceInfo::new("https://api.example.com/weather"),
            &[crate::server::PriceTag::new("$0.01", "eip155:84532", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C")],
        )
        .unwrap();
        let info = serde_json::json!({ "info": { "facilitator": "https://f.example/", "lifetimeSeconds": 60 } });
        bill.extensions.get_or_insert_with(Default::default).insert(EXTENSION_KEY.into(), info);
        assert_eq!(offer_in(&bill, &["https://evil.example".into()]), None);
        let offer = offer_in(&bill, &["https://f.example".into()]).unwrap();
        assert_eq!(offer.endpoint, "https://f.example/passes/transaction");
        assert_eq!(offer.lifetime_seconds, 60);
        assert!(proof_message("eip155:1", "0xAB", "https://r").contains("transaction: 0xab\n"));
        assert_eq!(read_answer(br#"{"success":true,"header":"aGk=","expiresAt":5}"#), Some(("aGk=".into(), 5)));
        assert_eq!(read_answer(br#"{"success":false}"#), None);
        assert_eq!(read_answer(b"junk"), None);
    }
}
