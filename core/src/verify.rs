//! Offline verification of an `exact` EVM payment: everything that can be checked without a chain.
//!
//! A server runs it before asking its facilitator, so bad payments are refused without a round trip; a
//! facilitator runs it as its first stage. Every failure carries the x402 reason string as its code and the
//! payer when known. Checks that cost nothing run before the signature is recovered.

use crate::prelude::*;
use alloy_primitives::{Address, B256, U256};

use crate::assets::{EXACT_PERMIT2_PROXY, PERMIT2_ADDRESS, TransferMethod};
use crate::crypto::{Signature, recover_address};
use crate::error::{Error, ErrorCode, Result};
use crate::exact::{
    EIP2612_EXTENSION, Eip2612Permit, ExactOffer, ExactPayload, SCHEME, eip3009_digest, permit2_digest,
};
use crate::types::{PaymentPayload, PaymentRequirements, VerifyResponse, same_address};
use crate::upto;
use crate::wire::{extension_info, truncate};

/// Seconds an authorization must still be valid for when it is verified, so that it survives until its
/// settlement is mined (the official facilitators use the same 6 seconds).
pub const VALID_BEFORE_BUFFER: u64 = 6;

/// How offline verification treats signatures it cannot check itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// When false (the default), only a 65-byte signature that recovers to the payer passes; any other
    /// signature fails, with [`ErrorCode::OnchainVerificationRequired`] when it is longer than 65 bytes.
    ///
    /// When true, a signature that is longer than 65 bytes, or that does not recover to the payer, passes
    /// with [`SignatureCheck::RequiresOnchain`]: the payer may be a smart wallet (EIP-1271, EIP-6492), which
    /// only the chain can judge. Set it only where a facilitator or an RPC check follows.
    pub allow_onchain_signatures: bool,
}

/// How the signature was checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureCheck {
    /// A 65-byte EOA signature that recovers to the payer.
    Recovered,
    /// A signature only the chain can check (a smart wallet); every other check passed. Only given with
    /// [`VerifyOptions::allow_onchain_signatures`].
    RequiresOnchain {
        /// The EIP-712 digest the wallet must accept in `isValidSignature`.
        digest: B256,
    },
}

/// A payment that passed offline verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPayment {
    /// Payer.
    pub payer: Address,
    /// Chain id.
    pub chain_id: u64,
    /// Token.
    pub asset: Address,
    /// Recipient.
    pub pay_to: Address,
    /// Amount in atomic units.
    pub amount: U256,
    /// EIP-3009 or Permit2.
    pub method: TransferMethod,
    /// The authorization's nonce (a Permit2 nonce as its 32 big-endian bytes).
    pub nonce: B256,
    /// The end of validity: `validBefore` (valid strictly before it) or the Permit2 `deadline`.
    pub valid_before: U256,
    /// How the signature was checked.
    pub signature: SignatureCheck,
    /// The EIP-2612 permit of the `eip2612GasSponsoring` extension, verified, if the payment carries one.
    pub eip2612_permit: Option<Eip2612Permit>,
}

impl VerifiedPayment {
    /// True when nothing is left to check offline: the signature was recovered (not a smart wallet).
    pub fn is_fully_verified(&self) -> bool {
        self.signature == SignatureCheck::Recovered
    }

    /// The facilitator-style verdict: valid, or invalid with `onchain_verification_required` when only the
    /// chain can check a smart-wallet signature.
    pub fn to_verify_response(&self) -> VerifyResponse {
        let payer = self.payer.to_checksum(None);
        match self.signature {
            SignatureCheck::Recovered => VerifyResponse::valid(payer),
            SignatureCheck::RequiresOnchain { .. } => VerifyResponse::invalid(
                &Error::new(
                    ErrorCode::OnchainVerificationRequired,
                    "the signature is not an EOA signature of the payer; only an on-chain EIP-1271 check of a smart \
                     wallet can verify it",
                )
                .with_payer(payer),
            ),
        }
    }
}

/// Verifies a payment against the server's own offer at Unix time `now`, without any chain access. Only
/// EOA signatures pass; see [`verify_payment_with`] for smart wallets.
pub fn verify_payment(
    payment: &PaymentPayload,
    requirements: &PaymentRequirements,
    now: u64,
) -> Result<VerifiedPayment> {
    verify_payment_with(payment, requirements, now, &VerifyOptions::default())
}

/// The last Unix second at which offline verification still accepts this payment's time window (its
/// `validBefore` or Permit2 `deadline` less [`VALID_BEFORE_BUFFER`]); `None` when the payload is not an
/// `exact` EVM payment. A server uses it to recognise a retry of a payment it took before it expired.
pub fn last_acceptable_time(payment: &PaymentPayload) -> Option<u64> {
    let until = match ExactPayload::parse(payment.payload()).ok()? {
        ExactPayload::Eip3009 { authorization, .. } => authorization.valid_before,
        ExactPayload::Permit2 { authorization, .. } => authorization.deadline,
    };
    u64::try_from(until).ok()?.checked_sub(VALID_BEFORE_BUFFER)
}

/// [`verify_payment`] with options.
pub fn verify_payment_with(
    payment: &PaymentPayload,
    requirements: &PaymentRequirements,
    now: u64,
    options: &VerifyOptions,
) -> Result<VerifiedPayment> {
    let parsed = ExactPayload::parse(payment.payload());
    let payer = parsed.as_ref().ok().map(|p| p.payer().to_checksum(None));
    let with_payer = |e: Error| match &payer {
        Some(p) => e.with_payer(p.clone()),
        None => e,
    };

    if payment.x402_version() != requirements.version() {
        return Err(with_payer(Error::new(
            ErrorCode::InvalidX402Version,
            format!("the payment is x402 v{} but the offer is v{}", payment.x402_version(), requirements.version()),
        )));
    }
    if requirements.scheme() != SCHEME && requirements.scheme() != upto::SCHEME {
        return Err(with_payer(Error::new(
            ErrorCode::UnsupportedScheme,
            format!(
                "the offer's scheme \"{}\" is not supported; paywire verifies \"exact\" and \"upto\"",
                truncate(requirements.scheme())
            ),
        )));
    }
    if payment.scheme() != requirements.scheme() {
        return Err(with_payer(Error::new(
            ErrorCode::InvalidScheme,
            format!(
                "the payment is for scheme \"{}\", the offer is \"{}\"",
                truncate(payment.scheme()),
                truncate(requirements.scheme())
            ),
        )));
    }
    if payment.network() != requirements.network() {
        return Err(with_payer(Error::new(
            ErrorCode::NetworkMismatch,
            format!(
                "the payment is for network {}, the offer is on {}",
                truncate(payment.network()),
                truncate(requirements.network())
            ),
        )));
    }
    if requirements.scheme() == upto::SCHEME {
        return verify_upto(payment, requirements, now, options).map_err(with_payer);
    }
    let offer = ExactOffer::resolve(requirements).map_err(with_payer)?;
    if let Some(accepted) = payment.accepted()
        && !same_address(accepted.asset(), requirements.asset())
    {
        return Err(with_payer(Error::new(
            ErrorCode::AssetMismatch,
            format!(
                "the payment accepts asset {}, the offer is for {}",
                truncate(accepted.asset()),
                truncate(requirements.asset())
            ),
        )));
    }
    let parsed = parsed?;
    let payer_address = parsed.payer();
    let kind = match &parsed {
        ExactPayload::Eip3009 { .. } => TransferMethod::Eip3009,
        ExactPayload::Permit2 { .. } => TransferMethod::Permit2,
    };
    if kind != offer.method {
        let name = |m: TransferMethod| if m == TransferMethod::Permit2 { "Permit2" } else { "EIP-3009" };
        return Err(with_payer(Error::new(
            ErrorCode::UnsupportedPayloadType,
            format!("the payment is a {} authorization but the offer asks for {}", name(kind), name(offer.method)),
        )));
    }
    match parsed {
        ExactPayload::Eip3009 { authorization, signature } => {
            let domain = offer.token_domain_separator().map_err(with_payer)?;
            check_eq_address(authorization.to, offer.pay_to, ErrorCode::RecipientMismatch, "recipient")
                .map_err(with_payer)?;
            if authorization.value != offer.amount {
                let code =
                    if requirements.version() == 1 { ErrorCode::ValueMismatchV1 } else { ErrorCode::ValueMismatch };
                return Err(with_payer(Error::new(
                    code,
                    format!(
                        "the authorization is for {} but the offer requires exactly {}",
                        authorization.value, offer.amount
                    ),
                )));
            }
            check_window(
                authorization.valid_after,
                authorization.valid_before,
                now,
                ErrorCode::ValidAfterInFuture,
                ErrorCode::ValidBeforeExpired,
            )
            .map_err(with_payer)?;
            let digest = eip3009_digest(&domain, &authorization);
            let check = check_signature(&digest, &signature, payer_address, ErrorCode::InvalidSignature, options)
                .map_err(with_payer)?;
            Ok(VerifiedPayment {
                payer: payer_address,
                chain_id: offer.chain_id,
                asset: offer.asset,
                pay_to: offer.pay_to,
                amount: authorization.value,
                method: TransferMethod::Eip3009,
                nonce: authorization.nonce,
                valid_before: authorization.valid_before,
                signature: check,
                eip2612_permit: None,
            })
        }
        ExactPayload::Permit2 { authorization, signature } => {
            if authorization.spender != EXACT_PERMIT2_PROXY {
                return Err(with_payer(Error::new(
                    ErrorCode::Permit2InvalidSpender,
                    format!(
                        "the permit's spender is {}; x402 exact payments are spent by the proxy {}",
                        authorization.spender.to_checksum(None),
                        EXACT_PERMIT2_PROXY.to_checksum(None)
                    ),
                )));
            }
            check_eq_address(authorization.to, offer.pay_to, ErrorCode::Permit2RecipientMismatch, "witness recipient")
                .map_err(with_payer)?;
            check_window(
                authorization.valid_after,
                authorization.deadline,
                now,
                ErrorCode::Permit2NotYetValid,
                ErrorCode::Permit2DeadlineExpired,
            )
            .map_err(with_payer)?;
            if authorization.amount != offer.amount {
                return Err(with_payer(Error::new(
                    ErrorCode::Permit2AmountMismatch,
                    format!(
                        "the permit is for {} but the offer requires exactly {}",
                        authorization.amount, offer.amount
                    ),
                )));
            }
            check_eq_address(authorization.token, offer.asset, ErrorCode::Permit2TokenMismatch, "token")
                .map_err(with_payer)?;
            let digest = permit2_digest(offer.chain_id, &authorization);
            let check =
                check_signature(&digest, &signature, payer_address, ErrorCode::Permit2InvalidSignature, options)
                    .map_err(with_payer)?;
            let eip2612_permit = verify_eip2612_extension(payment, &offer, payer_address, now).map_err(with_payer)?;
            Ok(VerifiedPayment {
                payer: payer_address,
                chain_id: offer.chain_id,
                asset: offer.asset,
                pay_to: offer.pay_to,
                amount: authorization.amount,
                method: TransferMethod::Permit2,
                nonce: B256::from(authorization.nonce.to_be_bytes::<32>()),
                valid_before: authorization.deadline,
                signature: check,
                eip2612_permit,
            })
        }
    }
}

/// The `upto` checks: a Permit2 witness transfer for exactly the offer's maximum, spent by the upto proxy, to
/// the payee, settled only by the facilitator the offer names.
fn verify_upto(
    payment: &PaymentPayload,
    requirements: &PaymentRequirements,
    now: u64,
    options: &VerifyOptions,
) -> Result<VerifiedPayment> {
    let offer = upto::UptoOffer::resolve(requirements)?;
    if let Some(accepted) = payment.accepted()
        && !same_address(accepted.asset(), requirements.asset())
    {
        return Err(Error::new(
            ErrorCode::AssetMismatch,
            format!(
                "the payment accepts asset {}, the offer is for {}",
                truncate(accepted.asset()),
                truncate(requirements.asset())
            ),
        ));
    }
    let upto::UptoPayload { authorization: a, signature } = upto::UptoPayload::parse(payment.payload())?;
    if a.spender != upto::SPENDER {
        return Err(Error::new(
            ErrorCode::Permit2InvalidSpender,
            format!(
                "the permit's spender is {}; x402 upto payments are spent by the proxy {}",
                a.spender.to_checksum(None),
                upto::SPENDER.to_checksum(None)
            ),
        ));
    }
    check_eq_address(a.to, offer.pay_to, ErrorCode::Permit2RecipientMismatch, "witness recipient")?;
    if a.facilitator != offer.facilitator {
        return Err(Error::new(
            ErrorCode::UptoFacilitatorMismatch,
            format!(
                "the witness lets {} settle, but the offer is settled by {}",
                a.facilitator.to_checksum(None),
                offer.facilitator.to_checksum(None)
            ),
        ));
    }
    check_window(a.valid_after, a.deadline, now, ErrorCode::Permit2NotYetValid, ErrorCode::Permit2DeadlineExpired)?;
    if a.amount != offer.amount {
        return Err(Error::new(
            ErrorCode::Permit2AmountMismatch,
            format!("the permit allows at most {} but the offer's maximum is {}", a.amount, offer.amount),
        ));
    }
    check_eq_address(a.token, offer.asset, ErrorCode::Permit2TokenMismatch, "token")?;
    let check =
        check_signature(&a.digest(offer.chain_id), &signature, a.from, ErrorCode::Permit2InvalidSignature, options)?;
    let eip2612_permit = verify_eip2612_extension(payment, &offer.as_exact(), a.from, now)?;
    Ok(VerifiedPayment {
        payer: a.from,
        chain_id: offer.chain_id,
        asset: offer.asset,
        pay_to: offer.pay_to,
        amount: a.amount,
        method: TransferMethod::Permit2,
        nonce: B256::from(a.nonce.to_be_bytes::<32>()),
        valid_before: a.deadline,
        signature: check,
        eip2612_permit,
    })
}

/// Verifies a payment header value (`PAYMENT-SIGNATURE` or `X-PAYMENT`) against an offer.
pub fn verify_header(header_value: &str, requirements: &PaymentRequirements, now: u64) -> Result<VerifiedPayment> {
    let payment = PaymentPayload::from_header(header_value)?;
    verify_payment(&payment, requirements, now)
}

/// Verifies a payment and gives the facilitator-style answer, never an error.
pub fn verify_to_response(payment: &PaymentPayload, requirements: &PaymentRequirements, now: u64) -> VerifyResponse {
    match verify_payment(payment, requirements, now) {
        Ok(v) => v.to_verify_response(),
        Err(e) => VerifyResponse::invalid(&e),
    }
}

fn check_eq_address(got: Address, want: Address, code: ErrorCode, what: &str) -> Result<()> {
    if got != want {
        return Err(Error::new(
            code,
            format!("the {what} is {} but the offer pays {}", got.to_checksum(None), want.to_checksum(None)),
        ));
    }
    Ok(())
}

fn check_window(valid_after: U256, valid_before: U256, now: u64, early: ErrorCode, late: ErrorCode) -> Result<()> {
    let now_u = U256::from(now);
    if valid_before < now_u + U256::from(VALID_BEFORE_BUFFER) {
        return Err(Error::new(
            late,
            format!(
                "the authorization is valid until {valid_before}, which is not at least {VALID_BEFORE_BUFFER} s after now \
                 ({now}); sign a new one (and check the payer's clock)"
            ),
        ));
    }
    if valid_after > now_u {
        return Err(Error::new(
            early,
            format!("the authorization becomes valid at {valid_after}, after now ({now}); check the payer's clock"),
        ));
    }
    Ok(())
}

fn check_signature(
    digest: &B256,
    signature: &[u8],
    payer: Address,
    code: ErrorCode,
    options: &VerifyOptions,
) -> Result<SignatureCheck> {
    let onchain = SignatureCheck::RequiresOnchain { digest: *digest };
    if signature.len() > 65 {
        if options.allow_onchain_signatures {
            return Ok(onchain);
        }
        return Err(Error::new(
            ErrorCode::OnchainVerificationRequired,
            format!(
                "the signature is {} bytes, longer than an EOA's 65: a smart wallet's signature, which only an \
                 on-chain EIP-1271 check can verify",
                signature.len()
            ),
        ));
    }
    let recovered = Signature::parse_strict(signature).and_then(|sig| recover_address(digest, &sig));
    let recovered = match recovered {
        Ok(address) => address,
        Err(_) if options.allow_onchain_signatures => return Ok(onchain),
        Err(e) => return Err(Error::new(code, e.message())),
    };
    if recovered != payer {
        if options.allow_onchain_signatures {
            return Ok(onchain);
        }
        return Err(Error::new(
            code,
            format!(
                "the signature recovers to {}, not to the payer {}: it signs other terms (amount, recipient, \
                 chain, token name or version) or comes from another key",
                recovered.to_checksum(None),
                payer.to_checksum(None)
            ),
        ));
    }
    Ok(SignatureCheck::Recovered)
}

fn verify_eip2612_extension(
    payment: &PaymentPayload,
    offer: &ExactOffer,
    payer: Address,
    now: u64,
) -> Result<Option<Eip2612Permit>> {
    let Some(info) = extension_info(payment.extensions(), EIP2612_EXTENSION).filter(|i| i.contains_key("signature"))
    else {
        return Ok(None);
    };
    let (permit, signature) = Eip2612Permit::from_extension_info(info)?;
    if permit.owner != payer {
        return Err(Error::new(ErrorCode::Eip2612FromMismatch, "the EIP-2612 permit's owner is not the payer"));
    }
    if permit.token != offer.asset {
        return Err(Error::new(ErrorCode::Eip2612AssetMismatch, "the EIP-2612 permit is for another token"));
    }
    if permit.spender != PERMIT2_ADDRESS {
        return Err(Error::new(ErrorCode::Eip2612SpenderNotPermit2, "the EIP-2612 permit's spender is not Permit2"));
    }
    if permit.deadline < U256::from(now) + U256::from(VALID_BEFORE_BUFFER) {
        return Err(Error::new(ErrorCode::Eip2612DeadlineExpired, "the EIP-2612 permit's deadline has passed"));
    }
    if permit.value != offer.amount {
        return Err(Error::new(
            ErrorCode::Eip2612AmountMismatch,
            format!(
                "the EIP-2612 permit is for {} but must be for exactly the payment's {}",
                permit.value, offer.amount
            ),
        ));
    }
    let (Some(name), Some(version)) = (&offer.domain_name, &offer.domain_version) else {
        return Err(Error::new(
            ErrorCode::Eip2612InvalidFormat,
            "the offer lacks the token's EIP-712 name and version, so the EIP-2612 permit cannot be checked",
        ));
    };
    let digest = permit.digest(name, version, offer.chain_id);
    match check_signature(&digest, &signature, payer, ErrorCode::Eip2612InvalidSignature, &VerifyOptions::default())? {
        SignatureCheck::Recovered => Ok(Some(permit)),
        SignatureCheck::RequiresOnchain { .. } => {
            Err(Error::new(ErrorCode::Eip2612InvalidSignature, "an EIP-2612 permit signature must be 65 bytes"))
        }
    }
}
