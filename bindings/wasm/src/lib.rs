//! paywire's WebAssembly binding: the core's paying client and payment gate for browsers and edge runtimes, with the names
//! and shapes of the Node binding (`bindings/node`), so the npm package's glue (`node/lib/`) runs on either.
//! No protocol logic lives here.
//!
//! The core is built without std: the time comes from `Date.now()` and randomness from
//! `crypto.getRandomValues`, both handed to the core as its `Clock` and `Randomness`.

mod credentials;
mod env;
mod errors;
mod exchange;
mod facilitator;
mod fetch;
mod js;
mod mcp;
mod messages;
mod payer;
mod protocol;
mod server;
