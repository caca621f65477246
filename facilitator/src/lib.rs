//! paywire's x402 facilitator. `/verify` runs the core's offline verification and the facilitator's own
//! offline rules (the chain and asset are served here, the signature could be a wallet's), then checks the
//! chain (the authorization's state, the payer's balance, a simulation of the transfer). `/settle` sends
//! `transferWithAuthorization` (EIP-3009) or the x402 Permit2 proxy's `settle` from one of the chain's keys,
//! waits for the receipt and checks the `Transfer` event. Settlements are kept in SQLite: the same authorization is never broadcast twice, an unknown
//! broadcast outcome is followed rather than forgotten, and a restart loses nothing. A keeper per chain
//! repairs what the network breaks (dropped, stuck or missing transactions).

pub mod batch;
pub mod chain;
pub mod config;
pub mod deploy;
pub mod deployless;
pub mod http;
pub mod metrics;
pub mod passes;
pub mod permit2;
pub mod rpc;
pub mod sender;
pub mod service;
pub mod signature;
pub mod store;

pub use chain::Chain;
pub use service::Facilitator;
pub use store::Store;
