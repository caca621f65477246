//! paywire's C API for firmware: parse an x402 bill, pay it under a spend policy through a signer callback
//! (a secure element, an HSM, or [`paywire_key_sign_digest`]), and verify a payment offline.
//!
//! The crate is `no_std`. Every allocation goes through the firmware's `paywire_alloc` / `paywire_dealloc`
//! and a panic (which no input should cause) ends in its `paywire_panic` (see [`hooks`]). The header
//! `include/paywire.h` is generated from these sources by cbindgen.

#![no_std]
#![warn(missing_docs)]

extern crate alloc;

pub mod bill;
pub mod error;
pub mod hooks;
pub mod key;
pub mod payer;
pub mod verify;

pub(crate) mod args;
