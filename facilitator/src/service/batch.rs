//! `batch-settlement` in `/verify` and `/settle`: a client's deposit, voucher or refund is checked against the
//! offer and the channel on chain; `/settle` sends the deposit, a server's claim (signed by the receiver
//! authorizer, or by this facilitator when it is that authorizer), the sweep of its claims, or a refund. Each goes
//! through the same once-only settlement machinery as a payment: one broadcast per key, followed across restarts.

use std::sync::Arc;

use alloy::primitives::{Address, B256, U256};
use paywire_core::batch::{
    self, BatchOffer, BatchPayload, ChannelConfig, DepositAuthorization, DepositMethod, ERC3009_DEPOSIT_COLLECTOR,
    PERMIT2_DEPOSIT_COLLECTOR, SETTLEMENT_CONTRACT, SignedVoucher, VoucherCheck,
};
use paywire_core::crypto::{Signature, recover_address};
use paywire_core::types::{FacilitatorRequest, VerifyResponse};
use paywire_core::{Error, ErrorCode, network};

use super::{Checked, Facilitator, Spent, invalid, node_failed};
use crate::batch::{self as calls, Action, Snapshot};
use crate::chain::Chain;

/// The most channels one claim names (as the official channel manager batches them).
const MAX_CLAIM_ROWS: usize = 100;
/// A deposit authorization must stay valid at least this long after it is checked.
const DEPOSIT_MARGIN_SECONDS: u64 = 6;

/// Whether an offer is `batch-settlement`.
pub(super) fn is_batch(request: &FacilitatorRequest) -> bool {
    request.payment_requirements.scheme() == batch::SCHEME
}

fn recovers_to(digest: &B256, signature: &[u8], expected: Address) -> bool {
    Signature::parse_strict(signature).and_then(|s| recover_address(digest, &s)).is_ok_and(|a| a == expected)
}

impl Facilitator {
    /// The chain of a batch-settlement request, which must serve its token.
    fn batch_chain(&self, request: &FacilitatorRequest, token: Address) -> Result<Arc<Chain>, Error> {
        let chain_id = network::chain_id(request.payment_requirements.network())?;
        let chain = self.chains.get(&chain_id).cloned().ok_or_else(|| {
            invalid(ErrorCode::InvalidNetwork, format!("this facilitator does not settle on chain {chain_id}"), None)
        })?;
        if !chain.policy().assets.contains(&token) {
            return Err(invalid(
                ErrorCode::UnknownAsset,
                format!("this facilitator does not settle the asset {} on chain {chain_id}", token.to_checksum(None)),
                None,
            ));
        }
        Ok(chain)
    }

    /// A client payload's channel and voucher checked offline and against the chain: the channel is the
    /// offer's, the voucher signed for it, within the channel's balance (plus a deposit) and above what is
    /// claimed (at least what is claimed, for a refund). Returns the offer, chain and channel state.
    async fn batch_client_check(
        &self,
        request: &FacilitatorRequest,
        channel: &ChannelConfig,
        voucher: &SignedVoucher,
        deposit: u128,
        refund: bool,
    ) -> Result<(BatchOffer, Arc<Chain>, Snapshot), Error> {
        let payer = Some(channel.payer);
        let offer = BatchOffer::resolve(&request.payment_requirements)?;
        offer.check_channel(channel).map_err(|e| e.with_payer(channel.payer.to_checksum(None)))?;
        let chain = self.batch_chain(request, channel.token)?;
        let check = batch::check_voucher(channel, voucher, offer.chain_id)
            .map_err(|e| e.with_payer(channel.payer.to_checksum(None)))?;
        let node = |e| node_failed(e, channel.payer, ErrorCode::UnexpectedVerifyError);
        if let VoucherCheck::RequiresOnchain { digest } = check
            && !calls::erc1271_valid(&chain, channel.payer, digest, &voucher.signature).await.map_err(node)?
        {
            return Err(invalid(
                ErrorCode::BatchVoucherSignature,
                "the payer's wallet does not accept the voucher's signature (EIP-1271)",
                payer,
            ));
        }
        let state = calls::snapshot(&chain, voucher.channel_id).await.map_err(node)?;
        if deposit == 0 && state.balance == 0 {
            return Err(invalid(
                ErrorCode::BatchChannelNotFound,
                format!("the channel {:#x} has no balance on chain: deposit first", voucher.channel_id),
                payer,
            ));
        }
        let available = state.balance.saturating_add(deposit);
        if voucher.max_claimable > available {
            return Err(invalid(
                ErrorCode::BatchCumulativeExceedsBalance,
                format!(
                    "the voucher lets the receiver claim {} in all, more than the channel holds ({available})",
                    voucher.max_claimable
                ),
                payer,
            ));
        }
        let below = match (refund, deposit > 0) {
            (false, false) => voucher.max_claimable <= state.total_claimed,
            _ => voucher.max_claimable < state.total_claimed,
        };
        if below {
            return Err(invalid(
                ErrorCode::BatchCumulativeBelowClaimed,
                format!(
                    "the voucher's cumulative amount {} is not above the {} claimed on chain already",
                    voucher.max_claimable, state.total_claimed
                ),
                payer,
            ));
        }
        Ok((offer, chain, state))
    }

    /// `POST /verify` of a batch-settlement payment: a deposit is checked down to its simulation; a voucher or
    /// refund against the channel on chain. The answer carries the channel's state.
    pub(super) async fn batch_verify(&self, request: &FacilitatorRequest) -> VerifyResponse {
        let outcome = async {
            let payload = BatchPayload::parse(request.payment_payload.payload())?;
            match &payload {
                BatchPayload::Deposit { voucher, .. } => {
                    let (chain, checked) = self.batch_check(request).await?;
                    let from = chain.pick_sender().or_else(|| chain.senders().first().cloned());
                    let from = from.map_or(Address::ZERO, |s| s.address());
                    self.gas(&chain, from, &checked, ErrorCode::UnexpectedVerifyError).await?;
                    let state = calls::snapshot(&chain, voucher.channel_id)
                        .await
                        .map_err(|e| node_failed(e, checked.payer, ErrorCode::UnexpectedVerifyError))?;
                    Ok((checked.payer, voucher.channel_id, state))
                }
                BatchPayload::Voucher { channel, voucher } => {
                    let (_, _, state) = self.batch_client_check(request, channel, voucher, 0, false).await?;
                    Ok((channel.payer, voucher.channel_id, state))
                }
                BatchPayload::Refund { channel, voucher, .. } => {
                    let (_, _, state) = self.batch_client_check(request, channel, voucher, 0, true).await?;
                    Ok((channel.payer, voucher.channel_id, state))
                }
                _ => Err(Error::new(
                    ErrorCode::BatchPayloadType,
                    "only deposit, voucher and refund payloads are verified; claim and settle are settled",
                )),
            }
        };
        match outcome.await {
            Ok((payer, channel_id, state)) => {
                let mut answer = VerifyResponse::valid(payer.to_checksum(None));
                answer.other.insert("extra".into(), state.to_json(channel_id));
                answer
            }
            Err(error) => VerifyResponse::invalid(&error),
        }
    }

    /// The settlement key of a batch-settlement `/settle` request, and who it is for. A deposit is keyed by its
    /// authorization's nonce; a claim by its rows; a sweep by the receiver's claimed total when asked (a
    /// second request for the same sweep gets the first answer); a refund by its channel, nonce and
    /// amount.
    pub(super) async fn batch_key(&self, request: &FacilitatorRequest) -> Result<(String, Address), Error> {
        let payload = BatchPayload::parse(request.payment_payload.payload())?;
        let chain_id = network::chain_id(request.payment_requirements.network())?;
        match payload {
            BatchPayload::Deposit { channel, voucher, deposit } => {
                let nonce = match &deposit.authorization {
                    DepositAuthorization::Erc3009 { salt, .. } => {
                        format!("{:#x}", batch::erc3009_deposit_nonce(voucher.channel_id, U256::from_be_bytes(salt.0)))
                    }
                    DepositAuthorization::Permit2 { nonce, .. } => format!("permit2:{nonce}"),
                };
                let key = format!(
                    "{chain_id}:{:#x}:{:#x}:batch-deposit:{nonce}:{:#x}:{}",
                    channel.token, channel.payer, voucher.channel_id, deposit.amount
                );
                Ok((key, channel.payer))
            }
            BatchPayload::Claim { claims, .. } => {
                let digest = batch::offer::claim_batch(&claims, chain_id).digest(chain_id);
                let receiver = claims.first().map_or(Address::ZERO, |c| c.channel.receiver);
                Ok((format!("{chain_id}:batch-claim:{digest:#x}"), receiver))
            }
            BatchPayload::Settle { receiver, token } => {
                let chain = self.batch_chain(request, token)?;
                let (claimed, _) = calls::receiver_totals(&chain, receiver, token)
                    .await
                    .map_err(|e| node_failed(e, receiver, ErrorCode::UnexpectedSettleError))?;
                Ok((format!("{chain_id}:{token:#x}:batch-settle:{receiver:#x}:{claimed}"), receiver))
            }
            BatchPayload::Refund { channel, voucher, refund } => {
                let nonce = refund.refund_nonce.ok_or_else(|| {
                    Error::new(ErrorCode::BatchRefundPayload, "a refund to settle needs its refundNonce")
                })?;
                // The amount is part of the key: a recorded refund answers only a request for the same refund.
                let amount = refund.amount.map(|a| a.to_string()).unwrap_or_default();
                Ok((format!("{chain_id}:batch-refund:{:#x}:{nonce}:{amount}", voucher.channel_id), channel.payer))
            }
            BatchPayload::Voucher { .. } => Err(Error::new(
                ErrorCode::BatchPayloadType,
                "a voucher is not settled by itself: the server claims it (a claim payload) and then settles",
            )),
        }
    }

    /// Every check of a batch-settlement `/settle` request but the simulation, and the transaction it sends.
    pub(super) async fn batch_check(&self, request: &FacilitatorRequest) -> Result<(Arc<Chain>, Checked), Error> {
        let payload = BatchPayload::parse(request.payment_payload.payload())?;
        match payload {
            BatchPayload::Deposit { channel, voucher, deposit } => {
                let payer = Some(channel.payer);
                let (offer, chain, _) =
                    self.batch_client_check(request, &channel, &voucher, deposit.amount, false).await?;
                let now = U256::from(self.clock.now());
                let (to, spent) = match &deposit.authorization {
                    DepositAuthorization::Erc3009 { valid_after, valid_before, salt, signature } => {
                        if offer.method != DepositMethod::Eip3009 {
                            return Err(invalid(
                                ErrorCode::BatchDepositPayload,
                                "the offer asks for Permit2 deposits, and this one is ERC-3009",
                                payer,
                            ));
                        }
                        // A few seconds of margin: an authorization that expires while its deposit waits in
                        // the pool would revert, and this facilitator pays for the revert.
                        if *valid_before <= now + U256::from(DEPOSIT_MARGIN_SECONDS) {
                            return Err(invalid(
                                ErrorCode::BatchValidBeforeExpired,
                                "the deposit authorization has expired (validBefore)",
                                payer,
                            ));
                        }
                        if *valid_after > now {
                            return Err(invalid(
                                ErrorCode::BatchValidAfterInFuture,
                                "the deposit authorization is not valid yet (validAfter)",
                                payer,
                            ));
                        }
                        let digest = batch::offer::erc3009_deposit_digest(
                            &offer,
                            channel.payer,
                            voucher.channel_id,
                            deposit.amount,
                            *valid_after,
                            *valid_before,
                            *salt,
                        )?;
                        // A contract wallet's signature is left to the token (the simulation runs its check).
                        let has_code = chain
                            .has_code_cached(channel.payer)
                            .await
                            .map_err(|e| node_failed(e, channel.payer, ErrorCode::UnexpectedVerifyError))?;
                        if !has_code && !recovers_to(&digest, signature, channel.payer) {
                            return Err(invalid(
                                ErrorCode::BatchReceiveAuthorizationSignature,
                                "the deposit's ReceiveWithAuthorization signature is not the payer's",
                                payer,
                            ));
                        }
                        let nonce = batch::erc3009_deposit_nonce(voucher.channel_id, U256::from_be_bytes(salt.0));
                        (ERC3009_DEPOSIT_COLLECTOR, Spent::Eip3009(nonce))
                    }
                    DepositAuthorization::Permit2 {
                        from,
                        token,
                        amount,
                        spender,
                        nonce,
                        deadline,
                        channel_id,
                        signature,
                    } => {
                        if offer.method != DepositMethod::Permit2 {
                            return Err(invalid(
                                ErrorCode::BatchDepositPayload,
                                "the offer asks for ERC-3009 deposits, and this one is Permit2",
                                payer,
                            ));
                        }
                        if *from != channel.payer
                            || *token != channel.token
                            || *amount != U256::from(deposit.amount)
                            || *spender != PERMIT2_DEPOSIT_COLLECTOR
                            || *channel_id != voucher.channel_id
                        {
                            return Err(invalid(
                                ErrorCode::BatchDepositPayload,
                                "a Permit2 deposit is the payer's transfer of the deposit amount of the channel's \
                                 token, to the Permit2 deposit collector, for this channel",
                                payer,
                            ));
                        }
                        if *deadline <= now + U256::from(DEPOSIT_MARGIN_SECONDS) {
                            return Err(invalid(
                                ErrorCode::BatchValidBeforeExpired,
                                "the Permit2 deposit's deadline has passed",
                                payer,
                            ));
                        }
                        let digest = batch::offer::permit2_deposit_digest(
                            offer.chain_id,
                            *token,
                            *amount,
                            *spender,
                            *nonce,
                            *deadline,
                            *channel_id,
                        );
                        let has_code = chain
                            .has_code_cached(channel.payer)
                            .await
                            .map_err(|e| node_failed(e, channel.payer, ErrorCode::UnexpectedVerifyError))?;
                        if !has_code && !recovers_to(&digest, signature, channel.payer) {
                            return Err(invalid(
                                ErrorCode::Permit2InvalidSignature,
                                "the deposit's Permit2 signature is not the payer's",
                                payer,
                            ));
                        }
                        let allowance = chain
                            .permit2_allowance(channel.token, channel.payer)
                            .await
                            .map_err(|e| node_failed(e, channel.payer, ErrorCode::UnexpectedVerifyError))?;
                        if allowance < *amount {
                            return Err(invalid(
                                ErrorCode::Permit2AllowanceRequired,
                                format!(
                                    "the payer allows Permit2 to move {allowance} of the token, less than the deposit \
                                     of {amount}: approve Permit2 on the token once, or deposit with ERC-3009"
                                ),
                                payer,
                            ));
                        }
                        // Permit2 moves the deposit from the payer straight to the settlement contract.
                        (SETTLEMENT_CONTRACT, Spent::Permit2(*nonce))
                    }
                };
                let balance = chain
                    .balance_of(channel.token, channel.payer)
                    .await
                    .map_err(|e| node_failed(e, channel.payer, ErrorCode::UnexpectedVerifyError))?;
                if balance < U256::from(deposit.amount) {
                    return Err(invalid(
                        ErrorCode::BatchInsufficientBalance,
                        format!("the payer holds {balance} of the token, less than the deposit of {}", deposit.amount),
                        payer,
                    ));
                }
                let checked = Checked {
                    payer: channel.payer,
                    asset: channel.token,
                    from: channel.payer,
                    to,
                    value: U256::from(deposit.amount),
                    target: SETTLEMENT_CONTRACT,
                    input: calls::deposit_call(&channel, &deposit),
                    spent,
                    sender: None,
                    upto: false,
                    deploy: None,
                    batch: Some(Action::Deposit { channel_id: voucher.channel_id }),
                };
                Ok((chain, checked))
            }
            BatchPayload::Claim { claims, authorizer_signature } => {
                let first = &claims[0].channel;
                let (authorizer, token, receiver) = (first.receiverAuthorizer, first.token, first.receiver);
                let chain = self.batch_chain(request, token)?;
                let chain_id = chain.chain_id();
                if claims.len() > MAX_CLAIM_ROWS {
                    return Err(invalid(
                        ErrorCode::BatchClaimPayload,
                        format!("a claim names {} channels; at most {MAX_CLAIM_ROWS} go in one", claims.len()),
                        None,
                    ));
                }
                let mut seen = Vec::with_capacity(claims.len());
                for claim in &claims {
                    if claim.channel.receiverAuthorizer != authorizer {
                        return Err(invalid(
                            ErrorCode::BatchClaimPayload,
                            "every channel of one claim must have the same receiver authorizer",
                            None,
                        ));
                    }
                    if claim.channel.token != token {
                        return Err(invalid(
                            ErrorCode::BatchClaimPayload,
                            "every channel of one claim must have the same token",
                            None,
                        ));
                    }
                    if claim.total_claimed > claim.max_claimable {
                        return Err(invalid(
                            ErrorCode::BatchClaimPayload,
                            format!("a claim of {} exceeds its voucher's {}", claim.total_claimed, claim.max_claimable),
                            Some(claim.channel.payer),
                        ));
                    }
                    let voucher = SignedVoucher {
                        channel_id: claim.channel.channel_id(chain_id),
                        max_claimable: claim.max_claimable,
                        signature: claim.signature.clone(),
                    };
                    // Smart-wallet vouchers are checked by the contract (the simulation).
                    batch::check_voucher(&claim.channel, &voucher, chain_id)?;
                    if seen.contains(&voucher.channel_id) {
                        return Err(invalid(
                            ErrorCode::BatchClaimPayload,
                            format!("channel {:#x} is named twice in one claim", voucher.channel_id),
                            None,
                        ));
                    }
                    seen.push(voucher.channel_id);
                    // Every row must claim something the chain allows: a row that claims nothing new would have
                    // this facilitator pay gas for nothing, one above the balance would revert the whole claim.
                    let state = calls::snapshot(&chain, voucher.channel_id)
                        .await
                        .map_err(|e| node_failed(e, claim.channel.payer, ErrorCode::UnexpectedSettleError))?;
                    if claim.total_claimed <= state.total_claimed {
                        return Err(invalid(
                            ErrorCode::BatchCumulativeBelowClaimed,
                            format!(
                                "channel {:#x} has {} claimed already; a claim of {} adds nothing",
                                voucher.channel_id, state.total_claimed, claim.total_claimed
                            ),
                            Some(claim.channel.payer),
                        ));
                    }
                    if claim.total_claimed > state.balance {
                        return Err(invalid(
                            ErrorCode::BatchCumulativeExceedsBalance,
                            format!(
                                "channel {:#x} holds {}, less than the {} claimed from it",
                                voucher.channel_id, state.balance, claim.total_claimed
                            ),
                            Some(claim.channel.payer),
                        ));
                    }
                }
                let digest = batch::offer::claim_batch(&claims, chain_id).digest(chain_id);
                let signature = match authorizer_signature {
                    Some(signature) => signature,
                    None => {
                        let key = chain.sender(authorizer).ok_or_else(|| {
                            invalid(
                                ErrorCode::BatchAuthorizerNotConfigured,
                                format!(
                                    "the claim is unsigned and this facilitator does not hold the receiver authorizer {}; sign it (claimAuthorizerSignature)",
                                    authorizer.to_checksum(None)
                                ),
                                None,
                            )
                        })?;
                        key.sign_digest(&digest).map_err(|m| invalid(ErrorCode::UnexpectedSettleError, m, None))?
                    }
                };
                let rows = claims.iter().map(|c| (c.channel.channel_id(chain_id), c.total_claimed)).collect();
                let checked = Checked {
                    payer: receiver,
                    asset: token,
                    from: SETTLEMENT_CONTRACT,
                    to: SETTLEMENT_CONTRACT,
                    value: U256::ZERO,
                    target: SETTLEMENT_CONTRACT,
                    input: calls::claim_call(&claims, &signature),
                    spent: Spent::Batch,
                    sender: None,
                    upto: false,
                    deploy: None,
                    batch: Some(Action::Claim { rows }),
                };
                Ok((chain, checked))
            }
            BatchPayload::Settle { receiver, token } => {
                let chain = self.batch_chain(request, token)?;
                let (claimed, settled) = calls::receiver_totals(&chain, receiver, token)
                    .await
                    .map_err(|e| node_failed(e, receiver, ErrorCode::UnexpectedSettleError))?;
                if claimed <= settled {
                    return Err(invalid(
                        ErrorCode::BatchNothingToSettle,
                        format!("{} has nothing claimed and unpaid in this token", receiver.to_checksum(None)),
                        Some(receiver),
                    ));
                }
                let checked = Checked {
                    payer: receiver,
                    asset: token,
                    from: SETTLEMENT_CONTRACT,
                    to: receiver,
                    value: U256::from(claimed - settled),
                    target: SETTLEMENT_CONTRACT,
                    input: calls::settle_call(receiver, token),
                    spent: Spent::Batch,
                    sender: None,
                    upto: false,
                    deploy: None,
                    batch: Some(Action::Settle { receiver, token }),
                };
                Ok((chain, checked))
            }
            BatchPayload::Refund { channel, voucher, refund } => {
                let payer = Some(channel.payer);
                // The payer's own request: its voucher at the charged total, against the channel on chain.
                let (_, chain, state) = self.batch_client_check(request, &channel, &voucher, 0, true).await?;
                let chain_id = chain.chain_id();
                let channel_id = voucher.channel_id;
                let incomplete = |what: &str| {
                    invalid(
                        ErrorCode::BatchRefundPayload,
                        format!("a refund to settle names {what}; the payer's server completes it"),
                        payer,
                    )
                };
                let nonce =
                    refund.refund_nonce.ok_or_else(|| incomplete("the channel's refund nonce (refundNonce)"))?;
                let amount = refund.amount.ok_or_else(|| incomplete("its amount"))?;
                if nonce != state.refund_nonce {
                    return Err(invalid(
                        ErrorCode::BatchRefundPayload,
                        format!(
                            "the refund uses nonce {nonce}; the channel's next refund nonce is {}",
                            state.refund_nonce
                        ),
                        payer,
                    ));
                }
                // Its claims are the server's charges on this channel, claimed before the rest goes back.
                if refund.claims.len() > 1 || refund.claims.iter().any(|c| c.channel != channel) {
                    return Err(invalid(
                        ErrorCode::BatchRefundPayload,
                        "a refund claims from its own channel only, in one row",
                        payer,
                    ));
                }
                let mut claimed = state.total_claimed;
                if let Some(claim) = refund.claims.first() {
                    let row = SignedVoucher {
                        channel_id,
                        max_claimable: claim.max_claimable,
                        signature: claim.signature.clone(),
                    };
                    batch::check_voucher(&claim.channel, &row, chain_id)?;
                    if claim.total_claimed > claim.max_claimable
                        || claim.total_claimed <= state.total_claimed
                        || claim.total_claimed > state.balance
                    {
                        return Err(invalid(
                            ErrorCode::BatchRefundPayload,
                            format!(
                                "the refund's claim of {} in all must be within its voucher ({}) and the balance ({}), \
                                 and above the {} claimed already",
                                claim.total_claimed, claim.max_claimable, state.balance, state.total_claimed
                            ),
                            payer,
                        ));
                    }
                    claimed = claim.total_claimed;
                }
                let available = state.balance.saturating_sub(claimed);
                if available == 0 {
                    return Err(invalid(
                        ErrorCode::BatchRefundNoBalance,
                        format!("channel {channel_id:#x} has nothing unclaimed to refund"),
                        payer,
                    ));
                }
                if amount == 0 || amount > available {
                    return Err(invalid(
                        ErrorCode::BatchRefundAmountInvalid,
                        format!("a refund of {amount}: the channel holds {available} unclaimed"),
                        payer,
                    ));
                }
                // Signed by the receiver's authorizer, never here for a delegated one: a payer could ask for its
                // balance back before the server claimed what it charged, which only the server knows.
                let authorizer = channel.receiverAuthorizer;
                let unsigned = || {
                    invalid(
                        ErrorCode::BatchAuthorizerNotConfigured,
                        "a refund is signed by the receiver's authorizer (refundAuthorizerSignature, and \
                         claimAuthorizerSignature for its claim): this facilitator does not sign refunds for a \
                         delegated authorizer, as it cannot know what the server charged and has not claimed yet",
                        payer,
                    )
                };
                let refund_signature = refund.refund_signature.clone().ok_or_else(unsigned)?;
                let contract_authorizer = chain
                    .has_code_cached(authorizer)
                    .await
                    .map_err(|e| node_failed(e, channel.payer, ErrorCode::UnexpectedSettleError))?;
                let digest = batch::Refund { channelId: channel_id, nonce, amount }.digest(chain_id);
                let foreign = || {
                    invalid(
                        ErrorCode::BatchRefundPayload,
                        format!(
                            "a refund signature is not the receiver authorizer's ({})",
                            authorizer.to_checksum(None)
                        ),
                        payer,
                    )
                };
                if !contract_authorizer && !recovers_to(&digest, &refund_signature, authorizer) {
                    return Err(foreign());
                }
                let claim_signature = match refund.claims.is_empty() {
                    true => None,
                    false => {
                        let signature = refund.claim_signature.clone().ok_or_else(unsigned)?;
                        let digest = batch::offer::claim_batch(&refund.claims, chain_id).digest(chain_id);
                        if !contract_authorizer && !recovers_to(&digest, &signature, authorizer) {
                            return Err(foreign());
                        }
                        Some(signature)
                    }
                };
                let claims = claim_signature.as_deref().map(|s| (refund.claims.as_slice(), s));
                let checked = Checked {
                    payer: channel.payer,
                    asset: channel.token,
                    from: SETTLEMENT_CONTRACT,
                    to: channel.payer,
                    value: U256::from(amount),
                    target: SETTLEMENT_CONTRACT,
                    input: calls::refund_call(&channel, amount, nonce, &refund_signature, claims),
                    spent: Spent::Batch,
                    sender: None,
                    upto: false,
                    deploy: None,
                    batch: Some(Action::Refund { channel_id, nonce }),
                };
                Ok((chain, checked))
            }
            BatchPayload::Voucher { .. } => Err(Error::new(
                ErrorCode::BatchPayloadType,
                "a voucher is not settled by itself: the server claims it (a claim payload) and then settles",
            )),
        }
    }

    /// A mined batch-settlement answer, with the channel's state for a deposit or a refund.
    pub(super) async fn batch_enrich(
        &self,
        chain: &Chain,
        mut answer: paywire_core::types::SettleResponse,
        action: &Action,
    ) -> paywire_core::types::SettleResponse {
        let channel_id = match action {
            Action::Deposit { channel_id } | Action::Refund { channel_id, .. } => Some(*channel_id),
            _ => None,
        };
        if let (true, Some(channel_id)) = (answer.success, channel_id)
            && let Ok(state) = calls::snapshot(chain, channel_id).await
        {
            answer.other.insert("extra".into(), serde_json::json!({"channelState": state.to_json(channel_id)}));
        }
        answer
    }
}

/// What a batch-settlement transaction stored before a restart does (see `crate::batch::decode`).
pub(super) fn decode_stored(chain_id: u64, input: &[u8]) -> Option<Checked> {
    let decoded = calls::decode(chain_id, input)?;
    let (from, to, value, spent) = match decoded.deposit {
        Some((collector, amount, nonce)) => {
            let spent = match nonce {
                calls::DepositNonce::Erc3009(n) => Spent::Eip3009(n),
                calls::DepositNonce::Permit2(n) => Spent::Permit2(n),
            };
            // ERC-3009 deposits move to the collector first; Permit2 deposits straight to the contract.
            let to = if collector == PERMIT2_DEPOSIT_COLLECTOR { SETTLEMENT_CONTRACT } else { collector };
            (decoded.party, to, U256::from(amount), spent)
        }
        None => (SETTLEMENT_CONTRACT, decoded.party, U256::ZERO, Spent::Batch),
    };
    Some(Checked {
        payer: decoded.party,
        asset: decoded.token,
        from,
        to,
        value,
        target: SETTLEMENT_CONTRACT,
        input: input.to_vec(),
        spent,
        sender: None,
        upto: false,
        deploy: None,
        batch: Some(decoded.action),
    })
}
