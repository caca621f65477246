//! One settling key: its nonces, the transactions it has in flight, and their upkeep.
//!
//! A nonce is handed out under a lock that is never held across a network call, so one hung node call
//! delays only its own settlement. Every nonce handed out stays "in flight" until the chain has mined a
//! transaction at it. The keeper ([`Sender::tend`]) heals what the network breaks: a transaction the node
//! dropped is broadcast again, one stuck in the pool is replaced with higher fees, and a nonce nothing was
//! sent at (a refused broadcast) is filled with an empty transaction, so later settlements never wait
//! behind a gap.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use alloy::consensus::{Transaction as _, TxEnvelope};
use alloy::eips::eip2718::{Decodable2718, Encodable2718};
use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;

use crate::rpc::{Rpc, RpcError};

/// A signed transaction: its hash and EIP-2718 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// The transaction hash.
    pub hash: B256,
    /// The signed bytes.
    pub raw: Vec<u8>,
}

/// A nonce in flight: what was signed at it (replacements last), and for whom.
#[derive(Clone, Debug)]
struct InFlight {
    /// The settlement's key; empty for a filler.
    key: String,
    attempts: Vec<Signed>,
    /// When the last attempt was broadcast (or the nonce handed out).
    touched: Instant,
    /// The chain's head block when the keeper first saw the last attempt waiting (`None`: not seen yet).
    seen_at_block: Option<u64>,
    /// Given up with nothing sent: the keeper fills it without waiting.
    urgent: bool,
}

impl InFlight {
    /// A nonce in flight from now, for settlement `key` (empty: a filler or a gap).
    fn new(key: String, attempts: Vec<Signed>, urgent: bool) -> Self {
        InFlight { key, attempts, touched: Instant::now(), seen_at_block: None, urgent }
    }
}

/// Whether this instance may send from the key.
#[derive(Clone, Copy, Debug, Default)]
enum Held {
    /// Always: the key is this instance's alone (one instance, SQLite).
    #[default]
    Always,
    /// Leased to this instance until then (several instances, PostgreSQL).
    Until(Instant),
    /// Leased to another instance, or to none.
    No,
}

impl Held {
    fn now(self) -> bool {
        match self {
            Held::Always => true,
            Held::Until(until) => Instant::now() < until,
            Held::No => false,
        }
    }
}

#[derive(Default)]
struct Nonces {
    held: Held,
    /// The next nonce to hand out; `None` until read from the node.
    next: Option<u64>,
    in_flight: BTreeMap<u64, InFlight>,
    /// The key's mined transaction count at the keeper's last pass.
    mined: Option<u64>,
}

/// What the keeper did on one pass, for logs and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tended {
    /// Transactions broadcast again after the node lost them.
    pub rebroadcast: usize,
    /// Transactions replaced with higher fees (the settlement keys they belong to).
    pub replaced: Vec<(String, Signed)>,
    /// Empty transactions sent to fill a gap.
    pub filled: usize,
    /// What could not be done, per nonce (tried again on the next pass).
    pub errors: Vec<String>,
}

/// Records a replacement transaction with its settlement (by key), before it is broadcast.
pub type Persist<'a> = dyn Fn(String, Signed) -> BoxFuture<'a, Result<(), String>> + Send + Sync + 'a;

/// A boxed future (the store's calls are asynchronous).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Fees for a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fees {
    /// `maxFeePerGas`.
    pub max_fee: u128,
    /// `maxPriorityFeePerGas`.
    pub priority: u128,
}

impl Fees {
    /// These fees raised by a quarter (nodes require at least a tenth more to replace a transaction), and at
    /// least `market` (what the node suggests now). `None` past ten times the market's fee cap: a transaction
    /// that still does not mine there is not stuck on its price, and raising it further only burns money.
    fn bumped(self, market: Fees) -> Option<Fees> {
        let up = |x: u128| x.saturating_add(x / 4).saturating_add(1);
        let fees =
            Fees { max_fee: up(self.max_fee).max(market.max_fee), priority: up(self.priority).max(market.priority) };
        (fees.max_fee <= market.max_fee.saturating_mul(10)).then_some(fees)
    }
}

/// One settling key on one chain.
pub struct Sender {
    address: Address,
    /// Kept for EIP-712 signatures (a batch-settlement claim or refund this key authorizes).
    key: PrivateKeySigner,
    wallet: EthereumWallet,
    chain_id: u64,
    nonces: Mutex<Nonces>,
}

impl Sender {
    /// The key `signer` sending on chain `chain_id`.
    pub fn new(signer: PrivateKeySigner, chain_id: u64) -> Self {
        let address = signer.address();
        Sender {
            address,
            key: signer.clone(),
            wallet: EthereumWallet::from(signer),
            chain_id,
            nonces: Mutex::new(Nonces::default()),
        }
    }

    /// Signs a 32-byte EIP-712 digest as is (65 bytes, `v` 27 or 28).
    pub fn sign_digest(&self, digest: &B256) -> Result<Vec<u8>, String> {
        use alloy::signers::SignerSync;
        let signature = self.key.sign_hash_sync(digest).map_err(|e| format!("signing failed: {e}"))?;
        Ok(signature.as_bytes().to_vec())
    }

    /// The key's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The chain it sends on.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    fn nonces(&self) -> std::sync::MutexGuard<'_, Nonces> {
        self.nonces.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this instance may send from the key now.
    pub fn is_held(&self) -> bool {
        self.nonces().held.now()
    }

    /// Whether this instance believes it leases the key (its local deadline may have passed).
    pub fn has_lease(&self) -> bool {
        !matches!(self.nonces().held, Held::No)
    }

    /// Extends this instance's lease of the key (renewed in the database) until `until`.
    pub fn hold_until(&self, until: Instant) {
        let mut n = self.nonces();
        if let Held::Until(_) = n.held {
            n.held = Held::Until(until);
        }
    }

    /// Starts sending from the key, leased until `until`, taking over `adopted` (settlement key, nonce,
    /// transactions) that its previous holder sent. Nothing this instance knew of the key before is kept:
    /// the next nonce is read from the node again.
    pub fn take_over(&self, until: Instant, adopted: Vec<(String, u64, Vec<Signed>)>) {
        let mut n = self.nonces();
        *n = Nonces { held: Held::Until(until), ..Nonces::default() };
        for (key, nonce, attempts) in adopted {
            n.in_flight.insert(nonce, InFlight::new(key, attempts, false));
        }
    }

    /// Stops sending from the key if nothing is in flight on it, so its lease can be given to another
    /// instance; `false` when something still is.
    pub fn let_go_if_idle(&self) -> bool {
        let mut n = self.nonces();
        if !n.in_flight.is_empty() {
            return false;
        }
        *n = Nonces { held: Held::No, ..Nonces::default() };
        true
    }

    /// Stops sending from the key at once: its lease was lost (another instance holds it now and adopts what
    /// was in flight).
    pub fn lose(&self) {
        *self.nonces() = Nonces { held: Held::No, ..Nonces::default() };
    }

    /// How many nonces are in flight (handed out, not known mined).
    pub fn in_flight(&self) -> usize {
        self.nonces().in_flight.len()
    }

    /// Takes back a settlement sent before a restart, at `nonce` with `attempts`.
    pub fn adopt(&self, key: &str, nonce: u64, attempts: Vec<Signed>) {
        let mut n = self.nonces();
        n.in_flight.insert(nonce, InFlight::new(key.to_string(), attempts, false));
        if let Some(next) = n.next.filter(|next| *next <= nonce) {
            n.next = Some(next.max(nonce + 1));
        }
    }

    /// Whether a nonce is still in flight.
    pub fn is_in_flight(&self, nonce: u64) -> bool {
        self.nonces().in_flight.contains_key(&nonce)
    }

    /// Every hash signed at `nonce` (replacements last), if it is in flight.
    pub fn attempts(&self, nonce: u64) -> Option<Vec<Signed>> {
        self.nonces().in_flight.get(&nonce).map(|f| f.attempts.clone())
    }

    /// The node's count of this key's transactions, those in its pool included: the next nonce it expects.
    async fn pending_count(&self, rpc: &Rpc) -> Result<u64, RpcError> {
        let address = self.address;
        rpc.call("eth_getTransactionCount", |p| async move { p.get_transaction_count(address).pending().await }).await
    }

    /// Reads the next nonce from the node unless known: the larger of the node's pending count and one past
    /// the highest nonce in flight.
    pub async fn sync(&self, rpc: &Rpc) -> Result<(), RpcError> {
        if self.nonces().next.is_some() {
            return Ok(());
        }
        let pending = self.pending_count(rpc).await?;
        let mut n = self.nonces();
        let past_in_flight = n.in_flight.keys().next_back().map_or(0, |k| k + 1);
        let next = pending.max(past_in_flight).max(n.next.unwrap_or(0));
        n.next = Some(next);
        Ok(())
    }

    /// After [`Sender::take_over`]: reads the node's next nonce, and marks every nonce below the highest
    /// adopted one that nothing reached the node at (the key's previous holder died between handing it out
    /// and recording its transaction) for the keeper to fill at once, so the adopted ones can mine.
    pub async fn sync_taken(&self, rpc: &Rpc) -> Result<(), RpcError> {
        let pending = self.pending_count(rpc).await?;
        let mut n = self.nonces();
        let last = n.in_flight.keys().next_back().copied();
        if let Some(last) = last {
            for nonce in pending..last {
                n.in_flight.entry(nonce).or_insert_with(|| InFlight::new(String::new(), Vec::new(), true));
            }
        }
        n.next = Some(pending.max(last.map_or(0, |l| l + 1)));
        Ok(())
    }

    /// Hands out the next nonce for settlement `key` (call [`Sender::sync`] first); `None` when the nonce
    /// is unknown or the key is not this instance's (any more).
    pub fn allocate(&self, key: &str) -> Option<u64> {
        let mut n = self.nonces();
        if !n.held.now() {
            return None;
        }
        let nonce = n.next?;
        n.next = Some(nonce + 1);
        n.in_flight.insert(nonce, InFlight::new(key.to_string(), Vec::new(), false));
        Some(nonce)
    }

    /// Signs a call of `to` at `nonce` (no I/O).
    pub async fn sign(
        &self,
        nonce: u64,
        to: Address,
        input: Bytes,
        value: U256,
        gas: u64,
        fees: Fees,
    ) -> Result<Signed, String> {
        let tx = TransactionRequest::default()
            .with_from(self.address)
            .with_to(to)
            .with_input(input)
            .with_value(value)
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            .with_gas_limit(gas)
            .with_max_fee_per_gas(fees.max_fee)
            .with_max_priority_fee_per_gas(fees.priority);
        let envelope: TxEnvelope = tx.build(&self.wallet).await.map_err(|e| format!("signing failed: {e}"))?;
        Ok(Signed { hash: *envelope.tx_hash(), raw: envelope.encoded_2718() })
    }

    /// Records an attempt at `nonce` (before it is broadcast).
    pub fn record(&self, nonce: u64, signed: Signed) {
        let mut n = self.nonces();
        if let Some(f) = n.in_flight.get_mut(&nonce) {
            f.attempts.push(signed);
            f.touched = Instant::now();
            f.seen_at_block = None;
        }
    }

    /// Forgets a nonce a transaction was mined at.
    pub fn mined(&self, nonce: u64) {
        self.nonces().in_flight.remove(&nonce);
    }

    /// Gives up a nonce's settlement: nothing reached a node. The nonce stays in flight with no attempt,
    /// so the keeper fills it unless the chain moves past it first.
    pub fn abandon(&self, nonce: u64) {
        let mut n = self.nonces();
        if let Some(f) = n.in_flight.get_mut(&nonce) {
            f.key.clear();
            f.attempts.clear();
            f.touched = Instant::now();
            f.urgent = true;
        }
    }

    /// One pass of upkeep: forgets mined nonces, rebroadcasts what the node lost, replaces what is stuck
    /// longer than `stuck_after`, and fills gaps. Only the first nonce not yet mined is replaced or filled:
    /// every later one waits on it. A transaction is replaced only once blocks were mined without it (while
    /// no block is made, higher fees buy nothing) or when the node holds it without counting it as pending.
    /// `persist` records a replacement with its settlement before it is broadcast.
    pub async fn tend(&self, rpc: &Rpc, stuck_after: Duration, persist: &Persist<'_>) -> Result<Tended, RpcError> {
        {
            // Nothing in flight and every nonce handed out mined: nothing to tend, and no node call.
            let n = self.nonces();
            if n.in_flight.is_empty() && n.next.is_some() && n.next == n.mined {
                return Ok(Tended::default());
            }
        }
        let address = self.address;
        let mined = rpc
            .call("eth_getTransactionCount", |p| async move { p.get_transaction_count(address).latest().await })
            .await?;
        let head = rpc.call("eth_blockNumber", |p| async move { p.get_block_number().await }).await?;
        let waiting: Vec<(u64, InFlight)> = {
            let mut n = self.nonces();
            n.mined = Some(mined);
            n.in_flight.retain(|nonce, _| *nonce >= mined);
            if let Some(next) = n.next.filter(|next| *next < mined) {
                // Another user of this key moved past us: never hand out a used nonce.
                n.next = Some(mined.max(next));
            }
            // A nonce below `next` that nobody holds is a gap (handed out before a restart and never sent).
            let next = n.next.unwrap_or(mined);
            for nonce in mined..next {
                n.in_flight.entry(nonce).or_insert_with(|| InFlight::new(String::new(), Vec::new(), false));
            }
            for flight in n.in_flight.values_mut() {
                flight.seen_at_block.get_or_insert(head);
            }
            n.in_flight.iter().map(|(k, v)| (*k, v.clone())).collect()
        };
        let mut tended = Tended::default();
        for (nonce, flight) in waiting {
            // A nonce given up (nothing reached a node) is filled at once; anything else waits a while.
            if !flight.urgent && flight.touched.elapsed() < stuck_after {
                continue;
            }
            // One nonce's failure never stops the others from being tended.
            if let Err(e) = self.tend_one(rpc, nonce, &flight, mined, head, persist, &mut tended).await {
                tended.errors.push(format!("nonce {nonce}: {e}"));
            }
        }
        Ok(tended)
    }

    #[allow(clippy::too_many_arguments)]
    async fn tend_one(
        &self,
        rpc: &Rpc,
        nonce: u64,
        flight: &InFlight,
        mined: u64,
        head: u64,
        persist: &Persist<'_>,
        tended: &mut Tended,
    ) -> Result<(), RpcError> {
        let Some(last) = flight.attempts.last() else {
            if nonce == mined && self.unchanged(nonce, None) {
                self.fill(rpc, nonce).await?;
                tended.filled += 1;
            }
            return Ok(());
        };
        let hash = last.hash;
        let known = rpc
            .call("eth_getTransactionByHash", |p| async move { p.get_transaction_by_hash(hash).await })
            .await?
            .is_some();
        // The snapshot is old by now: act only if nobody concluded, gave up or replaced this nonce meanwhile.
        if !self.unchanged(nonce, Some(hash)) {
            return Ok(());
        }
        if !known {
            match rpc.broadcast(&last.raw).await {
                Ok(()) => {
                    self.touch(nonce);
                    tended.rebroadcast += 1;
                    return Ok(());
                }
                Err(e) if e.is_nonce_too_low() => return Ok(()), // mined meanwhile: the next pass forgets it
                Err(RpcError::Refused { .. }) => {}              // e.g. underpriced: replace it below
                Err(e) => return Err(e),
            }
        }
        if nonce != mined {
            return Ok(());
        }
        let passed_over = flight.seen_at_block.is_some_and(|seen| head >= seen + 2);
        // A node can hold the transaction without counting it as pending (anvil's pool leaves one queued
        // after transactions of one key arrive out of order): it will never mine it, and broadcasting it
        // again is refused as known. No block comes to pass it over (anvil mines only when a transaction is
        // ready), so that is known by the node's pending count alone. A healthy node counts the transaction.
        if passed_over || self.pending_count(rpc).await? <= nonce {
            let replacement = self.replace(rpc, nonce, &flight.key, &last.raw, persist).await?;
            tended.replaced.push((flight.key.clone(), replacement));
        }
        Ok(())
    }

    /// Whether `nonce` is still in flight with `last` as its last attempt (`None`: no attempt).
    fn unchanged(&self, nonce: u64, last: Option<B256>) -> bool {
        self.nonces().in_flight.get(&nonce).is_some_and(|f| f.attempts.last().map(|a| a.hash) == last)
    }

    fn touch(&self, nonce: u64) {
        if let Some(f) = self.nonces().in_flight.get_mut(&nonce) {
            f.touched = Instant::now();
        }
    }

    /// The fees the node suggests now.
    pub async fn fees(rpc: &Rpc) -> Result<Fees, RpcError> {
        let estimate = rpc.call("eth_feeHistory", |p| async move { p.estimate_eip1559_fees().await }).await?;
        Ok(Fees { max_fee: estimate.max_fee_per_gas, priority: estimate.max_priority_fee_per_gas })
    }

    /// Re-signs the transaction `raw` at `nonce` with higher fees, has `persist` record it with settlement
    /// `key` (so a restart follows it too), and broadcasts it.
    async fn replace(
        &self,
        rpc: &Rpc,
        nonce: u64,
        key: &str,
        raw: &[u8],
        persist: &Persist<'_>,
    ) -> Result<Signed, RpcError> {
        let unreadable = |what: String| RpcError::Unreadable { method: "replacement", what };
        let old = TxEnvelope::decode_2718(&mut &raw[..]).map_err(|e| unreadable(e.to_string()))?;
        let to = old.to().ok_or_else(|| unreadable("the transaction creates a contract".into()))?;
        let was = Fees { max_fee: old.max_fee_per_gas(), priority: old.max_priority_fee_per_gas().unwrap_or(0) };
        let market = Self::fees(rpc).await?;
        let fees = was.bumped(market).ok_or_else(|| RpcError::Unreadable {
            method: "replacement",
            what: format!(
                "the transaction at nonce {nonce} offers {} wei per gas, ten times what the node asks, and still waits",
                was.max_fee
            ),
        })?;
        let signed =
            self.sign(nonce, to, old.input().clone(), old.value(), old.gas_limit(), fees).await.map_err(unreadable)?;
        if !key.is_empty() {
            persist(key.to_string(), signed.clone())
                .await
                .map_err(|what| RpcError::Unreadable { method: "replacement", what })?;
        }
        self.record(nonce, signed.clone());
        rpc.broadcast(&signed.raw).await?;
        Ok(signed)
    }

    /// Sends an empty transaction to itself at `nonce`, so the nonces after it can mine.
    async fn fill(&self, rpc: &Rpc, nonce: u64) -> Result<(), RpcError> {
        let fees = Self::fees(rpc).await?;
        let fees = Fees { max_fee: fees.max_fee.saturating_mul(2), priority: fees.priority.saturating_mul(2) };
        // Estimated, not 21,000: some chains (Arbitrum) charge more gas for a plain transfer.
        let me = self.address;
        let tx = TransactionRequest::default().with_from(me).with_to(me);
        let gas = rpc
            .call("eth_estimateGas", |p| {
                let tx = tx.clone();
                async move { p.estimate_gas(tx).await }
            })
            .await?;
        let signed = self
            .sign(nonce, self.address, Bytes::new(), U256::ZERO, gas.saturating_mul(12) / 10, fees)
            .await
            .map_err(|what| RpcError::Unreadable { method: "filler", what })?;
        self.record(nonce, signed.clone());
        match rpc.broadcast(&signed.raw).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_nonce_too_low() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacement_pays_a_quarter_more_or_the_market_but_never_ten_times_the_market() {
        let market = Fees { max_fee: 100, priority: 10 };
        assert_eq!(Fees { max_fee: 40, priority: 2 }.bumped(market), Some(market));
        assert_eq!(Fees { max_fee: 400, priority: 40 }.bumped(market), Some(Fees { max_fee: 501, priority: 51 }));
        assert_eq!(Fees { max_fee: 800, priority: 10 }.bumped(market), None);
    }
}
