//! The facilitator's configuration: a TOML file with its chains (RPC URLs, allowed assets, gas cap, EIP-6492
//! factories, settling keys), or the flags and environment of the one-chain case.
//!
//! ```toml
//! [[chain]]
//! chain_id = 84532
//! rpc_urls_env = "BASE_SEPOLIA_RPC_URLS"        # comma-separated; or rpc_urls = ["https://..."]
//! assets = ["0x036CbD53842c5426634e7929541eC2318f3dCF7e"]  # default: the known EIP-3009 stablecoins
//! max_gas = 250000
//! eip6492_factories = []
//! keys = [{ env = "SETTLER_1" }, { file = "/run/secrets/settler-2" }]
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use paywire_core::assets::{KNOWN_ASSETS, TransferMethod};
use serde::Deserialize;
use zeroize::Zeroizing;

/// The default gas cap of one settlement: `transferWithAuthorization` uses about 60-90 k, a smart wallet's
/// EIP-1271 check some more.
pub const DEFAULT_MAX_GAS: u64 = 300_000;

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The chains served.
    #[serde(rename = "chain")]
    pub chains: Vec<ChainConfig>,
    /// Timeouts and upkeep; each has a default.
    #[serde(default)]
    pub timeouts: Timeouts,
}

/// One chain of the configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// The chain id; every node must serve it.
    pub chain_id: u64,
    /// Node URLs, tried in order (failover).
    #[serde(default)]
    pub rpc_urls: Vec<String>,
    /// An environment variable holding comma-separated node URLs (URLs with API keys stay out of the file).
    #[serde(default)]
    pub rpc_urls_env: Option<String>,
    /// Assets settled on this chain; default: the core's known EIP-3009 stablecoins of this chain.
    #[serde(default)]
    pub assets: Option<Vec<Address>>,
    /// The most gas one settlement may use.
    #[serde(default = "default_max_gas")]
    pub max_gas: u64,
    /// Factories whose EIP-6492 counterfactual wallets are accepted; none by default.
    #[serde(default)]
    pub eip6492_factories: Vec<Address>,
    /// The settling keys; they settle in parallel, each with its own nonces.
    pub keys: Vec<KeySource>,
}

fn default_max_gas() -> u64 {
    DEFAULT_MAX_GAS
}

/// Where a settling key comes from: never the file itself.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, untagged)]
pub enum KeySource {
    /// An environment variable holding the hex key.
    Env {
        /// The variable's name.
        env: String,
    },
    /// A file holding the hex key, readable by its owner only.
    File {
        /// The file's path.
        file: PathBuf,
    },
}

/// Timeouts and upkeep intervals, in seconds.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// The longest one JSON-RPC call may take before the next node is tried.
    pub rpc: f64,
    /// How long `/settle` waits for a receipt before answering `settlement_pending`.
    pub receipt: f64,
    /// How long a transaction may wait in a pool before it is rebroadcast or replaced with higher fees.
    pub stuck_after: f64,
    /// How often the keeper looks at the transactions in flight.
    pub keeper_interval: f64,
    /// The longest a client may take to send a request's headers.
    pub header: f64,
    /// The longest a client may take to send a request's body.
    pub body: f64,
    /// With PostgreSQL: how long an instance stays alive and keeps its settling keys without renewing them
    /// (renewed three times per lease); an instance that dies hands its keys over after this long.
    pub lease: f64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            rpc: 10.0,
            receipt: 30.0,
            stuck_after: 20.0,
            keeper_interval: 2.0,
            header: 10.0,
            body: 10.0,
            lease: 15.0,
        }
    }
}

impl Timeouts {
    /// A number of seconds as a duration, at most a day; negative or not a number: zero.
    pub fn secs(value: f64) -> Duration {
        Duration::try_from_secs_f64(value.min(86_400.0)).unwrap_or_default()
    }
}

/// A chain ready to connect: URLs, policy and keys read.
pub struct ChainSetup {
    /// The chain id.
    pub chain_id: u64,
    /// Node URLs (secret: never logged).
    pub rpc_urls: Vec<String>,
    /// Allowed assets.
    pub assets: BTreeSet<Address>,
    /// Gas cap per settlement.
    pub max_gas: u64,
    /// Accepted EIP-6492 factories.
    pub factories: BTreeSet<Address>,
    /// Settling keys.
    pub keys: Vec<PrivateKeySigner>,
}

impl FileConfig {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the configuration {}: {e}", path.display()))?;
        // Only the line and the reason: toml's own message quotes the line, which may hold a secret.
        toml::from_str(&text).map_err(|e| {
            let line = e.span().and_then(|span| text.get(..span.start)).map_or(0, |t| t.matches('\n').count() + 1);
            format!("the configuration {} is not valid at line {line}: {}", path.display(), e.message())
        })
    }
}

impl ChainConfig {
    /// Reads this chain's URLs and keys.
    pub fn setup(&self) -> Result<ChainSetup, String> {
        let id = self.chain_id;
        let mut rpc_urls = self.rpc_urls.clone();
        if let Some(var) = &self.rpc_urls_env {
            let value =
                std::env::var(var).map_err(|_| format!("chain {id}: the environment variable {var} is not set"))?;
            rpc_urls.extend(value.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_string));
        }
        if rpc_urls.is_empty() {
            return Err(format!("chain {id}: no RPC URL (set rpc_urls or rpc_urls_env)"));
        }
        let assets: BTreeSet<Address> = match &self.assets {
            Some(list) => list.iter().copied().collect(),
            None => default_assets(id),
        };
        // Chain id 0: not known yet (read from the node by the one-chain flags); its assets are chosen then.
        if assets.is_empty() && id != 0 {
            return Err(format!(
                "chain {id}: no asset to settle (paywire knows no EIP-3009 stablecoin there); list them in assets"
            ));
        }
        if self.keys.is_empty() {
            return Err(format!("chain {id}: no settling key"));
        }
        let keys = self.keys.iter().map(read_key).collect::<Result<Vec<_>, _>>()?;
        let mut seen = BTreeSet::new();
        if let Some(twice) = keys.iter().find(|k| !seen.insert(k.address())) {
            return Err(format!("chain {id}: the key of {} is listed twice", twice.address()));
        }
        Ok(ChainSetup {
            chain_id: id,
            rpc_urls,
            assets,
            max_gas: self.max_gas,
            factories: self.eip6492_factories.iter().copied().collect(),
            keys,
        })
    }
}

/// The core's known EIP-3009 stablecoins on `chain_id`.
pub fn default_assets(chain_id: u64) -> BTreeSet<Address> {
    KNOWN_ASSETS
        .iter()
        .filter(|a| a.chain_id == chain_id && a.transfer_method == TransferMethod::Eip3009)
        .map(|a| a.address)
        .collect()
}

/// Reads a key from its source.
pub fn read_key(source: &KeySource) -> Result<PrivateKeySigner, String> {
    let (text, from) = match source {
        KeySource::Env { env } => {
            let text = std::env::var(env).map_err(|_| format!("the key variable {env} is not set"))?;
            (Zeroizing::new(text), format!("the variable {env}"))
        }
        KeySource::File { file } => {
            check_private(file)?;
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read the key file {}: {}", file.display(), e.kind()))?;
            (Zeroizing::new(text), format!("the file {}", file.display()))
        }
    };
    text.trim().parse::<PrivateKeySigner>().map_err(|_| format!("{from} does not hold a 32-byte hex secp256k1 key"))
}

/// Refuses a key file that others than its owner can read or write.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read the key file {}: {}", path.display(), e.kind()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "the key file {} is open to others (mode {mode:o}); allow its owner only: chmod 600 {}",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_names_chains_keys_and_assets() {
        let config: FileConfig = toml::from_str(
            r#"
            [timeouts]
            rpc = 2.5
            [[chain]]
            chain_id = 84532
            rpc_urls = ["http://127.0.0.1:1"]
            keys = [{ env = "PAYWIRE_TEST_CONFIG_KEY" }]
            [[chain]]
            chain_id = 31337
            rpc_urls = ["http://127.0.0.1:2"]
            assets = ["0x036CbD53842c5426634e7929541eC2318f3dCF7e"]
            max_gas = 100000
            keys = [{ file = "/nonexistent" }]
            "#,
        )
        .unwrap();
        assert_eq!(config.chains.len(), 2);
        assert_eq!(config.timeouts.rpc, 2.5);
        assert_eq!(config.timeouts.receipt, 30.0);
        assert_eq!(config.chains[0].max_gas, DEFAULT_MAX_GAS);
        assert_eq!(config.chains[1].max_gas, 100_000);
        assert!(
            default_assets(84532).contains(&"0x036CbD53842c5426634e7929541eC2318f3dCF7e".parse::<Address>().unwrap())
        );
        assert!(default_assets(31337).is_empty());
        let error = config.chains[1].setup().err().unwrap();
        assert!(error.contains("/nonexistent"), "{error}");
    }

    #[test]
    fn a_bad_line_is_named_without_quoting_it() {
        let dir = std::env::temp_dir().join(format!("paywire-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.toml");
        std::fs::write(&path, "[[chain]]\nchain_id = 1\nrpc_url = \"https://node.example/v2/SECRET\"\nkeys = []\n")
            .unwrap();
        let error = FileConfig::load(&path).unwrap_err();
        assert!(error.contains("line 3") && error.contains("rpc_url"), "{error}");
        assert!(!error.contains("SECRET"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(Timeouts::secs(1e12), Duration::from_secs(86_400));
        assert_eq!(Timeouts::secs(-1.0), Duration::ZERO);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let error = toml::from_str::<FileConfig>("[[chain]]\nchain_id = 1\nrpc_url = \"x\"\nkeys = []\n").unwrap_err();
        assert!(error.to_string().contains("rpc_url"), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("paywire-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        std::fs::write(&path, "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = read_key(&KeySource::File { file: path.clone() }).unwrap_err();
        assert!(error.contains("chmod 600"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let key = read_key(&KeySource::File { file: path }).unwrap();
        assert_eq!(key.address().to_checksum(None), "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
