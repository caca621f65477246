//! Passes: time-limited access credentials the facilitator issues for a payment it checked on chain (the
//! credential flow of the x402 introductions).
//!
//! A client that paid (its authorization settled here, or a transfer it broadcast itself, named by its
//! transaction hash) asks for a pass, with the server's signed offer for the resource (`offer-receipt`): the
//! facilitator cannot know a server's prices, so the offer, signed by a server key it was told to trust, says
//! what the resource costs. The facilitator checks on chain that the transaction succeeded, is confirmed, and
//! moved at least the offer's amount of its asset to its payee from the payer, while the offer was valid; that
//! the request comes from the payer (the settled authorization, or an EIP-191 signature by the sender of the
//! transfer); and that the transaction was never used for a pass. Then it signs an `offer-receipt` receipt with
//! its own credential key: the resource, the payer, the network, the transaction, and the time of issue. A
//! server that trusts the key accepts the receipt for its configured lifetime without calling anyone
//! (`AccessPolicy`).

use std::sync::Arc;

use alloy::primitives::{Address, B256, U256, eip191_hash_message};
use alloy::sol_types::SolEvent;
use paywire_core::credentials::{CredentialFormat, Issuer, OfferPayload, SignedOffer, SignedReceipt};
use paywire_core::crypto::{Signature, recover_address};
use paywire_core::{Error, ErrorCode, LocalSigner, Signer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chain::{Chain, IEip3009Token};

/// The default lifetime a facilitator advertises for its passes, in seconds.
pub const DEFAULT_LIFETIME_SECONDS: u64 = 3600;
/// The default number of blocks (the transaction's included) a transfer needs before it buys a pass.
pub const DEFAULT_CONFIRMATIONS: u64 = 1;

/// The facilitator's pass issuing: its credential key and settings.
pub struct Passes {
    issuer: Issuer,
    address: Address,
    /// How long a pass is meant to grant access (advertised; a server's own policy decides).
    pub lifetime_seconds: u64,
    /// Blocks a transfer needs, its own included.
    pub confirmations: u64,
    /// The servers' offer keys whose prices passes are issued for.
    offer_signers: Vec<Address>,
}

impl Passes {
    /// Passes signed with `key` (EIP-712 receipts), for resources whose offers `offer_signers` sign.
    pub fn new(key: LocalSigner, lifetime_seconds: u64, confirmations: u64, offer_signers: Vec<Address>) -> Self {
        let address = key.address();
        Passes {
            issuer: Issuer::new(Arc::new(key), CredentialFormat::Eip712, ""),
            address,
            lifetime_seconds,
            confirmations: confirmations.max(1),
            offer_signers,
        }
    }

    /// The server's signed offer for `resource`, checked: a trusted offer key signed it, for this resource and
    /// the `exact` scheme. Whether it was valid when the payment was made is checked against the chain.
    pub fn offer(&self, offer: &Value, resource: &str) -> Result<OfferPayload, Error> {
        let signed = SignedOffer::from_value(offer)?;
        // 0: the signature and signer only; the validity is checked at the transfer's block time.
        let payload = signed.verify(&self.offer_signers, 0)?.payload;
        if payload.resource_url != resource {
            return Err(Error::new(
                ErrorCode::CredentialResourceMismatch,
                format!(
                    "the offer is for {}, not for {}; send the server's offer for this resource",
                    paywire_core::wire::truncate(&payload.resource_url),
                    paywire_core::wire::truncate(resource)
                ),
            ));
        }
        if payload.scheme != "exact" {
            return Err(Error::new(ErrorCode::UnsupportedScheme, "passes are issued for exact offers only"));
        }
        Ok(payload)
    }

    /// The credential key's address (what servers trust).
    pub fn address(&self) -> Address {
        self.address
    }

    /// What `/supported` says about passes.
    pub fn advertised(&self) -> Value {
        serde_json::json!({
            "issuer": self.address.to_checksum(None),
            "format": "eip712",
            "lifetimeSeconds": self.lifetime_seconds,
            "confirmations": self.confirmations,
            "offerSigners": self.offer_signers.iter().map(|a| a.to_checksum(None)).collect::<Vec<_>>(),
            "endpoints": {
                "settlement": paywire_core::pass::SETTLEMENT_ENDPOINT,
                "transaction": paywire_core::pass::TRANSACTION_ENDPOINT,
            },
        })
    }

    /// Signs the pass.
    pub fn issue(&self, resource: &str, payer: Address, network: &str, tx: B256, now: u64) -> Result<Pass, Error> {
        let receipt =
            self.issuer.issue_receipt(resource, &payer.to_checksum(None), network, Some(&format!("{tx:#x}")), now)?;
        Ok(Pass { receipt, issuer: self.address, expires_at: now.saturating_add(self.lifetime_seconds) })
    }
}

/// A signed pass and what the client needs to keep it.
#[derive(Clone, Debug)]
pub struct Pass {
    /// The signed receipt (present it, as base64 of its JSON, in `X-PAYWIRE-RECEIPT`).
    pub receipt: SignedReceipt,
    /// Who signed it.
    pub issuer: Address,
    /// When it stops granting access under the advertised lifetime.
    pub expires_at: u64,
}

/// `POST /passes/transaction`: a pass for a transfer the client broadcast itself.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionPassRequest {
    /// The transaction's hash.
    pub transaction: String,
    /// The resource's URL the pass is for.
    pub resource: String,
    /// The server's signed offer for the resource (`offer-receipt`): what it costs, to whom, in what.
    pub offer: Value,
    /// The payer's EIP-191 signature of [`proof_message`] (`0x` + 65 bytes).
    pub signature: String,
}

pub use paywire_core::pass::proof_message;

/// The wallet that signed `message` (EIP-191) with `signature`.
pub fn signer_of(message: &str, signature: &str) -> Result<Address, Error> {
    let refused = || Error::new(ErrorCode::PassProofInvalid, "the pass request's signature is not a 65-byte signature");
    let bytes = alloy::hex::decode(signature.trim_start_matches("0x")).map_err(|_| refused())?;
    let sig = Signature::normalize(&bytes).map_err(|_| refused())?;
    recover_address(&eip191_hash_message(message.as_bytes()), &sig)
        .map_err(|_| Error::new(ErrorCode::PassProofInvalid, "the pass request's signature recovers to no address"))
}

/// What the transfer must be: the token, the payee and the least amount.
#[derive(Clone, Copy, Debug)]
pub struct Expected {
    /// The token.
    pub asset: Address,
    /// The payee.
    pub pay_to: Address,
    /// The least amount, in atomic units.
    pub amount: U256,
}

/// `POST /passes/settlement`: a pass for an authorization this facilitator settled.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettlementPassRequest {
    /// The payment as it was settled.
    pub payment_payload: Value,
    /// The offer it paid, as sent to `/settle`.
    pub payment_requirements: Value,
    /// The server's signed offer for the resource.
    pub offer: Value,
}

/// What a transfer that bought something was: its sender and the Unix time of its block.
#[derive(Clone, Copy, Debug)]
pub struct Transfer {
    /// Who paid.
    pub payer: Address,
    /// When its block was made.
    pub mined_at: u64,
}

/// Checks on chain that `tx` succeeded, has `confirmations` blocks, and transferred at least the amount of
/// the asset to the payee; returns who paid (the transfer's sender) and when.
pub async fn check_transfer(
    chain: &Chain,
    tx: B256,
    expected: Expected,
    confirmations: u64,
) -> Result<Transfer, Error> {
    let unreachable = |e: crate::rpc::RpcError| {
        Error::new(ErrorCode::FacilitatorUnreachable, format!("the chain node failed to answer: {e}"))
    };
    let Some(receipt) = chain.receipt(tx).await.map_err(unreachable)? else {
        return Err(Error::new(
            ErrorCode::PassTransactionUnconfirmed,
            format!("transaction {tx:#x} is not mined yet; ask again once it is"),
        ));
    };
    if !receipt.status() {
        return Err(Error::new(ErrorCode::PassTransferMismatch, format!("transaction {tx:#x} reverted")));
    }
    let mined = receipt.block_number.unwrap_or(u64::MAX);
    let head = chain.block_number().await.map_err(unreachable)?;
    if head.saturating_add(1) < mined.saturating_add(confirmations) {
        return Err(Error::new(
            ErrorCode::PassTransactionUnconfirmed,
            format!("transaction {tx:#x} needs {confirmations} confirmations; ask again in a few blocks"),
        ));
    }
    let mut payer = None;
    for log in receipt.inner.logs() {
        if log.address() != expected.asset {
            continue;
        }
        let Ok(transfer) = IEip3009Token::Transfer::decode_log(&log.inner) else { continue };
        if transfer.to == expected.pay_to && transfer.value >= expected.amount {
            payer = Some(transfer.from);
            break;
        }
    }
    let payer = payer.ok_or_else(|| {
        Error::new(
            ErrorCode::PassTransferMismatch,
            format!(
                "transaction {tx:#x} moved no {} or more of {} to {}; pay the offer's amount to its payee",
                expected.amount,
                expected.asset.to_checksum(None),
                expected.pay_to.to_checksum(None)
            ),
        )
    })?;
    let mined_at = chain.block_timestamp(mined).await.map_err(unreachable)?;
    Ok(Transfer { payer, mined_at })
}

/// Whether `offer` was still valid when the transfer was mined (a stale price buys nothing).
pub fn offer_was_valid(offer: &OfferPayload, transfer: &Transfer) -> Result<(), Error> {
    if offer.valid_until != 0 && transfer.mined_at > offer.valid_until {
        return Err(Error::new(
            ErrorCode::CredentialExpired,
            format!(
                "the offer was valid until {}, but the transfer was mined at {}; pay a current offer",
                offer.valid_until, transfer.mined_at
            ),
        ));
    }
    Ok(())
}

/// The answer of a pass endpoint, as JSON.
pub fn answer(pass: &Result<Pass, Error>) -> Value {
    match pass {
        Ok(p) => serde_json::json!({
            "success": true,
            "receipt": p.receipt.to_json(),
            "header": p.receipt.to_header(),
            "issuer": p.issuer.to_checksum(None),
            "expiresAt": p.expires_at,
        }),
        Err(e) => {
            serde_json::json!({ "success": false, "errorReason": e.code().as_str(), "errorMessage": e.message() })
        }
    }
}
