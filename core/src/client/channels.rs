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
    pub offer: BatchOffer,
}

impl BatchUnsigned {
    /// The digests to sign: the voucher's, then the deposit's.
    pub fn digests(&self) -> Result<Vec<B256>> {
        let voucher = Voucher { channelId: self.channel_id, maxClaimableAmount: self.max_claimable };
        let mut digests = vec![voucher.digest(self.chain_id)];
        if let Some((amount, valid_before, salt)) = self.deposit {
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
            None => BatchPayload::Voucher { channel: self.channel, voucher },
            Some((amount, valid_before, salt)) => BatchPayload::Deposit {
                channel: self.channel,
                voucher,
                deposit: Deposit {
                    amount,
                    authorization: DepositAuthorization::Erc3009 {
                        valid_after: U256::ZERO,
                        valid_before,
                        salt,
                        signature: signatures.get(1).ok_or_else(missing)?.as_bytes().to_vec(),
                    },
                },
            },
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
    /// policy lets a deposit be; `salt` makes the deposit's nonce unique.
    pub fn plan(
        &self,
        offer: &BatchOffer,
        payer: Address,
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
        let deposit = if max_claimable > view.balance {
            let needed = max_claimable - view.balance;
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
            offer: offer.clone(),
        })
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
                // The balance is what this payer deposited (a server could report less to have it deposit
                // again); a larger report (another process of the same wallet deposited) is taken.
                view.balance = view.balance.saturating_add(deposited).max(balance.unwrap_or(0));
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
        let first = book.plan(&offer(), key.address(), 2_000_000_000, B256::repeat_byte(1), u128::MAX).unwrap();
        assert_eq!((first.max_claimable, first.deposit.map(|d| d.0)), (1000, Some(100_000)));
        book.answered(&paid(&first, &key), 1000, &receipt(first.channel_id, 1000, 1000, 10_000));
        let second = book.plan(&offer(), key.address(), 2_000_000_000, B256::repeat_byte(2), u128::MAX).unwrap();
        assert_eq!((second.max_claimable, second.deposit), (2000, None));
        // The server reports charging more than the price: the channel is not paid from again.
        book.answered(&paid(&second, &key), 1000, &receipt(second.channel_id, 1500, 2500, 10_000));
        let refused = book.plan(&offer(), key.address(), 2_000_000_000, B256::repeat_byte(3), u128::MAX);
        assert!(refused.unwrap_err().message().contains("withdraw"));
    }

    #[test]
    fn a_withdraw_delay_longer_than_a_day_is_refused() {
        let key = LocalSigner::from_bytes(&[8; 32]).unwrap();
        let mut long = offer();
        long.withdraw_delay = MAX_WITHDRAW_DELAY + 1;
        let refused = ChannelBook::default().plan(&long, key.address(), 2_000_000_000, B256::ZERO, u128::MAX);
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
