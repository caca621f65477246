//! Receipts as time-limited access credentials: a server may serve a resource again, without a new payment,
//! to a client presenting a receipt for that resource that the server itself or a facilitator it trusts
//! issued within a configured lifetime. The check is offline: it only asks whether a trusted key signed.
//!
//! A receipt is a bearer credential: whoever holds it has access until it expires. Keep lifetimes short.
//! Its signature is not unique (an ECDSA signature and its high-s twin both verify), so never use the
//! signature as a key, for example to count or revoke receipts: use the signed payload.

use crate::prelude::*;
use alloy_primitives::Address;

use super::{ReceiptPayload, SignedReceipt, Verified};
use crate::codec;
use crate::error::{Error, ErrorCode, Result};

/// The request header a client presents a receipt in (standard base64 of the signed receipt's JSON).
/// paywire's own header: x402 defines where receipts are issued, not how they are presented.
pub const RECEIPT_HEADER: &str = "X-PAYWIRE-RECEIPT";

/// Which receipts a server accepts instead of a payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessPolicy {
    /// Addresses whose receipts are trusted (the server's issuer, trusted facilitators).
    pub trusted: Vec<Address>,
    /// How long after issue a receipt grants access, in seconds.
    pub lifetime_seconds: u64,
    /// Networks whose receipts count (`None`: any).
    pub networks: Option<Vec<String>>,
    /// Tolerated clock difference for receipts issued "in the future", in seconds.
    pub max_clock_skew: u64,
}

impl AccessPolicy {
    /// Receipts signed by `trusted` grant access for `lifetime_seconds`.
    pub fn new(trusted: Vec<Address>, lifetime_seconds: u64) -> Self {
        AccessPolicy { trusted, lifetime_seconds, networks: None, max_clock_skew: 60 }
    }

    /// Checks a receipt for `resource_url` at Unix time `now`.
    pub fn check(&self, receipt: &SignedReceipt, resource_url: &str, now: u64) -> Result<Verified<ReceiptPayload>> {
        let verified = receipt.verify(&self.trusted)?;
        let p = &verified.payload;
        if p.resource_url != resource_url {
            return Err(Error::new(
                ErrorCode::CredentialResourceMismatch,
                format!("the receipt is for {}, not for {resource_url}", crate::wire::truncate(&p.resource_url)),
            ));
        }
        if let Some(networks) = &self.networks
            && !networks.contains(&p.network)
        {
            return Err(Error::new(
                ErrorCode::CredentialMismatch,
                format!("receipts on {} are not accepted", p.network),
            ));
        }
        if p.issued_at > now.saturating_add(self.max_clock_skew) {
            return Err(Error::new(
                ErrorCode::InvalidCredential,
                format!("the receipt claims to be issued at {}, in the future (now {now})", p.issued_at),
            ));
        }
        if now > p.issued_at.saturating_add(self.lifetime_seconds) {
            return Err(Error::new(
                ErrorCode::CredentialExpired,
                format!(
                    "the receipt was issued at {} and granted access for {} s; it expired at {} (now {now}); pay again",
                    p.issued_at,
                    self.lifetime_seconds,
                    p.issued_at.saturating_add(self.lifetime_seconds)
                ),
            ));
        }
        Ok(verified)
    }

    /// Reads the receipt header of a request (any letter case) and checks it. `Ok(None)` when the request
    /// presents no receipt.
    pub fn check_request<'a, I, K, V>(
        &self,
        headers: I,
        resource_url: &str,
        now: u64,
    ) -> Result<Option<Verified<ReceiptPayload>>>
    where
        I: IntoIterator<Item = &'a (K, V)>,
        K: AsRef<str> + 'a,
        V: AsRef<str> + 'a,
    {
        match codec::find_header(headers, RECEIPT_HEADER) {
            None => Ok(None),
            Some(v) => self.check(&SignedReceipt::from_header(v)?, resource_url, now).map(Some),
        }
    }
}
