//! One chain as the facilitator sees it: its nodes, the assets it settles, its gas cap, the EIP-6492 factories
//! it trusts and its settling keys; token reads and simulations.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol;
use alloy::sol_types::SolCall;

use crate::rpc::{Rpc, RpcError};
use crate::sender::Sender;

sol! {
    /// The part of FiatToken (USDC) and other EIP-3009 tokens a facilitator uses.
    interface IEip3009Token {
        function balanceOf(address account) external view returns (uint256);
        function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
        function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, uint8 v, bytes32 r, bytes32 s) external;
        function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, bytes signature) external;
        event Transfer(address indexed from, address indexed to, uint256 value);
    }
}

type Result<T> = std::result::Result<T, RpcError>;

/// What a chain settles and how, from the configuration.
#[derive(Clone, Debug)]
pub struct ChainPolicy {
    /// The assets settled on this chain (anything else is refused before any RPC call).
    pub assets: BTreeSet<Address>,
    /// The most gas one settlement may use; a payment needing more is refused.
    pub max_gas: u64,
    /// EIP-6492 factories whose counterfactual wallets are accepted (none: EIP-6492 is refused).
    pub factories: BTreeSet<Address>,
}

/// The facilitator's view of one chain and its settling keys.
pub struct Chain {
    chain_id: u64,
    rpc: Arc<Rpc>,
    policy: ChainPolicy,
    senders: Vec<Arc<Sender>>,
    turn: AtomicUsize,
    /// Contracts seen deployed (code, once there, stays: `SELFDESTRUCT` no longer removes it).
    deployed: Mutex<BTreeSet<Address>>,
}

impl Chain {
    /// The chain `chain_id` over `rpc`, settling from `senders` (at least one).
    pub fn new(chain_id: u64, rpc: Arc<Rpc>, policy: ChainPolicy, senders: Vec<Arc<Sender>>) -> Self {
        Chain { chain_id, rpc, policy, senders, turn: AtomicUsize::new(0), deployed: Mutex::new(BTreeSet::new()) }
    }

    /// Reads the chain id the nodes serve (every node must agree).
    pub async fn read_chain_id(rpc: &Rpc) -> Result<u64> {
        rpc.call("eth_chainId", |p| async move { p.get_chain_id().await }).await
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The chain's nodes.
    pub fn rpc(&self) -> &Arc<Rpc> {
        &self.rpc
    }

    /// What this chain settles.
    pub fn policy(&self) -> &ChainPolicy {
        &self.policy
    }

    /// The settling keys.
    pub fn senders(&self) -> &[Arc<Sender>] {
        &self.senders
    }

    /// The settling key with this address.
    pub fn sender(&self, address: Address) -> Option<&Arc<Sender>> {
        self.senders.iter().find(|s| s.address() == address)
    }

    /// The key a new settlement goes out from: of the keys this instance holds, the one with the fewest
    /// transactions in flight (in turn among equals), so keys settle in parallel and a stuck key takes no
    /// more work. `None` when every key is leased to other instances.
    pub fn pick_sender(&self) -> Option<Arc<Sender>> {
        let start = self.turn.fetch_add(1, Ordering::Relaxed);
        let n = self.senders.len();
        (0..n).map(|i| &self.senders[(start + i) % n]).filter(|s| s.is_held()).min_by_key(|s| s.in_flight()).cloned()
    }

    /// Whether `address` holds code (a contract).
    pub async fn has_code(&self, address: Address) -> Result<bool> {
        let code = self.rpc.call("eth_getCode", |p| async move { p.get_code_at(address).await }).await?;
        Ok(!code.is_empty())
    }

    /// Whether `address` holds code, asked of the chain until it is seen once.
    pub async fn has_code_cached(&self, address: Address) -> Result<bool> {
        if self.deployed.lock().unwrap_or_else(|p| p.into_inner()).contains(&address) {
            return Ok(true);
        }
        let deployed = self.has_code(address).await?;
        if deployed {
            self.deployed.lock().unwrap_or_else(|p| p.into_inner()).insert(address);
        }
        Ok(deployed)
    }

    async fn call(&self, from: Address, to: Address, input: Vec<u8>) -> Result<Bytes> {
        let tx = TransactionRequest::default().with_from(from).with_to(to).with_input(input);
        self.rpc
            .call("eth_call", |p| {
                let tx = tx.clone();
                async move { p.call(tx).await }
            })
            .await
    }

    /// A read-only call to `to` (from no one).
    pub(crate) async fn read(&self, to: Address, input: Vec<u8>) -> Result<Bytes> {
        self.call(Address::ZERO, to, input).await
    }

    /// The token balance of `owner`.
    pub async fn balance_of(&self, token: Address, owner: Address) -> Result<U256> {
        let out = self.call(Address::ZERO, token, IEip3009Token::balanceOfCall { account: owner }.abi_encode()).await?;
        IEip3009Token::balanceOfCall::abi_decode_returns(&out)
            .map_err(|e| RpcError::Unreadable { method: "balanceOf", what: e.to_string() })
    }

    /// Whether the EIP-3009 authorization `(authorizer, nonce)` was used (or canceled).
    pub async fn authorization_used(&self, token: Address, authorizer: Address, nonce: B256) -> Result<bool> {
        let input = IEip3009Token::authorizationStateCall { authorizer, nonce }.abi_encode();
        let out = self.call(Address::ZERO, token, input).await?;
        IEip3009Token::authorizationStateCall::abi_decode_returns(&out)
            .map_err(|e| RpcError::Unreadable { method: "authorizationState", what: e.to_string() })
    }

    /// Simulates, in one deployless `eth_call` from `from`: deploying the counterfactual `wallet` through
    /// `factory` with `deploy`, then calling `token` with `call`. Says whether the wallet then exists and
    /// the call succeeds.
    pub async fn simulate_after_deploy(
        &self,
        from: Address,
        factory: Address,
        deploy: &[u8],
        wallet: Address,
        token: Address,
        call: &[u8],
    ) -> Result<crate::deployless::Outcome> {
        let data = crate::deployless::deploy_then_call(factory, deploy, wallet, token, call);
        let tx = TransactionRequest::default().with_from(from).with_deploy_code(data);
        let answer = self
            .rpc
            .call("eth_call", |p| {
                let tx = tx.clone();
                async move { p.call(tx).await }
            })
            .await?;
        Ok(crate::deployless::outcome(&answer))
    }

    /// The gas a call from `from` needs, with a fifth more as margin (`eth_estimateGas` simulates it too).
    pub async fn estimate_gas(&self, from: Address, to: Address, input: Vec<u8>) -> Result<u64> {
        let tx = TransactionRequest::default().with_from(from).with_to(to).with_input(input);
        let gas = self
            .rpc
            .call("eth_estimateGas", |p| {
                let tx = tx.clone();
                async move { p.estimate_gas(tx).await }
            })
            .await?;
        Ok(gas.saturating_mul(12) / 10)
    }

    /// The receipt of `hash`, if mined.
    pub async fn receipt(&self, hash: B256) -> Result<Option<TransactionReceipt>> {
        self.rpc.call("eth_getTransactionReceipt", |p| async move { p.get_transaction_receipt(hash).await }).await
    }

    /// The Unix time of block `number` (0 when the node does not know it).
    pub async fn block_timestamp(&self, number: u64) -> Result<u64> {
        let block = self
            .rpc
            .call("eth_getBlockByNumber", |p| async move { p.get_block_by_number(number.into()).await })
            .await?;
        Ok(block.map_or(0, |b| b.header.timestamp))
    }

    /// The latest block number (for `/health`: the chain's nodes answer).
    pub async fn block_number(&self) -> Result<u64> {
        self.rpc.call("eth_blockNumber", |p| async move { p.get_block_number().await }).await
    }
}
