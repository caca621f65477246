//! Settlements kept in a database, so a restart loses nothing and settles nothing twice: SQLite for one
//! instance (the embedded default), PostgreSQL for several instances that share settlements and lease
//! their settling keys to one another.
//!
//! One row per authorization (chain, token, payer, nonce). A row is claimed before anything is sent, holds
//! the signed transaction and its hash before it is broadcast, and ends with the answer given, which every
//! later `/settle` of the same authorization repeats.

mod postgres;
mod sqlite;

use std::time::Duration;

pub use postgres::Postgres;
pub use sqlite::Sqlite;

/// Where a settlement stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Claimed; nothing was broadcast yet.
    Claimed,
    /// Signed and (perhaps) broadcast: the transactions are known, their outcome is not.
    Sent {
        /// Every transaction signed for it, first to last (a replacement with higher fees comes after the
        /// one it replaces; all share one nonce, so at most one mines).
        attempts: Vec<Attempt>,
    },
    /// Done: the `/settle` answer (JSON) given, repeated for every later call.
    Final {
        /// The answer as JSON text.
        response: String,
    },
}

/// One signed transaction of a settlement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The transaction hash (0x-hex).
    pub tx_hash: String,
    /// The signed transaction (EIP-2718 bytes), for a rebroadcast after a restart.
    pub raw_tx: Vec<u8>,
}

/// A settlement row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// The authorization's key.
    pub key: String,
    /// Where it stands.
    pub stage: Stage,
    /// Claimed by another instance that is alive: it is being settled there right now.
    pub elsewhere: bool,
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The SQLite file cannot be opened, read or written.
    #[error("settlement store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The PostgreSQL server cannot be reached, or refused a statement.
    #[error("settlement store: {0}")]
    Postgres(String),
    /// The database was written by a newer facilitator.
    #[error(
        "settlement store: the database's schema is version {found}, newer than this facilitator's {known}; run the newer facilitator"
    )]
    NewerSchema {
        /// The version in the database.
        found: i32,
        /// The newest version this build knows.
        known: i32,
    },
    /// A transaction was to be recorded for a settlement that is concluded, forgotten, or taken over by
    /// another instance.
    #[error("settlement store: {0} is no longer being settled here")]
    NotSettling(String),
}

/// A store result.
pub type Result<T> = std::result::Result<T, StoreError>;

/// The settlement store: SQLite (one instance) or PostgreSQL (several).
pub enum Store {
    /// The embedded default.
    Sqlite(Sqlite),
    /// Shared by several instances.
    Postgres(Postgres),
}

impl Store {
    /// Opens (or creates) the SQLite database at `path`; `:memory:` keeps it in memory (tests).
    pub fn open(path: &std::path::Path) -> Result<Self> {
        Ok(Store::Sqlite(Sqlite::open(path)?))
    }

    /// Connects to PostgreSQL at `url` as a new instance, running the migrations the database lacks. An
    /// instance is alive while it renews its heartbeat within `lease`.
    pub async fn connect(url: &str, lease: Duration) -> Result<Self> {
        Ok(Store::Postgres(Postgres::connect(url, lease).await?))
    }

    /// The PostgreSQL store, when several instances share it.
    pub fn shared(&self) -> Option<&Postgres> {
        match self {
            Store::Postgres(pg) => Some(pg),
            Store::Sqlite(_) => None,
        }
    }

    /// Claims `key` for a settlement; `None` when it is new (and now claimed by this instance), or was
    /// claimed by an instance that died before sending anything (and is now this one's); else the row.
    pub async fn claim(&self, key: &str) -> Result<Option<Settlement>> {
        match self {
            Store::Sqlite(s) => s.claim(key),
            Store::Postgres(p) => p.claim(key).await,
        }
    }

    /// The row of `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<Settlement>> {
        match self {
            Store::Sqlite(s) => s.get(key),
            Store::Postgres(p) => p.get(key).await,
        }
    }

    /// Records a signed transaction of `key` (its first, or a replacement) from `signer` (`chain:address`),
    /// before it is broadcast. Fails with [`StoreError::NotSettling`] when the row is concluded, gone, or
    /// another instance's: a late replacement must neither reopen a concluded settlement nor leave attempts
    /// behind for a forgotten one.
    pub async fn sent(&self, key: &str, tx_hash: &str, raw_tx: &[u8], signer: &str) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.sent(key, tx_hash, raw_tx),
            Store::Postgres(p) => p.sent(key, tx_hash, raw_tx, signer).await,
        }
    }

    /// Records the final answer of `key`.
    pub async fn finish(&self, key: &str, response: &str) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.finish(key, response),
            Store::Postgres(p) => p.finish(key, response).await,
        }
    }

    /// Forgets `key` (nothing reached the chain), so a later `/settle` may try again.
    pub async fn release(&self, key: &str) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.release(key),
            Store::Postgres(p) => p.release(key).await,
        }
    }

    /// Turns a sent settlement whose transactions can never mine back into a claim of this instance, unless
    /// it changed since its last transaction was `last_hash` (then another request got there first).
    pub async fn restart(&self, key: &str, last_hash: &str) -> Result<bool> {
        match self {
            Store::Sqlite(s) => s.restart(key, last_hash),
            Store::Postgres(p) => p.restart(key, last_hash).await,
        }
    }

    /// How many settlements are sent and not concluded (for `/metrics`).
    pub async fn pending(&self) -> Result<u64> {
        match self {
            Store::Sqlite(s) => s.pending(),
            Store::Postgres(p) => p.pending().await,
        }
    }

    /// Rows whose outcome is not known yet (claimed or sent), for recovery after a restart (SQLite: every
    /// such row is this instance's).
    pub async fn unfinished(&self) -> Result<Vec<Settlement>> {
        match self {
            Store::Sqlite(s) => s.unfinished(),
            Store::Postgres(_) => Ok(Vec::new()),
        }
    }

    /// Records that `tx_hash` bought a pass (for `resource`); false when it already bought one.
    pub async fn claim_pass(&self, tx_hash: &str, resource: &str) -> Result<bool> {
        match self {
            Store::Sqlite(s) => s.claim_pass(tx_hash, resource),
            Store::Postgres(p) => p.claim_pass(tx_hash, resource).await,
        }
    }

    /// How many settlements ended, and how many of them succeeded (for `/health`).
    pub async fn counts(&self) -> Result<(u64, u64)> {
        match self {
            Store::Sqlite(s) => s.counts(),
            Store::Postgres(p) => p.counts().await,
        }
    }
}
