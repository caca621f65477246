//! A `batch-settlement` offer, and the offline checks of what a payer sends against it: the channel is the
//! offer's, its id is its configuration's hash, the voucher is signed by the channel's payer authorizer. Also
//! what the payer and the receiver authorizer sign.

use crate::prelude::*;
use alloy_primitives::{Address, B256, U256};

use super::{
    ChannelConfig, ClaimBatch, ClaimEntry, ERC3009_DEPOSIT_COLLECTOR, MAX_WITHDRAW_DELAY, MIN_WITHDRAW_DELAY,
    ReceiveWithAuthorization, SCHEME, Voucher, erc3009_deposit_nonce,
    payload::{SignedVoucher, VoucherClaim},
};
use crate::crypto::Signature;
use crate::eip712;
use crate::error::{Error, ErrorCode, Result};
use crate::network;
use crate::signer::{Signer, sign_checked};
use crate::types::PaymentRequirements;
use crate::wire::{parse_address, truncate};

/// How a channel's deposits are paid (`extra.assetTransferMethod`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepositMethod {
    /// ERC-3009 `receiveWithAuthorization` (the default).
    Eip3009,
    /// A Permit2 witness transfer.
    Permit2,
}

/// A `batch-settlement` offer with its strings resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchOffer {
    /// EVM chain id.
    pub chain_id: u64,
    /// The token (the channel's `token`).
    pub asset: Address,
    /// The receiver (the channel's `receiver`).
    pub pay_to: Address,
    /// The most one request charges, in atomic units.
    pub amount: U256,
    /// Who authorizes claims and refunds (`extra.receiverAuthorizer`).
    pub receiver_authorizer: Address,
    /// Seconds a payer's withdrawal waits (`extra.withdrawDelay`).
    pub withdraw_delay: u64,
    /// How deposits are paid.
    pub method: DepositMethod,
    /// The token's EIP-712 domain name (`extra.name`).
    pub domain_name: Option<String>,
    /// The token's EIP-712 domain version (`extra.version`).
    pub domain_version: Option<String>,
    /// The least a deposit should be (`extra.minDeposit`), if the server says.
    pub min_deposit: Option<U256>,
    /// Seconds the server allows for completing a payment.
    pub max_timeout_seconds: u64,
}

impl BatchOffer {
    /// Resolves an offer. Errors name what is wrong.
    pub fn resolve(req: &PaymentRequirements) -> Result<BatchOffer> {
        if req.scheme() != SCHEME {
            return Err(Error::new(
                ErrorCode::UnsupportedScheme,
                format!("scheme \"{}\" is not batch-settlement", truncate(req.scheme())),
            ));
        }
        if req.version() < 2 {
            return Err(Error::new(ErrorCode::InvalidX402Version, "the batch-settlement scheme is x402 v2 only"));
        }
        let bad = |what: &str, e: String| Error::new(ErrorCode::InvalidPaymentRequirements, format!("{what} {e}"));
        let authorizer = req.extra_str("receiverAuthorizer").ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidPaymentRequirements,
                "a batch-settlement offer must name its receiver authorizer (extra.receiverAuthorizer), the key \
                 that signs claims and refunds",
            )
        })?;
        let receiver_authorizer = parse_address(authorizer).map_err(|e| bad("extra.receiverAuthorizer", e))?;
        if receiver_authorizer == Address::ZERO {
            return Err(bad("extra.receiverAuthorizer", "must not be the zero address".into()));
        }
        let withdraw_delay = req
            .extra()
            .and_then(|e| e.get("withdrawDelay"))
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| bad("extra.withdrawDelay", "must be a number of seconds".into()))?;
        check_withdraw_delay(withdraw_delay)?;
        let method = match req.extra_str("assetTransferMethod") {
            None | Some("eip3009") => DepositMethod::Eip3009,
            Some("permit2") => DepositMethod::Permit2,
            Some(other) => {
                return Err(bad(
                    "extra.assetTransferMethod",
                    format!("{:?} is neither \"eip3009\" nor \"permit2\"", truncate(other)),
                ));
            }
        };
        let min_deposit = match req.extra_str("minDeposit") {
            Some(text) => Some(crate::wire::parse_decimal_u256(text).map_err(|e| bad("extra.minDeposit", e))?),
            None => None,
        };
        let non_empty = |key: &str| req.extra_str(key).filter(|s| !s.is_empty()).map(str::to_string);
        Ok(BatchOffer {
            chain_id: network::chain_id(req.network())?,
            asset: parse_address(req.asset()).map_err(|e| bad("asset", e))?,
            pay_to: parse_address(req.pay_to()).map_err(|e| bad("payTo", e))?,
            amount: req.amount(),
            receiver_authorizer,
            withdraw_delay,
            method,
            domain_name: non_empty("name"),
            domain_version: non_empty("version"),
            min_deposit,
            max_timeout_seconds: req.max_timeout_seconds(),
        })
    }

    /// The channel a payer opens with this offer: the offer's receiver, authorizer, token and delay, and the
    /// payer's own address, voucher key and salt.
    pub fn channel(&self, payer: Address, payer_authorizer: Address, salt: B256) -> ChannelConfig {
        ChannelConfig {
            payer,
            payerAuthorizer: payer_authorizer,
            receiver: self.pay_to,
            receiverAuthorizer: self.receiver_authorizer,
            token: self.asset,
            withdrawDelay: alloy_primitives::aliases::U40::from(self.withdraw_delay),
            salt,
        }
    }

    /// The same offer as the spend policy judges an `exact` one: the price of one request, in the token, to
    /// the receiver (deposits are judged again at their own amount).
    pub(crate) fn as_exact(&self) -> crate::exact::ExactOffer {
        crate::exact::ExactOffer {
            chain_id: self.chain_id,
            asset: self.asset,
            pay_to: self.pay_to,
            amount: self.amount,
            method: crate::assets::TransferMethod::Eip3009,
            domain_name: self.domain_name.clone(),
            domain_version: self.domain_version.clone(),
            max_timeout_seconds: self.max_timeout_seconds,
        }
    }

    /// Whether `channel` is a channel of this offer (x402's verification rules 2 to 5).
    pub fn check_channel(&self, channel: &ChannelConfig) -> Result<()> {
        let mismatch = |code, what: &str, got: Address, want: Address| {
            Err(Error::new(
                code,
                format!(
                    "the channel's {what} is {}, but the offer's is {}",
                    got.to_checksum(None),
                    want.to_checksum(None)
                ),
            ))
        };
        if channel.token != self.asset {
            return mismatch(ErrorCode::BatchTokenMismatch, "token", channel.token, self.asset);
        }
        if channel.receiver != self.pay_to {
            return mismatch(ErrorCode::BatchReceiverMismatch, "receiver", channel.receiver, self.pay_to);
        }
        if channel.receiverAuthorizer != self.receiver_authorizer {
            return mismatch(
                ErrorCode::BatchReceiverAuthorizerMismatch,
                "receiver authorizer",
                channel.receiverAuthorizer,
                self.receiver_authorizer,
            );
        }
        let delay = channel.withdrawDelay.to::<u64>();
        if delay != self.withdraw_delay {
            return Err(Error::new(
                ErrorCode::BatchWithdrawDelayMismatch,
                format!("the channel's withdraw delay is {delay} s, but the offer's is {} s", self.withdraw_delay),
            ));
        }
        Ok(())
    }

    /// The token's EIP-712 domain name and version, which an ERC-3009 deposit is signed under.
    pub fn token_domain(&self) -> Result<(&str, &str)> {
        match (&self.domain_name, &self.domain_version) {
            (Some(name), Some(version)) => Ok((name, version)),
            _ => Err(Error::new(
                ErrorCode::BatchMissingEip712Domain,
                "the offer lacks the token's EIP-712 domain (extra.name and extra.version), which an ERC-3009 \
                 deposit is signed under",
            )),
        }
    }
}

/// A withdraw delay must be 15 minutes to 30 days.
pub fn check_withdraw_delay(seconds: u64) -> Result<()> {
    if !(MIN_WITHDRAW_DELAY..=MAX_WITHDRAW_DELAY).contains(&seconds) {
        return Err(Error::new(
            ErrorCode::BatchWithdrawDelayOutOfRange,
            format!("a withdraw delay of {seconds} s is outside {MIN_WITHDRAW_DELAY} s to {MAX_WITHDRAW_DELAY} s"),
        ));
    }
    Ok(())
}

/// How a voucher's signature was checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoucherCheck {
    /// It recovers to the channel's payer authorizer (or, with none, to the payer): valid offline.
    Recovered,
    /// The channel has no payer authorizer and the signature is not the payer's ECDSA one: a smart-wallet payer,
    /// whose EIP-1271 check needs the chain.
    RequiresOnchain {
        /// The voucher's digest.
        digest: B256,
    },
}

/// Checks offline that `voucher` belongs to `channel` on `chain_id` and is signed for it.
pub fn check_voucher(channel: &ChannelConfig, voucher: &SignedVoucher, chain_id: u64) -> Result<VoucherCheck> {
    check_withdraw_delay(channel.withdrawDelay.to::<u64>())?;
    let id = channel.channel_id(chain_id);
    if id != voucher.channel_id {
        return Err(Error::new(
            ErrorCode::BatchChannelIdMismatch,
            format!(
                "the voucher's channel id {:#x} is not the channel configuration's id {id:#x} on chain {chain_id}",
                voucher.channel_id
            ),
        ));
    }
    let digest = Voucher { channelId: id, maxClaimableAmount: voucher.max_claimable }.digest(chain_id);
    let recovered =
        Signature::parse_strict(&voucher.signature).and_then(|sig| crate::crypto::recover_address(&digest, &sig)).ok();
    let expected = match channel.payerAuthorizer {
        Address::ZERO => channel.payer,
        authorizer => authorizer,
    };
    if recovered == Some(expected) {
        return Ok(VoucherCheck::Recovered);
    }
    if channel.payerAuthorizer == Address::ZERO && voucher.signature.len() != 65 {
        return Ok(VoucherCheck::RequiresOnchain { digest });
    }
    Err(Error::new(
        ErrorCode::BatchVoucherSignature,
        format!(
            "the voucher's signature does not recover to the channel's {} {}",
            if channel.payerAuthorizer == Address::ZERO { "payer" } else { "payer authorizer" },
            expected.to_checksum(None)
        ),
    ))
}

/// The digest of a Permit2 deposit: the payer's witness transfer of `amount` of `token` to `spender` (the
/// Permit2 deposit collector), bound to `channel_id`, under Permit2's domain on `chain_id`.
pub fn permit2_deposit_digest(
    chain_id: u64,
    token: Address,
    amount: U256,
    spender: Address,
    nonce: U256,
    deadline: U256,
    channel_id: B256,
) -> B256 {
    use super::permit2_deposit::{DepositWitness, PermitWitnessTransferFrom, TokenPermissions};
    let message = PermitWitnessTransferFrom {
        permitted: TokenPermissions { token, amount },
        spender,
        nonce,
        deadline,
        witness: DepositWitness { channelId: channel_id },
    };
    eip712::digest(&eip712::permit2_domain(chain_id).separator(), &message)
}

/// Offline verification of a batch-settlement payment (a deposit's, a voucher's or a refund's voucher) for
/// `requirements`, as a `/verify` answer: the channel is the offer's, its id is its configuration's hash, and the
/// voucher is signed by the payer (or its authorizer). What only the chain knows is not checked: the balance,
/// the claimed total, the deposit, and a smart wallet's signature (answered invalid here, with a reason that
/// says the facilitator checks it). What a server checks per voucher before its per-channel accounting.
pub fn verify_voucher(
    payment: &crate::types::PaymentPayload,
    requirements: &crate::types::PaymentRequirements,
) -> crate::types::VerifyResponse {
    let outcome = (|| {
        if requirements.scheme() != super::SCHEME || payment.scheme() != super::SCHEME {
            return Err(Error::new(
                ErrorCode::UnsupportedScheme,
                "verify_voucher checks batch-settlement payments for batch-settlement offers",
            ));
        }
        if payment.network() != requirements.network() {
            return Err(Error::new(
                ErrorCode::NetworkMismatch,
                format!(
                    "the payment is for network {}, the offer is on {}",
                    crate::wire::truncate(payment.network()),
                    crate::wire::truncate(requirements.network())
                ),
            ));
        }
        let terms = BatchOffer::resolve(requirements)?;
        let payload = super::BatchPayload::parse(payment.payload())?;
        let Some((channel, voucher)) = payload.channel_and_voucher() else {
            return Err(Error::new(ErrorCode::BatchPayloadType, "claims and sweeps carry no payer's voucher"));
        };
        let payer = channel.payer.to_checksum(None);
        terms.check_channel(channel).map_err(|e| e.with_payer(payer.clone()))?;
        match check_voucher(channel, voucher, terms.chain_id).map_err(|e| e.with_payer(payer.clone()))? {
            VoucherCheck::Recovered => Ok(payer),
            // Not forged as far as anyone offline can tell: the same reason as for exact payments.
            VoucherCheck::RequiresOnchain { .. } => Err(Error::new(
                ErrorCode::OnchainVerificationRequired,
                "the voucher is not an ECDSA signature: a smart-wallet payer's, which the facilitator checks on chain",
            )
            .with_payer(payer)),
        }
    })();
    match outcome {
        Ok(payer) => crate::types::VerifyResponse::valid(payer),
        Err(e) => crate::types::VerifyResponse::invalid(&e),
    }
}

/// Signs a voucher for `max_claimable` in all on `channel_id`.
pub fn sign_voucher(
    signer: &dyn Signer,
    channel_id: B256,
    max_claimable: u128,
    chain_id: u64,
) -> Result<SignedVoucher> {
    let digest = Voucher { channelId: channel_id, maxClaimableAmount: max_claimable }.digest(chain_id);
    let signature = sign_checked(signer, &digest)?;
    Ok(SignedVoucher { channel_id, max_claimable, signature: signature.as_bytes().to_vec() })
}

/// The receiver authorizer's `ClaimBatch` signature over `claims` on `chain_id`.
pub fn sign_claims(signer: &dyn Signer, claims: &[VoucherClaim], chain_id: u64) -> Result<Signature> {
    sign_checked(signer, &claim_batch(claims, chain_id).digest(chain_id))
}

/// The `ClaimBatch` message of `claims`.
pub fn claim_batch(claims: &[VoucherClaim], chain_id: u64) -> ClaimBatch {
    ClaimBatch {
        claims: claims
            .iter()
            .map(|c| ClaimEntry {
                channelId: c.channel.channel_id(chain_id),
                maxClaimableAmount: c.max_claimable,
                totalClaimed: c.total_claimed,
            })
            .collect(),
    }
}

/// The digest of an ERC-3009 deposit of `amount` into `channel_id`: `ReceiveWithAuthorization` from `payer` to
/// the ERC-3009 deposit collector, with the channel-bound nonce, under the token's domain.
#[allow(clippy::too_many_arguments)]
pub fn erc3009_deposit_digest(
    offer: &BatchOffer,
    payer: Address,
    channel_id: B256,
    amount: u128,
    valid_after: U256,
    valid_before: U256,
    salt: B256,
) -> Result<B256> {
    let (name, version) = offer.token_domain()?;
    let domain = eip712::token_domain(name, version, offer.chain_id, offer.asset);
    let message = ReceiveWithAuthorization {
        from: payer,
        to: ERC3009_DEPOSIT_COLLECTOR,
        value: U256::from(amount),
        validAfter: valid_after,
        validBefore: valid_before,
        nonce: erc3009_deposit_nonce(channel_id, U256::from_be_bytes(salt.0)),
    };
    Ok(eip712::digest(&domain.separator(), &message))
}
