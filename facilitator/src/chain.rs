//! The chain, through alloy's JSON-RPC provider: token state, simulation, and transactions sent from the
//! facilitator's key with nonces handed out locally (so concurrent settlements never collide).

use std::time::Duration;

use alloy::consensus::TxEnvelope;
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use alloy::sol_types::SolCall;
use tokio::sync::Mutex;

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

/// A JSON-RPC failure, with the node's words (a revert's reason included).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RpcError(pub String);

impl RpcError {
    fn from<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> RpcError + '_ {
        move |e| RpcError(format!("{what}: {e}"))
    }
}

/// Whether the node refused a call or transaction because it reverts (as opposed to failing itself).
pub fn is_revert(error: &RpcError) -> bool {
    let text = error.0.to_ascii_lowercase();
    text.contains("revert") || text.contains("execution reverted")
}

type Result<T> = std::result::Result<T, RpcError>;

/// The facilitator's view of one chain, and its sending key.
pub struct Chain {
    provider: DynProvider,
    wallet: EthereumWallet,
    address: Address,
    chain_id: u64,
    /// The next nonce of the sending key (`None`: ask the node).
    nonce: Mutex<Option<u64>>,
}

impl Chain {
    /// Connects to `rpc_url` and reads the chain id.
    pub async fn connect(rpc_url: &str, signer: PrivateKeySigner) -> Result<Self> {
        let url = rpc_url.parse().map_err(RpcError::from("the RPC URL"))?;
        let provider = ProviderBuilder::new().disable_recommended_fillers().connect_http(url).erased();
        let chain_id = provider.get_chain_id().await.map_err(RpcError::from("eth_chainId"))?;
        let address = signer.address();
        Ok(Chain { provider, wallet: EthereumWallet::from(signer), address, chain_id, nonce: Mutex::new(None) })
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The sending key's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Whether `address` holds code (a contract).
    pub async fn has_code(&self, address: Address) -> Result<bool> {
        let code = self.provider.get_code_at(address).await.map_err(RpcError::from("eth_getCode"))?;
        Ok(!code.is_empty())
    }

    async fn call(&self, to: Address, input: Vec<u8>) -> Result<Bytes> {
        let tx = TransactionRequest::default().with_from(self.address).with_to(to).with_input(input);
        self.provider.call(tx).await.map_err(RpcError::from("eth_call"))
    }

    /// The token balance of `owner`.
    pub async fn balance_of(&self, token: Address, owner: Address) -> Result<U256> {
        let out = self.call(token, IEip3009Token::balanceOfCall { account: owner }.abi_encode()).await?;
        IEip3009Token::balanceOfCall::abi_decode_returns(&out).map_err(RpcError::from("balanceOf"))
    }

    /// Whether the EIP-3009 authorization `(authorizer, nonce)` was used (or canceled).
    pub async fn authorization_used(&self, token: Address, authorizer: Address, nonce: B256) -> Result<bool> {
        let input = IEip3009Token::authorizationStateCall { authorizer, nonce }.abi_encode();
        let out = self.call(token, input).await?;
        IEip3009Token::authorizationStateCall::abi_decode_returns(&out).map_err(RpcError::from("authorizationState"))
    }

    /// Simulates a call from the sending key (`eth_call`); a revert is an error with its reason.
    pub async fn simulate(&self, to: Address, input: Vec<u8>) -> Result<()> {
        self.call(to, input).await.map(drop)
    }

    /// The gas a call from the sending key needs, with a margin (`eth_estimateGas` also simulates it).
    pub async fn estimate_gas(&self, to: Address, input: Vec<u8>) -> Result<u64> {
        let tx = TransactionRequest::default().with_from(self.address).with_to(to).with_input(input);
        let gas = self.provider.estimate_gas(tx).await.map_err(RpcError::from("eth_estimateGas"))?;
        Ok(gas.saturating_mul(12) / 10)
    }

    /// Signs a transaction calling `to` with the next nonce of the sending key and hands it to `record`
    /// (which must persist it) before broadcasting it. Returns the transaction hash. Nonces are handed out
    /// one at a time, so concurrent calls never collide; after a failed broadcast the nonce is read again
    /// from the node.
    pub async fn send<F>(&self, to: Address, input: Vec<u8>, gas: u64, record: F) -> Result<B256>
    where
        F: FnOnce(B256, &[u8]) -> std::result::Result<(), String>,
    {
        let fees = self.provider.estimate_eip1559_fees().await.map_err(RpcError::from("fee estimation"))?;
        let mut next = self.nonce.lock().await;
        let nonce = match *next {
            Some(n) => n,
            None => self
                .provider
                .get_transaction_count(self.address)
                .pending()
                .await
                .map_err(RpcError::from("eth_getTransactionCount"))?,
        };
        let tx = TransactionRequest::default()
            .with_from(self.address)
            .with_to(to)
            .with_input(input)
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            .with_gas_limit(gas)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let envelope: TxEnvelope = tx.build(&self.wallet).await.map_err(RpcError::from("signing"))?;
        let hash = *envelope.tx_hash();
        let raw = envelope.encoded_2718();
        record(hash, &raw).map_err(RpcError)?;
        match self.provider.send_raw_transaction(&raw).await {
            Ok(_) => {
                *next = Some(nonce + 1);
                Ok(hash)
            }
            Err(e) => {
                *next = None;
                Err(RpcError(format!("eth_sendRawTransaction: {e}")))
            }
        }
    }

    /// Broadcasts a transaction signed before (after a restart); a node that already has it is fine.
    pub async fn rebroadcast(&self, raw: &[u8]) -> Result<()> {
        match self.provider.send_raw_transaction(raw).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().to_ascii_lowercase().contains("already") => Ok(()),
            Err(e) => Err(RpcError(format!("eth_sendRawTransaction: {e}"))),
        }
    }

    /// Whether the node knows the transaction (mined or in its pool).
    pub async fn knows_transaction(&self, hash: B256) -> Result<bool> {
        let tx =
            self.provider.get_transaction_by_hash(hash).await.map_err(RpcError::from("eth_getTransactionByHash"))?;
        Ok(tx.is_some())
    }

    /// The receipt of `hash`, polling until `timeout`; `None` when it is not mined by then.
    pub async fn wait_for_receipt(&self, hash: B256, timeout: Duration) -> Result<Option<TransactionReceipt>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pause = Duration::from_millis(20);
        loop {
            let receipt = self
                .provider
                .get_transaction_receipt(hash)
                .await
                .map_err(RpcError::from("eth_getTransactionReceipt"))?;
            if receipt.is_some() {
                return Ok(receipt);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }
}
