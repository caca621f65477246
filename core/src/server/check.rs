//! Taking a payment: read it from the request, match it to one of the server's offers, check it offline, and
//! build what the facilitator and the client are sent.

use crate::codec::{self, header};
use crate::error::{Error, ErrorCode, Result};
use crate::payment_id;
use crate::types::{FacilitatorRequest, PaymentPayload, PaymentRequired, PaymentRequirements, SettleResponse};
use crate::verify::{VerifiedPayment, verify_payment};

/// The server's error string when the payment matches no offer (as the official servers word it).
pub const NO_MATCHING_REQUIREMENTS: &str = "No matching payment requirements";

/// Reads the payment a request carries: `PAYMENT-SIGNATURE` (v2), else `X-PAYMENT` (v1), any letter case.
/// `Ok(None)` when the request carries neither; a malformed header is an error (answer it with 400).
pub fn read_payment<'a, I, K, V>(headers: I) -> Result<Option<PaymentPayload>>
where
    I: IntoIterator<Item = &'a (K, V)> + Clone,
    K: AsRef<str> + 'a,
    V: AsRef<str> + 'a,
{
    if let Some(v) = codec::find_header(headers.clone(), header::PAYMENT_SIGNATURE) {
        return PaymentPayload::from_header(v).map(Some);
    }
    if let Some(v) = codec::find_header(headers, header::X_PAYMENT) {
        return PaymentPayload::from_header(v).map(Some);
    }
    Ok(None)
}

/// Finds the server's offer a payment accepts.
///
/// v2: `accepted` must equal an offer in scheme, network, amount, asset and payee (addresses compared as
/// addresses), and carry at least the offer's `extra` members. v1 payments name only scheme and network, so
/// the offer whose payee and amount the authorization carries is taken.
pub fn match_offer<'a>(
    payment: &PaymentPayload,
    offers: &'a [PaymentRequirements],
) -> Result<(usize, &'a PaymentRequirements)> {
    let found = match payment.accepted() {
        Some(accepted) => offers.iter().position(|o| o.version() == 2 && o.is_matched_by(accepted)),
        None => {
            let same_kind = |o: &&PaymentRequirements| {
                o.version() == 1 && o.scheme() == payment.scheme() && o.network() == payment.network()
            };
            let candidates: Vec<usize> =
                offers.iter().enumerate().filter(|(_, o)| same_kind(o)).map(|(i, _)| i).collect();
            if candidates.len() <= 1 {
                candidates.first().copied()
            } else {
                let exact = crate::exact::ExactPayload::parse(payment.payload()).ok();
                candidates.into_iter().find(|i| match &exact {
                    Some(crate::exact::ExactPayload::Eip3009 { authorization, .. }) => {
                        authorization.value == offers[*i].amount()
                            && crate::wire::parse_address(offers[*i].pay_to()).ok() == Some(authorization.to)
                    }
                    _ => false,
                })
            }
        }
    };
    match found {
        Some(i) => Ok((i, &offers[i])),
        None => {
            let summary = match payment.accepted() {
                Some(a) => format!("the payment accepts {}", a.summary()),
                None => format!("the v1 payment is for {} on {}", payment.scheme(), payment.network()),
            };
            Err(Error::new(
                ErrorCode::NoMatchingRequirements,
                format!("{NO_MATCHING_REQUIREMENTS}: {summary}, which is none of the {} offers", offers.len()),
            ))
        }
    }
}

/// A payment the server has matched to its offer and verified offline.
#[derive(Clone, Debug)]
pub struct AcceptedPayment {
    /// The payment as the client sent it.
    pub payment: PaymentPayload,
    /// The server's own offer it pays (send this, not the client's copy, to the facilitator).
    pub requirements: PaymentRequirements,
    /// The offer's index in the bill.
    pub offer_index: usize,
    /// What offline verification established.
    pub verified: VerifiedPayment,
    /// The `payment-identifier` id, if the payment carries one.
    pub payment_id: Option<String>,
}

impl AcceptedPayment {
    /// The `/verify` and `/settle` request body.
    pub fn facilitator_request(&self) -> FacilitatorRequest {
        FacilitatorRequest::new(self.payment.clone(), self.requirements.clone())
    }
}

/// Matches a payment to the bill's offers, enforces a required `payment-identifier`, and verifies it
/// offline at Unix time `now`. Errors carry x402 reason codes; [`status_for`] maps them to HTTP statuses.
pub fn check_payment(bill: &PaymentRequired, payment: &PaymentPayload, now: u64) -> Result<AcceptedPayment> {
    if payment.x402_version() != bill.x402_version {
        return Err(Error::new(
            ErrorCode::InvalidX402Version,
            format!(
                "the payment is x402 v{} but this server bills in v{}; send it in the {} header",
                payment.x402_version(),
                bill.x402_version,
                if bill.x402_version >= 2 { header::PAYMENT_SIGNATURE } else { header::X_PAYMENT }
            ),
        ));
    }
    let (offer_index, requirements) = match_offer(payment, &bill.accepts)?;
    let id_required = bill
        .extensions
        .as_ref()
        .and_then(|x| x.get(payment_id::PAYMENT_IDENTIFIER))
        .and_then(|e| e.get("info"))
        .and_then(|i| i.get("required"))
        .and_then(|r| r.as_bool())
        .unwrap_or(false);
    let payment_id = payment_id::require(payment, id_required)?;
    let verified = verify_payment(payment, requirements, now)?;
    Ok(AcceptedPayment {
        payment: payment.clone(),
        requirements: requirements.clone(),
        offer_index,
        verified,
        payment_id,
    })
}

/// The header that carries a settlement receipt back to the client: `PAYMENT-RESPONSE` for v2,
/// `X-PAYMENT-RESPONSE` for v1, with its value.
pub fn settlement_header(x402_version: u8, settlement: &SettleResponse) -> (&'static str, String) {
    let name = if x402_version >= 2 { header::PAYMENT_RESPONSE } else { header::X_PAYMENT_RESPONSE };
    (name, settlement.to_header())
}

/// The HTTP status a server answers an error with:
/// 400 for a payment header that cannot be decoded or lacks a required part (the client's bug: paying again
/// the same way cannot help), 402 for everything else about the payment (no match, invalid, expired): pay
/// again. See [`status_for_reason`] for a facilitator's verdicts.
pub fn status_for(error: &Error) -> u16 {
    use ErrorCode::*;
    match error.code() {
        HeaderTooLarge
        | HeaderEmpty
        | HeaderBase64Url
        | HeaderMissingPadding
        | HeaderInvalidBase64
        | InvalidJson
        | InvalidPayload
        | InvalidX402Version
        | InvalidPaymentIdentifier
        | PaymentIdentifierRequired => 400,
        _ => 402,
    }
}

/// The HTTP status for a facilitator's invalid verdict (`invalidReason`): 412 for
/// `permit2_allowance_required`, else 402.
pub fn status_for_reason(reason: &str) -> u16 {
    if reason == "permit2_allowance_required" { 412 } else { 402 }
}
