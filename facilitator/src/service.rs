//! `/verify`, `/settle` and `/supported`: the core's offline verification, then the chain.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes};
use alloy::rpc::types::TransactionReceipt;
use alloy::sol_types::{SolCall, SolEvent};
use paywire_core::exact::{Eip3009Authorization, ExactPayload};
use paywire_core::network;
use paywire_core::types::{FacilitatorRequest, SettleResponse, SupportedKind, SupportedResponse, VerifyResponse};
use paywire_core::verify::{self, VerifiedPayment, VerifyOptions};
use paywire_core::wire::Object;
use paywire_core::{Clock, Error, ErrorCode};
use tokio::sync::Mutex;

use crate::chain::{Chain, IEip3009Token, RpcError, is_revert};
use crate::store::{Stage, Store};

/// A payment that passed every check, ready to settle.
struct Checked {
    payer: Address,
    asset: Address,
    authorization: Eip3009Authorization,
    input: Vec<u8>,
}

/// The facilitator: one chain, one sending key, one settlement store.
pub struct Facilitator {
    chain: Chain,
    store: Store,
    clock: Arc<dyn Clock>,
    receipt_timeout: Duration,
    /// One lock per authorization being settled, so a concurrent second `/settle` waits for the first.
    settling: StdMutex<HashMap<String, Arc<Mutex<()>>>>,
}

fn invalid(code: ErrorCode, message: impl Into<String>, payer: Option<Address>) -> Error {
    let error = Error::new(code, message);
    match payer {
        Some(p) => error.with_payer(p.to_checksum(None)),
        None => error,
    }
}

impl Facilitator {
    /// A facilitator settling on `chain`, keeping settlements in `store`, waiting up to `receipt_timeout`
    /// for a receipt before answering `settlement_pending`.
    pub fn new(chain: Chain, store: Store, clock: Arc<dyn Clock>, receipt_timeout: Duration) -> Self {
        Facilitator { chain, store, clock, receipt_timeout, settling: StdMutex::new(HashMap::new()) }
    }

    /// The sending key's address.
    pub fn address(&self) -> Address {
        self.chain.address()
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain.chain_id()
    }

    /// The settlement store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `GET /supported`: `exact` on this chain, in x402 v2 (CAIP-2) and v1 (when the chain has a v1 name).
    pub fn supported(&self) -> SupportedResponse {
        let id = self.chain.chain_id();
        let mut kinds =
            vec![SupportedKind { x402_version: 2, scheme: "exact".into(), network: network::caip2(id), extra: None }];
        if let Some(name) = network::v1_name(id) {
            kinds.push(SupportedKind { x402_version: 1, scheme: "exact".into(), network: name.into(), extra: None });
        }
        let mut signers = std::collections::BTreeMap::new();
        signers.insert("eip155:*".to_string(), vec![self.chain.address().to_checksum(None)]);
        SupportedResponse { kinds, extensions: Vec::new(), signers, other: Object::new() }
    }

    /// `POST /verify`.
    pub async fn verify(&self, request: &FacilitatorRequest) -> VerifyResponse {
        match self.check(request).await {
            Ok(checked) => VerifyResponse::valid(checked.payer.to_checksum(None)),
            Err(error) => VerifyResponse::invalid(&error),
        }
    }

    /// Every check: offline (the core), then the chain's state and a simulation of the transfer.
    async fn check(&self, request: &FacilitatorRequest) -> Result<Checked, Error> {
        let verified = self.check_offline(request)?;
        let (authorization, signature) = match ExactPayload::parse(request.payment_payload.payload())? {
            ExactPayload::Eip3009 { authorization, signature } => (authorization, signature),
            ExactPayload::Permit2 { .. } => {
                return Err(invalid(
                    ErrorCode::Permit2ProxyNotDeployed,
                    "this facilitator settles EIP-3009 authorizations only; pay with an offer whose \
                     assetTransferMethod is eip3009",
                    Some(verified.payer),
                ));
            }
        };
        let checked = self.check_state(&verified, authorization, &signature).await?;
        self.chain
            .simulate(checked.asset, checked.input.clone())
            .await
            .map_err(|e| reverted(e, checked.payer, ErrorCode::UnexpectedVerifyError))?;
        Ok(checked)
    }

    /// The core's offline verification, and the payment's chain being this facilitator's.
    fn check_offline(&self, request: &FacilitatorRequest) -> Result<VerifiedPayment, Error> {
        let options = VerifyOptions { allow_onchain_signatures: true };
        let verified = verify::verify_payment_with(
            &request.payment_payload,
            &request.payment_requirements,
            self.clock.now(),
            &options,
        )?;
        if verified.chain_id != self.chain.chain_id() {
            return Err(invalid(
                ErrorCode::InvalidNetwork,
                format!("this facilitator settles on chain {} only, not {}", self.chain.chain_id(), verified.chain_id),
                Some(verified.payer),
            ));
        }
        Ok(verified)
    }

    /// The chain's state: the asset is a contract, the authorization is unused, the balance covers it. The
    /// transfer itself is simulated by the caller (`eth_call` to verify, `eth_estimateGas` to settle).
    async fn check_state(
        &self,
        verified: &VerifiedPayment,
        authorization: Eip3009Authorization,
        signature: &[u8],
    ) -> Result<Checked, Error> {
        let payer = Some(verified.payer);
        let asset = verified.asset;
        let rpc = |e: RpcError| invalid(ErrorCode::UnexpectedVerifyError, format!("the chain node failed: {e}"), payer);
        if !self.chain.has_code(asset).await.map_err(rpc)? {
            return Err(invalid(
                ErrorCode::AssetNotDeployed,
                format!("no contract at the asset address {asset}"),
                payer,
            ));
        }
        if self.chain.authorization_used(asset, authorization.from, authorization.nonce).await.map_err(rpc)? {
            return Err(invalid(
                ErrorCode::NonceAlreadyUsed,
                "this authorization was already used (or canceled) on chain; sign a new payment",
                payer,
            ));
        }
        let balance = self.chain.balance_of(asset, authorization.from).await.map_err(rpc)?;
        if balance < authorization.value {
            return Err(invalid(
                ErrorCode::InsufficientFunds,
                format!(
                    "the payer holds {balance} of the token, less than the {} the payment moves",
                    authorization.value
                ),
                payer,
            ));
        }
        let input = transfer_call(&authorization, signature);
        Ok(Checked { payer: verified.payer, asset, authorization, input })
    }

    /// The settlement key of an authorization: chain, token, payer and nonce.
    fn key(&self, asset: &str, authorization: &Eip3009Authorization) -> String {
        let asset = asset.to_ascii_lowercase();
        format!("{}:{asset}:{:#x}:{:#x}", self.chain.chain_id(), authorization.from, authorization.nonce)
    }

    fn lock_for(&self, key: &str) -> Arc<Mutex<()>> {
        let mut locks = self.settling.lock().unwrap_or_else(|p| p.into_inner());
        // Drop locks nobody holds any more, so the map stays as small as the settlements in flight.
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        locks.entry(key.to_string()).or_default().clone()
    }

    /// `POST /settle`: re-verify, send `transferWithAuthorization`, wait for the receipt, check the
    /// `Transfer` event. The same authorization settled twice is broadcast once: later calls repeat the first
    /// answer (or follow its transaction).
    pub async fn settle(&self, request: &FacilitatorRequest) -> SettleResponse {
        let network = request.payment_requirements.network().to_string();
        let Ok(ExactPayload::Eip3009 { authorization, signature }) =
            ExactPayload::parse(request.payment_payload.payload())
        else {
            // Not an EIP-3009 payment: the checks explain why it cannot be settled.
            let error = match self.check(request).await {
                Err(e) => e,
                Ok(_) => Error::new(ErrorCode::UnexpectedSettleError, "the payment has no EIP-3009 authorization"),
            };
            return failure(&error, &network);
        };
        let key = self.key(request.payment_requirements.asset(), &authorization);
        let lock = self.lock_for(&key);
        let _held = lock.lock().await;
        match self.store.claim(&key) {
            Err(e) => return failure(&store_failed(e), &network),
            Ok(None) => {}
            Ok(Some(row)) => match row.stage {
                Stage::Final { response } => {
                    if let Ok(answer) = SettleResponse::from_json(&response) {
                        return answer;
                    }
                }
                Stage::Sent { tx_hash, raw_tx } => {
                    return self.follow(&key, &tx_hash, &raw_tx, request, authorization, &signature).await;
                }
                // Claimed by a run that stopped before sending anything: settle afresh.
                Stage::Claimed => {}
            },
        }
        let checked = match self.check_offline(request) {
            Ok(verified) => self.check_state(&verified, authorization, &signature).await,
            Err(error) => Err(error),
        };
        let checked = match checked {
            Ok(c) => c,
            Err(error) => {
                let _ = self.store.release(&key);
                return failure(&error, &network);
            }
        };
        let payer = Some(checked.payer);
        // eth_estimateGas simulates the transfer too: a revert here is the verify step's simulation failure.
        let gas = match self.chain.estimate_gas(checked.asset, checked.input.clone()).await {
            Ok(gas) => gas,
            Err(e) => {
                let _ = self.store.release(&key);
                return failure(&reverted(e, checked.payer, ErrorCode::UnexpectedSettleError), &network);
            }
        };
        let record =
            |hash: B256, raw: &[u8]| self.store.sent(&key, &format!("{hash:#x}"), raw).map_err(|e| e.to_string());
        let hash = match self.chain.send(checked.asset, checked.input.clone(), gas, record).await {
            Ok(hash) => hash,
            Err(e) => {
                // Not broadcast (or refused by the node): nothing can settle, so a retry may try again.
                let _ = self.store.release(&key);
                return failure(&invalid(ErrorCode::UnexpectedSettleError, e.to_string(), payer), &network);
            }
        };
        self.conclude(&key, hash, &checked, &network).await
    }

    /// Waits for the receipt of a sent settlement and records the answer.
    async fn conclude(&self, key: &str, hash: B256, checked: &Checked, network: &str) -> SettleResponse {
        let payer = checked.payer.to_checksum(None);
        let answer = match self.chain.wait_for_receipt(hash, self.receipt_timeout).await {
            Ok(Some(receipt)) => judge(&receipt, checked, network),
            Ok(None) | Err(_) => {
                // Broadcast, outcome unknown: the row stays "sent"; a later /settle follows the transaction.
                return pending(hash, network, &payer);
            }
        };
        if let Err(e) = self.store.finish(key, &answer.to_json()) {
            return failure(&store_failed(e), network);
        }
        answer
    }

    /// A settlement sent before (by this run or one before a restart): follow its transaction.
    async fn follow(
        &self,
        key: &str,
        tx_hash: &str,
        raw_tx: &[u8],
        request: &FacilitatorRequest,
        authorization: Eip3009Authorization,
        signature: &[u8],
    ) -> SettleResponse {
        let network = request.payment_requirements.network().to_string();
        let Ok(hash) = tx_hash.parse::<B256>() else {
            return failure(
                &Error::new(ErrorCode::UnexpectedSettleError, "a stored transaction hash is unreadable"),
                &network,
            );
        };
        let payer = authorization.from;
        let asset = match request.payment_requirements.asset().parse::<Address>() {
            Ok(a) => a,
            Err(_) => {
                return failure(
                    &Error::new(ErrorCode::InvalidPaymentRequirements, "the asset is not an address"),
                    &network,
                );
            }
        };
        let checked = Checked { payer, asset, input: transfer_call(&authorization, signature), authorization };
        match self.chain.knows_transaction(hash).await {
            Ok(true) => {}
            Ok(false) => {
                // Signed but never reached the node (a crash between recording and broadcasting).
                if self.chain.rebroadcast(raw_tx).await.is_err() {
                    let _ = self.store.release(key);
                    let error = invalid(
                        ErrorCode::UnexpectedSettleError,
                        "an earlier settlement of this authorization could not be broadcast; settle again",
                        Some(payer),
                    );
                    return failure(&error, &network);
                }
            }
            Err(_) => return pending(hash, &network, &payer.to_checksum(None)),
        }
        self.conclude(key, hash, &checked, &network).await
    }

    /// Follows every settlement a previous run left sent but unfinished (called at start-up).
    pub async fn recover(&self) -> usize {
        let Ok(rows) = self.store.unfinished() else { return 0 };
        let mut recovered = 0;
        for row in rows {
            match row.stage {
                Stage::Claimed => {
                    let _ = self.store.release(&row.key);
                }
                Stage::Sent { tx_hash, raw_tx } => {
                    let Ok(hash) = tx_hash.parse::<B256>() else { continue };
                    if let Ok(false) = self.chain.knows_transaction(hash).await {
                        let _ = self.chain.rebroadcast(&raw_tx).await;
                    }
                    recovered += 1;
                }
                Stage::Final { .. } => {}
            }
        }
        recovered
    }
}

/// The error for a failed simulation: `simulation_failed` when the transfer reverts, else `node_failed` (the
/// node itself failed).
fn reverted(e: RpcError, payer: Address, node_failed: ErrorCode) -> Error {
    if is_revert(&e) {
        invalid(ErrorCode::SimulationFailed, format!("the transfer would revert: {e}"), Some(payer))
    } else {
        invalid(node_failed, format!("the chain node failed: {e}"), Some(payer))
    }
}

/// The `transferWithAuthorization` call: the (v, r, s) overload for a 65-byte signature, the `bytes` one
/// (EIP-1271 smart wallets) otherwise.
fn transfer_call(a: &Eip3009Authorization, signature: &[u8]) -> Vec<u8> {
    if signature.len() == 65 {
        IEip3009Token::transferWithAuthorization_0Call {
            from: a.from,
            to: a.to,
            value: a.value,
            validAfter: a.valid_after,
            validBefore: a.valid_before,
            nonce: a.nonce,
            v: signature[64],
            r: B256::from_slice(&signature[..32]),
            s: B256::from_slice(&signature[32..64]),
        }
        .abi_encode()
    } else {
        IEip3009Token::transferWithAuthorization_1Call {
            from: a.from,
            to: a.to,
            value: a.value,
            validAfter: a.valid_after,
            validBefore: a.valid_before,
            nonce: a.nonce,
            signature: Bytes::copy_from_slice(signature),
        }
        .abi_encode()
    }
}

/// The answer a mined settlement gets: success only when it succeeded and moved exactly the authorized
/// amount from the payer to the payee on the asset.
fn judge(receipt: &TransactionReceipt, checked: &Checked, network: &str) -> SettleResponse {
    let payer = checked.payer.to_checksum(None);
    let hash = format!("{:#x}", receipt.transaction_hash);
    if !receipt.status() {
        let error = invalid(
            ErrorCode::TransactionFailed,
            format!("the settlement transaction {hash} reverted"),
            Some(checked.payer),
        );
        return SettleResponse { transaction: hash, ..failure(&error, network) };
    }
    let a = &checked.authorization;
    let moved = receipt.inner.logs().iter().any(|log| {
        log.address() == checked.asset
            && IEip3009Token::Transfer::decode_log_data(log.data())
                .is_ok_and(|t| t.from == a.from && t.to == a.to && t.value == a.value)
    });
    if !moved {
        let error = invalid(
            ErrorCode::TransferEventMismatch,
            format!("the settlement transaction {hash} has no Transfer of {} from the payer to the payee", a.value),
            Some(checked.payer),
        );
        return SettleResponse { transaction: hash, ..failure(&error, network) };
    }
    SettleResponse {
        success: true,
        error_reason: None,
        error_message: None,
        payer: Some(payer),
        transaction: hash,
        network: network.to_string(),
        amount: None,
        extensions: None,
        other: Object::new(),
    }
}

/// A settlement that failed with `error` (nothing settled).
pub fn failure(error: &Error, network: &str) -> SettleResponse {
    SettleResponse {
        success: false,
        error_reason: Some(error.code().as_str().to_string()),
        error_message: Some(error.message().to_string()),
        payer: error.payer().map(str::to_string),
        transaction: String::new(),
        network: network.to_string(),
        amount: None,
        extensions: None,
        other: Object::new(),
    }
}

fn pending(hash: B256, network: &str, payer: &str) -> SettleResponse {
    SettleResponse {
        success: false,
        error_reason: Some(ErrorCode::SettlementPending.as_str().to_string()),
        error_message: Some("the settlement was broadcast but is not confirmed yet; settle again to follow it".into()),
        payer: Some(payer.to_string()),
        transaction: format!("{hash:#x}"),
        network: network.to_string(),
        amount: None,
        extensions: None,
        other: Object::new(),
    }
}

fn store_failed(e: crate::store::StoreError) -> Error {
    Error::new(ErrorCode::UnexpectedSettleError, format!("the facilitator's settlement store failed: {e}"))
}
