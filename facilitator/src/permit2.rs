//! Settling payments made with Permit2: `exact` through the x402 exact Permit2 proxy, `upto` through the upto
//! proxy (any amount up to the signed maximum, sent only by the facilitator the witness names). Each proxy has
//! `settle` (the payer approved Permit2 before) and `settleWithPermit` (the `eip2612GasSponsoring` extension:
//! the payer's EIP-2612 permit approves Permit2 in the same transaction, so a payer without gas can pay). Also
//! the chain reads that explain a payment a proxy would refuse.

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol;
use alloy::sol_types::SolCall;
use paywire_core::assets::{EXACT_PERMIT2_PROXY, PERMIT2_ADDRESS, UPTO_PERMIT2_PROXY};
use paywire_core::exact::{Eip2612Permit, Permit2Authorization};
use paywire_core::upto::UptoAuthorization;

use crate::chain::Chain;
use crate::rpc::RpcError;

sol! {
    /// Permit2's unordered-nonce bitmap.
    interface IPermit2 {
        function nonceBitmap(address owner, uint256 wordPos) external view returns (uint256);
    }

    /// An ERC-20's allowance.
    interface IErc20Allowance {
        function allowance(address owner, address spender) external view returns (uint256);
    }

    /// The x402 exact Permit2 proxy (its ABI as `@x402/evm` ships it).
    interface IExactPermit2Proxy {
        struct TokenPermissions { address token; uint256 amount; }
        struct PermitTransferFrom { TokenPermissions permitted; uint256 nonce; uint256 deadline; }
        struct Witness { address to; uint256 validAfter; }
        struct EIP2612Permit { uint256 value; uint256 deadline; bytes32 r; bytes32 s; uint8 v; }
        function settle(PermitTransferFrom permit, address owner, Witness witness, bytes signature) external;
        function settleWithPermit(EIP2612Permit permit2612, PermitTransferFrom permit, address owner, Witness witness, bytes signature) external;
    }

    /// The x402 upto Permit2 proxy (its ABI as `@x402/evm` ships it).
    interface IUptoPermit2Proxy {
        struct TokenPermissions { address token; uint256 amount; }
        struct PermitTransferFrom { TokenPermissions permitted; uint256 nonce; uint256 deadline; }
        struct Witness { address to; address facilitator; uint256 validAfter; }
        struct EIP2612Permit { uint256 value; uint256 deadline; bytes32 r; bytes32 s; uint8 v; }
        function settle(PermitTransferFrom permit, uint256 amount, address owner, Witness witness, bytes signature) external;
        function settleWithPermit(EIP2612Permit permit2612, PermitTransferFrom permit, uint256 amount, address owner, Witness witness, bytes signature) external;
    }
}

/// What a Permit2 payment authorizes.
#[derive(Clone, Debug)]
pub enum Permit2Kind {
    /// `exact`: the permitted amount, to the witness's recipient.
    Exact(Permit2Authorization),
    /// `upto`: `amount` (at most the permitted maximum), settled only by the witness's facilitator.
    Upto {
        /// The signed authorization.
        authorization: UptoAuthorization,
        /// What the server charges.
        amount: U256,
    },
}

/// A Permit2 payment as a proxy settles it.
#[derive(Clone, Debug)]
pub struct Permit2Payment {
    /// The signed witness transfer, and for `upto` the amount charged.
    pub kind: Permit2Kind,
    /// The payer's signature over it.
    pub signature: Vec<u8>,
    /// The payer's EIP-2612 permit for Permit2 and its 65-byte signature (gas sponsoring).
    pub permit: Option<(Eip2612Permit, Vec<u8>)>,
}

/// The EIP-2612 permit's proxy argument: `(value, deadline, r, s, v)` of a 65-byte signature.
fn permit_parts(permit: &Option<(Eip2612Permit, Vec<u8>)>) -> Option<(U256, U256, B256, B256, u8)> {
    match permit {
        Some((p, sig)) if sig.len() == 65 => {
            Some((p.value, p.deadline, B256::from_slice(&sig[..32]), B256::from_slice(&sig[32..64]), sig[64]))
        }
        _ => None,
    }
}

impl Permit2Payment {
    /// The payer.
    pub fn owner(&self) -> Address {
        match &self.kind {
            Permit2Kind::Exact(a) => a.from,
            Permit2Kind::Upto { authorization, .. } => authorization.from,
        }
    }

    /// `(token, recipient, amount moved, Permit2 nonce)`.
    pub fn transfer(&self) -> (Address, Address, U256, U256) {
        match &self.kind {
            Permit2Kind::Exact(a) => (a.token, a.to, a.amount, a.nonce),
            Permit2Kind::Upto { authorization: a, amount } => (a.token, a.to, *amount, a.nonce),
        }
    }

    /// The key the settlement must be sent from: an upto witness's facilitator (the proxy checks it).
    pub fn required_sender(&self) -> Option<Address> {
        match &self.kind {
            Permit2Kind::Exact(_) => None,
            Permit2Kind::Upto { authorization, .. } => Some(authorization.facilitator),
        }
    }

    /// The contract the settlement calls.
    pub fn target(&self) -> Address {
        match self.kind {
            Permit2Kind::Exact(_) => EXACT_PERMIT2_PROXY,
            Permit2Kind::Upto { .. } => UPTO_PERMIT2_PROXY,
        }
    }

    /// The proxy's calldata: `settleWithPermit` with the payment's EIP-2612 permit when `with_permit`, `settle`
    /// without one.
    pub fn call(&self, with_permit: bool) -> Vec<u8> {
        let signature = Bytes::copy_from_slice(&self.signature);
        let parts = permit_parts(&self.permit).filter(|_| with_permit);
        match &self.kind {
            Permit2Kind::Exact(a) => {
                use IExactPermit2Proxy as P;
                let permit = P::PermitTransferFrom {
                    permitted: P::TokenPermissions { token: a.token, amount: a.amount },
                    nonce: a.nonce,
                    deadline: a.deadline,
                };
                let witness = P::Witness { to: a.to, validAfter: a.valid_after };
                match parts {
                    Some((value, deadline, r, s, v)) => P::settleWithPermitCall {
                        permit2612: P::EIP2612Permit { value, deadline, r, s, v },
                        permit,
                        owner: a.from,
                        witness,
                        signature,
                    }
                    .abi_encode(),
                    None => P::settleCall { permit, owner: a.from, witness, signature }.abi_encode(),
                }
            }
            Permit2Kind::Upto { authorization: a, amount } => {
                use IUptoPermit2Proxy as P;
                let permit = P::PermitTransferFrom {
                    permitted: P::TokenPermissions { token: a.token, amount: a.amount },
                    nonce: a.nonce,
                    deadline: a.deadline,
                };
                let witness = P::Witness { to: a.to, facilitator: a.facilitator, validAfter: a.valid_after };
                match parts {
                    Some((value, deadline, r, s, v)) => P::settleWithPermitCall {
                        permit2612: P::EIP2612Permit { value, deadline, r, s, v },
                        permit,
                        amount: *amount,
                        owner: a.from,
                        witness,
                        signature,
                    }
                    .abi_encode(),
                    None => P::settleCall { permit, amount: *amount, owner: a.from, witness, signature }.abi_encode(),
                }
            }
        }
    }
}

/// What a stored settlement transaction to a Permit2 proxy moves: `(token, owner, to, amount, nonce)`.
pub fn decode_settle(input: &[u8]) -> Option<(Address, Address, Address, U256, U256)> {
    if let Ok(c) = IExactPermit2Proxy::settleCall::abi_decode(input) {
        return Some((c.permit.permitted.token, c.owner, c.witness.to, c.permit.permitted.amount, c.permit.nonce));
    }
    if let Ok(c) = IExactPermit2Proxy::settleWithPermitCall::abi_decode(input) {
        return Some((c.permit.permitted.token, c.owner, c.witness.to, c.permit.permitted.amount, c.permit.nonce));
    }
    if let Ok(c) = IUptoPermit2Proxy::settleCall::abi_decode(input) {
        return Some((c.permit.permitted.token, c.owner, c.witness.to, c.amount, c.permit.nonce));
    }
    IUptoPermit2Proxy::settleWithPermitCall::abi_decode(input)
        .ok()
        .map(|c| (c.permit.permitted.token, c.owner, c.witness.to, c.amount, c.permit.nonce))
}

impl Chain {
    /// Whether Permit2 nonce `nonce` of `owner` is used (or invalidated): its bit in `nonceBitmap`.
    pub async fn permit2_nonce_used(&self, owner: Address, nonce: U256) -> Result<bool, RpcError> {
        let word_pos: U256 = nonce >> 8;
        let bit = U256::from(1) << (nonce & U256::from(0xff)).to::<usize>();
        let input = IPermit2::nonceBitmapCall { owner, wordPos: word_pos }.abi_encode();
        let out = self.read(PERMIT2_ADDRESS, input).await?;
        let word = IPermit2::nonceBitmapCall::abi_decode_returns(&out)
            .map_err(|e| RpcError::Unreadable { method: "nonceBitmap", what: e.to_string() })?;
        Ok(word & bit != U256::ZERO)
    }

    /// The allowance `owner` gave Permit2 on `token`.
    pub async fn permit2_allowance(&self, token: Address, owner: Address) -> Result<U256, RpcError> {
        let input = IErc20Allowance::allowanceCall { owner, spender: PERMIT2_ADDRESS }.abi_encode();
        let out = self.read(token, input).await?;
        IErc20Allowance::allowanceCall::abi_decode_returns(&out)
            .map_err(|e| RpcError::Unreadable { method: "allowance", what: e.to_string() })
    }
}
