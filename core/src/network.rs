//! Networks: x402 v1 names, CAIP-2 `eip155:<id>` identifiers, and the chain ids behind both.

use crate::error::{Error, ErrorCode, Result};
use crate::prelude::*;
use crate::wire::truncate;

/// x402 v1 network names and their EVM chain ids, as `@x402/evm` 2.27 and the Go SDK ship them.
///
/// The Python SDK (2.25) disagrees on four testnets (sei-testnet, story, educhain, skale-base-sepolia);
/// paywire follows TypeScript and Go, which agree with each chain's own registry entry.
pub const V1_NETWORKS: &[(&str, u64)] = &[
    ("ethereum", 1),
    ("sepolia", 11155111),
    ("abstract", 2741),
    ("abstract-testnet", 11124),
    ("base-sepolia", 84532),
    ("base", 8453),
    ("avalanche-fuji", 43113),
    ("avalanche", 43114),
    ("iotex", 4689),
    ("sei", 1329),
    ("sei-testnet", 1328),
    ("polygon", 137),
    ("polygon-amoy", 80002),
    ("peaq", 3338),
    ("story", 1514),
    ("educhain", 41923),
    ("skale-base-sepolia", 324705682),
    ("megaeth", 4326),
    ("monad", 143),
    ("stable", 988),
    ("stable-testnet", 2201),
    ("celo", 42220),
    ("flare", 14),
];

/// The CAIP-2 namespace of EVM chains.
pub const EIP155: &str = "eip155";

/// The EVM chain id a network identifier names: `eip155:<id>` (v2) or a v1 name such as `base-sepolia`.
pub fn chain_id(network: &str) -> Result<u64> {
    if let Some(reference) = network.strip_prefix("eip155:") {
        return parse_chain_reference(reference).ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidNetwork,
                format!(
                    "network \"{}\" is not a valid eip155 chain: the part after \"eip155:\" must be a decimal \
                     chain id without leading zeros, such as \"eip155:8453\"",
                    truncate(network)
                ),
            )
        });
    }
    if let Some(id) = v1_chain_id(network) {
        return Ok(id);
    }
    let hint = if network.contains(':') {
        "paywire's exact scheme supports EVM (eip155) networks only"
    } else {
        "use a CAIP-2 identifier such as \"eip155:8453\" or a known x402 v1 name such as \"base\""
    };
    Err(Error::new(ErrorCode::InvalidNetwork, format!("unknown network \"{}\": {hint}", truncate(network))))
}

/// The chain id of a v1 network name, if the name is known.
pub fn v1_chain_id(name: &str) -> Option<u64> {
    V1_NETWORKS.iter().find(|(n, _)| *n == name).map(|(_, id)| *id)
}

/// The v1 name of a chain, if x402 v1 named it.
pub fn v1_name(chain_id: u64) -> Option<&'static str> {
    V1_NETWORKS.iter().find(|(_, id)| *id == chain_id).map(|(n, _)| *n)
}

/// The CAIP-2 identifier of an EVM chain: `eip155:<id>`.
pub fn caip2(chain_id: u64) -> String {
    format!("eip155:{chain_id}")
}

/// The CAIP-2 form of any EVM network identifier (v1 names are translated).
pub fn to_caip2(network: &str) -> Result<String> {
    chain_id(network).map(caip2)
}

fn parse_chain_reference(reference: &str) -> Option<u64> {
    let well_formed = !reference.is_empty()
        && reference.bytes().all(|b| b.is_ascii_digit())
        && !(reference.len() > 1 && reference.starts_with('0'));
    if !well_formed {
        return None;
    }
    reference.parse::<u64>().ok().filter(|id| *id > 0)
}

/// Whether a v2 network string is shaped as CAIP-2 (`namespace:reference`), as the x402 schema requires.
pub fn is_caip2(network: &str) -> bool {
    match network.split_once(':') {
        Some((ns, reference)) => {
            (3..=8).contains(&ns.len())
                && ns.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && (1..=32).contains(&reference.len())
                && reference.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_names_and_caip2_agree() {
        assert_eq!(chain_id("base-sepolia").unwrap(), 84532);
        assert_eq!(chain_id("eip155:84532").unwrap(), 84532);
        assert_eq!(to_caip2("base").unwrap(), "eip155:8453");
        assert_eq!(v1_name(8453), Some("base"));
        for (name, id) in V1_NETWORKS {
            assert_eq!(chain_id(name).unwrap(), *id);
            assert_eq!(v1_name(*id), Some(*name), "chain {id} has two v1 names");
        }
    }

    #[test]
    fn malformed_networks_are_rejected_with_a_hint() {
        for bad in ["eip155:", "eip155:0x1", "eip155:08453", "eip155:-1", "eip155:0", "solana:5eykt4", "basee", ""] {
            let e = chain_id(bad).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidNetwork, "{bad}");
        }
        assert!(chain_id("eip155:99999999999999999999999").is_err());
    }

    #[test]
    fn caip2_shape() {
        assert!(is_caip2("eip155:8453"));
        assert!(is_caip2("solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"));
        assert!(!is_caip2("base"));
        assert!(!is_caip2("eip155:"));
    }
}
