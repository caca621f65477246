//! The `batch-settlement` contract as the facilitator calls it: the calls it sends (deposit, claim, settle,
//! refund), the state it reads (a channel, a receiver's unsettled claims), and the calls it finds again in a
//! stored transaction after a restart.

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol;
use alloy::sol_types::{SolCall, SolValue};
use paywire_core::batch::{
    self, ChannelConfig, ClaimRow, ClaimVoucher, Deposit, DepositAuthorization, ERC3009_DEPOSIT_COLLECTOR,
    IBatchSettlement, PERMIT2_DEPOSIT_COLLECTOR, SETTLEMENT_CONTRACT, VoucherClaim,
};
use serde_json::{Value, json};

use crate::chain::Chain;
use crate::rpc::RpcError;

sol! {
    /// EIP-1271, for a smart-wallet payer's voucher.
    interface IErc1271 {
        function isValidSignature(bytes32 hash, bytes signature) external view returns (bytes4);
    }
}

/// What a batch-settlement transaction does, for judging its receipt and following it after a restart.
#[derive(Clone, Debug)]
pub enum Action {
    /// A deposit into a channel.
    Deposit {
        /// The channel.
        channel_id: B256,
    },
    /// Claims: each channel and the total claimed from it once mined.
    Claim {
        /// `(channel id, total claimed)` per row.
        rows: Vec<(B256, u128)>,
    },
    /// A sweep of a receiver's claims in a token.
    Settle {
        /// Paid.
        receiver: Address,
        /// The token.
        token: Address,
    },
    /// A cooperative refund (after claims, in one multicall).
    Refund {
        /// The channel.
        channel_id: B256,
        /// The refund nonce it uses.
        nonce: U256,
    },
}

/// A channel as the chain has it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Deposited minus withdrawn and refunded.
    pub balance: u128,
    /// Claimed by the receiver in all.
    pub total_claimed: u128,
    /// When a timed withdrawal was started (0: none).
    pub withdraw_requested_at: u64,
    /// The next refund nonce.
    pub refund_nonce: U256,
}

impl Snapshot {
    /// What is left to claim or refund.
    pub fn unclaimed(&self) -> u128 {
        self.balance.saturating_sub(self.total_claimed)
    }

    /// The `channelState` JSON of x402's answers.
    pub fn to_json(&self, channel_id: B256) -> Value {
        json!({
            "channelId": format!("{channel_id:#x}"),
            "balance": self.balance.to_string(),
            "totalClaimed": self.total_claimed.to_string(),
            "withdrawRequestedAt": self.withdraw_requested_at,
            "refundNonce": self.refund_nonce.to_string(),
        })
    }
}

fn unreadable(method: &'static str) -> impl Fn(alloy::sol_types::Error) -> RpcError {
    move |e| RpcError::Unreadable { method, what: e.to_string() }
}

/// Reads a channel's state.
pub async fn snapshot(chain: &Chain, channel_id: B256) -> Result<Snapshot, RpcError> {
    let c = IBatchSettlement::channelsCall { channelId: channel_id };
    let w = IBatchSettlement::pendingWithdrawalsCall { channelId: channel_id };
    let n = IBatchSettlement::refundNonceCall { channelId: channel_id };
    let (c_out, w_out, n_out) = tokio::try_join!(
        chain.read(SETTLEMENT_CONTRACT, c.abi_encode()),
        chain.read(SETTLEMENT_CONTRACT, w.abi_encode()),
        chain.read(SETTLEMENT_CONTRACT, n.abi_encode()),
    )?;
    let c = IBatchSettlement::channelsCall::abi_decode_returns(&c_out).map_err(unreadable("channels"))?;
    let w = IBatchSettlement::pendingWithdrawalsCall::abi_decode_returns(&w_out)
        .map_err(unreadable("pendingWithdrawals"))?;
    let nonce = IBatchSettlement::refundNonceCall::abi_decode_returns(&n_out).map_err(unreadable("refundNonce"))?;
    Ok(Snapshot {
        balance: c.balance,
        total_claimed: c.totalClaimed,
        withdraw_requested_at: w.initiatedAt.to::<u64>(),
        refund_nonce: nonce,
    })
}

/// What `receiver` has claimed in `token` in all, and how much of it was paid out.
pub async fn receiver_totals(chain: &Chain, receiver: Address, token: Address) -> Result<(u128, u128), RpcError> {
    let out = chain.read(SETTLEMENT_CONTRACT, IBatchSettlement::receiversCall { receiver, token }.abi_encode()).await?;
    let r = IBatchSettlement::receiversCall::abi_decode_returns(&out).map_err(unreadable("receivers"))?;
    Ok((r.totalClaimed, r.totalSettled))
}

/// Whether a contract wallet accepts `signature` over `digest` (EIP-1271).
pub async fn erc1271_valid(chain: &Chain, wallet: Address, digest: B256, signature: &[u8]) -> Result<bool, RpcError> {
    let call = IErc1271::isValidSignatureCall { hash: digest, signature: Bytes::copy_from_slice(signature) };
    match chain.read(wallet, call.abi_encode()).await {
        Ok(out) => Ok(out.len() >= 4 && out[..4] == IErc1271::isValidSignatureCall::SELECTOR),
        Err(e) if e.is_revert() => Ok(false),
        Err(e) => Err(e),
    }
}

/// The `deposit` call, through the collector the authorization is for.
pub fn deposit_call(channel: &ChannelConfig, deposit: &Deposit) -> Vec<u8> {
    let (collector, data) = match &deposit.authorization {
        DepositAuthorization::Erc3009 { valid_after, valid_before, salt, signature } => (
            ERC3009_DEPOSIT_COLLECTOR,
            (*valid_after, *valid_before, U256::from_be_bytes(salt.0), Bytes::copy_from_slice(signature))
                .abi_encode_params(),
        ),
        DepositAuthorization::Permit2 { nonce, deadline, signature, .. } => (
            PERMIT2_DEPOSIT_COLLECTOR,
            (*nonce, *deadline, Bytes::copy_from_slice(signature), Bytes::new()).abi_encode_params(),
        ),
    };
    IBatchSettlement::depositCall {
        config: channel.clone(),
        amount: deposit.amount,
        collector,
        collectorData: Bytes::from(data),
    }
    .abi_encode()
}

/// The `claimWithSignature` call.
pub fn claim_call(claims: &[VoucherClaim], authorizer_signature: &[u8]) -> Vec<u8> {
    IBatchSettlement::claimWithSignatureCall {
        voucherClaims: claims
            .iter()
            .map(|c| ClaimRow {
                voucher: ClaimVoucher { channel: c.channel.clone(), maxClaimableAmount: c.max_claimable },
                signature: Bytes::copy_from_slice(&c.signature),
                totalClaimed: c.total_claimed,
            })
            .collect(),
        authorizerSignature: Bytes::copy_from_slice(authorizer_signature),
    }
    .abi_encode()
}

/// The `settle` call.
pub fn settle_call(receiver: Address, token: Address) -> Vec<u8> {
    IBatchSettlement::settleCall { receiver, token }.abi_encode()
}

/// A refund: claims first when there are any, then `refundWithSignature`, in one `multicall`.
pub fn refund_call(
    channel: &ChannelConfig,
    amount: u128,
    nonce: U256,
    refund_signature: &[u8],
    claims: Option<(&[VoucherClaim], &[u8])>,
) -> Vec<u8> {
    let refund = IBatchSettlement::refundWithSignatureCall {
        config: channel.clone(),
        amount,
        nonce,
        receiverAuthorizerSignature: Bytes::copy_from_slice(refund_signature),
    }
    .abi_encode();
    match claims {
        None => refund,
        Some((claims, signature)) => IBatchSettlement::multicallCall {
            data: vec![Bytes::from(claim_call(claims, signature)), Bytes::from(refund)],
        }
        .abi_encode(),
    }
}

/// The amount a mined `settle` paid (from its `Settled` event; zero when it found nothing to pay).
pub fn settled_amount(receipt: &alloy::rpc::types::TransactionReceipt, receiver: Address, token: Address) -> u128 {
    use alloy::sol_types::SolEvent;
    receipt
        .inner
        .logs()
        .iter()
        .filter(|log| log.address() == SETTLEMENT_CONTRACT)
        .filter_map(|log| IBatchSettlement::Settled::decode_log_data(log.data()).ok())
        .filter(|e| e.receiver == receiver && e.token == token)
        .map(|e| e.amount)
        .sum()
}

/// What a stored transaction to the settlement contract does: `(action, payer, token, deposit)` where a
/// deposit also gives its payer, collector, amount and ERC-3009 nonce (for the Transfer it must make).
pub struct Decoded {
    /// The action.
    pub action: Action,
    /// The token.
    pub token: Address,
    /// Who pays (a deposit's payer), or who is paid.
    pub party: Address,
    /// A deposit: the collector the tokens go to, the amount and the ERC-3009 nonce or Permit2 nonce.
    pub deposit: Option<(Address, u128, DepositNonce)>,
}

/// The nonce a deposit uses up.
#[derive(Clone, Copy, Debug)]
pub enum DepositNonce {
    /// An ERC-3009 authorization nonce (on the token).
    Erc3009(B256),
    /// A Permit2 nonce.
    Permit2(U256),
}

/// Reads a stored transaction's call to the settlement contract on `chain_id`.
pub fn decode(chain_id: u64, input: &[u8]) -> Option<Decoded> {
    if let Ok(call) = IBatchSettlement::depositCall::abi_decode(input) {
        let channel = call.config;
        let channel_id = channel.channel_id(chain_id);
        let nonce = if call.collector == ERC3009_DEPOSIT_COLLECTOR {
            let (_, _, salt, _) = <(U256, U256, U256, Bytes)>::abi_decode_params(&call.collectorData).ok()?;
            DepositNonce::Erc3009(batch::erc3009_deposit_nonce(channel_id, salt))
        } else {
            let (nonce, _, _, _) = <(U256, U256, Bytes, Bytes)>::abi_decode_params(&call.collectorData).ok()?;
            DepositNonce::Permit2(nonce)
        };
        return Some(Decoded {
            action: Action::Deposit { channel_id },
            token: channel.token,
            party: channel.payer,
            deposit: Some((call.collector, call.amount, nonce)),
        });
    }
    if let Ok(call) = IBatchSettlement::claimWithSignatureCall::abi_decode(input) {
        let rows = claim_rows(chain_id, &call.voucherClaims);
        let first = call.voucherClaims.first()?;
        return Some(Decoded {
            action: Action::Claim { rows },
            token: first.voucher.channel.token,
            party: first.voucher.channel.receiver,
            deposit: None,
        });
    }
    if let Ok(call) = IBatchSettlement::settleCall::abi_decode(input) {
        return Some(Decoded {
            action: Action::Settle { receiver: call.receiver, token: call.token },
            token: call.token,
            party: call.receiver,
            deposit: None,
        });
    }
    let refund = |input: &[u8]| {
        let call = IBatchSettlement::refundWithSignatureCall::abi_decode(input).ok()?;
        let channel = call.config;
        Some(Decoded {
            action: Action::Refund { channel_id: channel.channel_id(chain_id), nonce: call.nonce },
            token: channel.token,
            party: channel.payer,
            deposit: None,
        })
    };
    if let Some(decoded) = refund(input) {
        return Some(decoded);
    }
    let multicall = IBatchSettlement::multicallCall::abi_decode(input).ok()?;
    multicall.data.last().and_then(|last| refund(last))
}

fn claim_rows(chain_id: u64, claims: &[ClaimRow]) -> Vec<(B256, u128)> {
    claims.iter().map(|c| (c.voucher.channel.channel_id(chain_id), c.totalClaimed)).collect()
}

/// Whether what a batch transaction does is done on chain already (its claims made, its refund nonce used), so
/// a lost transaction need not be sent again. A settle is never "done": sending it again pays only what is
/// claimed and unpaid then.
pub async fn done_on_chain(chain: &Chain, action: &Action) -> Result<bool, RpcError> {
    match action {
        Action::Deposit { .. } | Action::Settle { .. } => Ok(false),
        Action::Claim { rows } => {
            for (id, total) in rows {
                if snapshot(chain, *id).await?.total_claimed < *total {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Action::Refund { channel_id, nonce } => Ok(snapshot(chain, *channel_id).await?.refund_nonce > *nonce),
    }
}
