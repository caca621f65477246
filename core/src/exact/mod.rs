//! The `exact` scheme on EVM chains: what an offer means, what a payment carries, and how it is signed.

use crate::prelude::*;

mod eip2612;
mod payload;

pub use eip2612::{EIP2612_EXTENSION, Eip2612Permit, sign_eip2612_permit};
pub use payload::{Eip3009Authorization, ExactPayload, Permit2Authorization};

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::SolStruct;

use crate::assets::{KnownAsset, TransferMethod, known_asset};
use crate::eip712;
use crate::error::{Error, ErrorCode, Result};
use crate::money::format_units;
use crate::network;
use crate::types::PaymentRequirements;
use crate::wire::{parse_address, truncate};

/// The scheme name.
pub const SCHEME: &str = "exact";

/// An `exact` EVM offer with its strings resolved: chain id, addresses, transfer method, EIP-712 domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExactOffer {
    /// EVM chain id (from CAIP-2 or the v1 name).
    pub chain_id: u64,
    /// Token contract.
    pub asset: Address,
    /// Recipient.
    pub pay_to: Address,
    /// Amount in atomic units.
    pub amount: U256,
    /// EIP-3009 or Permit2 (`extra.assetTransferMethod`).
    pub method: TransferMethod,
    /// The token's EIP-712 domain name (`extra.name`), when given.
    pub domain_name: Option<String>,
    /// The token's EIP-712 domain version (`extra.version`), when given.
    pub domain_version: Option<String>,
    /// Seconds the server allows for completing the payment.
    pub max_timeout_seconds: u64,
}

impl ExactOffer {
    /// Resolves an offer. Errors name what is wrong: scheme, network, addresses.
    pub fn resolve(req: &PaymentRequirements) -> Result<ExactOffer> {
        if req.scheme() != SCHEME {
            return Err(Error::new(
                ErrorCode::UnsupportedScheme,
                format!("scheme \"{}\" is not supported; paywire implements \"exact\"", truncate(req.scheme())),
            ));
        }
        let chain_id = network::chain_id(req.network())?;
        let asset = parse_address(req.asset())
            .map_err(|e| Error::new(ErrorCode::InvalidPaymentRequirements, format!("asset {e}")))?;
        let pay_to = parse_address(req.pay_to())
            .map_err(|e| Error::new(ErrorCode::InvalidPaymentRequirements, format!("payTo {e}")))?;
        let method = match req.extra_str("assetTransferMethod") {
            Some("permit2") => TransferMethod::Permit2,
            // The official clients treat every other value as EIP-3009; so does paywire.
            _ => TransferMethod::Eip3009,
        };
        let non_empty = |key: &str| req.extra_str(key).filter(|s| !s.is_empty()).map(str::to_string);
        Ok(ExactOffer {
            chain_id,
            asset,
            pay_to,
            amount: req.amount(),
            method,
            domain_name: non_empty("name"),
            domain_version: non_empty("version"),
            max_timeout_seconds: req.max_timeout_seconds(),
        })
    }

    /// The default-table entry for this offer's token, if it is one.
    pub fn known_asset(&self) -> Option<&'static KnownAsset> {
        known_asset(self.chain_id, &self.asset)
    }

    /// The amount for people: "0.01 USDC" for a token of the default table, else "10000 units of 0x…".
    pub fn amount_text(&self) -> String {
        match self.known_asset() {
            Some(token) => format!("{} {}", format_units(self.amount, token.decimals), token.symbol),
            None => format!("{} units of {}", self.amount, self.asset.to_checksum(None)),
        }
    }

    /// The token's EIP-712 domain separator, or [`ErrorCode::MissingEip712Domain`] when the offer lacks
    /// `extra.name` or `extra.version` (paywire never guesses it: a wrong guess signs for nothing).
    pub fn token_domain_separator(&self) -> Result<B256> {
        let (Some(name), Some(version)) = (&self.domain_name, &self.domain_version) else {
            return Err(Error::new(
                ErrorCode::MissingEip712Domain,
                format!(
                    "the offer for token {} on eip155:{} lacks extra.name or extra.version, the token's EIP-712 \
                     domain; the server must send them",
                    self.asset.to_checksum(None),
                    self.chain_id
                ),
            ));
        };
        Ok(domain_separator(name, version, self.chain_id, self.asset))
    }
}

/// A token's EIP-712 domain separator.
///
/// Separators are cached per chain and token: building the domain costs three keccak rounds and several
/// allocations, about 3 µs on every payment and verification otherwise. A hit allocates nothing.
pub fn domain_separator(name: &str, version: &str, chain_id: u64, token: Address) -> B256 {
    use crate::sync::RwLock;
    use alloc::collections::BTreeMap;
    type Entries = Vec<(Box<str>, Box<str>, B256)>;
    static CACHE: RwLock<BTreeMap<(u64, Address), Entries>> = RwLock::new(BTreeMap::new());
    const MAX_TOKENS: usize = 4096;
    let key = (chain_id, token);
    if let Some(sep) = CACHE
        .read()
        .get(&key)
        .and_then(|entries| entries.iter().find(|(n, v, _)| &**n == name && &**v == version).map(|(_, _, s)| *s))
    {
        return sep;
    }
    let sep = eip712::token_domain(name, version, chain_id, token).separator();
    let mut map = CACHE.write();
    // Attacker-chosen offers can name endless tokens and domain names: keep the cache bounded.
    if map.len() >= MAX_TOKENS {
        map.clear();
    }
    let entries = map.entry(key).or_default();
    if entries.len() >= 4 {
        entries.clear();
    }
    entries.push((name.into(), version.into(), sep));
    sep
}

/// The Permit2 domain separator of a chain.
pub fn permit2_domain_separator(chain_id: u64) -> B256 {
    eip712::permit2_domain(chain_id).separator()
}

/// The EIP-712 digest a payer signs for an EIP-3009 authorization under a token domain separator.
pub fn eip3009_digest(domain_separator: &B256, auth: &Eip3009Authorization) -> B256 {
    eip712::digest(domain_separator, &auth.message())
}

/// The EIP-712 digest a payer signs for a Permit2 witness transfer on a chain.
pub fn permit2_digest(chain_id: u64, auth: &Permit2Authorization) -> B256 {
    eip712::digest(&permit2_domain_separator(chain_id), &auth.message())
}

/// The type hash of EIP-3009 `TransferWithAuthorization`, for tests and diagnostics.
pub fn eip3009_type_hash() -> B256 {
    alloy_primitives::keccak256(eip712::TransferWithAuthorization::eip712_encode_type().as_bytes())
}

#[cfg(test)]
mod amount_text_tests {
    use super::*;
    use alloy_primitives::address;

    fn offer(asset: Address) -> ExactOffer {
        ExactOffer {
            chain_id: 84532,
            asset,
            pay_to: Address::ZERO,
            amount: U256::from(10_000),
            method: TransferMethod::Eip3009,
            domain_name: None,
            domain_version: None,
            max_timeout_seconds: 60,
        }
    }

    #[test]
    fn a_known_token_reads_in_its_units_and_another_in_atomic_units() {
        assert_eq!(offer(address!("036CbD53842c5426634e7929541eC2318f3dCF7e")).amount_text(), "0.01 USDC");
        assert_eq!(
            offer(address!("1111111111111111111111111111111111111111")).amount_text(),
            "10000 units of 0x1111111111111111111111111111111111111111"
        );
    }
}
