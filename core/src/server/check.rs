//! Taking a payment: read it from the request, match it to one of the server's offers, check it offline, and
//! build what the facilitator and the client are sent.

use crate::prelude::*;
use serde_json::Value;

use crate::codec::{self, header};
use crate::error::{Category, Error, ErrorCode, Result};
use crate::payment_id;
use crate::types::{FacilitatorRequest, PaymentPayload, PaymentRequired, PaymentRequirements, SettleResponse};
use crate::verify::{VerifiedPayment, VerifyOptions, verify_payment_with};
use crate::wire::{Object, extension_info};

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
                None => format!(
                    "the v1 payment is for {} on {}",
                    crate::wire::truncate(payment.scheme()),
                    crate::wire::truncate(payment.network())
                ),
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

/// Matches a payment to the bill's offers, checks that it echoes the bill's extensions, enforces a required
/// `payment-identifier`, and verifies it offline at Unix time `now` (EOA signatures only). Errors carry x402
/// reason codes; [`status_for`] maps them to HTTP statuses.
pub fn check_payment(bill: &PaymentRequired, payment: &PaymentPayload, now: u64) -> Result<AcceptedPayment> {
    check_payment_with(bill, payment, now, &VerifyOptions::default())
}

/// [`check_payment`] with verification options (e.g. passing smart-wallet signatures on to a facilitator).
pub fn check_payment_with(
    bill: &PaymentRequired,
    payment: &PaymentPayload,
    now: u64,
    options: &VerifyOptions,
) -> Result<AcceptedPayment> {
    let (offer_index, verified, payment_id) = check(bill, payment, now, options)?;
    Ok(AcceptedPayment {
        payment: payment.clone(),
        requirements: bill.accepts[offer_index].clone(),
        offer_index,
        verified,
        payment_id,
    })
}

/// [`check_payment_with`] for a payment the caller hands over (one just parsed from its header), which
/// spares copying it into the result.
pub fn check_owned_payment(
    bill: &PaymentRequired,
    payment: PaymentPayload,
    now: u64,
    options: &VerifyOptions,
) -> Result<AcceptedPayment> {
    let (offer_index, verified, payment_id) = check(bill, &payment, now, options)?;
    Ok(AcceptedPayment { payment, requirements: bill.accepts[offer_index].clone(), offer_index, verified, payment_id })
}

/// The checks of [`check_payment_with`]: the offer's index, what verification established, the payment id.
fn check(
    bill: &PaymentRequired,
    payment: &PaymentPayload,
    now: u64,
    options: &VerifyOptions,
) -> Result<(usize, VerifiedPayment, Option<String>)> {
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
    check_extension_echo(bill.extensions.as_ref(), payment.extensions())?;
    let id_required = extension_info(bill.extensions.as_ref(), payment_id::PAYMENT_IDENTIFIER)
        .and_then(|i| i.get("required"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let payment_id = payment_id::require(payment, id_required)?;
    let verified = verify_payment_with(payment, requirements, now, options)?;
    Ok((offer_index, verified, payment_id))
}

/// Extension members whose value a server fills per response, so a client's echo may differ
/// (`offer-receipt` offers are signed per 402).
const DYNAMIC_INFO: &[(&str, &str)] = &[
    ("offer-receipt", "offers"),
    // A sign-in challenge is new in every bill (as the official servers skip these fields too).
    ("sign-in-with-x", "nonce"),
    ("sign-in-with-x", "issuedAt"),
    ("sign-in-with-x", "expirationTime"),
];

/// For every extension the server declared and the payment carries, the payment's `info` must contain the
/// server's `info` (a client adds to an extension; it never changes or drops what the server said).
fn check_extension_echo(declared: Option<&Object>, echoed: Option<&Object>) -> Result<()> {
    let (Some(declared), Some(echoed)) = (declared, echoed) else { return Ok(()) };
    for (key, server_ext) in declared {
        let Some(client_ext) = echoed.get(key) else { continue };
        let Some(server_info) = server_ext.get("info").and_then(Value::as_object) else { continue };
        let mut required = server_info.clone();
        for (ext, field) in DYNAMIC_INFO {
            if ext == key {
                required.remove(*field);
            }
        }
        let client_info = client_ext.get("info").and_then(Value::as_object);
        if !client_info.is_some_and(|c| crate::types::object_contains(c, &required)) {
            return Err(Error::new(
                ErrorCode::ExtensionEchoMismatch,
                format!(
                    "the payment's \"{}\" extension does not echo what the server declared in its info",
                    crate::wire::truncate(key)
                ),
            ));
        }
    }
    Ok(())
}

/// The header that carries a settlement receipt back to the client: `PAYMENT-RESPONSE` for v2,
/// `X-PAYMENT-RESPONSE` for v1, with its value. Only the members x402 defines are passed on.
pub fn settlement_header(x402_version: u8, settlement: &SettleResponse) -> (&'static str, String) {
    let name = if x402_version >= 2 { header::PAYMENT_RESPONSE } else { header::X_PAYMENT_RESPONSE };
    (name, settlement.for_client().to_header())
}

/// The HTTP status a server answers an error of [`check_payment`] with:
/// - 400 when the payment cannot be read (undecodable header, wrong shape or version, a required
///   `payment-identifier` missing): the client's bug, which paying again the same way cannot fix;
/// - 500 when the server's own offer is the problem (unknown network, unsupported scheme, no EIP-712 domain);
/// - 502 when the facilitator is unreachable or answers without the x402 shape;
/// - 409 when the payment is already being processed, or its payment id paid for another request;
/// - 503 when the server's own payment store failed (nothing was charged);
/// - 402 for every other refusal (no match, invalid signature, expired, wrong amount): pay again.
///
/// See [`status_for_reason`] for a facilitator's verdicts.
pub fn status_for(error: &Error) -> u16 {
    if matches!(
        error.code(),
        ErrorCode::PaymentIdentifierConflict | ErrorCode::PaymentInProgress | ErrorCode::PaymentAlreadyServed
    ) {
        return 409;
    }
    if error.code() == ErrorCode::StoreUnavailable {
        return 503;
    }
    match error.code().category() {
        Category::MalformedInput => 400,
        Category::Configuration => 500,
        Category::Upstream => 502,
        Category::Refused | Category::Local => 402,
    }
}

/// The HTTP status for a facilitator's invalid verdict (`invalidReason`): 412 for
/// `permit2_allowance_required`, else 402.
pub fn status_for_reason(reason: &str) -> u16 {
    if reason == "permit2_allowance_required" { 412 } else { 402 }
}
