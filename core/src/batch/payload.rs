//! The JSON of `batch-settlement`: the payloads a client sends (`deposit`, `voucher`, `refund`) and the ones a
//! server sends to its facilitator's `/settle` (`claim`, `settle`, and the completed `refund`), member for member
//! as the official SDKs write them.

use crate::prelude::*;
use alloy_primitives::aliases::U40;
use alloy_primitives::{Address, B256, U256};
use serde_json::{Value, json};

use super::ChannelConfig;
use crate::error::{Error, ErrorCode, Result};
use crate::wire::{Fields, Object, hex_lower};

/// A voucher as it travels: the channel, the cumulative amount the receiver may claim in all, the signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedVoucher {
    /// The channel's id (the EIP-712 hash of its configuration).
    pub channel_id: B256,
    /// The cumulative ceiling.
    pub max_claimable: u128,
    /// The payer authorizer's (or payer's) signature over the voucher's digest.
    pub signature: Vec<u8>,
}

/// How a deposit's tokens leave the payer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DepositAuthorization {
    /// ERC-3009 `receiveWithAuthorization` to the ERC-3009 deposit collector; its nonce is
    /// `keccak256(abi.encode(channelId, salt))`.
    Erc3009 {
        /// Not valid before this Unix time.
        valid_after: U256,
        /// Not valid from this Unix time on.
        valid_before: U256,
        /// Random; makes each deposit's nonce unique.
        salt: B256,
        /// The payer's signature.
        signature: Vec<u8>,
    },
    /// A Permit2 witness transfer (`DepositWitness(bytes32 channelId)`) spent by the Permit2 deposit collector.
    Permit2 {
        /// The payer.
        from: Address,
        /// The token.
        token: Address,
        /// The amount permitted.
        amount: U256,
        /// Must be the Permit2 deposit collector.
        spender: Address,
        /// Permit2 unordered nonce.
        nonce: U256,
        /// Unix time after which the permit is void.
        deadline: U256,
        /// The witness: the channel funded.
        channel_id: B256,
        /// The payer's signature.
        signature: Vec<u8>,
    },
}

/// A deposit: the amount and its authorization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deposit {
    /// Atomic units.
    pub amount: u128,
    /// How the payer authorized it.
    pub authorization: DepositAuthorization,
}

/// One channel of a claim: the payer's voucher and the cumulative total claimed once the claim is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoucherClaim {
    /// The channel.
    pub channel: ChannelConfig,
    /// The voucher's cumulative ceiling.
    pub max_claimable: u128,
    /// The voucher's signature.
    pub signature: Vec<u8>,
    /// The cumulative amount claimed from the channel once this claim is done (at most `max_claimable`).
    pub total_claimed: u128,
}

/// A cooperative refund, as the server completes it for its facilitator.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RefundRequest {
    /// The amount to return (none: everything unclaimed).
    pub amount: Option<u128>,
    /// The channel's refund nonce (set by the server).
    pub refund_nonce: Option<U256>,
    /// Claims to make first (set by the server).
    pub claims: Vec<VoucherClaim>,
    /// The receiver authorizer's `Refund` signature, when the server holds that key.
    pub refund_signature: Option<Vec<u8>>,
    /// The receiver authorizer's `ClaimBatch` signature, when the server holds that key.
    pub claim_signature: Option<Vec<u8>>,
}

/// A `batch-settlement` payload, by its `type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchPayload {
    /// First request, or a top-up: a deposit and the request's voucher.
    Deposit {
        /// The channel.
        channel: ChannelConfig,
        /// The request's voucher.
        voucher: SignedVoucher,
        /// The deposit.
        deposit: Deposit,
    },
    /// A request paid from the channel's balance.
    Voucher {
        /// The channel.
        channel: ChannelConfig,
        /// The request's voucher.
        voucher: SignedVoucher,
    },
    /// The payer asks for its unclaimed balance back; the voucher charges nothing more.
    Refund {
        /// The channel.
        channel: ChannelConfig,
        /// A voucher at the charged total.
        voucher: SignedVoucher,
        /// The refund.
        refund: RefundRequest,
    },
    /// The server claims vouchers of many channels.
    Claim {
        /// The rows.
        claims: Vec<VoucherClaim>,
        /// The receiver authorizer's `ClaimBatch` signature, when the server holds that key.
        authorizer_signature: Option<Vec<u8>>,
    },
    /// The server sweeps what it claimed to its receiver.
    Settle {
        /// The receiver paid.
        receiver: Address,
        /// The token.
        token: Address,
    },
}

/// Reads a channel configuration (`withdrawDelay` a JSON number, as the official SDKs write it).
pub fn parse_channel(obj: &Object, path: &str, code: ErrorCode) -> Result<ChannelConfig> {
    let f = Fields::new(obj, path, code);
    Ok(ChannelConfig {
        payer: f.address("payer")?,
        payerAuthorizer: f.address("payerAuthorizer")?,
        receiver: f.address("receiver")?,
        receiverAuthorizer: f.address("receiverAuthorizer")?,
        token: f.address("token")?,
        withdrawDelay: U40::from(f.u64("withdrawDelay")?.min(u64::from(u32::MAX) << 8)),
        salt: f.b256("salt")?,
    })
}

/// A channel configuration's JSON.
pub fn channel_json(c: &ChannelConfig) -> Value {
    json!({
        "payer": c.payer.to_checksum(None),
        "payerAuthorizer": c.payerAuthorizer.to_checksum(None),
        "receiver": c.receiver.to_checksum(None),
        "receiverAuthorizer": c.receiverAuthorizer.to_checksum(None),
        "token": c.token.to_checksum(None),
        "withdrawDelay": c.withdrawDelay.to::<u64>(),
        "salt": format!("{:#x}", c.salt),
    })
}

fn amount_u128(f: &Fields<'_>, field: &str) -> Result<u128> {
    let value = f.decimal(field)?;
    u128::try_from(value).map_err(|_| f.err(field, "is larger than a uint128"))
}

fn parse_voucher(obj: &Object, code: ErrorCode) -> Result<SignedVoucher> {
    let f = Fields::new(obj, "payload.voucher", code);
    Ok(SignedVoucher {
        channel_id: f.b256("channelId")?,
        max_claimable: amount_u128(&f, "maxClaimableAmount")?,
        signature: f.hex_bytes("signature")?,
    })
}

fn voucher_json(v: &SignedVoucher) -> Value {
    json!({
        "channelId": format!("{:#x}", v.channel_id),
        "maxClaimableAmount": v.max_claimable.to_string(),
        "signature": hex_lower(&v.signature),
    })
}

fn parse_claims(f: &Fields<'_>, field: &str, code: ErrorCode) -> Result<Vec<VoucherClaim>> {
    let Some(Value::Array(rows)) = f.get(field) else {
        return Err(f.err(field, "must be an array of voucher claims"));
    };
    rows.iter()
        .map(|row| {
            let row = Fields::of(row, "payload.claims[]", code)?;
            let voucher = Fields::new(row.object_field("voucher")?, "payload.claims[].voucher", code);
            Ok(VoucherClaim {
                channel: parse_channel(voucher.object_field("channel")?, "payload.claims[].voucher.channel", code)?,
                max_claimable: amount_u128(&voucher, "maxClaimableAmount")?,
                signature: row.hex_bytes("signature")?,
                total_claimed: amount_u128(&row, "totalClaimed")?,
            })
        })
        .collect()
}

/// A claim row's JSON.
pub fn claim_json(c: &VoucherClaim) -> Value {
    json!({
        "voucher": {"channel": channel_json(&c.channel), "maxClaimableAmount": c.max_claimable.to_string()},
        "signature": hex_lower(&c.signature),
        "totalClaimed": c.total_claimed.to_string(),
    })
}

fn opt_hex(f: &Fields<'_>, field: &str) -> Result<Option<Vec<u8>>> {
    match f.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => f.hex_bytes(field).map(Some),
    }
}

impl BatchPayload {
    /// Reads a payment's (or a server's `/settle`) `payload` object, by its `type`.
    pub fn parse(payload: &Object) -> Result<BatchPayload> {
        let kind = payload.get("type").and_then(Value::as_str).unwrap_or_default();
        let code = match kind {
            "deposit" => ErrorCode::BatchDepositPayload,
            "voucher" | "refund" => ErrorCode::BatchVoucherPayload,
            "claim" => ErrorCode::BatchClaimPayload,
            "settle" => ErrorCode::BatchSettlePayload,
            other => {
                return Err(Error::new(
                    ErrorCode::BatchPayloadType,
                    format!(
                        "payload.type {:?} is not a batch-settlement payload type (deposit, voucher, refund, claim, settle)",
                        crate::wire::truncate(other)
                    ),
                ));
            }
        };
        let f = Fields::new(payload, "payload", code);
        let channel = || parse_channel(f.object_field("channelConfig")?, "payload.channelConfig", code);
        let voucher = || parse_voucher(f.object_field("voucher")?, code);
        Ok(match kind {
            "deposit" => {
                let d = Fields::new(f.object_field("deposit")?, "payload.deposit", code);
                let auth = Fields::new(d.object_field("authorization")?, "payload.deposit.authorization", code);
                let erc3009 = auth.opt_object("erc3009Authorization")?;
                let permit2 = auth.opt_object("permit2Authorization")?;
                let authorization = match (erc3009, permit2) {
                    (Some(a), None) => {
                        let a = Fields::new(a, "payload.deposit.authorization.erc3009Authorization", code);
                        DepositAuthorization::Erc3009 {
                            valid_after: a.decimal("validAfter")?,
                            valid_before: a.decimal("validBefore")?,
                            salt: a.b256("salt")?,
                            signature: a.hex_bytes("signature")?,
                        }
                    }
                    (None, Some(a)) => {
                        let a = Fields::new(a, "payload.deposit.authorization.permit2Authorization", code);
                        let permitted = Fields::new(a.object_field("permitted")?, "permitted", code);
                        let witness = Fields::new(a.object_field("witness")?, "witness", code);
                        DepositAuthorization::Permit2 {
                            from: a.address("from")?,
                            token: permitted.address("token")?,
                            amount: permitted.decimal("amount")?,
                            spender: a.address("spender")?,
                            nonce: a.decimal("nonce")?,
                            deadline: a.decimal("deadline")?,
                            channel_id: witness.b256("channelId")?,
                            signature: a.hex_bytes("signature")?,
                        }
                    }
                    _ => {
                        return Err(
                            auth.err("", "must hold exactly one of erc3009Authorization and permit2Authorization")
                        );
                    }
                };
                BatchPayload::Deposit {
                    channel: channel()?,
                    voucher: voucher()?,
                    deposit: Deposit { amount: amount_u128(&d, "amount")?, authorization },
                }
            }
            "voucher" => BatchPayload::Voucher { channel: channel()?, voucher: voucher()? },
            "refund" => {
                let amount = match f.get("amount") {
                    None | Some(Value::Null) => None,
                    Some(_) => Some(amount_u128(&f, "amount")?),
                };
                let refund_nonce = match f.get("refundNonce") {
                    None | Some(Value::Null) => None,
                    Some(_) => Some(f.decimal("refundNonce")?),
                };
                let claims = match f.get("claims") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(_) => parse_claims(&f, "claims", code)?,
                };
                BatchPayload::Refund {
                    channel: channel()?,
                    voucher: voucher()?,
                    refund: RefundRequest {
                        amount,
                        refund_nonce,
                        claims,
                        refund_signature: opt_hex(&f, "refundAuthorizerSignature")?,
                        claim_signature: opt_hex(&f, "claimAuthorizerSignature")?,
                    },
                }
            }
            "claim" => {
                let claims = parse_claims(&f, "claims", code)?;
                if claims.is_empty() {
                    return Err(f.err("claims", "is empty: a claim names at least one channel"));
                }
                BatchPayload::Claim { claims, authorizer_signature: opt_hex(&f, "claimAuthorizerSignature")? }
            }
            _ => BatchPayload::Settle { receiver: f.address("receiver")?, token: f.address("token")? },
        })
    }

    /// The payload object, members in the order the official TypeScript SDK writes them.
    pub fn to_object(&self) -> Object {
        let mut out = Object::new();
        let mut put = |k: &str, v: Value| {
            out.insert(k.into(), v);
        };
        match self {
            BatchPayload::Deposit { channel, voucher, deposit } => {
                put("type", "deposit".into());
                put("channelConfig", channel_json(channel));
                put("voucher", voucher_json(voucher));
                let authorization = match &deposit.authorization {
                    DepositAuthorization::Erc3009 { valid_after, valid_before, salt, signature } => json!({
                        "erc3009Authorization": {
                            "validAfter": valid_after.to_string(),
                            "validBefore": valid_before.to_string(),
                            "salt": format!("{salt:#x}"),
                            "signature": hex_lower(signature),
                        }
                    }),
                    DepositAuthorization::Permit2 {
                        from,
                        token,
                        amount,
                        spender,
                        nonce,
                        deadline,
                        channel_id,
                        signature,
                    } => json!({
                        "permit2Authorization": {
                            "from": from.to_checksum(None),
                            "permitted": {"token": token.to_checksum(None), "amount": amount.to_string()},
                            "spender": spender.to_checksum(None),
                            "nonce": nonce.to_string(),
                            "deadline": deadline.to_string(),
                            "witness": {"channelId": format!("{channel_id:#x}")},
                            "signature": hex_lower(signature),
                        }
                    }),
                };
                put("deposit", json!({"amount": deposit.amount.to_string(), "authorization": authorization}));
            }
            BatchPayload::Voucher { channel, voucher } => {
                put("type", "voucher".into());
                put("channelConfig", channel_json(channel));
                put("voucher", voucher_json(voucher));
            }
            BatchPayload::Refund { channel, voucher, refund } => {
                put("type", "refund".into());
                put("channelConfig", channel_json(channel));
                put("voucher", voucher_json(voucher));
                if let Some(amount) = refund.amount {
                    put("amount", amount.to_string().into());
                }
                if let Some(nonce) = refund.refund_nonce {
                    put("refundNonce", nonce.to_string().into());
                }
                if refund.refund_nonce.is_some() || !refund.claims.is_empty() {
                    put("claims", Value::Array(refund.claims.iter().map(claim_json).collect()));
                }
                if let Some(sig) = &refund.refund_signature {
                    put("refundAuthorizerSignature", hex_lower(sig).into());
                }
                if let Some(sig) = &refund.claim_signature {
                    put("claimAuthorizerSignature", hex_lower(sig).into());
                }
            }
            BatchPayload::Claim { claims, authorizer_signature } => {
                put("type", "claim".into());
                put("claims", Value::Array(claims.iter().map(claim_json).collect()));
                if let Some(sig) = authorizer_signature {
                    put("claimAuthorizerSignature", hex_lower(sig).into());
                }
            }
            BatchPayload::Settle { receiver, token } => {
                put("type", "settle".into());
                put("receiver", receiver.to_checksum(None).into());
                put("token", token.to_checksum(None).into());
            }
        }
        out
    }

    /// The channel and voucher a client payload carries (`deposit`, `voucher`, `refund`).
    pub fn channel_and_voucher(&self) -> Option<(&ChannelConfig, &SignedVoucher)> {
        match self {
            BatchPayload::Deposit { channel, voucher, .. }
            | BatchPayload::Voucher { channel, voucher }
            | BatchPayload::Refund { channel, voucher, .. } => Some((channel, voucher)),
            _ => None,
        }
    }
}
