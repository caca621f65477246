//! paywire's x402 facilitator: `/verify` runs the core's offline verification and then checks the chain
//! (the asset's code, the payer's balance, the authorization's state, a simulation of the transfer);
//! `/settle` sends `transferWithAuthorization` from one key, waits for the receipt and checks the
//! `Transfer` event. Settlements are kept in SQLite: the same authorization is never broadcast twice, and a
//! restart loses nothing.

pub mod chain;
pub mod deploy;
pub mod http;
pub mod service;
pub mod store;

pub use chain::Chain;
pub use service::Facilitator;
pub use store::Store;
