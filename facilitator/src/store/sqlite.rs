//! The embedded settlement store: one SQLite file, for one instance.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Attempt, Result, Settlement, Stage, StoreError};

/// The SQLite store (one connection; every call is a short statement).
pub struct Sqlite {
    db: Mutex<Connection>,
}

impl Sqlite {
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
            );
            CREATE TABLE IF NOT EXISTS passes (
                tx_hash TEXT PRIMARY KEY,
                resource TEXT NOT NULL,
                issued_at INTEGER NOT NULL DEFAULT (unixepoch())
            );",
        )?;
        Ok(Sqlite { db: Mutex::new(db) })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        // A panic while holding the lock cannot leave SQLite inconsistent: keep using the connection.
        let db = self.db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(f(&db)?)
    }

    /// See [`super::Store::claim`].
    pub fn claim(&self, key: &str) -> Result<Option<Settlement>> {
        self.with(|db| {
            let inserted = db.execute(
                "INSERT INTO settlements (key, stage) VALUES (?1, 'claimed') ON CONFLICT (key) DO NOTHING",
                params![key],
            )?;
            if inserted == 1 { Ok(None) } else { Self::read(db, key) }
        })
    }

    /// See [`super::Store::get`].
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
        Ok(Some(Settlement { key: key.to_string(), stage, elsewhere: false }))
    }

    /// See [`super::Store::sent`].
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

    /// See [`super::Store::finish`].
    pub fn finish(&self, key: &str, response: &str) -> Result<()> {
        self.with(|db| {
            db.execute(
                "UPDATE settlements SET stage = 'final', response = ?2, updated_at = unixepoch() WHERE key = ?1",
                params![key, response],
            )
            .map(drop)
        })
    }

    /// See [`super::Store::release`].
    pub fn release(&self, key: &str) -> Result<()> {
        self.with(|db| {
            db.execute("DELETE FROM attempts WHERE key = ?1", params![key])?;
            db.execute("DELETE FROM settlements WHERE key = ?1", params![key]).map(drop)
        })
    }

    /// See [`super::Store::restart`].
    pub fn restart(&self, key: &str, last_hash: &str) -> Result<bool> {
        self.with(|db| {
            let last: Option<String> = db
                .query_row(
                    "SELECT tx_hash FROM attempts WHERE key = ?1 ORDER BY rowid DESC LIMIT 1",
                    params![key],
                    |r| r.get(0),
                )
                .optional()?;
            let current = db
                .query_row("SELECT tx_hash FROM settlements WHERE key = ?1 AND stage = 'sent'", params![key], |r| {
                    r.get::<_, Option<String>>(0)
                })
                .optional()?
                .flatten();
            if last.or(current).as_deref() != Some(last_hash) {
                return Ok(false);
            }
            db.execute("DELETE FROM attempts WHERE key = ?1", params![key])?;
            db.execute(
                "UPDATE settlements SET stage = 'claimed', tx_hash = NULL, raw_tx = NULL, updated_at = unixepoch() \
                 WHERE key = ?1",
                params![key],
            )?;
            Ok(true)
        })
    }

    /// See [`super::Store::pending`].
    pub fn pending(&self) -> Result<u64> {
        self.with(|db| {
            db.query_row("SELECT COUNT(*) FROM settlements WHERE stage = 'sent'", [], |row| {
                Ok(row.get::<_, i64>(0)? as u64)
            })
        })
    }

    /// See [`super::Store::unfinished`].
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

    /// See [`super::Store::claim_pass`].
    pub fn claim_pass(&self, tx_hash: &str, resource: &str) -> Result<bool> {
        self.with(|db| {
            db.execute(
                "INSERT INTO passes (tx_hash, resource) VALUES (?1, ?2) ON CONFLICT (tx_hash) DO NOTHING",
                params![tx_hash, resource],
            )
            .map(|n| n == 1)
        })
    }

    /// See [`super::Store::counts`].
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
            let store = Sqlite::open(&path).unwrap();
            assert_eq!(store.claim("k").unwrap(), None);
            assert_eq!(store.claim("k").unwrap().unwrap().stage, Stage::Claimed);
            store.sent("k", "0xabc", &[1, 2, 3]).unwrap();
        }
        let store = Sqlite::open(&path).unwrap();
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
        assert!(!store.restart("k", "0xother").unwrap(), "a restart after another transaction is refused");
        assert!(store.restart("k", "0x123").unwrap());
        assert_eq!(store.get("k").unwrap().unwrap().stage, Stage::Claimed);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
