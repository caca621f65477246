//! `/verify`, `/settle` and `/supported` over every configured chain: the core's offline verification and
//! the facilitator's own offline rules first (allowed asset, signature form), then the chain.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use alloy::consensus::transaction::SignerRecoverable;
use alloy::consensus::{Transaction as _, TxEnvelope};
use alloy::eips::eip2718::Decodable2718;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::rpc::types::TransactionReceipt;
use alloy::sol_types::{SolCall, SolEvent};
use paywire_core::assets::PERMIT2_ADDRESS;
use paywire_core::exact::{EIP2612_EXTENSION, Eip2612Permit, Eip3009Authorization, ExactPayload, Permit2Authorization};
use paywire_core::network;
use paywire_core::types::{FacilitatorRequest, SettleResponse, SupportedKind, SupportedResponse, VerifyResponse};
use paywire_core::verify::{self, SignatureCheck, VerifiedPayment, VerifyOptions};
use paywire_core::wire::Object;
use paywire_core::{Clock, Error, ErrorCode};
use tokio::sync::Mutex;

use crate::chain::{Chain, IEip3009Token};
use crate::metrics::Metrics;
use crate::passes::{Pass, Passes, SettlementPassRequest, TransactionPassRequest, Transfer};
use crate::permit2::{Permit2Kind, Permit2Payment};
use crate::rpc::RpcError;
use crate::sender::{Sender, Signed};
use crate::signature::{self, SignatureForm};
use crate::store::{Attempt, Stage, Store};
use paywire_core::upto::{self, UptoAuthorization, UptoPayload};

mod batch;
mod leases;

/// A payment that passed every check, ready to settle.
#[derive(Clone, Debug)]
struct Checked {
    payer: Address,
    asset: Address,
    from: Address,
    to: Address,
    value: U256,
    /// The contract the settlement calls: the token (EIP-3009) or the x402 Permit2 proxy.
    target: Address,
    input: Vec<u8>,
    /// What the chain marks once the payment is spent.
    spent: Spent,
    /// The key the settlement must be sent from (an `upto` witness's facilitator), if any.
    sender: Option<Address>,
    /// An `upto` settlement, whose answer states the amount charged.
    upto: bool,
    /// A counterfactual wallet's deployment (EIP-6492 factory and calldata), when the payer has no code yet.
    deploy: Option<(Address, Bytes)>,
    /// A batch-settlement transaction: what it does.
    batch: Option<crate::batch::Action>,
}

/// What the chain records once a payment is spent, so a settlement whose transaction is lost can tell
/// whether the payment happened anyway.
#[derive(Clone, Copy, Debug)]
enum Spent {
    /// An EIP-3009 authorization's nonce (on the token).
    Eip3009(B256),
    /// The payer's Permit2 nonce (on Permit2).
    Permit2(U256),
    /// A batch-settlement claim, sweep or refund: the contract's state says (see `crate::batch::done_on_chain`).
    Batch,
}

/// A payment's authorization, as the facilitator settles it.
// One lives for the checks of one request: its size costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
enum Authorized {
    /// EIP-3009 `transferWithAuthorization`, with how its signature is checked.
    Eip3009(Eip3009Authorization, SignatureForm),
    /// A Permit2 witness transfer through an x402 Permit2 proxy (`exact` or `upto`).
    Permit2(Permit2Payment),
}

/// A wallet deployment in flight: the key that sent it, its nonce and its first hash.
type Deployment = (Arc<Sender>, u64, B256);

/// How long the facilitator waits, and how it tends what it sent.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// How long `/settle` waits for a receipt before answering `settlement_pending`.
    pub receipt_timeout: Duration,
    /// How long a transaction may wait in a pool before it is rebroadcast or replaced.
    pub stuck_after: Duration,
}

/// The facilitator: its chains and keys, one settlement store, its metrics.
pub struct Facilitator {
    chains: BTreeMap<u64, Arc<Chain>>,
    store: Store,
    clock: Arc<dyn Clock>,
    timing: Timing,
    metrics: Metrics,
    /// One lock per authorization being settled, so a concurrent second `/settle` waits for the first.
    settling: StdMutex<HashMap<String, Arc<Mutex<()>>>>,
    /// EIP-6492 wallets being deployed, by chain and address: the key and nonce of the deployment.
    deploying: StdMutex<HashMap<(u64, Address), Deployment>>,
    /// The passes it issues, when it has a credential key.
    passes: Option<Passes>,
}

fn invalid(code: ErrorCode, message: impl Into<String>, payer: Option<Address>) -> Error {
    let error = Error::new(code, message);
    match payer {
        Some(p) => error.with_payer(p.to_checksum(None)),
        None => error,
    }
}

/// The error for a chain call that failed while verifying: the node's words, never its URL.
fn node_failed(e: RpcError, payer: Address, code: ErrorCode) -> Error {
    if e.is_revert() {
        invalid(ErrorCode::SimulationFailed, format!("the transfer would revert: {e}"), Some(payer))
    } else {
        invalid(code, format!("the chain node failed: {e}"), Some(payer))
    }
}

impl Facilitator {
    /// A facilitator settling on `chains`, keeping settlements in `store`.
    pub fn new(chains: Vec<Chain>, store: Store, clock: Arc<dyn Clock>, timing: Timing) -> Self {
        let chains = chains.into_iter().map(|c| (c.chain_id(), Arc::new(c))).collect();
        Facilitator {
            chains,
            store,
            clock,
            timing,
            metrics: Metrics::default(),
            settling: StdMutex::new(HashMap::new()),
            deploying: StdMutex::new(HashMap::new()),
            passes: None,
        }
    }

    /// The same facilitator, issuing passes with `passes`' credential key.
    pub fn with_passes(mut self, passes: Passes) -> Self {
        self.passes = Some(passes);
        self
    }

    /// The passes it issues, if any.
    pub fn passes(&self) -> Option<&Passes> {
        self.passes.as_ref()
    }

    /// `POST /passes/settlement`: a pass for an authorization this facilitator settled (the signed
    /// authorization proves the payer), for the resource of the server's signed offer. Its settlement must
    /// have succeeded and paid the offer while it was valid, its transaction must be confirmed on chain, and it
    /// must never have bought a pass.
    pub async fn pass_for_settlement(&self, request: &SettlementPassRequest) -> Result<Pass, Error> {
        let passes = self.pass_issuer()?;
        let not_settled = |why: &str| Error::new(ErrorCode::PassPaymentNotSettled, why.to_string());
        let settle_body = serde_json::json!({
            "x402Version": request.payment_payload.get("x402Version").cloned().unwrap_or(serde_json::Value::from(2)),
            "paymentPayload": request.payment_payload,
            "paymentRequirements": request.payment_requirements,
        });
        let settled_request = FacilitatorRequest::from_json(&settle_body.to_string())?;
        let Ok(ExactPayload::Eip3009 { authorization, .. }) =
            ExactPayload::parse(settled_request.payment_payload.payload())
        else {
            return Err(not_settled("only an EIP-3009 authorization settled here buys a pass this way"));
        };
        let r = &settled_request.payment_requirements;
        let network = r.network().to_string();
        let row = match self.store.get(&settlement_key(&network, r.asset(), &authorization)).await {
            Ok(Some(row)) => row,
            Ok(None) => return Err(not_settled("this facilitator did not settle this authorization; settle it first")),
            Err(e) => return Err(store_failed(e)),
        };
        let Stage::Final { response } = row.stage else {
            return Err(not_settled("the settlement of this authorization is not concluded yet; ask again"));
        };
        let settled = SettleResponse::from_json(&response)
            .ok()
            .filter(|s| s.success && !s.transaction.is_empty())
            .ok_or_else(|| not_settled("this authorization's settlement did not succeed"))?;
        let resource = settled_request
            .payment_payload
            .resource()
            .map(|info| info.url.clone())
            .or_else(|| r.resource().map(str::to_string))
            .ok_or_else(|| Error::new(ErrorCode::InvalidArgument, "the payment names no resource"))?;
        let tx =
            settled.transaction.parse::<B256>().map_err(|_| not_settled("the recorded transaction is unreadable"))?;
        let transfer = self.paid_offer(passes, &request.offer, &resource, &network, tx).await?;
        if transfer.payer != authorization.from {
            return Err(Error::new(ErrorCode::PassTransferMismatch, "the settlement's transfer is not the payer's"));
        }
        self.issue_once(passes, &resource, transfer.payer, &network, tx).await
    }

    /// `POST /passes/transaction`: a pass for a transfer the payer broadcast itself. The request must be
    /// signed by the transfer's sender and name the resource of the server's signed offer; the transfer must
    /// have paid the offer on chain while it was valid, confirmed; and the transaction must never have bought
    /// a pass.
    pub async fn pass_for_transaction(&self, request: &TransactionPassRequest) -> Result<Pass, Error> {
        let passes = self.pass_issuer()?;
        let tx = request.transaction.parse::<B256>().map_err(|_| {
            Error::new(ErrorCode::InvalidArgument, "the transaction is not a 32-byte hash (0x + 64 hex digits)")
        })?;
        if !(request.resource.starts_with("https://") || request.resource.starts_with("http://")) {
            return Err(Error::new(ErrorCode::InvalidArgument, "the resource must be an http(s) URL"));
        }
        let network = passes.offer(&request.offer, &request.resource)?.network;
        let proof = crate::passes::proof_message(&network, &format!("{tx:#x}"), &request.resource);
        let signer = crate::passes::signer_of(&proof, &request.signature)?;
        let transfer = self.paid_offer(passes, &request.offer, &request.resource, &network, tx).await?;
        if signer != transfer.payer {
            return Err(Error::new(
                ErrorCode::PassProofInvalid,
                format!(
                    "the pass request is signed by {}, not by {}, who sent the transfer",
                    signer.to_checksum(None),
                    transfer.payer.to_checksum(None)
                ),
            ));
        }
        self.issue_once(passes, &request.resource, transfer.payer, &network, tx).await
    }

    /// Checks that `tx` paid the server's signed `offer` for `resource` on `network`: a trusted offer, an asset
    /// this facilitator takes there, at least its amount to its payee, confirmed, while the offer was valid.
    async fn paid_offer(
        &self,
        passes: &Passes,
        offer: &serde_json::Value,
        resource: &str,
        network: &str,
        tx: B256,
    ) -> Result<Transfer, Error> {
        let offer = passes.offer(offer, resource)?;
        if offer.network != network {
            return Err(Error::new(
                ErrorCode::CredentialMismatch,
                format!("the offer is on {}, the payment on {network}", paywire_core::wire::truncate(&offer.network)),
            ));
        }
        let chain = self.chains.get(&network::chain_id(network)?).ok_or_else(|| {
            Error::new(ErrorCode::InvalidNetwork, format!("this facilitator does not serve {network}"))
        })?;
        let bad = |what: &str| Error::new(ErrorCode::InvalidCredential, format!("the offer's {what} is malformed"));
        let asset = offer.asset.parse::<Address>().map_err(|_| bad("asset"))?;
        let pay_to = offer.pay_to.parse::<Address>().map_err(|_| bad("payTo"))?;
        let amount = offer.amount.parse::<U256>().map_err(|_| bad("amount"))?;
        if !chain.policy().assets.contains(&asset) {
            return Err(Error::new(
                ErrorCode::PassTransferMismatch,
                format!("{} is not an asset this facilitator takes on {network}", asset.to_checksum(None)),
            ));
        }
        let expected = crate::passes::Expected { asset, pay_to, amount };
        let transfer = crate::passes::check_transfer(chain, tx, expected, passes.confirmations).await?;
        crate::passes::offer_was_valid(&offer, &transfer)?;
        Ok(transfer)
    }

    /// The facilitator's pass issuing, or the refusal when it has no credential key.
    fn pass_issuer(&self) -> Result<&Passes, Error> {
        self.passes.as_ref().ok_or_else(|| {
            Error::new(ErrorCode::PassesNotOffered, "this facilitator issues no passes (it has no credential key)")
        })
    }

    /// Records that `tx` bought a pass and signs it; refused when the transaction already bought one.
    async fn issue_once(
        &self,
        passes: &Passes,
        resource: &str,
        payer: Address,
        network: &str,
        tx: B256,
    ) -> Result<Pass, Error> {
        match self.store.claim_pass(&format!("{tx:#x}"), resource).await {
            Ok(true) => passes.issue(resource, payer, network, tx, self.clock.now()),
            Ok(false) => Err(Error::new(
                ErrorCode::PassTransactionUsed,
                format!("transaction {tx:#x} already bought a pass; one payment buys one pass"),
            )),
            Err(e) => Err(store_failed(e)),
        }
    }

    /// The chains served, by id.
    pub fn chains(&self) -> &BTreeMap<u64, Arc<Chain>> {
        &self.chains
    }

    /// The settlement store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// How long a transaction may wait before the keeper repairs it.
    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// `GET /supported`: `exact` on each chain, in x402 v2 (CAIP-2) and v1 (when the chain has a v1 name);
    /// `upto` in v2, naming the key that settles it; `batch-settlement` in v2, naming the key that signs claims
    /// for servers that delegate their receiver authorizer to this facilitator.
    pub fn supported(&self) -> SupportedResponse {
        let mut kinds = Vec::new();
        let mut addresses = Vec::new();
        for (id, chain) in &self.chains {
            kinds.push(SupportedKind {
                x402_version: 2,
                scheme: "exact".into(),
                network: network::caip2(*id),
                extra: None,
            });
            // upto is x402 v2 only; the payer's witness names the key that settles (this chain's first).
            if let Some(first) = chain.senders().first() {
                let mut extra = Object::new();
                extra.insert("facilitatorAddress".into(), first.address().to_checksum(None).into());
                kinds.push(SupportedKind {
                    x402_version: 2,
                    scheme: upto::SCHEME.into(),
                    network: network::caip2(*id),
                    extra: Some(extra),
                });
                // batch-settlement: the same key signs claims for servers that delegate their receiver
                // authorizer to this facilitator.
                let mut extra = Object::new();
                extra.insert("receiverAuthorizer".into(), first.address().to_checksum(None).into());
                kinds.push(SupportedKind {
                    x402_version: 2,
                    scheme: paywire_core::batch::SCHEME.into(),
                    network: network::caip2(*id),
                    extra: Some(extra),
                });
            }
            if let Some(name) = network::v1_name(*id) {
                kinds.push(SupportedKind {
                    x402_version: 1,
                    scheme: "exact".into(),
                    network: name.into(),
                    extra: None,
                });
            }
            for sender in chain.senders() {
                let address = sender.address().to_checksum(None);
                if !addresses.contains(&address) {
                    addresses.push(address);
                }
            }
        }
        let mut signers = BTreeMap::new();
        signers.insert("eip155:*".to_string(), addresses);
        let mut other = Object::new();
        if let Some(passes) = &self.passes {
            other.insert("passes".into(), passes.advertised());
        }
        // The Permit2 proxy's settleWithPermit approves Permit2 with the payer's EIP-2612 permit.
        let extensions = vec![EIP2612_EXTENSION.to_string()];
        SupportedResponse { kinds, extensions, signers, other }
    }

    /// `POST /verify`.
    pub async fn verify(&self, request: &FacilitatorRequest) -> VerifyResponse {
        if batch::is_batch(request) {
            return self.batch_verify(request).await;
        }
        match self.check(request, ErrorCode::UnexpectedVerifyError).await {
            Ok((chain, checked)) => {
                // A simulation from the key that would settle it (any of the chain's keys when another instance
                // holds them all), within the gas cap settling applies.
                let from = checked.sender.unwrap_or_else(|| {
                    chain
                        .pick_sender()
                        .or_else(|| chain.senders().first().cloned())
                        .map_or(Address::ZERO, |s| s.address())
                });
                match self.gas(&chain, from, &checked, ErrorCode::UnexpectedVerifyError).await {
                    Ok(_) => VerifyResponse::valid(checked.payer.to_checksum(None)),
                    Err(error) => VerifyResponse::invalid(&error),
                }
            }
            Err(error) => VerifyResponse::invalid(&error),
        }
    }

    /// Every check but the simulation: offline ones first, then the chain's state.
    async fn check(&self, request: &FacilitatorRequest, node_code: ErrorCode) -> Result<(Arc<Chain>, Checked), Error> {
        if batch::is_batch(request) {
            return self.batch_check(request).await;
        }
        let (chain, verified, authorized) = self.check_offline(request)?;
        let checked = match authorized {
            Authorized::Eip3009(authorization, form) => {
                self.check_state(&chain, &verified, authorization, form, node_code).await?
            }
            Authorized::Permit2(payment) => self.check_permit2_state(&chain, &verified, payment, node_code).await?,
        };
        Ok((chain, checked))
    }

    /// Everything that needs no chain: the core's verification, the chain and asset being served here, and
    /// the signature's form. An RPC call never follows a payment this refuses.
    fn check_offline(&self, request: &FacilitatorRequest) -> Result<(Arc<Chain>, VerifiedPayment, Authorized), Error> {
        let options = VerifyOptions { allow_onchain_signatures: true };
        // An upto payment is verified against its signed maximum; the offer's amount is what the server
        // charges (at most that maximum).
        let upto = match request.payment_requirements.scheme() == upto::SCHEME {
            true => Some(self.upto_terms(request)?),
            false => None,
        };
        let requirements = match &upto {
            Some((payload, _)) => upto::requirements_at(&request.payment_requirements, payload.authorization.amount)?,
            None => request.payment_requirements.clone(),
        };
        let verified =
            verify::verify_payment_with(&request.payment_payload, &requirements, self.clock.now(), &options)?;
        let payer = Some(verified.payer);
        let Some(chain) = self.chains.get(&verified.chain_id).cloned() else {
            let served: Vec<String> = self.chains.keys().map(u64::to_string).collect();
            return Err(invalid(
                ErrorCode::InvalidNetwork,
                format!("this facilitator settles on chain {} only, not {}", served.join(", "), verified.chain_id),
                payer,
            ));
        };
        if !chain.policy().assets.contains(&verified.asset) {
            let allowed: Vec<String> = chain.policy().assets.iter().map(|a| a.to_checksum(None)).collect();
            return Err(invalid(
                ErrorCode::UnknownAsset,
                format!(
                    "this facilitator does not settle the asset {} on chain {}; it settles {}",
                    verified.asset.to_checksum(None),
                    verified.chain_id,
                    allowed.join(", ")
                ),
                payer,
            ));
        }
        let parsed = match upto {
            Some((UptoPayload { authorization, signature }, amount)) => {
                Err((Permit2Kind::Upto { authorization, amount }, signature))
            }
            None => match ExactPayload::parse(request.payment_payload.payload())? {
                ExactPayload::Eip3009 { authorization, signature } => Ok((authorization, signature)),
                ExactPayload::Permit2 { authorization, signature } => {
                    Err((Permit2Kind::Exact(authorization), signature))
                }
            },
        };
        let (authorization, signature) = match parsed {
            Ok(eip3009) => eip3009,
            Err((kind, signature)) => {
                if signature.len() > 32 && signature[signature.len() - 32..] == signature::EIP6492_MAGIC[..] {
                    return Err(invalid(
                        ErrorCode::Permit2InvalidSignature,
                        "the payer's wallet is not deployed yet (an EIP-6492 signature), and Permit2 cannot deploy \
                         it; pay with an EIP-3009 offer, or deploy the wallet first",
                        payer,
                    ));
                }
                // The EIP-2612 permit was verified by the core; its signature goes into the settlement.
                let permit = match verified.eip2612_permit.clone() {
                    Some(permit) => {
                        let info =
                            paywire_core::wire::extension_info(request.payment_payload.extensions(), EIP2612_EXTENSION)
                                .ok_or_else(|| {
                                    invalid(ErrorCode::Eip2612InvalidFormat, "the EIP-2612 permit is gone", payer)
                                })?;
                        let (_, sig) = Eip2612Permit::from_extension_info(info)?;
                        Some((permit, sig))
                    }
                    None => None,
                };
                let payment = Permit2Payment { kind, signature, permit };
                if let Some(facilitator) = payment.required_sender()
                    && chain.sender(facilitator).is_none()
                {
                    return Err(invalid(
                        ErrorCode::UptoFacilitatorMismatch,
                        format!(
                            "the witness lets {} settle, which is not one of this facilitator's keys on chain {}",
                            facilitator.to_checksum(None),
                            chain.chain_id()
                        ),
                        payer,
                    ));
                }
                return Ok((chain, verified, Authorized::Permit2(payment)));
            }
        };
        let form = match verified.signature {
            SignatureCheck::Recovered => SignatureForm::Eoa(signature),
            SignatureCheck::RequiresOnchain { digest } => {
                signature::classify(&signature, &digest, &chain.policy().factories)
                    .map_err(|message| invalid(ErrorCode::InvalidSignature, message, payer))?
            }
        };
        Ok((chain, verified, Authorized::Eip3009(authorization, form)))
    }

    /// An upto payment and the amount its offer charges, which may not exceed the signed maximum.
    fn upto_terms(&self, request: &FacilitatorRequest) -> Result<(UptoPayload, U256), Error> {
        let payload = UptoPayload::parse(request.payment_payload.payload())?;
        let (amount, max) = (request.payment_requirements.amount(), payload.authorization.amount);
        if amount > max {
            return Err(invalid(
                ErrorCode::UptoSettlementExceedsAmount,
                format!("the offer charges {amount}, more than the {max} the payer authorized"),
                Some(payload.authorization.from),
            ));
        }
        Ok((payload, amount))
    }

    /// The chain's state for a Permit2 payment: the proxy and Permit2 deployed, a smart wallet's code, the
    /// Permit2 nonce unused, the balance covering it, and Permit2 approved (or an EIP-2612 permit to approve it
    /// in the same transaction). The proxy's settlement is simulated by the caller.
    async fn check_permit2_state(
        &self,
        chain: &Chain,
        verified: &VerifiedPayment,
        payment: Permit2Payment,
        node_code: ErrorCode,
    ) -> Result<Checked, Error> {
        let payer = Some(verified.payer);
        let rpc = |e: RpcError| node_failed(e, verified.payer, node_code);
        let owner = payment.owner();
        let (token, to, amount, nonce) = payment.transfer();
        let proxy = if payment.required_sender().is_some() {
            "the x402 upto Permit2 proxy"
        } else {
            "the x402 exact Permit2 proxy"
        };
        for (contract, what) in [(payment.target(), proxy), (PERMIT2_ADDRESS, "Permit2")] {
            if !chain.has_code_cached(contract).await.map_err(rpc)? {
                return Err(invalid(
                    ErrorCode::Permit2ProxyNotDeployed,
                    format!(
                        "{what} is not deployed at {} on chain {}; pay with an offer whose assetTransferMethod is \
                         eip3009",
                        contract.to_checksum(None),
                        chain.chain_id()
                    ),
                    payer,
                ));
            }
        }
        if let SignatureCheck::RequiresOnchain { .. } = verified.signature
            && !chain.has_code(owner).await.map_err(rpc)?
        {
            return Err(invalid(
                ErrorCode::Permit2InvalidSignature,
                "the signature is not the payer's (it does not recover to the payer), and the payer is not a \
                 deployed smart wallet",
                payer,
            ));
        }
        if chain.permit2_nonce_used(owner, nonce).await.map_err(rpc)? {
            return Err(invalid(
                ErrorCode::Permit2InvalidNonce,
                "this Permit2 nonce was already used (or invalidated) by the payer; sign a new payment",
                payer,
            ));
        }
        let balance = chain.balance_of(token, owner).await.map_err(rpc)?;
        if balance < amount {
            return Err(invalid(
                ErrorCode::Permit2InsufficientBalance,
                format!("the payer holds {balance} of the token, less than the {amount} the payment moves"),
                payer,
            ));
        }
        // A permit sets Permit2's allowance to this payment's amount, replacing a larger approval the payer's
        // other Permit2 payments use: it is submitted only when the allowance on chain is short (or unreadable).
        let mut with_permit = payment.permit.is_some();
        if with_permit {
            with_permit = chain.permit2_allowance(token, owner).await.map_or(true, |allowance| allowance < amount);
        } else {
            let allowance = chain.permit2_allowance(token, owner).await.map_err(rpc)?;
            if allowance < amount {
                return Err(invalid(
                    ErrorCode::Permit2AllowanceRequired,
                    format!(
                        "the payer allows Permit2 to move {allowance} of the token, less than the {} the payment \
                         moves: approve Permit2 on the token once, or pay with the eip2612GasSponsoring extension \
                         (an EIP-2612 permit) where the server offers it",
                        amount
                    ),
                    payer,
                ));
            }
        }
        Ok(Checked {
            payer: verified.payer,
            asset: token,
            from: owner,
            to,
            value: amount,
            target: payment.target(),
            input: payment.call(with_permit),
            spent: Spent::Permit2(nonce),
            sender: payment.required_sender(),
            upto: payment.required_sender().is_some(),
            deploy: None,
            batch: None,
        })
    }

    /// The chain's state: a smart wallet's code, the authorization unused, the balance covering it. The
    /// transfer itself is simulated by the caller (`eth_call` to verify, `eth_estimateGas` to settle).
    async fn check_state(
        &self,
        chain: &Chain,
        verified: &VerifiedPayment,
        authorization: Eip3009Authorization,
        form: SignatureForm,
        node_code: ErrorCode,
    ) -> Result<Checked, Error> {
        let payer = Some(verified.payer);
        let asset = verified.asset;
        let rpc = |e: RpcError| node_failed(e, verified.payer, node_code);
        let mut deploy = None;
        let signature = match form {
            SignatureForm::Eoa(signature) => signature,
            SignatureForm::Contract(signature) => {
                if !chain.has_code(authorization.from).await.map_err(rpc)? {
                    return Err(invalid(
                        ErrorCode::InvalidSignature,
                        "the signature is not the payer's (it does not recover to the payer), and the payer is \
                         not a deployed smart wallet",
                        payer,
                    ));
                }
                signature
            }
            SignatureForm::Counterfactual { factory, calldata, inner } => {
                // A wallet deployed since it signed checks its inner signature itself (EIP-1271); one that is
                // not is deployed through its (trusted) factory before it settles.
                if !chain.has_code(authorization.from).await.map_err(rpc)? {
                    deploy = Some((factory, calldata));
                }
                inner
            }
        };
        if chain.authorization_used(asset, authorization.from, authorization.nonce).await.map_err(rpc)? {
            return Err(invalid(
                ErrorCode::NonceAlreadyUsed,
                "this authorization was already used (or canceled) on chain; sign a new payment",
                payer,
            ));
        }
        let balance = chain.balance_of(asset, authorization.from).await.map_err(rpc)?;
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
        Ok(Checked {
            payer: verified.payer,
            asset,
            from: authorization.from,
            to: authorization.to,
            value: authorization.value,
            target: asset,
            input: transfer_call(&authorization, &signature),
            spent: Spent::Eip3009(authorization.nonce),
            sender: None,
            upto: false,
            deploy,
            batch: None,
        })
    }

    /// The gas the transfer needs from `from`, within the chain's cap. `eth_estimateGas` simulates it too:
    /// a revert is `simulation_failed`, a node failure `node_failed`. For a wallet not deployed yet: the gas
    /// its deployment needs, after a deployless simulation of the deployment and the transfer.
    async fn gas(
        &self,
        chain: &Chain,
        from: Address,
        checked: &Checked,
        node_failed_code: ErrorCode,
    ) -> Result<u64, Error> {
        let failed = |e: RpcError| match (&checked.batch, checked.spent) {
            (Some(action), _) if e.is_revert() => {
                let (code, what) = match action {
                    crate::batch::Action::Deposit { .. } => (ErrorCode::BatchDepositSimulationFailed, "deposit"),
                    crate::batch::Action::Claim { .. } => (ErrorCode::BatchClaimSimulationFailed, "claim"),
                    crate::batch::Action::Settle { .. } => (ErrorCode::BatchSettleSimulationFailed, "settle"),
                    crate::batch::Action::Refund { .. } => (ErrorCode::BatchRefundSimulationFailed, "refund"),
                };
                invalid(code, format!("the {what} would revert: {e}"), Some(checked.payer))
            }
            (_, Spent::Permit2(_)) if e.is_revert() => invalid(
                ErrorCode::Permit2SimulationFailed,
                format!("the Permit2 proxy's settlement would revert: {e}"),
                Some(checked.payer),
            ),
            _ => node_failed(e, checked.payer, node_failed_code),
        };
        if checked.upto && checked.value.is_zero() {
            // Nothing moves, nothing is sent (the proxy would refuse a zero amount).
            return Ok(0);
        }
        let gas = match &checked.deploy {
            None => chain.estimate_gas(from, checked.target, checked.input.clone()).await.map_err(failed)?,
            Some((factory, calldata)) => {
                let simulated = chain
                    .simulate_after_deploy(from, *factory, calldata, checked.from, checked.target, &checked.input)
                    .await
                    .map_err(failed)?;
                match simulated {
                    crate::deployless::Outcome::Settles => {}
                    crate::deployless::Outcome::NoWallet => {
                        return Err(invalid(
                            ErrorCode::InvalidSignature,
                            "the EIP-6492 deployment leaves no wallet at the payer's address: it deploys another",
                            Some(checked.payer),
                        ));
                    }
                    crate::deployless::Outcome::Reverts(out) => {
                        return Err(invalid(
                            ErrorCode::SimulationFailed,
                            format!(
                                "the transfer would revert once the wallet is deployed (0x{})",
                                alloy::hex::encode(out)
                            ),
                            Some(checked.payer),
                        ));
                    }
                }
                chain.estimate_gas(from, *factory, calldata.to_vec()).await.map_err(failed)?
            }
        };
        // A claim of many channels may spend the cap once per channel (at most 100 channels, each of which must
        // claim something new).
        let cap = match &checked.batch {
            Some(crate::batch::Action::Claim { rows }) => {
                chain.policy().max_gas.saturating_mul(rows.len().min(100) as u64)
            }
            _ => chain.policy().max_gas,
        };
        if gas > cap {
            return Err(invalid(
                ErrorCode::SimulationFailed,
                format!("the settlement needs {gas} gas, more than this facilitator spends on one ({cap})"),
                Some(checked.payer),
            ));
        }
        Ok(gas)
    }

    fn lock_for(&self, key: &str) -> Arc<Mutex<()>> {
        let mut locks = self.settling.lock().unwrap_or_else(|p| p.into_inner());
        // Drop locks nobody holds any more, so the map stays as small as the settlements in flight.
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        locks.entry(key.to_string()).or_default().clone()
    }

    /// `POST /settle`: re-verify, send `transferWithAuthorization` (or the Permit2 proxy's `settle`) from one
    /// of the chain's keys, wait for the receipt, check the `Transfer` event. The same authorization settled
    /// twice is broadcast once: later calls repeat the first answer (or follow its transaction).
    pub async fn settle(&self, request: &FacilitatorRequest) -> SettleResponse {
        let network = request.payment_requirements.network().to_string();
        // A recorded answer belongs to this request only if the request asks for what the authorization
        // signs: else a settled authorization could answer "success" for another payee or amount.
        let r = &request.payment_requirements;
        let pays =
            |to: Address, value: U256| r.pay_to().parse::<Address>().is_ok_and(|p| p == to) && r.amount() == value;
        let upto_payload = match r.scheme() == upto::SCHEME {
            true => UptoPayload::parse(request.payment_payload.payload()).ok(),
            false => None,
        };
        let exact_payload = match r.scheme() == upto::SCHEME {
            true => None,
            false => ExactPayload::parse(request.payment_payload.payload()).ok(),
        };
        let pays_upto =
            |a: &UptoAuthorization| r.pay_to().parse::<Address>().is_ok_and(|p| p == a.to) && r.amount() <= a.amount;
        let batch_key = match batch::is_batch(request) {
            true => match self.batch_key(request).await {
                Ok(key) => Some(key),
                Err(error) => return failure(&error, &network),
            },
            false => None,
        };
        let (mut key, legacy, payer) = match (exact_payload, upto_payload) {
            _ if batch_key.is_some() => {
                let (key, payer) = batch_key.unwrap_or_default();
                (key, None, payer)
            }
            (None, Some(UptoPayload { authorization: a, .. })) if pays_upto(&a) => {
                (upto_key(&network, r.asset(), &a), None, a.from)
            }
            (Some(ExactPayload::Eip3009 { authorization: a, .. }), None) if pays(a.to, a.value) => {
                (settlement_key(&network, r.asset(), &a), Some(legacy_key(&network, r.asset(), &a)), a.from)
            }
            (Some(ExactPayload::Permit2 { authorization: a, .. }), None) if pays(a.to, a.amount) => {
                (permit2_key(&network, r.asset(), &a), None, a.from)
            }
            // Unreadable, or not the offer's terms: the checks explain why it cannot be settled.
            _ => {
                let error = match self.check(request, ErrorCode::UnexpectedSettleError).await {
                    Err(e) => e,
                    Ok(_) => {
                        Error::new(ErrorCode::InvalidPaymentRequirements, "the offer does not match the authorization")
                    }
                };
                return failure(&error, &network);
            }
        };
        let lock = self.lock_for(&key);
        let _held = lock.lock().await;
        // A settlement recorded by an earlier version, under a key without payee and value, is followed
        // rather than settled a second time.
        let recorded_before = match &legacy {
            Some(legacy) => {
                self.store.get(legacy).await.ok().flatten().filter(|row| !matches!(row.stage, Stage::Claimed))
            }
            None => None,
        };
        let mut claimed = match (recorded_before, legacy) {
            (Some(row), Some(legacy)) => {
                key = legacy;
                Ok(Some(row))
            }
            _ => self.store.claim(&key).await,
        };
        // Another instance is settling it right now: wait for it to send (then follow) or give up.
        let deadline = Instant::now() + self.timing.receipt_timeout;
        while let Ok(Some(row)) = &claimed {
            if !row.elsewhere {
                break;
            }
            if Instant::now() >= deadline {
                let message =
                    "another facilitator instance is settling this payment and has not sent it yet; ask again";
                return failure(&Error::new(ErrorCode::UnexpectedSettleError, message), &network);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            claimed = self.store.claim(&key).await;
        }
        match claimed {
            Err(e) => return failure(&store_failed(e), &network),
            Ok(None) => {}
            Ok(Some(row)) => match row.stage {
                Stage::Final { response } => {
                    return SettleResponse::from_json(&response).unwrap_or_else(|_| {
                        let message = "the recorded answer of this settlement is unreadable; it is not settled again";
                        failure(&Error::new(ErrorCode::UnexpectedSettleError, message), &network)
                    });
                }
                Stage::Sent { attempts } => match self.follow(&key, &attempts, &network).await {
                    Some(answer) => return answer,
                    // Its transactions can never mine (another took their nonce): settle afresh, unless
                    // another request restarted it first.
                    None => {
                        let last = attempts.last().map(|a| a.tx_hash.as_str()).unwrap_or_default();
                        match self.store.restart(&key, last).await {
                            Ok(true) => {}
                            Ok(false) => {
                                // Another request restarted or replaced it first: it may still mine.
                                let message = "this payment's settlement changed while it was looked at; settle again to follow it";
                                return still_pending(message, &network, payer);
                            }
                            Err(e) => return failure(&store_failed(e), &network),
                        }
                    }
                },
                // Claimed by a run that stopped before sending anything: settle afresh.
                Stage::Claimed => {}
            },
        }
        match self.settle_afresh(&key, request, &network).await {
            Ok(answer) => answer,
            Err(error) => {
                let _ = self.store.release(&key).await;
                failure(&error, &network)
            }
        }
    }

    /// Checks and sends a new settlement; an error means nothing reached the chain.
    async fn settle_afresh(
        &self,
        key: &str,
        request: &FacilitatorRequest,
        network: &str,
    ) -> Result<SettleResponse, Error> {
        let (chain, mut checked) = self.check(request, ErrorCode::UnexpectedSettleError).await?;
        let payer = Some(checked.payer);
        let no_key = || {
            let message = format!(
                "this facilitator instance holds none of chain {}'s settling keys right now (they are leased to other instances); ask again",
                chain.chain_id()
            );
            invalid(ErrorCode::UnexpectedSettleError, message, payer)
        };
        if checked.upto && checked.value.is_zero() {
            // The server charges nothing: success, no transaction. Recorded, so the authorization is never
            // settled afterwards for another amount.
            let answer = SettleResponse { amount: Some("0".into()), ..success(String::new(), &checked, network) };
            if let Err(e) = self.store.finish(key, &answer.to_json()).await {
                return Err(store_failed(e));
            }
            return Ok(answer);
        }
        let mut sender = match checked.sender {
            // The upto proxy accepts only the witness's facilitator as the sender.
            Some(address) => chain.sender(address).filter(|s| s.is_held()).cloned().ok_or_else(no_key)?,
            None => chain.pick_sender().ok_or_else(no_key)?,
        };
        if checked.deploy.is_some() {
            // One deployment per wallet at a time: a second settlement from the same wallet waits for the first
            // one's, then finds the wallet deployed.
            let lock = self.lock_for(&format!("deploy:{}:{:#x}", chain.chain_id(), checked.from));
            let _deploying = lock.lock().await;
            (_, checked) = self.check(request, ErrorCode::UnexpectedSettleError).await?;
            if let Some((factory, calldata)) = checked.deploy.clone() {
                self.deploy_wallet(&chain, &sender, factory, calldata, &checked).await?;
                (_, checked) = self.check(request, ErrorCode::UnexpectedSettleError).await?;
                if checked.deploy.is_some() {
                    let message = "the EIP-6492 deployment left no wallet at the payer's address";
                    return Err(invalid(ErrorCode::InvalidSignature, message, payer));
                }
                sender = chain.pick_sender().ok_or_else(no_key)?;
                // (EIP-6492 deployments are EIP-3009 payments, which any key settles.)
            }
        }
        let settle_failed = |e: RpcError| node_failed(e, checked.payer, ErrorCode::UnexpectedSettleError);
        let gas = self.gas(&chain, sender.address(), &checked, ErrorCode::UnexpectedSettleError).await?;
        let fees = Sender::fees(chain.rpc()).await.map_err(settle_failed)?;
        sender.sync(chain.rpc()).await.map_err(settle_failed)?;
        let nonce = sender.allocate(key).ok_or_else(|| {
            let message =
                "the settling key's nonce is unknown, or the key was just leased to another instance; ask again";
            invalid(ErrorCode::UnexpectedSettleError, message, payer)
        })?;
        let signed =
            match sender.sign(nonce, checked.target, Bytes::from(checked.input.clone()), U256::ZERO, gas, fees).await {
                Ok(signed) => signed,
                Err(message) => {
                    sender.abandon(nonce);
                    return Err(invalid(ErrorCode::UnexpectedSettleError, message, payer));
                }
            };
        // Recorded before it is broadcast: after a crash, the transaction is followed, never signed again.
        if let Err(e) = self.store.sent(key, &format!("{:#x}", signed.hash), &signed.raw, &signer_of(&sender)).await {
            sender.abandon(nonce);
            return Err(store_failed(e));
        }
        sender.record(nonce, signed.clone());
        match chain.rpc().broadcast(&signed.raw).await {
            Ok(()) => {}
            Err(e @ RpcError::Refused { .. }) => {
                // Every node refused it: it is in no pool and cannot mine. Its nonce is filled by the keeper.
                sender.abandon(nonce);
                return Err(invalid(
                    ErrorCode::UnexpectedSettleError,
                    format!("the settlement was refused: {e}"),
                    payer,
                ));
            }
            // Unknown: a node may have taken it. The row stays "sent" and the keeper rebroadcasts it.
            Err(_) => return Ok(pending(signed.hash, network, checked.payer)),
        }
        Ok(self.conclude(key, &chain, &sender, nonce, &checked, signed.hash, network).await)
    }

    /// Deploys a counterfactual wallet through its trusted factory, and waits for the deployment to mine.
    /// The deployless simulation ran first (the factory leaves a wallet at the payer's address, and the
    /// transfer then succeeds), so nobody makes the facilitator pay for deploying anything else. A deployment
    /// still in flight from an earlier request is waited for, never sent twice. The transaction is the
    /// keeper's like any other; an error means the settlement may be asked for again.
    async fn deploy_wallet(
        &self,
        chain: &Chain,
        sender: &Arc<Sender>,
        factory: Address,
        calldata: Bytes,
        checked: &Checked,
    ) -> Result<(), Error> {
        let payer = checked.payer;
        let failed = |message: String| invalid(ErrorCode::UnexpectedSettleError, message, Some(payer));
        let node = |e: RpcError| failed(format!("deploying the payer's wallet failed: {e}"));
        let wallet = (chain.chain_id(), checked.from);
        let earlier = {
            let deploying = self.deploying.lock().unwrap_or_else(|p| p.into_inner());
            deploying.get(&wallet).cloned().filter(|(s, nonce, _)| s.is_in_flight(*nonce))
        };
        let (sender, nonce, first) = match earlier {
            Some(earlier) => earlier,
            None => {
                let gas = self.gas(chain, sender.address(), checked, ErrorCode::UnexpectedSettleError).await?;
                let fees = Sender::fees(chain.rpc()).await.map_err(node)?;
                sender.sync(chain.rpc()).await.map_err(node)?;
                let nonce = sender.allocate("").ok_or_else(|| failed("the settling key's nonce is unknown".into()))?;
                let signed = match sender.sign(nonce, factory, calldata, U256::ZERO, gas, fees).await {
                    Ok(signed) => signed,
                    Err(message) => {
                        sender.abandon(nonce);
                        return Err(failed(message));
                    }
                };
                sender.record(nonce, signed.clone());
                self.deploying
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(wallet, (sender.clone(), nonce, signed.hash));
                match chain.rpc().broadcast(&signed.raw).await {
                    Ok(()) => {}
                    Err(e @ RpcError::Refused { .. }) => {
                        sender.abandon(nonce);
                        return Err(node(e));
                    }
                    Err(_) => {
                        return Err(failed("the wallet's deployment was sent but not confirmed; settle again".into()));
                    }
                }
                (sender.clone(), nonce, signed.hash)
            }
        };
        let deadline = Instant::now() + self.timing.receipt_timeout;
        loop {
            let hashes = sender.attempts(nonce).map_or(vec![first], |a| a.iter().map(|s| s.hash).collect());
            for hash in hashes {
                if let Ok(Some(receipt)) = chain.receipt(hash).await {
                    sender.mined(nonce);
                    self.deploying.lock().unwrap_or_else(|p| p.into_inner()).remove(&wallet);
                    if !receipt.status() {
                        return Err(failed(format!("the wallet's deployment {hash:#x} reverted")));
                    }
                    tracing::info!(chain = chain.chain_id(), wallet = %payer, transaction = %hash, "deployed an EIP-6492 wallet");
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(failed("the wallet's deployment is not confirmed yet; settle again".into()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for a receipt of any transaction at `nonce` (the keeper may replace it meanwhile) and records
    /// the answer.
    #[allow(clippy::too_many_arguments)]
    async fn conclude(
        &self,
        key: &str,
        chain: &Chain,
        sender: &Sender,
        nonce: u64,
        checked: &Checked,
        first: B256,
        network: &str,
    ) -> SettleResponse {
        let deadline = Instant::now() + self.timing.receipt_timeout;
        let mut pause = Duration::from_millis(20);
        let mut latest = first;
        loop {
            let hashes: Vec<B256> = sender.attempts(nonce).map_or(vec![latest], |a| a.iter().map(|s| s.hash).collect());
            latest = hashes.last().copied().unwrap_or(first);
            for hash in &hashes {
                if let Ok(Some(receipt)) = chain.receipt(*hash).await {
                    sender.mined(nonce);
                    return self.record_final(key, chain, &receipt, checked, network).await;
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return pending(latest, network, checked.payer);
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    async fn record_final(
        &self,
        key: &str,
        chain: &Chain,
        receipt: &TransactionReceipt,
        checked: &Checked,
        network: &str,
    ) -> SettleResponse {
        let mut answer = judge(receipt, checked, network);
        if let Some(action) = &checked.batch {
            answer = self.batch_enrich(chain, answer, action).await;
        }
        let labels = crate::metrics::Key { chain: chain.chain_id().to_string(), key: receipt.from.to_checksum(None) };
        self.metrics.gas_used.get_or_create(&labels).inc_by(receipt.gas_used);
        let wei = receipt.gas_used as f64 * receipt.effective_gas_price as f64;
        self.metrics.gas_wei.get_or_create(&labels).inc_by(wei);
        if let Err(e) = self.store.finish(key, &answer.to_json()).await {
            // The chain has spoken: answer it. The row stays "sent", so the next /settle finds the receipt again.
            tracing::error!(error = %e, "could not record a concluded settlement");
        }
        answer
    }

    /// A settlement sent before (by this run, or one before a restart): follow its transactions. `None`
    /// when none of them can mine any more (their nonce went to another transaction).
    async fn follow(&self, key: &str, attempts: &[Attempt], network: &str) -> Option<SettleResponse> {
        let sent = match SentTx::read(attempts) {
            Ok(sent) => sent,
            Err(message) => {
                return Some(failure(&Error::new(ErrorCode::UnexpectedSettleError, message), network));
            }
        };
        let Some(chain) = self.chains.get(&sent.chain_id).cloned() else {
            // Sent on a chain no longer configured: it may have mined there, so it stays sent.
            return Some(pending(sent.latest(), network, sent.checked.payer));
        };
        for hash in &sent.hashes {
            match chain.receipt(*hash).await {
                Ok(Some(receipt)) => {
                    return Some(self.record_final(key, &chain, &receipt, &sent.checked, network).await);
                }
                Ok(None) => {}
                Err(_) => return Some(pending(sent.latest(), network, sent.checked.payer)),
            }
        }
        let Some(sender) = chain.sender(sent.signer).cloned() else {
            // Sent from a key no longer configured: only the chain can conclude it.
            return Some(pending(sent.latest(), network, sent.checked.payer));
        };
        if !sender.is_in_flight(sent.nonce) {
            let address = sent.signer;
            let mined = chain
                .rpc()
                .call("eth_getTransactionCount", |p| async move {
                    alloy::providers::Provider::get_transaction_count(&p, address).latest().await
                })
                .await;
            match mined {
                Ok(mined) if mined > sent.nonce => {
                    // The nonce is used: by one of ours (look once more, it may have just mined) or another.
                    let waiting = Some(pending(sent.latest(), network, sent.checked.payer));
                    for hash in &sent.hashes {
                        match chain.receipt(*hash).await {
                            Ok(Some(receipt)) => {
                                return Some(self.record_final(key, &chain, &receipt, &sent.checked, network).await);
                            }
                            Ok(None) => {}
                            Err(_) => return waiting,
                        }
                    }
                    // Settle afresh only when the chain says the authorization is unused: a lagging node may
                    // not have our receipt yet, and a used authorization means a transfer happened.
                    let unused = spent_on_chain(&chain, &sent.checked).await;
                    return if let Ok(false) = unused { None } else { waiting };
                }
                // Adopted only from a key this instance holds: another instance tends its own keys.
                Ok(_) if sender.is_held() => sender.adopt(key, sent.nonce, sent.signed()),
                Ok(_) => {}
                Err(_) => return Some(pending(sent.latest(), network, sent.checked.payer)),
            }
        }
        Some(self.conclude(key, &chain, &sender, sent.nonce, &sent.checked, sent.latest(), network).await)
    }

    /// Takes back every settlement a previous run left sent but unconcluded (called at start-up), so the
    /// keeper follows it; then reads each key's next nonce. Returns how many were taken back.
    pub async fn recover(&self) -> usize {
        let Ok(rows) = self.store.unfinished().await else { return 0 };
        let mut recovered = 0;
        for row in rows {
            match row.stage {
                Stage::Claimed => {
                    let _ = self.store.release(&row.key).await;
                }
                Stage::Sent { attempts } => {
                    let Ok(sent) = SentTx::read(&attempts) else { continue };
                    let sender = self.chains.get(&sent.chain_id).and_then(|c| c.sender(sent.signer));
                    if let Some(sender) = sender {
                        sender.adopt(&row.key, sent.nonce, sent.signed());
                        recovered += 1;
                    }
                }
                Stage::Final { .. } => {}
            }
        }
        for chain in self.chains.values() {
            for sender in chain.senders().iter().filter(|s| s.is_held()) {
                let _ = sender.sync(chain.rpc()).await;
            }
        }
        recovered
    }

    /// One keeper pass over `chain`: each key's transactions in flight are tended, replacements recorded
    /// with their settlements first. Settlements whose transaction mined meanwhile are concluded when a
    /// `/settle` follows them.
    pub async fn tend(&self, chain: &Chain) {
        for sender in chain.senders().iter().filter(|s| s.is_held()) {
            let signer = signer_of(sender);
            let persist = |key: String, signed: Signed| -> crate::sender::BoxFuture<'_, Result<(), String>> {
                let signer = signer.clone();
                Box::pin(async move {
                    let hash = format!("{:#x}", signed.hash);
                    self.store.sent(&key, &hash, &signed.raw, &signer).await.map_err(|e| e.to_string())
                })
            };
            let labels = |action: &str| crate::metrics::Repair {
                chain: chain.chain_id().to_string(),
                key: sender.address().to_checksum(None),
                action: action.to_string(),
            };
            match sender.tend(chain.rpc(), self.timing.stuck_after, &persist).await {
                Ok(done) => {
                    for error in &done.errors {
                        tracing::warn!(chain = chain.chain_id(), key = %sender.address(), error = %error, "keeper could not repair a transaction");
                    }
                    let replaced = done.replaced.len() as u64;
                    for (what, count) in [
                        ("rebroadcast", done.rebroadcast as u64),
                        ("replaced", replaced),
                        ("filled", done.filled as u64),
                    ] {
                        if count > 0 {
                            self.metrics.repairs.get_or_create(&labels(what)).inc_by(count);
                            tracing::warn!(
                                chain = chain.chain_id(),
                                key = %sender.address(),
                                action = what,
                                count,
                                "keeper repaired transactions in flight"
                            );
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(chain = chain.chain_id(), key = %sender.address(), error = %e, "keeper pass failed")
                }
            }
        }
    }
}

/// What a settlement's stored transactions say: chain, key, nonce, and the transfer they make.
struct SentTx {
    chain_id: u64,
    signer: Address,
    nonce: u64,
    hashes: Vec<B256>,
    raws: Vec<Vec<u8>>,
    checked: Checked,
}

impl SentTx {
    fn read(attempts: &[Attempt]) -> Result<SentTx, String> {
        let first = attempts.first().ok_or("a sent settlement has no transaction")?;
        let tx = TxEnvelope::decode_2718(&mut &first.raw_tx[..]).map_err(|_| "a stored transaction is unreadable")?;
        let signer = tx.recover_signer().map_err(|_| "a stored transaction's signer is unreadable")?;
        let target = tx.to().ok_or("a stored transaction creates a contract")?;
        let chain_id = tx.chain_id().ok_or("a stored transaction has no chain id")?;
        let checked =
            decode_settlement(chain_id, target, tx.input()).ok_or("a stored transaction is not a settlement")?;
        let hashes = attempts
            .iter()
            .map(|a| a.tx_hash.parse::<B256>().map_err(|_| "a stored transaction hash is unreadable".to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SentTx {
            chain_id,
            signer,
            nonce: tx.nonce(),
            hashes,
            raws: attempts.iter().map(|a| a.raw_tx.clone()).collect(),
            checked,
        })
    }

    fn latest(&self) -> B256 {
        self.hashes.last().copied().unwrap_or_default()
    }

    fn signed(&self) -> Vec<Signed> {
        self.hashes.iter().zip(&self.raws).map(|(hash, raw)| Signed { hash: *hash, raw: raw.clone() }).collect()
    }
}

/// Whether the chain marks the payment spent: its EIP-3009 authorization or its Permit2 nonce used.
async fn spent_on_chain(chain: &Chain, checked: &Checked) -> Result<bool, RpcError> {
    match checked.spent {
        Spent::Eip3009(nonce) => chain.authorization_used(checked.asset, checked.from, nonce).await,
        Spent::Permit2(nonce) => chain.permit2_nonce_used(checked.from, nonce).await,
        Spent::Batch => match &checked.batch {
            Some(action) => crate::batch::done_on_chain(chain, action).await,
            None => Ok(false),
        },
    }
}

/// The payment a stored settlement transaction (to `target`) makes: a `transferWithAuthorization` on the
/// token, or a Permit2 proxy's `settle`.
fn decode_settlement(chain_id: u64, target: Address, input: &[u8]) -> Option<Checked> {
    if target == paywire_core::batch::SETTLEMENT_CONTRACT {
        return batch::decode_stored(chain_id, input);
    }
    let (asset, from, to, value, spent) = match decode_transfer(input) {
        Some((from, to, value, nonce)) => (target, from, to, value, Spent::Eip3009(nonce)),
        None => {
            let (token, owner, to, amount, nonce) = crate::permit2::decode_settle(input)?;
            (token, owner, to, amount, Spent::Permit2(nonce))
        }
    };
    let upto = target == paywire_core::assets::UPTO_PERMIT2_PROXY;
    let input = input.to_vec();
    Some(Checked {
        payer: from,
        asset,
        from,
        to,
        value,
        target,
        input,
        spent,
        sender: None,
        upto,
        deploy: None,
        batch: None,
    })
}

/// `(from, to, value, nonce)` of a `transferWithAuthorization` call, either overload.
fn decode_transfer(input: &[u8]) -> Option<(Address, Address, U256, B256)> {
    if let Ok(c) = IEip3009Token::transferWithAuthorization_0Call::abi_decode(input) {
        return Some((c.from, c.to, c.value, c.nonce));
    }
    IEip3009Token::transferWithAuthorization_1Call::abi_decode(input).ok().map(|c| (c.from, c.to, c.value, c.nonce))
}

/// The settlement key of an authorization: network, token, payer, nonce, payee and value. The payee and
/// value make a request that alters them (with a signature that then cannot verify) a new settlement, which
/// the checks refuse, instead of a repeat of a recorded one.
fn settlement_key(network: &str, asset: &str, a: &Eip3009Authorization) -> String {
    let chain = network::chain_id(network).map_or_else(|_| network.to_string(), |id| id.to_string());
    format!("{chain}:{}:{:#x}:{:#x}:{:#x}:{}", asset.to_ascii_lowercase(), a.from, a.nonce, a.to, a.value)
}

/// The settlement key of a Permit2 payment: network, token, payer, Permit2 nonce, payee and amount. Permit2
/// nonces are the payer's across every token and spender, so they never collide with EIP-3009 nonces' keys.
fn permit2_key(network: &str, asset: &str, a: &Permit2Authorization) -> String {
    let chain = network::chain_id(network).map_or_else(|_| network.to_string(), |id| id.to_string());
    format!("{chain}:{}:{:#x}:permit2:{}:{:#x}:{}", asset.to_ascii_lowercase(), a.from, a.nonce, a.to, a.amount)
}

/// The settlement key of an upto payment: network, token, payer, Permit2 nonce and payee. Not the amount:
/// an authorization settles once, for the amount of its first settlement.
fn upto_key(network: &str, asset: &str, a: &UptoAuthorization) -> String {
    let chain = network::chain_id(network).map_or_else(|_| network.to_string(), |id| id.to_string());
    format!("{chain}:{}:{:#x}:upto:{}:{:#x}", asset.to_ascii_lowercase(), a.from, a.nonce, a.to)
}

/// The key earlier versions recorded a settlement under: network, token, payer and nonce.
fn legacy_key(network: &str, asset: &str, a: &Eip3009Authorization) -> String {
    let chain = network::chain_id(network).map_or_else(|_| network.to_string(), |id| id.to_string());
    format!("{chain}:{}:{:#x}:{:#x}", asset.to_ascii_lowercase(), a.from, a.nonce)
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
    let hash = format!("{:#x}", receipt.transaction_hash);
    if !receipt.status() {
        let error = invalid(
            ErrorCode::TransactionFailed,
            format!("the settlement transaction {hash} reverted"),
            Some(checked.payer),
        );
        return SettleResponse { transaction: hash, ..failure(&error, network) };
    }
    match &checked.batch {
        // Claims and refunds move no token to a payee the facilitator can name in advance; a sweep pays what
        // was claimed when it mined.
        Some(crate::batch::Action::Claim { .. }) => {
            return SettleResponse { amount: Some(String::new()), ..success(hash, checked, network) };
        }
        Some(crate::batch::Action::Settle { receiver, token }) => {
            let amount = crate::batch::settled_amount(receipt, *receiver, *token);
            return SettleResponse { amount: Some(amount.to_string()), ..success(hash, checked, network) };
        }
        Some(crate::batch::Action::Refund { .. }) => return success(hash, checked, network),
        Some(crate::batch::Action::Deposit { .. }) | None => {}
    }
    let moved = receipt.inner.logs().iter().any(|log| {
        log.address() == checked.asset
            && IEip3009Token::Transfer::decode_log_data(log.data())
                .is_ok_and(|t| t.from == checked.from && t.to == checked.to && t.value == checked.value)
    });
    if !moved {
        let error = invalid(
            ErrorCode::TransferEventMismatch,
            format!(
                "the settlement transaction {hash} has no Transfer of {} from the payer to the payee",
                checked.value
            ),
            Some(checked.payer),
        );
        return SettleResponse { transaction: hash, ..failure(&error, network) };
    }
    success(hash, checked, network)
}

/// A settlement that moved `checked`'s amount in `transaction` (an upto answer states the amount).
fn success(transaction: String, checked: &Checked, network: &str) -> SettleResponse {
    SettleResponse {
        success: true,
        error_reason: None,
        error_message: None,
        payer: Some(checked.payer.to_checksum(None)),
        transaction,
        network: network.to_string(),
        amount: (checked.upto || checked.batch.is_some()).then(|| checked.value.to_string()),
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

fn pending(hash: B256, network: &str, payer: Address) -> SettleResponse {
    SettleResponse {
        success: false,
        error_reason: Some(ErrorCode::SettlementPending.as_str().to_string()),
        error_message: Some("the settlement was broadcast but is not confirmed yet; settle again to follow it".into()),
        payer: Some(payer.to_checksum(None)),
        transaction: format!("{hash:#x}"),
        network: network.to_string(),
        amount: None,
        extensions: None,
        other: Object::new(),
    }
}

/// `settlement_pending` with no transaction yet: another request or instance is settling the payment, so the
/// outcome is open and the server must ask again rather than give up on it.
fn still_pending(message: &str, network: &str, payer: Address) -> SettleResponse {
    SettleResponse {
        error_message: Some(message.to_string()),
        transaction: String::new(),
        ..pending(B256::ZERO, network, payer)
    }
}

/// How the store names a settling key: `chain:address` (lower-case hex).
pub(crate) fn signer_of(sender: &Sender) -> String {
    format!("{}:{:#x}", sender.chain_id(), sender.address())
}

fn store_failed(e: crate::store::StoreError) -> Error {
    Error::new(ErrorCode::UnexpectedSettleError, format!("the facilitator's settlement store failed: {e}"))
}
