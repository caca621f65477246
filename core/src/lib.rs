//! paywire-core: the x402 payment protocol as a sans-I/O library.
//!
//! It parses and builds every x402 message (v1 and v2), signs `exact` payments on EVM chains (EIP-3009,
//! Permit2, EIP-2612), verifies payments offline, chooses offers under a spend policy, and issues and checks
//! signed offers and receipts. It opens no socket and reads no clock or random source it was not handed:
//! time, randomness and signing come in through [`Clock`], [`Randomness`] and [`Signer`].

#![cfg_attr(not(feature = "std"), no_std)]
// One audited exception: handing libsecp256k1 an RFC 6979 nonce (`crypto::libsecp`).
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod assets;
pub mod batch;
pub mod client;
pub mod codec;
pub mod credentials;
pub mod crypto;
pub mod decode;
pub mod eip712;
pub mod error;
pub mod exact;
pub mod facilitator;
pub mod hooks;
pub mod http;
pub(crate) mod machine;
pub mod mcp;
pub mod money;
pub mod network;
pub mod pass;
pub mod payment_id;
pub(crate) mod prelude;
pub mod server;
pub mod signer;
pub mod siwx;
pub(crate) mod sync;
pub mod types;
pub mod upto;
pub mod verify;
pub mod wire;

pub use alloy_primitives::{Address, B256, U256};
pub use crypto::Signature;
pub use error::{Error, ErrorCode, OfferRefusal, Result};
pub use signer::{Clock, FixedClock, FixedRandomness, LocalSigner, Randomness, Signer};
#[cfg(feature = "std")]
pub use signer::{ManualClock, OsRandomness, SystemClock};
pub use types::*;
