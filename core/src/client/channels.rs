//! `batch-settlement` on the paying side: the channels a payer holds (what the server charged in all, the
//! balance it reported, the last voucher signed), how a payment from a channel is planned (a voucher raising the
//! charged total by the price; a deposit first when the balance does not cover it), what a paid answer tells
//! (checked: never more than the price, never a jump in the charged total), and the corrective 402 (adopted
//! only when the voucher it shows is this payer's own signature).

use crate::prelude::*;
use alloc::collections::BTreeMap;
use alloy_primitives::{Address, B256, U256};
use serde_json::Value;

use crate::batch::{
    self, BatchOffer, BatchPayload, ChannelConfig, Deposit, DepositAuthorization, SignedVoucher, Voucher,
};
use crate::crypto::Signature;
use crate::error::{Error, ErrorCode, Result};
use crate::types::{PaymentRequired, SettleResponse};
use crate::wire::Object;

/// How many channels a payer keeps in memory; the oldest go first.
const MAX_CHANNELS: usize = 4096;
/// Without the server's hint (`extra.minDeposit`), a deposit covers this many requests (when the spend policy
/// allows; else as many as it allows): a deposit is the one transaction a channel's requests share.
pub(crate) const DEPOSIT_REQUESTS: u128 = 100;
/// The longest withdraw delay a payer accepts: how long a deposit stays locked if its server disappears.
pub(crate) const MAX_WITHDRAW_DELAY: u64 = 86_400;

/// What a payer knows of one channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ChannelView {
    /// What the server has charged in all.
    pub charged: u128,
    /// The channel's balance, as the server last reported it (or as deposited).
    pub balance: u128,
    /// Set when the server answered something a channel cannot do: no voucher is signed for it again.
    pub distrusted: bool,
    /// The last deposit sent (amount, validity, salt) whose answer did not come back: it may be on chain, so the
    /// next deposit sends this same authorization again (the server finds it settled, or settles it) rather
    /// than a second one.
    pub unconfirmed: Option<(u128, U256, B256)>,
    /// `unconfirmed` came from another process's export: this payer's budgets have not counted it, so sending
    /// it again counts it (it may not have landed, and then it moves money now).
    pub imported_unconfirmed: bool,
}

/// The channels of a payer.
#[derive(Debug, Default)]
pub(crate) struct ChannelBook {
    channels: BTreeMap<B256, (u64, ChannelView)>,
    next: u64,
}

/// A payment from a channel, before its signatures: the voucher (and the deposit that comes first).
#[derive(Clone, Debug)]
pub(crate) struct BatchUnsigned {
    pub chain_id: u64,
    pub channel: ChannelConfig,
    pub channel_id: B256,
    pub max_claimable: u128,
    /// The deposit: amount, validity, and the salt of its ERC-3009 nonce.
    pub deposit: Option<(u128, U256, B256)>,
    /// The deposit is one sent before whose answer was lost (counted against the budgets already, unless
    /// `resent_uncounted`).
    pub resent: bool,
    /// The deposit sent again came from another process's export: the budgets here have not counted it.
    pub resent_uncounted: bool,
    /// A cooperative refund instead of a payment: the voucher stays at the charged total, and the server
    /// returns this amount (`Some(None)`: everything unclaimed).
    pub refund: Option<Option<u128>>,
    pub offer: BatchOffer,
}

impl BatchUnsigned {
    /// The digests to sign: the voucher's, then the deposit's.
    pub fn digests(&self) -> Result<Vec<B256>> {
        let voucher = Voucher { channelId: self.channel_id, maxClaimableAmount: self.max_claimable };
        let mut digests = vec![voucher.digest(self.chain_id)];
        match (self.deposit, self.offer.method) {
            (None, _) => {}
            (Some((amount, valid_before, salt)), batch::DepositMethod::Eip3009) => {
                digests.push(batch::offer::erc3009_deposit_digest(
                    &self.offer,
                    self.channel.payer,
                    self.channel_id,
                    amount,
                    U256::ZERO,
                    valid_before,
                    salt,
                )?);
            }
            // A Permit2 deposit: the salt is its unordered nonce, the validity its deadline.
            (Some((amount, deadline, salt)), batch::DepositMethod::Permit2) => {
                digests.push(batch::offer::permit2_deposit_digest(
                    self.chain_id,
                    self.channel.token,
                    U256::from(amount),
                    batch::PERMIT2_DEPOSIT_COLLECTOR,
                    U256::from_be_bytes(salt.0),
                    deadline,
                    self.channel_id,
                ));
            }
        }
        Ok(digests)
    }

    /// The payload, with the signatures of [`BatchUnsigned::digests`] in order.
    pub fn payload(self, signatures: &[Signature]) -> Result<Object> {
        let missing = || Error::new(ErrorCode::InvalidPreparedPayment, "a channel payment lacks a signature");
        let voucher = SignedVoucher {
            channel_id: self.channel_id,
            max_claimable: self.max_claimable,
            signature: signatures.first().ok_or_else(missing)?.as_bytes().to_vec(),
        };
        let payload = match self.deposit {
            None if self.refund.is_some() => BatchPayload::Refund {
                channel: self.channel,
                voucher,
                refund: crate::batch::RefundRequest { amount: self.refund.flatten(), ..Default::default() },
            },
            None => BatchPayload::Voucher { channel: self.channel, voucher },
            Some((amount, valid_before, salt)) => {
                let signature = signatures.get(1).ok_or_else(missing)?.as_bytes().to_vec();
                let authorization = match self.offer.method {
                    batch::DepositMethod::Eip3009 => {
                        DepositAuthorization::Erc3009 { valid_after: U256::ZERO, valid_before, salt, signature }
                    }
                    batch::DepositMethod::Permit2 => DepositAuthorization::Permit2 {
                        from: self.channel.payer,
                        token: self.channel.token,
                        amount: U256::from(amount),
                        spender: batch::PERMIT2_DEPOSIT_COLLECTOR,
                        nonce: U256::from_be_bytes(salt.0),
                        deadline: valid_before,
                        channel_id: self.channel_id,
                        signature,
                    },
                };
                BatchPayload::Deposit { channel: self.channel, voucher, deposit: Deposit { amount, authorization } }
            }
        };
        Ok(payload.to_object())
    }
}

fn amount(value: Option<&Value>) -> Option<u128> {
    value?.as_str()?.parse().ok()
}

impl ChannelBook {
    /// What the payer knows of a channel (nothing yet: all zero).
    pub fn view(&self, id: &B256) -> ChannelView {
        self.channels.get(id).map(|(_, v)| *v).unwrap_or_default()
    }

    fn put(&mut self, id: B256, view: ChannelView) {
        self.next += 1;
        self.channels.insert(id, (self.next, view));
        if self.channels.len() > MAX_CHANNELS
            && let Some(oldest) = self.channels.iter().min_by_key(|(_, (n, _))| *n).map(|(k, _)| *k)
        {
            self.channels.remove(&oldest);
        }
    }

    /// Plans the payment of one request of `offer` by `payer` (its own voucher key, salt zero: one channel
    /// per payer and offer, found again by any process of the same wallet). `deposit_room` is the most the
    /// policy lets a deposit be; `salt` makes the deposit's nonce unique; a deposit whose answer was lost is
    /// sent again while it stays valid `margin` seconds past `now`.
    pub fn plan(
        &self,
        offer: &BatchOffer,
        payer: Address,
        (now, margin): (u64, u64),
        valid_before: u64,
        salt: B256,
        deposit_room: u128,
    ) -> Result<BatchUnsigned> {
        if offer.withdraw_delay > MAX_WITHDRAW_DELAY {
            return Err(Error::new(
                ErrorCode::NoAcceptableOffer,
                format!(
                    "the channel would lock a deposit for up to {} s if its server disappeared (its withdraw delay); \
                     this payer accepts at most {MAX_WITHDRAW_DELAY} s",
                    offer.withdraw_delay
                ),
            ));
        }
        let channel = offer.channel(payer, payer, B256::ZERO);
        let channel_id = channel.channel_id(offer.chain_id);
        let view = self.view(&channel_id);
        if view.distrusted {
            return Err(Error::new(
                ErrorCode::NoAcceptableOffer,
                format!(
                    "this payer stopped paying channel {channel_id:#x}: its server reported charges a channel cannot \
                     make; withdraw its balance (initiateWithdraw) and pay another way"
                ),
            ));
        }
        let price = u128::try_from(offer.amount).unwrap_or(u128::MAX);
        let max_claimable = view.charged.saturating_add(price);
        let needed = max_claimable.saturating_sub(view.balance);
        let resend = view
            .unconfirmed
            .filter(|(amount, until, _)| *amount >= needed && *until > U256::from(now.saturating_add(margin)));
        let deposit = if needed > 0 && resend.is_some() {
            resend
        } else if needed > 0 {
            let hint = offer.min_deposit.and_then(|m| u128::try_from(m).ok());
            let wished = needed.max(hint.unwrap_or(price.saturating_mul(DEPOSIT_REQUESTS)));
            let amount = wished.min(deposit_room).max(needed);
            if amount > deposit_room {
                return Err(Error::new(
                    ErrorCode::BudgetExceeded,
                    format!(
                        "the channel needs a deposit of {needed} units, more than the payment policy allows ({deposit_room})"
                    ),
                ));
            }
            Some((amount, U256::from(valid_before), salt))
        } else {
            None
        };
        Ok(BatchUnsigned {
            chain_id: offer.chain_id,
            channel,
            channel_id,
            max_claimable,
            deposit,
            resent: needed > 0 && resend.is_some(),
            resent_uncounted: needed > 0 && resend.is_some() && view.imported_unconfirmed,
            refund: None,
            offer: offer.clone(),
        })
    }

    /// Plans a cooperative refund of `offer`'s channel for `payer`: a voucher at what the server charged in
    /// all (it adds nothing), asking for `amount` back (`None`: everything unclaimed).
    pub fn plan_refund(&self, offer: &BatchOffer, payer: Address, amount: Option<u128>) -> Result<BatchUnsigned> {
        let channel = offer.channel(payer, payer, B256::ZERO);
        let channel_id = channel.channel_id(offer.chain_id);
        let view = self.view(&channel_id);
        if amount == Some(0) {
            return Err(Error::new(
                ErrorCode::BatchRefundAmountInvalid,
                "a refund of 0: ask for more, or for everything",
            ));
        }
        Ok(BatchUnsigned {
            chain_id: offer.chain_id,
            channel,
            channel_id,
            max_claimable: view.charged,
            deposit: None,
            resent: false,
            resent_uncounted: false,
            refund: Some(amount),
            offer: offer.clone(),
        })
    }

    /// Every channel as JSON, for the payer's own store: `{"version": 1, "channels": [{channelId, charged,
    /// balance, distrusted, unconfirmedDeposit?}]}` (amounts as decimal strings).
    pub fn export(&self) -> Value {
        let channels: Vec<Value> = self
            .channels
            .iter()
            .map(|(id, (_, v))| {
                let mut c = serde_json::json!({
                    "channelId": format!("{id:#x}"),
                    "charged": v.charged.to_string(),
                    "balance": v.balance.to_string(),
                    "distrusted": v.distrusted,
                });
                if let Some((amount, until, salt)) = v.unconfirmed {
                    c["unconfirmedDeposit"] = serde_json::json!({
                        "amount": amount.to_string(), "validBefore": until.to_string(), "salt": format!("{salt:#x}"),
                    });
                }
                c
            })
            .collect();
        serde_json::json!({ "version": 1, "channels": channels })
    }

    /// Takes in channels [`ChannelBook::export`] wrote (another process's, or this one's before a restart).
    /// A channel known here takes the view that has seen more charges (a tie: the one given); distrust is
    /// kept. Returns how many
    /// channels were read.
    pub fn import(&mut self, value: &Value) -> Result<usize> {
        let bad = |what: &str| Error::new(ErrorCode::InvalidArgument, format!("channel state: {what}"));
        if value.get("version").and_then(Value::as_u64) != Some(1) {
            return Err(bad("not version 1 of paywire's channel export"));
        }
        let rows = value.get("channels").and_then(Value::as_array).ok_or_else(|| bad("no channels array"))?;
        let mut read = Vec::with_capacity(rows.len());
        for row in rows {
            let text = |k: &str| row.get(k).and_then(Value::as_str).ok_or_else(|| bad(&format!("no {k}")));
            let id: B256 = text("channelId")?.parse().map_err(|_| bad("a channelId is not 32 bytes of hex"))?;
            let number = |k: &str| text(k)?.parse::<u128>().map_err(|_| bad(&format!("{k} is not a decimal amount")));
            let unconfirmed = match row.get("unconfirmedDeposit") {
                None | Some(Value::Null) => None,
                Some(d) => {
                    let field =
                        |k: &str| d.get(k).and_then(Value::as_str).ok_or_else(|| bad(&format!("no deposit {k}")));
                    Some((
                        field("amount")?.parse::<u128>().map_err(|_| bad("a deposit amount is not decimal"))?,
                        field("validBefore")?
                            .parse::<U256>()
                            .map_err(|_| bad("a deposit validBefore is not decimal"))?,
                        field("salt")?.parse::<B256>().map_err(|_| bad("a deposit salt is not 32 bytes of hex"))?,
                    ))
                }
            };
            let view = ChannelView {
                charged: number("charged")?,
                balance: number("balance")?,
                distrusted: row.get("distrusted").and_then(Value::as_bool).unwrap_or(false),
                imported_unconfirmed: unconfirmed.is_some(),
                unconfirmed,
            };
            read.push((id, view));
        }
        // Read in full before anything changes: a malformed export changes nothing.
        let count = read.len();
        for (id, theirs) in read {
            let ours = self.channels.get(&id).map(|(_, v)| *v);
            let view = match ours {
                None => theirs,
                // The view that has seen more charges is the later one (a tie: the one given, as newer).
                Some(ours) => {
                    let later = if ours.charged > theirs.charged { ours } else { theirs };
                    // A deposit this payer sent (and counted) stays counted when the export names it too.
                    let imported = later.unconfirmed.is_some()
                        && (later.unconfirmed != ours.unconfirmed || ours.imported_unconfirmed);
                    ChannelView {
                        distrusted: ours.distrusted || theirs.distrusted,
                        imported_unconfirmed: imported,
                        ..later
                    }
                }
            };
            self.put(id, view);
        }
        Ok(count)
    }

    /// Notes a deposit about to be sent, until its answer comes back.
    pub fn sending(&mut self, id: B256, deposit: (u128, U256, B256)) {
        let mut view = self.view(&id);
        view.unconfirmed = Some(deposit);
        // Counted against this payer's budgets with the payment that sends it.
        view.imported_unconfirmed = false;
        self.put(id, view);
    }

    /// Takes in the answer to a paid request: a successful receipt's `extra` says what this request charged
    /// and the channel's state. Anything a channel cannot do (a charge above the price, a charged total that
    /// is not the last one plus this charge, or above the voucher) marks the channel distrusted.
    pub fn answered(&mut self, payload: &BatchPayload, price: u128, settlement: &SettleResponse) {
        let Some((_, voucher)) = payload.channel_and_voucher() else { return };
        let id = voucher.channel_id;
        let mut view = self.view(&id);
        let deposited = match payload {
            BatchPayload::Deposit { deposit, .. } => deposit.amount,
            _ => 0,
        };
        if !settlement.success {
            return;
        }
        let pending = view.unconfirmed;
        if deposited > 0 {
            view.unconfirmed = None;
        }
        if let BatchPayload::Refund { refund, .. } = payload {
            // A refund moved unclaimed balance back on chain (its receipt names the transaction): the channel
            // holds less now, by at most what was asked and what was left beyond the charges (a server
            // reporting more cannot make the payer believe its channel emptier than that).
            let refunded = settlement.amount.as_deref().and_then(|a| a.parse::<u128>().ok()).unwrap_or(0);
            let most = refund.amount.unwrap_or(u128::MAX).min(view.balance.saturating_sub(view.charged));
            if !settlement.transaction.is_empty() {
                view.balance = view.balance.saturating_sub(refunded.min(most));
            }
            self.put(id, view);
            return;
        }
        let extra = settlement.other.get("extra");
        let charge = amount(extra.and_then(|e| e.get("chargedAmount")));
        let state = extra.and_then(|e| e.get("channelState"));
        let cumulative = amount(state.and_then(|s| s.get("chargedCumulativeAmount")));
        let balance = amount(state.and_then(|s| s.get("balance")));
        let same_channel = state
            .and_then(|s| s.get("channelId"))
            .and_then(Value::as_str)
            .is_some_and(|c| c.eq_ignore_ascii_case(&format!("{id:#x}")));
        match (charge, cumulative) {
            (Some(charge), Some(cumulative))
                if same_channel
                    && charge <= price
                    && cumulative == view.charged.saturating_add(charge)
                    && cumulative <= voucher.max_claimable =>
            {
                view.charged = cumulative;
                // A deposit sent again (its first answer lost) may have been counted from a report since.
                let counted = match pending {
                    Some((amount, _, _))
                        if deposited > 0 && amount == deposited && balance.is_some_and(|b| b <= view.balance) =>
                    {
                        0
                    }
                    _ => deposited,
                };
                // A deposit whose answer was lost shows in a report at least that much larger: it landed.
                if let (Some((pending, _, _)), Some(reported)) = (pending, balance)
                    && deposited == 0
                    && reported >= view.balance.saturating_add(pending)
                {
                    view.unconfirmed = None;
                }
                // The balance is what this payer deposited (a server could report less to have it deposit
                // again); a larger report (another process of the same wallet deposited) is taken.
                view.balance = view.balance.saturating_add(counted).max(balance.unwrap_or(0));
            }
            _ => view.distrusted = true,
        }
        self.put(id, view);
    }

    /// A corrective 402 for `payer`'s channel of the offer it names: adopted when the voucher it shows
    /// (`voucherState`) is `payer`'s own signature and covers the charged total, or when the server reports
    /// nothing charged. Returns whether the payer may pay again.
    pub fn corrected(&mut self, bill: &PaymentRequired, payer: Address) -> bool {
        for offer in bill.accepts.iter().filter(|o| o.scheme() == batch::SCHEME) {
            let Ok(terms) = BatchOffer::resolve(offer) else { continue };
            let id = terms.channel(payer, payer, B256::ZERO).channel_id(terms.chain_id);
            let extra = offer.extra();
            let state = extra.and_then(|e| e.get("channelState"));
            let named = state
                .and_then(|s| s.get("channelId"))
                .and_then(Value::as_str)
                .is_some_and(|c| c.eq_ignore_ascii_case(&format!("{id:#x}")));
            let (Some(charged), Some(balance), true) = (
                amount(state.and_then(|s| s.get("chargedCumulativeAmount"))),
                amount(state.and_then(|s| s.get("balance"))),
                named,
            ) else {
                continue;
            };
            let voucher = extra.and_then(|e| e.get("voucherState"));
            let signed = amount(voucher.and_then(|v| v.get("signedMaxClaimable")));
            let signature = voucher
                .and_then(|v| v.get("signature"))
                .and_then(Value::as_str)
                .and_then(|s| crate::wire::parse_hex_bytes(s).ok());
            let proven = match (signed, signature) {
                (Some(signed), Some(signature)) if charged <= signed => {
                    let digest = Voucher { channelId: id, maxClaimableAmount: signed }.digest(terms.chain_id);
                    Signature::parse_strict(&signature)
                        .and_then(|s| crate::crypto::recover_address(&digest, &s))
                        .is_ok_and(|a| a == payer)
                }
                _ => charged == 0,
            };
            if proven {
                let mut view = self.view(&id);
                view.charged = charged;
                // A deposit whose answer was lost shows in a report at least that much larger: it landed.
                if view.unconfirmed.is_some_and(|(pending, _, _)| balance >= view.balance.saturating_add(pending)) {
                    view.unconfirmed = None;
                }
                view.balance = view.balance.max(balance);
                self.put(id, view);
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::{LocalSigner, Signer};
    use serde_json::json;

    fn offer() -> BatchOffer {
        let req = crate::types::PaymentRequirements::new_v2(
            batch::SCHEME,
            "eip155:84532",
            U256::from(1000u64),
            "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
            "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
            300,
            Some(
                json!({"receiverAuthorizer": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "withdrawDelay": 900,
                       "name": "USDC", "version": "2"})
                .as_object()
                .cloned()
                .unwrap(),
            ),
        )
        .unwrap();
        BatchOffer::resolve(&req).unwrap()
    }

    fn receipt(id: B256, charged: u128, cumulative: u128, balance: u128) -> SettleResponse {
        let mut s = SettleResponse {
            success: true,
            error_reason: None,
            error_message: None,
            payer: None,
            transaction: String::new(),
            network: "eip155:84532".into(),
            amount: Some(String::new()),
            extensions: None,
            other: Object::new(),
        };
        s.other.insert(
            "extra".into(),
            json!({"chargedAmount": charged.to_string(), "channelState": {"channelId": format!("{id:#x}"),
                   "balance": balance.to_string(), "chargedCumulativeAmount": cumulative.to_string()}}),
        );
        s
    }

    fn paid(plan: &BatchUnsigned, key: &LocalSigner) -> BatchPayload {
        let sigs: Vec<Signature> =
            plan.digests().unwrap().iter().map(|d| crate::signer::sign_checked(key, d).unwrap()).collect();
        BatchPayload::parse(&plan.clone().payload(&sigs).unwrap()).unwrap()
    }

    #[test]
    fn deposits_once_then_pays_vouchers_and_distrusts_an_overcharging_server() {
        let key = LocalSigner::from_bytes(&[5; 32]).unwrap();
        let mut book = ChannelBook::default();
        let first = book
            .plan(&offer(), key.address(), (1_000_000_000, 30), 2_000_000_000, B256::repeat_byte(1), u128::MAX)
            .unwrap();
        assert_eq!((first.max_claimable, first.deposit.map(|d| d.0)), (1000, Some(100_000)));
        book.answered(&paid(&first, &key), 1000, &receipt(first.channel_id, 1000, 1000, 10_000));
        let second = book
            .plan(&offer(), key.address(), (1_000_000_000, 30), 2_000_000_000, B256::repeat_byte(2), u128::MAX)
            .unwrap();
        assert_eq!((second.max_claimable, second.deposit), (2000, None));
        // The server reports charging more than the price: the channel is not paid from again.
        book.answered(&paid(&second, &key), 1000, &receipt(second.channel_id, 1500, 2500, 10_000));
        let refused =
            book.plan(&offer(), key.address(), (1_000_000_000, 30), 2_000_000_000, B256::repeat_byte(3), u128::MAX);
        assert!(refused.unwrap_err().message().contains("withdraw"));
    }

    #[test]
    fn a_deposit_whose_answer_was_lost_is_sent_again_not_doubled() {
        let key = LocalSigner::from_bytes(&[9; 32]).unwrap();
        let mut book = ChannelBook::default();
        let at = |book: &ChannelBook, now: u64, salt: u8| {
            book.plan(&offer(), key.address(), (now, 30), now + 300, B256::repeat_byte(salt), u128::MAX).unwrap()
        };
        let first = at(&book, 1_000, 1);
        let sent = first.deposit.unwrap();
        book.sending(first.channel_id, sent);
        // No answer came: the next payment sends the same authorization (the same nonce), counted once.
        let again = at(&book, 1_100, 2);
        assert_eq!((again.deposit, again.resent), (Some(sent), true));
        // Too close to its expiry: a new deposit (the old one can no longer be settled by then).
        let late = at(&book, 1_280, 3);
        assert_eq!((late.deposit.map(|d| d.2), late.resent), (Some(B256::repeat_byte(3)), false));
        // Its answer came back: the channel is funded, and nothing is sent again.
        book.answered(&paid(&again, &key), 1000, &receipt(again.channel_id, 1000, 1000, sent.0));
        let next = at(&book, 1_110, 4);
        assert_eq!((next.deposit, next.resent, book.view(&next.channel_id).unconfirmed), (None, false, None));
    }

    #[test]
    fn a_lost_deposit_seen_landed_is_not_counted_or_sent_again() {
        let key = LocalSigner::from_bytes(&[11; 32]).unwrap();
        let mut book = ChannelBook::default();
        let at = |book: &ChannelBook, salt: u8| {
            book.plan(&offer(), key.address(), (1_000, 30), 1_300, B256::repeat_byte(salt), u128::MAX).unwrap()
        };
        // A first deposit of 100,000 is answered; a top-up deposit's answer is lost.
        let first = at(&book, 1);
        book.answered(&paid(&first, &key), 1000, &receipt(first.channel_id, 1000, 1000, 100_000));
        let id = first.channel_id;
        let lost = (50_000u128, U256::from(1_300u64), B256::repeat_byte(2));
        book.sending(id, lost);
        // Another process's voucher answer shows the balance with it: it landed, nothing is sent again.
        let voucher = at(&book, 3);
        book.answered(&paid(&voucher, &key), 1000, &receipt(id, 1000, 2000, 150_000));
        assert_eq!((book.view(&id).unconfirmed, book.view(&id).balance), (None, 150_000));
        // Had it been sent again and answered, it would not be counted twice.
        book.sending(id, lost);
        let mut again = at(&book, 4);
        again.deposit = Some(lost);
        book.answered(&paid(&again, &key), 1000, &receipt(id, 1000, 3000, 150_000));
        assert_eq!(book.view(&id).balance, 150_000);
    }

    #[test]
    fn a_refund_receipt_lowers_the_balance_by_at_most_what_was_left() {
        let key = LocalSigner::from_bytes(&[12; 32]).unwrap();
        let mut book = ChannelBook::default();
        let first = book.plan(&offer(), key.address(), (1_000, 30), 1_300, B256::repeat_byte(1), u128::MAX).unwrap();
        book.answered(&paid(&first, &key), 1000, &receipt(first.channel_id, 1000, 1000, 100_000));
        let refund = book.plan_refund(&offer(), key.address(), Some(30_000)).unwrap();
        // A server claiming it refunded far more than asked moves the view by what was asked only.
        let mut answer = receipt(first.channel_id, 0, 1000, 0);
        answer.transaction = "0xabc".into();
        answer.amount = Some("999999".into());
        book.answered(&paid(&refund, &key), 1000, &answer);
        assert_eq!(book.view(&first.channel_id).balance, 70_000);
    }

    #[test]
    fn channels_export_and_import_into_another_payer() {
        let key = LocalSigner::from_bytes(&[10; 32]).unwrap();
        let mut book = ChannelBook::default();
        let first = book.plan(&offer(), key.address(), (1_000, 30), 1_300, B256::repeat_byte(1), u128::MAX).unwrap();
        book.answered(&paid(&first, &key), 1000, &receipt(first.channel_id, 1000, 1000, 100_000));
        let second = book.plan(&offer(), key.address(), (1_000, 30), 1_300, B256::repeat_byte(2), u128::MAX).unwrap();
        book.answered(&paid(&second, &key), 1000, &receipt(second.channel_id, 1000, 2000, 100_000));
        let exported = book.export();
        let mut other = ChannelBook::default();
        assert_eq!(other.import(&exported).unwrap(), 1);
        assert_eq!(other.view(&first.channel_id), book.view(&first.channel_id));
        // The next payment of the new process follows on: a voucher for 3000, no deposit.
        let next = other.plan(&offer(), key.address(), (1_000, 30), 1_300, B256::repeat_byte(3), u128::MAX).unwrap();
        assert_eq!((next.max_claimable, next.deposit), (3000, None));
        // A malformed export changes nothing.
        let broken = serde_json::json!({"version": 1, "channels": [{"channelId": "0x12"}]});
        assert!(other.import(&broken).is_err());
        assert!(other.import(&serde_json::json!({"version": 2, "channels": []})).is_err());
        assert_eq!(other.view(&first.channel_id), book.view(&first.channel_id));
    }

    #[test]
    fn a_withdraw_delay_longer_than_a_day_is_refused() {
        let key = LocalSigner::from_bytes(&[8; 32]).unwrap();
        let mut long = offer();
        long.withdraw_delay = MAX_WITHDRAW_DELAY + 1;
        let refused = ChannelBook::default().plan(
            &long,
            key.address(),
            (1_000_000_000, 30),
            2_000_000_000,
            B256::ZERO,
            u128::MAX,
        );
        assert!(refused.unwrap_err().message().contains("withdraw delay"));
    }

    #[test]
    fn a_corrective_402_is_adopted_only_with_the_payers_own_voucher() {
        let key = LocalSigner::from_bytes(&[6; 32]).unwrap();
        let stranger = LocalSigner::from_bytes(&[7; 32]).unwrap();
        let terms = offer();
        let id = terms.channel(key.address(), key.address(), B256::ZERO).channel_id(terms.chain_id);
        let bill_with = |signer: &LocalSigner, signed: u128, charged: u128| {
            let v = crate::batch::sign_voucher(signer, id, signed, terms.chain_id).unwrap();
            let text = json!({"x402Version": 2, "error": "invalid_batch_settlement_evm_cumulative_amount_mismatch",
                "resource": {"url": "http://x/"}, "accepts": [{"scheme": "batch-settlement", "network": "eip155:84532",
                "amount": "1000", "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                "payTo": "0x90F79bf6EB2c4f870365E785982E1f101E93b906", "maxTimeoutSeconds": 300,
                "extra": {"receiverAuthorizer": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "withdrawDelay": 900,
                    "name": "USDC", "version": "2",
                    "channelState": {"channelId": format!("{id:#x}"), "balance": "10000", "totalClaimed": "0",
                        "withdrawRequestedAt": 0, "refundNonce": "0", "chargedCumulativeAmount": charged.to_string()},
                    "voucherState": {"signedMaxClaimable": signed.to_string(),
                        "signature": crate::wire::hex_lower(&v.signature)}}}]});
            PaymentRequired::from_json(&text.to_string()).unwrap()
        };
        let mut book = ChannelBook::default();
        // A voucher someone else signed, or a charged total above the voucher shown: not adopted.
        assert!(!book.corrected(&bill_with(&stranger, 3000, 3000), key.address()));
        assert!(!book.corrected(&bill_with(&key, 3000, 4000), key.address()));
        assert_eq!(book.view(&id), ChannelView::default());
        assert!(book.corrected(&bill_with(&key, 3000, 3000), key.address()));
        assert_eq!((book.view(&id).charged, book.view(&id).balance), (3000, 10_000));
    }
}
