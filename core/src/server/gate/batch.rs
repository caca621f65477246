//! `batch-settlement` at the gate: a request paid from a channel. The server keeps each channel's state (what
//! it has charged in all, the last voucher and its signature, the balance it saw): a voucher must raise the
//! charged total by exactly the price, and is checked offline when the channel is known; a deposit, an unknown
//! channel or a smart-wallet voucher asks the facilitator. One request per channel at a time. The charge is
//! committed only once the handler succeeded (a deposit also once it settled; a deposit whose answer this
//! server lost is found settled before the handler runs, and its voucher verified against the chain). A
//! cooperative refund, for a server holding its receiver authorizer, is completed and signed here. A voucher
//! that does not match
//! gets the corrective 402: the server's channel state and the last voucher it holds, so a client that lost
//! its state can check its own signature and go on. [`Gate::claim`] claims every channel's charges at the
//! facilitator and sweeps them to the receiver.

use super::*;
use crate::batch::{
    self, BatchOffer, BatchPayload, ChannelConfig, RefundRequest, SignedVoucher, VoucherCheck, VoucherClaim,
};
use crate::signer::Signer;
use crate::wire::Object;
use alloy_primitives::U256;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Where a channel's state is kept.
const CHANNEL_PREFIX: &str = "batch:channel:";
/// The marker of the request a channel is serving.
const BUSY_PREFIX: &str = "batch:busy:";
/// The channels that may have charges to claim.
const INDEX_KEY: &str = "batch:channels";
/// The marker of the claim run in progress, among the processes sharing a store.
const CLAIM_RUN_KEY: &str = "batch:claiming";
/// How long a claim run's marker outlives a process that died running it.
const CLAIM_RUN_MARKER_SECONDS: u64 = 600;
/// How many times a changed index is read again before an update gives up.
const INDEX_ATTEMPTS: usize = 32;
/// How long the channel state a server mirrored from the chain is trusted before a voucher asks the
/// facilitator again: a payer may withdraw, and a balance seen long ago may be gone.
const STATE_TTL_SECONDS: u64 = 60;
/// The most channels one claim names (as the official channel manager batches them).
const CLAIM_ROWS: usize = 100;
/// Keep channel state for a year after its last request (a claim needs it; the store must not drop it).
const CHANNEL_LIFETIME_SECONDS: u64 = 365 * 24 * 3600;

/// A channel as the server keeps it (in the payment store, as JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelState {
    /// The channel's configuration, as the payer sent it.
    pub channel_config: Value,
    /// The offer it pays (network, token, receiver), for claims.
    pub offer: Value,
    /// What the server has charged in all.
    pub charged_cumulative_amount: String,
    /// The latest voucher's ceiling.
    pub signed_max_claimable: String,
    /// The latest voucher's signature.
    pub signature: String,
    /// The channel's balance on chain, as last seen.
    pub balance: String,
    /// What is claimed on chain, as last seen (or claimed by this server).
    pub total_claimed: String,
    /// When a timed withdrawal was started (0: none), as last seen.
    #[serde(default)]
    pub withdraw_requested_at: u64,
    /// The next refund nonce, as last seen.
    #[serde(default)]
    pub refund_nonce: String,
    /// When the fields mirrored from the chain were last read (Unix seconds).
    #[serde(default)]
    pub synced_at: u64,
    /// A claim made with a refund whose sweep failed: the next claim run sweeps the offer.
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub unswept: bool,
    /// The last refund this server sent: a payer asking again after its answer was lost gets that refund's
    /// answer, not "nothing to refund" (nor a second refund the server never meant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refund: Option<SentRefund>,
}

/// A refund as the server sent it to the facilitator (decimal strings, as the rest of the state).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRefund {
    /// The refund nonce it used.
    pub nonce: String,
    /// What it returned to the payer.
    pub amount: String,
    /// What the server had charged when it sent it.
    #[serde(default)]
    pub charged: String,
    /// Its transaction, once the facilitator's answer came back (empty: not heard yet).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub transaction: String,
}

fn amount(text: &str) -> u128 {
    text.parse().unwrap_or(0)
}

impl ChannelState {
    fn charged(&self) -> u128 {
        amount(&self.charged_cumulative_amount)
    }

    fn claimed(&self) -> u128 {
        amount(&self.total_claimed)
    }

    /// x402's `channelState`, with the charged total.
    fn to_json(&self, channel_id: &str) -> Value {
        json!({
            "channelId": channel_id,
            "balance": self.balance,
            "totalClaimed": self.total_claimed,
            "withdrawRequestedAt": self.withdraw_requested_at,
            "refundNonce": if self.refund_nonce.is_empty() { "0" } else { self.refund_nonce.as_str() },
            "chargedCumulativeAmount": self.charged_cumulative_amount,
        })
    }
}

/// A channel's state on chain, from a facilitator's answer (`extra` of `/verify`, `extra.channelState` of
/// `/settle`).
#[derive(Clone, Debug, Default)]
struct Snapshot {
    balance: u128,
    total_claimed: u128,
    withdraw_requested_at: u64,
    refund_nonce: String,
}

fn snapshot(value: Option<&Value>) -> Option<Snapshot> {
    let v = value?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Some(Snapshot {
        balance: text("balance")?.parse().ok()?,
        total_claimed: text("totalClaimed")?.parse().ok()?,
        withdraw_requested_at: v.get("withdrawRequestedAt").and_then(Value::as_u64).unwrap_or(0),
        refund_nonce: text("refundNonce").unwrap_or_else(|| "0".into()),
    })
}

fn channel_key(id: &str) -> String {
    format!("{CHANNEL_PREFIX}{id}")
}

/// The payload of a sweep of `offer`'s receiver's claims in its token.
fn sweep_payload(offer: &PaymentRequirements) -> Object {
    let mut sweep = Object::new();
    sweep.insert("type".into(), "settle".into());
    sweep.insert("receiver".into(), offer.pay_to().into());
    sweep.insert("token".into(), offer.asset().into());
    sweep
}

/// `payment`'s refund completed by the receiver authorizer: `amount` at `nonce`, with the claim of what the
/// server charged (if not yet claimed) and the authorizer's signatures.
fn completed_refund(
    spend: &Spend,
    payment: &PaymentPayload,
    signer: &dyn Signer,
    nonce: U256,
    amount: u128,
    claims: Vec<VoucherClaim>,
) -> Result<PaymentPayload> {
    let chain_id = spend.terms.chain_id;
    let digest = batch::Refund { channelId: spend.voucher.channel_id, nonce, amount }.digest(chain_id);
    let refund_signature = crate::signer::sign_checked(signer, &digest)?;
    let claim_signature = match claims.is_empty() {
        true => None,
        false => Some(batch::offer::sign_claims(signer, &claims, chain_id)?),
    };
    let completed = BatchPayload::Refund {
        channel: spend.channel.clone(),
        voucher: spend.voucher.clone(),
        refund: RefundRequest {
            amount: Some(amount),
            refund_nonce: Some(nonce),
            claims,
            refund_signature: Some(refund_signature.as_bytes().to_vec()),
            claim_signature: claim_signature.map(|s| s.as_bytes().to_vec()),
        },
    };
    PaymentPayload::new_v2(&spend.offer, payment.resource(), completed.to_object(), payment.extensions().cloned())
}

/// The reason and message of a facilitator's refusal to verify.
fn refused_verify(verdict: &VerifyResponse) -> (String, String) {
    let reason = verdict.invalid_reason.clone().unwrap_or_else(|| "invalid_payment".into());
    let message = verdict.invalid_message.clone().unwrap_or_else(|| reason.clone());
    (reason, message)
}

/// The reason and message of a settlement that failed.
fn failed_settle(settled: &SettleResponse) -> (String, String) {
    let reason = settled.error_reason.clone().unwrap_or_else(|| "settlement_failed".into());
    let message = settled.error_message.clone().unwrap_or_else(|| reason.clone());
    (reason, message)
}

/// Whether a refusal is decided by the payment's own bytes (its shape, signatures, terms): a deposit refused
/// so was never settled, and no lost answer is looked for (a forged deposit costs the facilitator one call,
/// not three).
fn decided_by_payload(reason: &str) -> bool {
    use ErrorCode::*;
    [
        BatchPayloadType,
        BatchDepositPayload,
        BatchVoucherPayload,
        BatchChannelIdMismatch,
        BatchTokenMismatch,
        BatchReceiverMismatch,
        BatchReceiverAuthorizerMismatch,
        BatchWithdrawDelayMismatch,
        BatchWithdrawDelayOutOfRange,
        BatchVoucherSignature,
        BatchReceiveAuthorizationSignature,
        BatchValidAfterInFuture,
        Permit2InvalidSignature,
    ]
    .iter()
    .any(|code| code.as_str() == reason)
}

/// A channel with charges to claim: its id, its stored entry and state.
type Claimable = (String, StoreEntry, ChannelState);

/// An offer's channels at a claim: the offer, the channels with charges to claim, and those (id, entry) whose
/// claimed charges wait for a sweep.
type OfferChannels = (Value, Vec<Claimable>, Vec<(String, StoreEntry)>);

/// A request's payment from a channel: what it carries.
struct Spend {
    offer: PaymentRequirements,
    terms: BatchOffer,
    channel: ChannelConfig,
    voucher: SignedVoucher,
    deposit: Option<u128>,
    /// A cooperative refund asked for (the voucher is at the charged total).
    refund: Option<RefundRequest>,
    check: VoucherCheck,
}

impl Run {
    /// Whether a payment is for this route's batch-settlement offer.
    pub(super) fn is_batch(&self, payment: &PaymentPayload) -> bool {
        payment.accepted().is_some_and(|a| a.scheme() == batch::SCHEME)
    }

    /// Reads a channel payment against the bill, offline.
    fn read_spend(&self, payment: &PaymentPayload) -> Result<Spend> {
        let (_, offer) = super::super::check::match_offer(payment, &self.bill().accepts)?;
        let offer = offer.clone();
        let terms = BatchOffer::resolve(&offer)?;
        let payload = BatchPayload::parse(payment.payload())?;
        let (channel, voucher, deposit, refund) = match &payload {
            BatchPayload::Deposit { channel, voucher, deposit } => (channel, voucher, Some(deposit.amount), None),
            BatchPayload::Voucher { channel, voucher } => (channel, voucher, None, None),
            // A payer's refund names at most its amount: the server completes the rest.
            BatchPayload::Refund { channel, voucher, refund } => {
                (channel, voucher, None, Some(RefundRequest { amount: refund.amount, ..RefundRequest::default() }))
            }
            _ => {
                return Err(Error::new(
                    ErrorCode::BatchPayloadType,
                    "a request is paid with a deposit or a voucher, or asks for a refund; claims and sweeps are the \
                     server's to send to its facilitator",
                ));
            }
        };
        let payer = channel.payer.to_checksum(None);
        terms.check_channel(channel).map_err(|e| e.with_payer(payer.clone()))?;
        let check = batch::check_voucher(channel, voucher, terms.chain_id).map_err(|e| e.with_payer(payer.clone()))?;
        if matches!(check, VoucherCheck::RequiresOnchain { .. }) && !self.gate.options.allow_onchain_signatures {
            return Err(Error::new(
                ErrorCode::BatchVoucherSignature,
                "the voucher is not an ECDSA signature of the channel's payer; this server does not take smart-wallet \
                 vouchers (allow_onchain_signatures)",
            )
            .with_payer(payer));
        }
        let (channel, voucher) = (channel.clone(), voucher.clone());
        Ok(Spend { offer, terms, channel, voucher, deposit, refund, check })
    }

    /// A request paid from a channel, from the payment to the answer.
    pub(super) async fn take_batch(&mut self, payment: PaymentPayload) -> Action {
        let spend = match self.read_spend(&payment) {
            Ok(s) => s,
            Err(e) => return self.refuse(e).await,
        };
        if let Err(action) = self.read_body().await {
            return action;
        }
        let id = format!("{:#x}", spend.voucher.channel_id);
        let payer = spend.channel.payer.to_checksum(None);
        // One request per channel at a time: two requests signed against the same charged total would both
        // pass the check otherwise. The marker expires by itself if this process dies.
        let marker = match self.marker(&payer, self.now.saturating_add(self.gate.options.takeover_after)) {
            Ok(m) => m,
            Err(e) => return self.fail_locally(e).await,
        };
        let busy = format!("{BUSY_PREFIX}{id}");
        match self.claim(&busy, marker.clone()).await {
            Ok(None) => self.hold(&busy, &marker.token),
            Ok(Some(_)) => {
                let e = Error::new(
                    ErrorCode::PaymentInProgress,
                    "another request of this channel is being served; send this one when it is answered",
                );
                return self
                    .answer_bill(402, "invalid_batch_settlement_evm_channel_busy", e.message(), Vec::new())
                    .await;
            }
            Err(e) => return self.store_failed(e).await,
        }
        let held = match self.store(StoreOp::Get { key: channel_key(&id) }).await {
            Ok(StoreAnswer::Entry(held)) => held,
            Ok(_) => return out_of_turn().action,
            Err(e) => return self.store_failed(e).await,
        };
        let known: Option<ChannelState> =
            held.as_ref().and_then(|h| h.record.body.as_deref()).and_then(|b| serde_json::from_slice(b).ok());
        if spend.refund.is_some() {
            return self.take_refund(spend, payment, &id, held, known).await;
        }
        let price = u128::try_from(spend.terms.amount).unwrap_or(u128::MAX);
        if let Some(state) = &known {
            // A known channel: a voucher that does not follow the charged total is corrected before anything
            // else (a client that lost its state deposits again, which the facilitator need not see).
            let expected = state.charged().saturating_add(price);
            if spend.voucher.max_claimable != expected {
                return self.corrective(&spend, &id, state, true, expected).await;
            }
        }
        // The facilitator is asked for a deposit, a channel this server has not seen, a smart-wallet voucher,
        // and when what the server saw of the chain is old or a withdrawal was pending.
        let stale = known
            .as_ref()
            .is_none_or(|s| s.withdraw_requested_at != 0 || self.now.saturating_sub(s.synced_at) > STATE_TTL_SECONDS);
        let ask = spend.deposit.is_some() || stale || matches!(spend.check, VoucherCheck::RequiresOnchain { .. });
        let mut seen: Option<Snapshot> = None;
        // A deposit found settled already (its answer had been lost): its balance is in `seen`.
        let mut deposited_before: Option<SettleResponse> = None;
        if ask {
            let verdict = match self.verify_at(payment.clone(), &spend.offer).await {
                Ok(v) => v,
                Err(action) => return action,
            };
            if !verdict.is_valid {
                let (reason, message) = refused_verify(&verdict);
                // A deposit this server had settled before it lost the answer (a dropped connection) fails
                // verification as spent; the facilitator repeats the answer it recorded, so the payer's
                // retry is served without a second deposit.
                if spend.deposit.is_none() || decided_by_payload(&reason) {
                    return self.answer_bill(status_for_reason(&reason), &reason, &message, Vec::new()).await;
                }
                match self.recover_deposit(&payment, &spend).await {
                    Ok(Some((settled, now_seen))) => {
                        seen = Some(now_seen);
                        deposited_before = Some(settled);
                    }
                    Ok(None) => {
                        return self.answer_bill(status_for_reason(&reason), &reason, &message, Vec::new()).await;
                    }
                    Err(action) => return action,
                }
            } else {
                seen = snapshot(verdict.other.get("extra"));
            }
        }
        // Without state of its own, the server starts from what is claimed on chain (x402: unclaimed vouchers
        // a server lost are its loss, never charged to the payer twice).
        let mut state = known.clone().unwrap_or_else(|| ChannelState {
            channel_config: batch::payload::channel_json(&spend.channel),
            offer: spend.offer.to_value(),
            charged_cumulative_amount: seen.as_ref().map_or(0, |s| s.total_claimed).to_string(),
            total_claimed: seen.as_ref().map_or(0, |s| s.total_claimed).to_string(),
            ..ChannelState::default()
        });
        if let Some(s) = &seen {
            state.balance = s.balance.to_string();
            state.total_claimed = s.total_claimed.max(state.claimed()).to_string();
            state.withdraw_requested_at = s.withdraw_requested_at;
            state.refund_nonce = s.refund_nonce.clone();
            state.synced_at = self.now;
        }
        if state.withdraw_requested_at != 0 {
            // The payer is taking the balance back: a voucher now could be left unclaimable, and what it was
            // charged must be claimed before the withdraw delay ends.
            if state.charged() > state.claimed() {
                self.gate.note_withdrawal();
            }
            let message = "the payer started a withdrawal from this channel; it takes no more vouchers";
            return self.answer_bill(402, ErrorCode::BatchCumulativeExceedsBalance.as_str(), message, Vec::new()).await;
        }
        let expected = state.charged().saturating_add(price);
        if spend.voucher.max_claimable != expected {
            return self.corrective(&spend, &id, &state, known.is_some(), expected).await;
        }
        // A deposit found on chain is in the balance the facilitator reported since.
        let arriving = if deposited_before.is_some() { 0 } else { spend.deposit.unwrap_or(0) };
        let available = amount(&state.balance).saturating_add(arriving);
        if spend.voucher.max_claimable > available {
            let message = format!(
                "the channel holds {available}, less than the {expected} this request brings the charges to; deposit more"
            );
            return self
                .answer_bill(402, ErrorCode::BatchCumulativeExceedsBalance.as_str(), &message, Vec::new())
                .await;
        }
        let mut out = match self.run_handler(Paid { payer: payer.clone(), payment: None, receipt: None }).await {
            Ok(out) => out,
            Err(action) => return action,
        };
        let overrides = http::header(&out.headers, upto::SETTLEMENT_OVERRIDES_HEADER).map(str::to_string);
        http::remove(&mut out.headers, upto::SETTLEMENT_OVERRIDES_HEADER);
        if out.status >= 400 || self.is_routing_redirect(&out) {
            // Nothing delivered: nothing charged, the voucher may be sent again.
            return self.respond(out).await;
        }
        let charge = match overrides {
            Some(value) => {
                let decimals = crate::assets::known_asset(spend.terms.chain_id, &spend.terms.asset).map(|a| a.decimals);
                match upto::charge_from_overrides(&value, spend.terms.amount, decimals) {
                    Ok(c) => u128::try_from(c).unwrap_or(price),
                    Err(e) => return self.fail_locally(e).await,
                }
            }
            None => price,
        };
        let mut receipt = SettleResponse {
            success: true,
            error_reason: None,
            error_message: None,
            payer: Some(payer.clone()),
            transaction: String::new(),
            network: spend.offer.network().to_string(),
            amount: Some(String::new()),
            extensions: None,
            other: Default::default(),
        };
        if let Some(deposited) = spend.deposit {
            // The deposit goes on chain once the request was served, as every x402 settlement.
            self.shielded = true;
            let settled = match deposited_before.take() {
                Some(s) => s,
                None => {
                    let settled = match self.settle_at(payment.clone(), &spend.offer, UNCONFIRMED_MESSAGE).await {
                        Ok(s) => s,
                        Err(action) => return action,
                    };
                    if !settled.success {
                        let (reason, message) = failed_settle(&settled);
                        return self.answer_bill(402, &reason, &message, Vec::new()).await;
                    }
                    settled
                }
            };
            let after = snapshot(settled.other.get("extra").and_then(|e| e.get("channelState")));
            let balance = after.as_ref().map_or(available, |s| s.balance);
            state.balance = balance.to_string();
            receipt.transaction = settled.transaction.clone();
            receipt.amount = Some(deposited.to_string());
        }
        state.charged_cumulative_amount = state.charged().saturating_add(charge).to_string();
        state.signed_max_claimable = spend.voucher.max_claimable.to_string();
        state.signature = crate::wire::hex_lower(&spend.voucher.signature);
        state.channel_config = batch::payload::channel_json(&spend.channel);
        state.offer = spend.offer.to_value();
        if self.keep_channel(&id, held, &state).await {
            self.gate.note_charge(charge, self.now);
        } else {
            // The charge could not be recorded: the response is not released, and the voucher may be sent again.
            return self
                .answer_json(
                    503,
                    ErrorCode::StoreUnavailable.as_str(),
                    "the server could not record the payment; nothing was charged; try again later",
                )
                .await;
        }
        receipt
            .other
            .insert("extra".into(), json!({ "chargedAmount": charge.to_string(), "channelState": state.to_json(&id) }));
        http::set(&mut out.headers, crate::codec::header::PAYMENT_RESPONSE, receipt.to_header());
        http::make_private(&mut out.headers);
        self.respond(out).await
    }

    /// A payer's cooperative refund: checked against the channel on chain (through the facilitator), completed
    /// with the claim of what this server charged and the receiver authorizer's signatures, settled in one
    /// transaction; the handler does not run. Only a server holding the receiver authorizer's key refunds.
    async fn take_refund(
        &mut self,
        spend: Spend,
        payment: PaymentPayload,
        id: &str,
        held: Option<StoreEntry>,
        known: Option<ChannelState>,
    ) -> Action {
        let signer = match &self.gate.authorizer {
            Some(s) if s.address() == spend.channel.receiverAuthorizer => s.clone(),
            _ => {
                let message = "this server does not hold the channel's receiver authorizer key, so it cannot sign a \
                               refund; the payer's withdrawal (initiateWithdraw, then finalizeWithdraw once the \
                               withdraw delay passed) returns the balance";
                return self
                    .answer_bill(402, ErrorCode::BatchAuthorizerNotConfigured.as_str(), message, Vec::new())
                    .await;
            }
        };
        if let Some(state) = &known
            && spend.voucher.max_claimable != state.charged()
        {
            // A payer that lost its channel state asks with an older voucher: the server's state, before the
            // facilitator is asked (which would refuse a voucher below what is claimed on chain).
            return self.corrective(&spend, id, state, true, state.charged()).await;
        }
        let verdict = match self.verify_at(payment.clone(), &spend.offer).await {
            Ok(v) => v,
            Err(action) => return action,
        };
        if !verdict.is_valid {
            let (reason, message) = refused_verify(&verdict);
            return self.answer_bill(status_for_reason(&reason), &reason, &message, Vec::new()).await;
        }
        let Some(seen) = snapshot(verdict.other.get("extra")) else {
            let e = Error::new(ErrorCode::UnexpectedVerifyError, "the facilitator did not tell the channel's state");
            return self.fail_locally(e).await;
        };
        let mut state = known.clone().unwrap_or_else(|| ChannelState {
            channel_config: batch::payload::channel_json(&spend.channel),
            offer: spend.offer.to_value(),
            charged_cumulative_amount: seen.total_claimed.to_string(),
            ..ChannelState::default()
        });
        state.balance = seen.balance.to_string();
        state.total_claimed = seen.total_claimed.max(state.claimed()).to_string();
        state.withdraw_requested_at = seen.withdraw_requested_at;
        state.refund_nonce = seen.refund_nonce.clone();
        state.synced_at = self.now;
        let charged = state.charged();
        if spend.voucher.max_claimable != charged {
            // A refund's voucher is at the charged total: anything else gets the server's state to sign again.
            return self.corrective(&spend, id, &state, known.is_some(), charged).await;
        }
        let rest = seen.balance.saturating_sub(charged.max(seen.total_claimed));
        // A refund this server sent and never heard the answer of, now on chain: the payer asking again for it
        // (nothing charged since; everything, or the same amount) gets that refund's answer. A refund whose
        // answer the server had is not repeated: a second ask finds what is left, as with the official servers.
        if let Some(last) = state.last_refund.clone().filter(|l| l.transaction.is_empty()) {
            let landed = matches!(
                (last.nonce.parse::<U256>(), seen.refund_nonce.parse::<U256>()),
                (Ok(sent), Ok(next)) if sent < next
            );
            let asked = spend.refund.as_ref().and_then(|r| r.amount);
            let same = last.charged == charged.to_string() && (rest == 0 || asked == Some(amount(&last.amount)));
            if landed {
                // Answered now, another ask, or an answer no facilitator holds: it is not looked for again.
                state.last_refund = None;
            }
            if landed && same {
                let again = self.refund_again(&spend, &payment, id, &signer, &last).await;
                match again {
                    Ok(Some(settled)) => {
                        let amount = amount(&last.amount);
                        state.last_refund = Some(SentRefund { transaction: settled.transaction.clone(), ..last });
                        // The claim it may have made was never swept: the next claim run sweeps (or finds nothing).
                        state.unswept = true;
                        return self.refund_answered(&spend, id, held, &state, settled, amount).await;
                    }
                    Ok(None) => {}
                    Err(action) => return action,
                }
            }
        }
        if rest == 0 {
            if known.as_ref().is_some_and(|k| k.last_refund.is_some()) {
                // The refund looked for is forgotten (a later ask costs no /settle); a failure changes nothing.
                let _ = self.keep_channel(id, held, &state).await;
            }
            let message = format!("channel {id} holds nothing beyond what this server charged");
            return self.answer_bill(402, ErrorCode::BatchRefundNoBalance.as_str(), &message, Vec::new()).await;
        }
        let amount = spend.refund.as_ref().and_then(|r| r.amount).unwrap_or(rest);
        if amount == 0 || amount > rest {
            let message = format!("a refund of {amount}: the channel holds {rest} beyond what this server charged");
            return self.answer_bill(402, ErrorCode::BatchRefundAmountInvalid.as_str(), &message, Vec::new()).await;
        }
        let Ok(nonce) = seen.refund_nonce.parse::<U256>() else {
            let e = Error::new(ErrorCode::UnexpectedVerifyError, "the facilitator told an unreadable refund nonce");
            return self.fail_locally(e).await;
        };
        let claims = match charged > seen.total_claimed {
            true => vec![VoucherClaim {
                channel: spend.channel.clone(),
                max_claimable: charged,
                signature: spend.voucher.signature.clone(),
                total_claimed: charged,
            }],
            false => Vec::new(),
        };
        let claimed_now = !claims.is_empty();
        let payment = match completed_refund(&spend, &payment, signer.as_ref(), nonce, amount, claims) {
            Ok(p) => p,
            Err(e) => return self.fail_locally(e).await,
        };
        // Before the balance leaves, the stored state stops being trusted offline: whatever happens to the
        // refund's answer, the channel's next voucher asks the facilitator for the balance, and a refund asked
        // again finds this one.
        state.synced_at = 0;
        state.last_refund = Some(SentRefund {
            nonce: nonce.to_string(),
            amount: amount.to_string(),
            charged: charged.to_string(),
            transaction: String::new(),
        });
        let Some(held) = self.keep_channel_entry(id, held, &state).await else {
            return self
                .answer_json(
                    503,
                    ErrorCode::StoreUnavailable.as_str(),
                    "the server could not record the refund it was asked for; nothing was refunded; try again later",
                )
                .await;
        };
        let held = Some(held);
        self.shielded = true;
        let settled = match self.settle_at(payment, &spend.offer, UNCONFIRMED_MESSAGE).await {
            Ok(s) => s,
            Err(action) => return action,
        };
        if !settled.success {
            let (reason, message) = failed_settle(&settled);
            return self.answer_bill(402, &reason, &message, Vec::new()).await;
        }
        if let Some(last) = state.last_refund.as_mut() {
            last.transaction = settled.transaction.clone();
        }
        match snapshot(settled.other.get("extra").and_then(|e| e.get("channelState"))) {
            Some(after) => {
                state.balance = after.balance.to_string();
                state.total_claimed = after.total_claimed.to_string();
                state.refund_nonce = after.refund_nonce;
                state.synced_at = self.now;
            }
            None => {
                state.balance = seen.balance.saturating_sub(amount).to_string();
                state.total_claimed = charged.max(seen.total_claimed).to_string();
                state.refund_nonce = nonce.saturating_add(U256::from(1u8)).to_string();
            }
        }
        if state.signature.is_empty() {
            state.signed_max_claimable = charged.to_string();
            state.signature = crate::wire::hex_lower(&spend.voucher.signature);
        }
        if claimed_now {
            // The charges just claimed are the receiver's once swept; a failed sweep is left to the next claim.
            let swept = match PaymentPayload::new_v2(&spend.offer, None, sweep_payload(&spend.offer), None) {
                Ok(payment) => {
                    let call = FacilitatorCall { payment, requirements: spend.offer.clone() };
                    matches!(self.ask(Action::Settle(Box::new(call))).await, Input::Settled(s) if s.success)
                }
                Err(_) => false,
            };
            if !swept {
                state.unswept = true;
                self.log(
                    LogLevel::Warning,
                    format!("paywire: the sweep after channel {id}'s refund failed; the next claim sweeps it"),
                );
            }
        }
        self.refund_answered(&spend, id, held, &state, settled, amount).await
    }

    /// Asks the facilitator again for the answer to `last`, a refund of this channel now on chain: the
    /// facilitator repeats what it recorded for the channel's refund nonce and sends nothing. `Ok(None)`: it
    /// has no such answer (another facilitator settled it), and the request is judged afresh.
    async fn refund_again(
        &mut self,
        spend: &Spend,
        payment: &PaymentPayload,
        id: &str,
        signer: &Arc<dyn Signer>,
        last: &SentRefund,
    ) -> core::result::Result<Option<SettleResponse>, Action> {
        let (Ok(nonce), Ok(amount)) = (last.nonce.parse::<U256>(), last.amount.parse::<u128>()) else {
            return Ok(None);
        };
        let payment = match completed_refund(spend, payment, signer.as_ref(), nonce, amount, Vec::new()) {
            Ok(p) => p,
            Err(e) => return Err(self.fail_locally(e).await),
        };
        let settled = self.settle_at(payment, &spend.offer, UPSTREAM_MESSAGE).await?;
        if !settled.success || settled.transaction.is_empty() {
            return Ok(None);
        }
        self.log(
            LogLevel::Warning,
            format!("paywire: channel {id} asked again for refund {nonce}, whose answer was lost; answered"),
        );
        Ok(Some(settled))
    }

    /// Records `state` after a refund on chain and answers the payer with the refund's receipt.
    async fn refund_answered(
        &mut self,
        spend: &Spend,
        id: &str,
        held: Option<StoreEntry>,
        state: &ChannelState,
        settled: SettleResponse,
        amount: u128,
    ) -> Action {
        // The refund is on chain whatever happens next: it is answered. A state the store cannot keep leaves the
        // one written before, which the next voucher checks with the facilitator.
        if !self.keep_channel(id, held, state).await {
            self.log(
                LogLevel::Error,
                format!("paywire: the state of channel {id} after its refund could not be stored"),
            );
        }
        let mut receipt = settled;
        receipt.payer = Some(spend.channel.payer.to_checksum(None));
        receipt.other.insert("extra".into(), json!({ "channelState": state.to_json(id) }));
        let body = json!({ "message": "Refund acknowledged", "channelId": id, "amount": amount.to_string() });
        let mut headers: Headers = vec![
            ("content-type".into(), "application/json".into()),
            (crate::codec::header::PAYMENT_RESPONSE.into(), receipt.to_header()),
        ];
        http::make_private(&mut headers);
        self.respond(Response { status: 200, headers, body: body.to_string().into_bytes() }).await
    }

    /// A deposit that failed verification may be one the facilitator settled while this server lost the answer:
    /// `/settle` is asked (it repeats a recorded answer; a deposit that can still be settled is settled now,
    /// before the request is served), then the request's voucher is verified on its own against the channel
    /// as the chain has it now, whose state is returned with the settlement. `None`: the deposit is not on
    /// chain (the request is refused with the deposit's reason); a voucher that does not hold (a replayed
    /// deposit with another voucher, a channel since refunded or withdrawn) is refused with its own reason.
    async fn recover_deposit(
        &mut self,
        payment: &PaymentPayload,
        spend: &Spend,
    ) -> core::result::Result<Option<(SettleResponse, Snapshot)>, Action> {
        self.shielded = true;
        let settled = self.settle_at(payment.clone(), &spend.offer, UNCONFIRMED_MESSAGE).await?;
        if !settled.success {
            return Ok(None);
        }
        let voucher = BatchPayload::Voucher { channel: spend.channel.clone(), voucher: spend.voucher.clone() };
        let alone = match PaymentPayload::new_v2(&spend.offer, payment.resource(), voucher.to_object(), None) {
            Ok(p) => p,
            Err(e) => return Err(self.fail_locally(e).await),
        };
        let verdict = self.verify_at(alone, &spend.offer).await?;
        if !verdict.is_valid {
            // The deposit is on chain, but this voucher does not hold against the channel now: its reason.
            let (reason, message) = refused_verify(&verdict);
            return Err(self.answer_bill(status_for_reason(&reason), &reason, &message, Vec::new()).await);
        }
        Ok(snapshot(verdict.other.get("extra")).map(|seen| (settled, seen)))
    }

    /// Stores a channel's new state (the busy marker makes this request its only writer) and lists it for
    /// claims. `false` when it could not: the request is then not served (nothing was charged).
    async fn keep_channel(&mut self, id: &str, held: Option<StoreEntry>, state: &ChannelState) -> bool {
        self.keep_channel_entry(id, held, state).await.is_some()
    }

    /// [`Run::keep_channel`], answering the entry now stored (for a request that writes the channel twice).
    async fn keep_channel_entry(
        &mut self,
        id: &str,
        held: Option<StoreEntry>,
        state: &ChannelState,
    ) -> Option<StoreEntry> {
        let token = match self.token() {
            Ok(t) => t,
            Err(e) => {
                self.log(LogLevel::Error, format!("paywire: a channel's charge is not kept: {}", e.message()));
                return None;
            }
        };
        let entry = StoreEntry {
            version: 1,
            token,
            expires_at: self.now.saturating_add(CHANNEL_LIFETIME_SECONDS),
            record: Record {
                // "Unsettled": a store never drops it to make room, as it holds charges not yet claimed.
                state: RecordState::Unsettled,
                fingerprint: String::new(),
                payment: id.to_string(),
                status: 0,
                headers: Vec::new(),
                body: Some(serde_json::to_vec(state).unwrap_or_default()),
                since: self.now,
                charge: None,
            },
        };
        let key = channel_key(id);
        let mut entry = entry;
        let mut kept = match &held {
            Some(h) => self.replace(&key, &h.token, entry.clone()).await,
            None => self.claim(&key, entry.clone()).await.map(|other| other.is_none()),
        };
        if let (Ok(false), Some(held)) = (&kept, &held) {
            // A claim run marked the channel claimed meanwhile (it does not wait for requests): its marks are
            // merged into this request's state, which is written over the claim's.
            if let Some((merged, current)) = self.merge_claimed(&key, held, state).await {
                entry.record.body = Some(serde_json::to_vec(&merged).unwrap_or_default());
                kept = self.replace(&key, &current.token, entry.clone()).await;
            }
        }
        match kept {
            Ok(true) => {}
            Ok(false) => {
                self.log(
                    LogLevel::Error,
                    format!(
                        "paywire: channel {id}'s state changed under a request that held it (a request that outlived \
                         takeover_after); this one is not served"
                    ),
                );
                return None;
            }
            Err(e) => {
                self.log(
                    LogLevel::Error,
                    format!("paywire: the payment store failed keeping channel {id}'s charge: {}", e.message()),
                );
                return None;
            }
        }
        if held.is_none() {
            self.index_channel(id).await;
        }
        Some(entry)
    }

    /// `state` (written by a request that read `held`) with what a claim run wrote since: the claimed total
    /// and the sweep mark. `None` when anything else changed (a request that outlived `takeover_after`).
    async fn merge_claimed(
        &mut self,
        key: &str,
        held: &StoreEntry,
        state: &ChannelState,
    ) -> Option<(ChannelState, StoreEntry)> {
        let read =
            |e: &StoreEntry| e.record.body.as_deref().and_then(|b| serde_json::from_slice::<ChannelState>(b).ok());
        let current = match self.store(StoreOp::Get { key: key.to_string() }).await {
            Ok(StoreAnswer::Entry(Some(e))) => e,
            _ => return None,
        };
        let (before, now) = (read(held)?, read(&current)?);
        let only_claimed =
            ChannelState { total_claimed: before.total_claimed.clone(), unswept: before.unswept, ..now.clone() }
                == before;
        if !only_claimed {
            return None;
        }
        let mut merged = state.clone();
        merged.total_claimed = state.claimed().max(now.claimed()).to_string();
        if state.unswept == before.unswept {
            merged.unswept = now.unswept;
        }
        Some((merged, current))
    }

    /// Adds a channel to the list of channels a claim looks at.
    async fn index_channel(&mut self, id: &str) {
        for _ in 0..INDEX_ATTEMPTS {
            let current = match self.store(StoreOp::Get { key: INDEX_KEY.into() }).await {
                Ok(StoreAnswer::Entry(e)) => e,
                _ => break,
            };
            let mut ids: Vec<String> = current
                .as_ref()
                .and_then(|e| e.record.body.as_deref())
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or_default();
            if ids.iter().any(|i| i == id) {
                return;
            }
            ids.push(id.to_string());
            let Ok(token) = self.token() else { break };
            let entry = StoreEntry {
                version: 1,
                token,
                expires_at: self.now.saturating_add(CHANNEL_LIFETIME_SECONDS),
                record: Record {
                    state: RecordState::Unsettled,
                    fingerprint: String::new(),
                    payment: String::new(),
                    status: 0,
                    headers: Vec::new(),
                    body: Some(serde_json::to_vec(&ids).unwrap_or_default()),
                    since: self.now,
                    charge: None,
                },
            };
            let done = match &current {
                Some(c) => self.replace(INDEX_KEY, &c.token, entry).await,
                None => self.claim(INDEX_KEY, entry).await.map(|o| o.is_none()),
            };
            if let Ok(true) = done {
                return;
            }
        }
        self.log(LogLevel::Error, format!("paywire: channel {id} could not be listed for claims"));
    }

    /// The corrective 402: the voucher does not raise the charges by exactly the price. The offer carries the
    /// server's channel state and, when it has one, the last voucher it holds, which the client checks is its
    /// own before it adopts the charged total.
    async fn corrective(
        &mut self,
        spend: &Spend,
        id: &str,
        state: &ChannelState,
        known: bool,
        expected: u128,
    ) -> Action {
        let mut bill = self.bill().clone();
        for offer in bill.accepts.iter_mut().filter(|o| o.is_matched_by(&spend.offer) && spend.offer.is_matched_by(o)) {
            let mut value = offer.to_value();
            if let Some(extra) = value.get_mut("extra").and_then(Value::as_object_mut) {
                extra.insert("channelState".into(), state.to_json(id));
                if known && !state.signature.is_empty() {
                    extra.insert(
                        "voucherState".into(),
                        json!({ "signedMaxClaimable": state.signed_max_claimable, "signature": state.signature }),
                    );
                }
            }
            if let Value::Object(obj) = value
                && let Ok(corrected) = PaymentRequirements::from_object(obj, offer.version())
            {
                *offer = corrected;
            }
        }
        let reason = ErrorCode::BatchCumulativeAmountMismatch.as_str();
        let message = format!(
            "the voucher lets the receiver claim {} in all, but this server has charged {} and the price is {}: sign \
             a voucher for {expected}",
            spend.voucher.max_claimable, state.charged_cumulative_amount, spend.terms.amount
        );
        bill.error = Some(reason.to_string());
        let headers: Headers = vec![
            ("content-type".into(), "application/json".into()),
            ("cache-control".into(), http::NO_STORE.into()),
            ("payment-required".into(), bill.to_header()),
        ];
        let body = json!({ "error": reason, "message": message }).to_string().into_bytes();
        self.respond(Response { status: 402, headers, body }).await
    }

    /// Claims the charges of every channel at the facilitator, then sweeps them to the receiver: the claim
    /// exchange of [`Gate::claim`]. Answers a JSON summary.
    pub(super) async fn claim_channels(&mut self) -> Action {
        let action = self.claim_every_channel().await;
        // The run's marker is given back before the summary (it is never sent to a client).
        self.release_holds().await;
        // What did not go through (the store, the facilitator, a claim or a sweep refused) is tried again by
        // the claim schedule, but for a channel the chain refuses for good (its payer withdrew, its voucher is
        // claimed): that one waits for the next run the schedule starts anyway.
        let terminal = [
            ErrorCode::BatchCumulativeExceedsBalance,
            ErrorCode::BatchCumulativeBelowClaimed,
            ErrorCode::BatchChannelNotFound,
        ];
        let retried = |row: &Value| {
            row["success"] != json!(true)
                && !(row["channels"] == json!(1) && terminal.iter().any(|c| row["errorReason"] == json!(c.as_str())))
        };
        let failed = match &action {
            // A run skipped for another's is tried again too: that one may have read the store before this
            // process's last charges.
            Action::Respond(r) if r.status == 200 => serde_json::from_slice::<Value>(&r.body).map_or(true, |summary| {
                summary.get("skipped").is_some()
                    || ["claims", "settles"]
                        .iter()
                        .any(|k| summary[k].as_array().is_some_and(|rows| rows.iter().any(retried)))
            }),
            _ => true,
        };
        self.gate.claim_ended(failed);
        action
    }

    /// [`Run::claim_channels`]: every channel's charges claimed, and swept to the receivers. One run at a time
    /// for every process sharing the store (the marker expires by itself if this process dies).
    async fn claim_every_channel(&mut self) -> Action {
        let marker = match self.marker("claims", self.now.saturating_add(CLAIM_RUN_MARKER_SECONDS)) {
            Ok(m) => m,
            Err(e) => return self.fail_locally(e).await,
        };
        match self.claim(CLAIM_RUN_KEY, marker.clone()).await {
            Ok(None) => self.hold(CLAIM_RUN_KEY, &marker.token),
            Ok(Some(_)) => {
                let body = json!({"claims": [], "settles": [], "skipped": "another claim run is in progress"});
                return Action::Respond(Response {
                    status: 200,
                    headers: vec![("content-type".into(), "application/json".into())],
                    body: body.to_string().into_bytes(),
                });
            }
            Err(e) => return self.store_failed(e).await,
        }
        let ids: Vec<String> = match self.store(StoreOp::Get { key: INDEX_KEY.into() }).await {
            Ok(StoreAnswer::Entry(e)) => {
                e.and_then(|e| e.record.body).and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
            }
            Ok(_) => return out_of_turn().action,
            Err(e) => return self.store_failed(e).await,
        };
        // Rows grouped by offer (network, token, receiver): one claim and one sweep each.
        // Per offer: the channels with charges to claim, and those whose claimed charges wait for a sweep.
        let mut groups: Vec<OfferChannels> = Vec::new();
        for id in ids {
            let entry = match self.store(StoreOp::Get { key: channel_key(&id) }).await {
                Ok(StoreAnswer::Entry(Some(e))) => e,
                Ok(_) => continue,
                Err(e) => return self.store_failed(e).await,
            };
            let Some(state) = entry.record.body.as_deref().and_then(|b| serde_json::from_slice::<ChannelState>(b).ok())
            else {
                continue;
            };
            let claimable = state.charged() > state.claimed() && !state.signature.is_empty();
            if !claimable && !state.unswept {
                continue;
            }
            let at = match groups.iter().position(|(offer, _, _)| *offer == state.offer) {
                Some(at) => at,
                None => {
                    groups.push((state.offer.clone(), Vec::new(), Vec::new()));
                    groups.len() - 1
                }
            };
            if state.unswept {
                groups[at].2.push((id.clone(), entry.clone()));
            }
            if claimable {
                groups[at].1.push((id, entry, state));
            }
        }
        let mut claims = Vec::new();
        let mut sweeps = Vec::new();
        for (offer, rows, unswept) in groups {
            let Value::Object(offer) = offer else { continue };
            let Ok(offer) = PaymentRequirements::from_object(offer, 2) else { continue };
            let mut claimed_any = false;
            let mut rows = rows;
            while !rows.is_empty() {
                let rest = rows.split_off(rows.len().min(CLAIM_ROWS));
                let chunk = core::mem::replace(&mut rows, rest);
                let settled = match self.claim_chunk(&offer, &chunk, &mut claims).await {
                    Ok(s) => s,
                    Err(action) => return action,
                };
                if settled {
                    claimed_any = true;
                    for (id, entry, state) in chunk {
                        self.mark_claimed(&id, entry, &state).await;
                    }
                } else if chunk.len() > 1 {
                    // One channel the chain refuses (a payer who withdrew, say) must not keep the others from
                    // being claimed: each is claimed on its own.
                    for row in chunk {
                        let (id, entry, state) = row.clone();
                        match self.claim_chunk(&offer, &[row], &mut claims).await {
                            Ok(true) => {
                                claimed_any = true;
                                self.mark_claimed(&id, entry, &state).await;
                            }
                            Ok(false) => {}
                            Err(action) => return action,
                        }
                    }
                }
            }
            if !claimed_any && unswept.is_empty() {
                continue;
            }
            let swept = match self.batch_settle(&offer, Value::Object(sweep_payload(&offer))).await {
                Ok(s) => s,
                Err(action) => return action,
            };
            if swept.success || swept.error_reason.as_deref() == Some(ErrorCode::BatchNothingToSettle.as_str()) {
                for (id, entry) in unswept {
                    self.amend_channel(&id, entry, |s| core::mem::take(&mut s.unswept)).await;
                }
            }
            sweeps.push(json!({
                "network": offer.network(), "success": swept.success, "transaction": swept.transaction,
                "amount": swept.amount, "errorReason": swept.error_reason,
            }));
        }
        let body = json!({"claims": claims, "settles": sweeps}).to_string().into_bytes();
        Action::Respond(Response {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        })
    }

    /// Claims `rows` in one transaction; its outcome goes into `summary`. A channel the chain shows claimed
    /// already (by an earlier claim whose answer was lost) is recorded as claimed.
    async fn claim_chunk(
        &mut self,
        offer: &PaymentRequirements,
        rows: &[Claimable],
        summary: &mut Vec<Value>,
    ) -> Flow<bool> {
        let claim_rows: Vec<Value> = rows
            .iter()
            .map(|(_, _, s)| {
                json!({
                    "voucher": {"channel": s.channel_config, "maxClaimableAmount": s.signed_max_claimable},
                    "signature": s.signature,
                    "totalClaimed": s.charged_cumulative_amount,
                })
            })
            .collect();
        let mut payload = json!({"type": "claim", "claims": claim_rows});
        // A server holding its receiver authorizer's key signs its own claims (else the facilitator does, as the
        // delegated authorizer).
        let parsed = payload.as_object().and_then(|o| BatchPayload::parse(o).ok());
        if parsed.is_none() && self.gate.authorizer.is_some() {
            // The rows come from this server's own store: one that does not read back is sent unsigned, and the
            // facilitator says why it is refused.
            self.log(LogLevel::Error, "paywire: stored channel rows do not read as a claim; sent unsigned".into());
        }
        if let (Some(signer), Some(BatchPayload::Claim { claims, .. })) = (self.gate.authorizer.clone(), parsed)
            && claims.iter().all(|c| c.channel.receiverAuthorizer == signer.address())
            && let Ok(chain_id) = crate::network::chain_id(offer.network())
        {
            match batch::offer::sign_claims(signer.as_ref(), &claims, chain_id) {
                Ok(signature) => {
                    payload["claimAuthorizerSignature"] = crate::wire::hex_lower(signature.as_bytes()).into();
                }
                Err(e) => return Err(self.fail_locally(e).await),
            }
        }
        let settled = self.batch_settle(offer, payload).await?;
        let total =
            rows.iter().fold(0u128, |sum, (_, _, s)| sum.saturating_add(s.charged().saturating_sub(s.claimed())));
        summary.push(json!({
            "network": offer.network(), "success": settled.success, "transaction": settled.transaction,
            "channels": rows.len(), "amount": total.to_string(),
            "errorReason": settled.error_reason, "errorMessage": settled.error_message,
        }));
        if !settled.success
            && rows.len() == 1
            && settled.error_reason.as_deref() == Some(ErrorCode::BatchCumulativeBelowClaimed.as_str())
        {
            let (id, entry, state) = rows[0].clone();
            self.mark_claimed(&id, entry, &state).await;
        }
        Ok(settled.success)
    }

    /// A server-side batch-settlement `/settle` (a claim or a sweep) for `offer`.
    async fn batch_settle(&mut self, offer: &PaymentRequirements, payload: Value) -> Flow<SettleResponse> {
        let Value::Object(payload) = payload else { return Err(out_of_turn().action) };
        let payment = match PaymentPayload::new_v2(offer, None, payload, None) {
            Ok(p) => p,
            Err(e) => return Err(self.fail_locally(e).await),
        };
        self.settle_at(payment, offer, UPSTREAM_MESSAGE).await
    }

    /// `/verify` of `payment` against `offer`: the facilitator's verdict, or the answer to a call that failed.
    async fn verify_at(&mut self, payment: PaymentPayload, offer: &PaymentRequirements) -> Flow<VerifyResponse> {
        let call = FacilitatorCall { payment, requirements: offer.clone() };
        match self.ask(Action::Verify(Box::new(call))).await {
            Input::Verified(v) => Ok(v),
            Input::FacilitatorFailed { code, message } => {
                Err(self.upstream_failed("/verify", code, &message, UPSTREAM_MESSAGE).await)
            }
            _ => Err(out_of_turn().action),
        }
    }

    /// `/settle` of `payment` against `offer`: the facilitator's answer, or the answer to a call that failed,
    /// telling the buyer `told` (whether the settlement may have happened).
    async fn settle_at(
        &mut self,
        payment: PaymentPayload,
        offer: &PaymentRequirements,
        told: &str,
    ) -> Flow<SettleResponse> {
        let call = FacilitatorCall { payment, requirements: offer.clone() };
        match self.ask(Action::Settle(Box::new(call))).await {
            Input::Settled(s) => Ok(s),
            Input::FacilitatorFailed { code, message } => {
                Err(self.upstream_failed("/settle", code, &message, told).await)
            }
            _ => Err(out_of_turn().action),
        }
    }

    /// Records that a channel's charges up to `claimed`'s charged total are claimed on chain. A request that
    /// changed the channel meanwhile keeps its own state; the claimed total is merged into it.
    async fn mark_claimed(&mut self, id: &str, entry: StoreEntry, claimed: &ChannelState) {
        let total = claimed.charged();
        let recorded = self
            .amend_channel(id, entry, |state| {
                let raise = state.claimed() < total;
                if raise {
                    state.total_claimed = total.to_string();
                }
                raise
            })
            .await;
        if !recorded {
            self.log(
                LogLevel::Warning,
                format!(
                    "paywire: channel {id}'s claim was made but not recorded; it is claimed again (a no-op) next time"
                ),
            );
        }
    }

    /// Changes a channel's stored state with `change` (which says whether it changed anything), again on the
    /// latest entry when a request changed it meanwhile. `false` when the store could not take it.
    async fn amend_channel(
        &mut self,
        id: &str,
        mut entry: StoreEntry,
        change: impl Fn(&mut ChannelState) -> bool,
    ) -> bool {
        for _ in 0..INDEX_ATTEMPTS {
            let Some(mut state) =
                entry.record.body.as_deref().and_then(|b| serde_json::from_slice::<ChannelState>(b).ok())
            else {
                return true;
            };
            if !change(&mut state) {
                return true;
            }
            let mut next = entry.clone();
            next.record.body = Some(serde_json::to_vec(&state).unwrap_or_default());
            if let Ok(t) = self.token() {
                next.token = t;
            }
            match self.replace(&channel_key(id), &entry.token, next).await {
                Ok(true) => return true,
                Ok(false) => match self.store(StoreOp::Get { key: channel_key(id) }).await {
                    Ok(StoreAnswer::Entry(Some(e))) => entry = e,
                    _ => break,
                },
                Err(_) => break,
            }
        }
        false
    }
}
