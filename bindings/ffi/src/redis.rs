//! A payment store on Redis shared by replicas in any language: the core's key layout and atomic scripts, and
//! the token of an entry (which the scripts compare), so Kotlin and Swift glue runs exactly what Python's and
//! Node's stores run.

use paywire_core::server::redis as core;
use paywire_core::server::store::StoreEntry;

use crate::error::Result;

/// The core's Redis layout: the key prefix and the four scripts (each takes the record's key as `KEYS[1]`).
#[derive(Debug, Clone, uniffi::Record)]
pub struct RedisScripts {
    /// The prefix of every record's key (`paywire:gate:`).
    pub key_prefix: String,
    /// `ARGV`: the entry's token, its JSON, its `expiresAt`. Returns the live entry's JSON, or nil once stored.
    pub claim: String,
    /// Returns the live entry's JSON, or nil.
    pub get: String,
    /// `ARGV`: the token expected, the new token, the new JSON, its `expiresAt`. Returns 1 when replaced.
    pub replace: String,
    /// `ARGV`: the token expected. Returns 1 when it forgot the entry.
    pub release: String,
}

/// The core's Redis layout and scripts.
#[uniffi::export]
pub fn redis_scripts() -> RedisScripts {
    RedisScripts {
        key_prefix: core::REDIS_KEY_PREFIX.to_string(),
        claim: core::REDIS_CLAIM.to_string(),
        get: core::REDIS_GET.to_string(),
        replace: core::REDIS_REPLACE.to_string(),
        release: core::REDIS_RELEASE.to_string(),
    }
}

/// The token of a store entry (its JSON, as a store operation carries it).
#[uniffi::export]
pub fn store_entry_token(entry: String) -> Result<String> {
    Ok(StoreEntry::from_json(&entry)?.token)
}
