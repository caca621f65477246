//! Settlements kept in SQLite, so a restart loses nothing and settles nothing twice.
//!
//! One row per authorization (chain, token, payer, nonce). A row is claimed before anything is sent, holds
//! the signed transaction and its hash before it is broadcast, and ends with the answer given, which every
//! later `/settle` of the same authorization repeats.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

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
}

/// The settlement store (one SQLite connection; every call is a short statement).
pub struct Store {
    db: Mutex<Connection>,
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file cannot be opened, read or written.
    #[error("settlement store: {0}")]
    Db(#[from] rusqlite::Error),
    /// A transaction was to be recorded for a settlement that is concluded or forgotten.
    #[error("settlement store: {0} is no longer being settled")]
    NotSettling(String),
}

type Result<T> = std::result::Result<T, StoreError>;

impl Store {
    /// Opens (or creates) the database at `path`; `:memory:` keeps it in memory (tests).
    pub fn open(path: &Path) -> Result<Self> {
        let db = Connection::open(path)?;
        // WAL: readers never wait for the writer; synchronous=FULL: a claimed or sent row survives a crash.
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS settlements (
                key TEXT PRIMARY KEY,
                stage TEXT NOT NULL CHECK (stage IN ('claimed', 'sent', 'final')),
                tx_hash TEXT,
                raw_tx BLOB,
                response TEXT,
                updated_at INTEGER NOT NULL DEFAULT (unixepoch())
            );
            CREATE TABLE IF NOT EXISTS attempts (
                key TEXT NOT NULL,
                tx_hash TEXT NOT NULL,
                raw_tx BLOB NOT NULL,
                PRIMARY KEY (key, tx_hash)
            );",
        )?;
        Ok(Store { db: Mutex::new(db) })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        // A panic while holding the lock cannot leave SQLite inconsistent: keep using the connection.
        let db = self.db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(f(&db)?)
    }

    /// Claims `key` for a settlement; `None` when it is new (and now claimed), else the existing row.
    pub fn claim(&self, key: &str) -> Result<Option<Settlement>> {
        self.with(|db| {
            let inserted = db.execute(
                "INSERT INTO settlements (key, stage) VALUES (?1, 'claimed') ON CONFLICT (key) DO NOTHING",
                params![key],
            )?;
            if inserted == 1 { Ok(None) } else { Self::read(db, key) }
        })
    }

    /// The row of `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Settlement>> {
        self.with(|db| Self::read(db, key))
    }

    fn read(db: &Connection, key: &str) -> rusqlite::Result<Option<Settlement>> {
        let row = db
            .query_row("SELECT stage, tx_hash, raw_tx, response FROM settlements WHERE key = ?1", params![key], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, Option<Vec<u8>>>(2)?,
                    row.get::<_, Option<String>>(3)?,
                ))
            })
            .optional()?;
        let Some((stage, tx_hash, raw_tx, response)) = row else { return Ok(None) };
        let stage = match stage.as_str() {
            "sent" => {
                // `ORDER BY rowid`: attempts in the order they were signed.
                let mut stmt = db.prepare("SELECT tx_hash, raw_tx FROM attempts WHERE key = ?1 ORDER BY rowid")?;
                let mut attempts = stmt
                    .query_map(params![key], |r| Ok(Attempt { tx_hash: r.get(0)?, raw_tx: r.get(1)? }))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                // A row written before attempts had their own table holds its one transaction itself.
                if let (true, Some(tx_hash), Some(raw_tx)) = (attempts.is_empty(), tx_hash, raw_tx) {
                    attempts.push(Attempt { tx_hash, raw_tx });
                }
                Stage::Sent { attempts }
            }
            "final" => Stage::Final { response: response.unwrap_or_default() },
            _ => Stage::Claimed,
        };
        Ok(Some(Settlement { key: key.to_string(), stage }))
    }

    /// Records a signed transaction of `key` (its first, or a replacement), before it is broadcast.
    /// Fails with [`StoreError::NotSettling`] when the row is concluded or gone: a late replacement must
    /// neither reopen a concluded settlement nor leave attempts behind for a forgotten one.
    pub fn sent(&self, key: &str, tx_hash: &str, raw_tx: &[u8]) -> Result<()> {
        let updated = self.with(|db| {
            let updated = db.execute(
                "UPDATE settlements SET stage = 'sent', tx_hash = ?2, raw_tx = ?3, updated_at = unixepoch() \
                 WHERE key = ?1 AND stage IN ('claimed', 'sent')",
                params![key, tx_hash, raw_tx],
            )?;
            if updated == 1 {
                db.execute(
                    "INSERT INTO attempts (key, tx_hash, raw_tx) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    params![key, tx_hash, raw_tx],
                )?;
            }
            Ok(updated)
        })?;
        if updated == 1 { Ok(()) } else { Err(StoreError::NotSettling(key.to_string())) }
    }

    /// Records the final answer of `key`.
    pub fn finish(&self, key: &str, response: &str) -> Result<()> {
        self.with(|db| {
            db.execute(
                "UPDATE settlements SET stage = 'final', response = ?2, updated_at = unixepoch() WHERE key = ?1",
                params![key, response],
            )
            .map(drop)
        })
    }

    /// Forgets `key` (nothing reached the chain), so a later `/settle` may try again.
    pub fn release(&self, key: &str) -> Result<()> {
        self.with(|db| {
            db.execute("DELETE FROM attempts WHERE key = ?1", params![key])?;
            db.execute("DELETE FROM settlements WHERE key = ?1", params![key]).map(drop)
        })
    }

    /// How many settlements are sent and not concluded (for `/metrics`).
    pub fn pending(&self) -> Result<u64> {
        self.with(|db| {
            db.query_row("SELECT COUNT(*) FROM settlements WHERE stage = 'sent'", [], |row| {
                Ok(row.get::<_, i64>(0)? as u64)
            })
        })
    }

    /// Rows whose outcome is not known yet (claimed or sent), for recovery after a restart.
    pub fn unfinished(&self) -> Result<Vec<Settlement>> {
        let keys: Vec<String> = self.with(|db| {
            let mut stmt = db.prepare("SELECT key FROM settlements WHERE stage != 'final' ORDER BY updated_at")?;
            let rows = stmt.query_map([], |row| row.get(0))?;
            rows.collect()
        })?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(row) = self.get(&key)? {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// How many settlements ended, and how many of them succeeded (for `/health`).
    pub fn counts(&self) -> Result<(u64, u64)> {
        self.with(|db| {
            db.query_row(
                "SELECT COUNT(*), COALESCE(SUM(response LIKE '{\"success\":true%'), 0) FROM settlements WHERE stage = 'final'",
                [],
                |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64)),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_taken_once_and_its_stages_survive_a_reopen() {
        let dir = std::env::temp_dir().join(format!("paywire-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sqlite3");
        let _ = std::fs::remove_file(&path);
        {
            let store = Store::open(&path).unwrap();
            assert_eq!(store.claim("k").unwrap(), None);
            assert_eq!(store.claim("k").unwrap().unwrap().stage, Stage::Claimed);
            store.sent("k", "0xabc", &[1, 2, 3]).unwrap();
        }
        let store = Store::open(&path).unwrap();
        let row = store.claim("k").unwrap().unwrap();
        assert_eq!(
            row.stage,
            Stage::Sent { attempts: vec![Attempt { tx_hash: "0xabc".into(), raw_tx: vec![1, 2, 3] }] }
        );
        store.sent("k", "0xdef", &[4]).unwrap();
        let Stage::Sent { attempts } = store.get("k").unwrap().unwrap().stage else { panic!("not sent") };
        assert_eq!(attempts.iter().map(|a| a.tx_hash.as_str()).collect::<Vec<_>>(), ["0xabc", "0xdef"]);
        assert_eq!(store.pending().unwrap(), 1);
        assert_eq!(store.unfinished().unwrap().len(), 1);
        store.finish("k", r#"{"success":true}"#).unwrap();
        assert!(store.unfinished().unwrap().is_empty());
        assert_eq!(store.counts().unwrap(), (1, 1));
        assert!(matches!(store.sent("k", "0xlate", &[7]), Err(StoreError::NotSettling(_))), "a concluded row stays so");
        store.release("k").unwrap();
        assert!(matches!(store.sent("k", "0xlate", &[7]), Err(StoreError::NotSettling(_))), "a forgotten row stays so");
        assert_eq!(store.claim("k").unwrap(), None);
        store.sent("k", "0x123", &[9]).unwrap();
        let Stage::Sent { attempts } = store.get("k").unwrap().unwrap().stage else { panic!("not sent") };
        assert_eq!(attempts.len(), 1, "a released row keeps none of its old attempts");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
