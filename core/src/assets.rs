//! The default stablecoins: what a price such as "$0.01" is paid in on each chain, and the EIP-712 domain
//! each token signs with.

use crate::prelude::*;
use alloy_primitives::{Address, address};

/// How a token moves under the `exact` scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferMethod {
    /// EIP-3009 `transferWithAuthorization` (USDC and most x402 stablecoins).
    Eip3009,
    /// Permit2 `permitWitnessTransferFrom` through the x402 exact proxy, for tokens without EIP-3009.
    Permit2,
}

impl TransferMethod {
    /// The method's name in every binding: `eip3009` or `permit2`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferMethod::Eip3009 => "eip3009",
            TransferMethod::Permit2 => "permit2",
        }
    }

    /// Reads a method's name (`eip3009` or `permit2`, any letter case).
    pub fn parse(name: &str) -> crate::Result<TransferMethod> {
        match name.to_ascii_lowercase().as_str() {
            "eip3009" => Ok(TransferMethod::Eip3009),
            "permit2" => Ok(TransferMethod::Permit2),
            _ => Err(crate::Error::new(
                crate::ErrorCode::InvalidPriceTag,
                format!("transfer method {:?} is neither eip3009 nor permit2", crate::wire::truncate(name)),
            )),
        }
    }

    /// The value of `extra.assetTransferMethod` that selects this method (`None` for the default, EIP-3009).
    pub fn extra_value(self) -> Option<&'static str> {
        match self {
            TransferMethod::Eip3009 => None,
            TransferMethod::Permit2 => Some("permit2"),
        }
    }
}

/// A stablecoin x402 knows by default, with the EIP-712 domain its contract reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownAsset {
    /// EVM chain id.
    pub chain_id: u64,
    /// Token contract.
    pub address: Address,
    /// EIP-712 domain `name` (must equal the contract's `name()`; "USDC" and "USD Coin" differ per chain).
    pub name: &'static str,
    /// EIP-712 domain `version`.
    pub version: &'static str,
    /// Decimals of the token.
    pub decimals: u8,
    /// Ticker, for messages.
    pub symbol: &'static str,
    /// How the token is transferred.
    pub transfer_method: TransferMethod,
    /// Whether the token implements EIP-2612 `permit` (relevant for Permit2 tokens).
    pub supports_eip2612: bool,
}

impl KnownAsset {
    /// The entry as the bindings list it (`knownAssets()`): `{network, chainId, address, eip712Name,
    /// eip712Version, decimals, symbol, transferMethod, supportsEip2612}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "network": crate::network::caip2(self.chain_id), "chainId": self.chain_id,
            "address": self.address.to_checksum(None), "eip712Name": self.name, "eip712Version": self.version,
            "decimals": self.decimals, "symbol": self.symbol,
            "transferMethod": if self.transfer_method == TransferMethod::Permit2 { "permit2" } else { "eip3009" },
            "supportsEip2612": self.supports_eip2612,
        })
    }
}

const fn usd(
    chain_id: u64,
    address: Address,
    name: &'static str,
    version: &'static str,
    symbol: &'static str,
) -> KnownAsset {
    KnownAsset {
        chain_id,
        address,
        name,
        version,
        decimals: 6,
        symbol,
        transfer_method: TransferMethod::Eip3009,
        supports_eip2612: false,
    }
}

const fn permit2(
    chain_id: u64,
    address: Address,
    name: &'static str,
    version: &'static str,
    decimals: u8,
    symbol: &'static str,
    supports_eip2612: bool,
) -> KnownAsset {
    KnownAsset {
        chain_id,
        address,
        name,
        version,
        decimals,
        symbol,
        transfer_method: TransferMethod::Permit2,
        supports_eip2612,
    }
}

/// The default assets, as `@x402/evm` 2.27 ships them (`DEFAULT_ASSETS`). The first entry for a chain is the
/// one a money price is paid in. Every entry's domain separator is pinned by a test.
pub const KNOWN_ASSETS: &[KnownAsset] = &[
    usd(8453, address!("833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"), "USD Coin", "2", "USDC"),
    usd(84532, address!("036CbD53842c5426634e7929541eC2318f3dCF7e"), "USDC", "2", "USDC"),
    usd(1, address!("A0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"), "USD Coin", "2", "USDC"),
    usd(43114, address!("B97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E"), "USD Coin", "2", "USDC"),
    permit2(4326, address!("FAfDdbb3FC7688494971a79cc65DCa3EF82079E7"), "MegaUSD", "1", 18, "MegaUSD", true),
    usd(143, address!("754704Bc059F8C67012fEd69BC8A327a5aafb603"), "USDC", "2", "USDC"),
    usd(988, address!("779Ded0c9e1022225f8E0630b35a9b54bE713736"), "USDT0", "1", "USDT0"),
    usd(2201, address!("78Cf24370174180738C5B8E352B6D14c83a6c9A9"), "USDT0", "1", "USDT0"),
    usd(137, address!("3c499c542cEF5E3811e1192ce70d8cC03d5c3359"), "USD Coin", "2", "USDC"),
    usd(42161, address!("af88d065e77c8cC2239327C5EDb3A432268e5831"), "USD Coin", "2", "USDC"),
    usd(421614, address!("75faf114eafb1BDbe2F0316DF893fd58CE46AA4d"), "USD Coin", "2", "USDC"),
    permit2(31612, address!("dD468A1DDc392dcdbEf6db6e34E89AA338F9F186"), "Mezo USD", "1", 18, "mUSD", true),
    permit2(31611, address!("118917a40FAF1CD7a13dB0Ef56C86De7973Ac503"), "Mezo USD", "1", 18, "mUSD", true),
    permit2(723487, address!("33ad9e4BD16B69B5BFdED37D8B5D9fF9aba014Fb"), "Stable Coin", "1", 6, "SBC", true),
    permit2(72344, address!("33ad9e4BD16B69B5BFdED37D8B5D9fF9aba014Fb"), "Stable Coin", "1", 6, "SBC", true),
    usd(36900, address!("9cb8142aEBBcdc60AF7c97Af897A67A8f3CA71C2"), "USDC.e", "2", "USDC.e"),
    usd(190415, address!("401eCb1D350407f13ba348573E5630B83638E30D"), "Bridged USDC", "2", "USDC.e"),
    usd(181228, address!("401eCb1D350407f13ba348573E5630B83638E30D"), "Bridged USDC", "2", "USDC.e"),
    usd(50, address!("fA2958CB79b0491CC627c1557F441eF849Ca8eb1"), "USDC", "2", "USDC"),
    usd(51, address!("b5AB69F7bBada22B28e79C8FFAECe55eF1c771D4"), "USDC", "2", "USDC"),
    permit2(38833, address!("A5b8BF902b2844dA17d4506cc827F7F1681735E7"), "USDC", "1", 6, "USDC", false),
    usd(14, address!("e7cd86e13AC4309349F30B3435a9d337750fC82D"), "USD₮0", "1", "USDT0"),
    usd(42220, address!("cebA9300f2b948710d2653dD7B07f33A8B32118C"), "USDC", "2", "USDC"),
    usd(42220, address!("48065fbBE25f71C9282ddf5e1cD6D6A887483D5e"), "Tether USD", "1", "USDT"),
    usd(42220, address!("D2ab3C9A02DBBAB236BfEC45D1d755DF4267F771"), "Tether America USD", "1", "USAT"),
    usd(11142220, address!("01C5C0122039549AD1493B8220cABEdD739BC44E"), "USDC", "2", "USDC"),
    usd(1329, address!("e15fC38F6D8c56aF07bbCBe3BAf5708A2Bf42392"), "USDC", "2", "USDC"),
    usd(1328, address!("4fCF1784B31630811181f670Aea7A7bEF803eaED"), "USDC", "2", "USDC"),
];

/// The asset a money price ("$0.01") is paid in on a chain: the chain's first default asset.
pub fn default_asset(chain_id: u64) -> Option<&'static KnownAsset> {
    KNOWN_ASSETS.iter().find(|a| a.chain_id == chain_id)
}

/// The known asset at `address` on a chain, if it is one of the defaults.
pub fn known_asset(chain_id: u64, address: &Address) -> Option<&'static KnownAsset> {
    KNOWN_ASSETS.iter().find(|a| a.chain_id == chain_id && a.address == *address)
}

/// The canonical Permit2 contract (same address on every chain).
pub const PERMIT2_ADDRESS: Address = address!("000000000022D473030F116dDEE9F6B43aC78BA3");

/// The x402 exact Permit2 proxy, the `spender` of every exact Permit2 authorization.
pub const EXACT_PERMIT2_PROXY: Address = address!("402085c248EeA27D92E8b30b2C58ed07f9E20001");

/// The x402 upto Permit2 proxy, the `spender` of every upto authorization (its address since the official
/// SDKs' 2.9.0 release; the older 0x402039b3… address in some specification examples is gone).
pub const UPTO_PERMIT2_PROXY: Address = address!("4020A4f3b7b90ccA423B9fabCc0CE57C6C240002");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        let base_sepolia = default_asset(84532).unwrap();
        assert_eq!(base_sepolia.name, "USDC");
        assert_eq!(default_asset(8453).unwrap().name, "USD Coin");
        assert_eq!(default_asset(42220).unwrap().symbol, "USDC");
        assert!(known_asset(42220, &address!("48065fbBE25f71C9282ddf5e1cD6D6A887483D5e")).is_some());
        assert!(default_asset(31337).is_none());
    }
}
