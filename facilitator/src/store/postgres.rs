//! The shared settlement store: PostgreSQL, for several facilitator instances.
//!
//! Every decision that two instances could race on is one statement, so the database decides it: a claim
//! is an insert that only one instance wins, a transaction is recorded only by the claim's owner, and a
//! settling key is leased to one instance at a time. An instance is alive while its heartbeat is younger
//! than the lease; the claims of an instance that died are taken over, and the settlements its keys sent
//! are adopted by whichever instance leases those keys next.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::RwLock;
use tokio_postgres::{Client, NoTls};

use super::{Attempt, Result, Settlement, Stage, StoreError};

/// The schema, one migration per version (version = position + 1). Never edit a released migration: add
/// the next one.
const MIGRATIONS: &[&str] = &[
    // 1: settlements, their transactions, live instances and key leases.
    "CREATE TABLE settlements (
        key TEXT PRIMARY KEY,
        stage TEXT NOT NULL CHECK (stage IN ('claimed', 'sent', 'final')),
        owner TEXT NOT NULL,
        signer TEXT,
        last_hash TEXT,
        response TEXT,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE INDEX settlements_sent_by ON settlements (signer) WHERE stage = 'sent';
    CREATE INDEX settlements_stage ON settlements (stage);
    CREATE TABLE attempts (
        seq BIGSERIAL PRIMARY KEY,
        key TEXT NOT NULL REFERENCES settlements (key) ON DELETE CASCADE,
        tx_hash TEXT NOT NULL,
        raw_tx BYTEA NOT NULL,
        UNIQUE (key, tx_hash)
    );
    CREATE TABLE instances (
        id TEXT PRIMARY KEY,
        seen_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE leases (
        chain_id BIGINT NOT NULL,
        address TEXT NOT NULL,
        holder TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (chain_id, address)
    );",
    // 2: the transactions that bought a pass (one pass per transaction).
    "CREATE TABLE passes (
        tx_hash TEXT PRIMARY KEY,
        resource TEXT NOT NULL,
        issued_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );",
];

/// An arbitrary constant: the advisory lock that makes instances starting together migrate one at a time.
const MIGRATION_LOCK: i64 = 0x7061_7977_6972_6501;

/// Whether the instance `$owner` names is alive (`$lease`: the lease in seconds, as float8).
macro_rules! alive {
    ($owner:literal, $lease:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM instances i WHERE i.id = ",
            $owner,
            " AND i.seen_at > now() - ",
            $lease,
            "::float8 * interval '1 second')"
        )
    };
}

/// The PostgreSQL store of one instance.
pub struct Postgres {
    url: String,
    client: RwLock<Arc<Client>>,
    /// This instance's id: unique per process run.
    id: String,
    lease: Duration,
}

fn db(e: tokio_postgres::Error) -> StoreError {
    // The error's text names the failing statement's problem, never the URL or its password.
    StoreError::Postgres(e.to_string())
}

async fn open(url: &str, lease: Duration) -> Result<Client> {
    let mut config: tokio_postgres::Config = url.parse().map_err(db)?;
    // No statement may outlast a third of the lease: an instance stops sending from a key that long before
    // another may take it, and a record of a transaction must land (or fail) within that margin.
    let limit = (lease / 3).max(Duration::from_millis(100));
    config.connect_timeout(limit);
    let (client, connection) = config.connect(NoTls).await.map_err(db)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "the PostgreSQL connection closed; the next statement reconnects");
        }
    });
    client.batch_execute(&format!("SET statement_timeout = {}", limit.as_millis())).await.map_err(db)?;
    Ok(client)
}

impl Postgres {
    /// Connects, migrates, and registers this instance as alive.
    pub async fn connect(url: &str, lease: Duration) -> Result<Self> {
        let mut client = open(url, lease).await?;
        let tx = client.transaction().await.map_err(db)?;
        tx.batch_execute(&format!(
            "SET LOCAL statement_timeout = 0; SELECT pg_advisory_xact_lock({MIGRATION_LOCK}); \
             CREATE TABLE IF NOT EXISTS paywire_schema (version INTEGER NOT NULL);"
        ))
        .await
        .map_err(db)?;
        let found: i32 =
            tx.query_one("SELECT COALESCE(max(version), 0) FROM paywire_schema", &[]).await.map_err(db)?.get(0);
        let known = MIGRATIONS.len() as i32;
        if found > known {
            return Err(StoreError::NewerSchema { found, known });
        }
        for (version, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.batch_execute(sql).await.map_err(db)?;
            tx.execute("INSERT INTO paywire_schema (version) VALUES ($1)", &[&(version as i32 + 1)])
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
        let id = format!("{}-{:016x}", std::process::id(), random);
        let store = Postgres { url: url.to_string(), client: RwLock::new(Arc::new(client)), id, lease };
        store.heartbeat().await?;
        Ok(store)
    }

    /// This instance's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How long an instance stays alive, and a key leased, without a renewal.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// The schema version this build writes.
    pub fn schema_version() -> i32 {
        MIGRATIONS.len() as i32
    }

    fn lease_secs(&self) -> f64 {
        self.lease.as_secs_f64()
    }

    /// The connection, opened again if the server closed it.
    async fn client(&self) -> Result<Arc<Client>> {
        {
            let client = self.client.read().await;
            if !client.is_closed() {
                return Ok(client.clone());
            }
        }
        let mut client = self.client.write().await;
        if client.is_closed() {
            *client = Arc::new(open(&self.url, self.lease).await?);
        }
        Ok(client.clone())
    }

    pub(super) async fn claim(&self, key: &str) -> Result<Option<Settlement>> {
        // The row that won against this insert can be released before it is read: then insert again.
        for _ in 0..3 {
            if let Some(row) = self.claim_once(key).await? {
                return Ok(row);
            }
        }
        Err(StoreError::Postgres(format!(
            "{key} was claimed and released again three times while this instance read it"
        )))
    }

    /// `Some(None)`: claimed; `Some(Some(row))`: the row that holds it; `None`: it vanished meanwhile.
    async fn claim_once(&self, key: &str) -> Result<Option<Option<Settlement>>> {
        let c = self.client().await?;
        let won = c
            .query_opt(
                concat!(
                    "INSERT INTO settlements (key, stage, owner) VALUES ($1, 'claimed', $2) ",
                    "ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, updated_at = now() ",
                    "WHERE settlements.stage = 'claimed' AND settlements.owner <> EXCLUDED.owner AND NOT ",
                    alive!("settlements.owner", "$3"),
                    " RETURNING key"
                ),
                &[&key, &self.id, &self.lease_secs()],
            )
            .await
            .map_err(db)?;
        if won.is_some() {
            return Ok(Some(None));
        }
        Ok(self.get(key).await?.map(Some))
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<Settlement>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                concat!(
                    "SELECT s.stage, s.response, s.owner <> $2 AND ",
                    alive!("s.owner", "$3"),
                    " FROM settlements s WHERE s.key = $1"
                ),
                &[&key, &self.id, &self.lease_secs()],
            )
            .await
            .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let (stage, response, elsewhere): (String, Option<String>, bool) = (row.get(0), row.get(1), row.get(2));
        let stage = match stage.as_str() {
            "sent" => {
                let rows = c
                    .query("SELECT tx_hash, raw_tx FROM attempts WHERE key = $1 ORDER BY seq", &[&key])
                    .await
                    .map_err(db)?;
                Stage::Sent { attempts: rows.iter().map(|r| Attempt { tx_hash: r.get(0), raw_tx: r.get(1) }).collect() }
            }
            "final" => Stage::Final { response: response.unwrap_or_default() },
            _ => Stage::Claimed,
        };
        let elsewhere = elsewhere && stage == Stage::Claimed;
        Ok(Some(Settlement { key: key.to_string(), stage, elsewhere }))
    }

    pub(super) async fn sent(&self, key: &str, tx_hash: &str, raw_tx: &[u8], signer: &str) -> Result<()> {
        let (chain, address) = signer.split_once(':').unwrap_or_default();
        let chain = chain.parse::<i64>().unwrap_or(-1);
        let c = self.client().await?;
        // Recorded only while this instance leases the key: the lease row is locked until the record commits,
        // so an instance taking the key over waits for it, then adopts the transaction with the settlement.
        let updated: i64 = c
            .query_one(
                "WITH l AS (SELECT 1 FROM leases WHERE chain_id = $6 AND address = $7 AND holder = $5 \
                   AND expires_at > now() FOR SHARE), \
                 u AS (UPDATE settlements SET stage = 'sent', signer = $4, last_hash = $2, updated_at = now() \
                   WHERE key = $1 AND stage IN ('claimed', 'sent') AND owner = $5 AND EXISTS (SELECT 1 FROM l) \
                   RETURNING key), \
                 i AS (INSERT INTO attempts (key, tx_hash, raw_tx) SELECT key, $2, $3 FROM u \
                   ON CONFLICT (key, tx_hash) DO NOTHING) \
                 SELECT count(*) FROM u",
                &[&key, &tx_hash, &raw_tx, &signer, &self.id, &chain, &address],
            )
            .await
            .map_err(db)?
            .get(0);
        if updated == 1 { Ok(()) } else { Err(StoreError::NotSettling(key.to_string())) }
    }

    pub(super) async fn finish(&self, key: &str, response: &str) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "UPDATE settlements SET stage = 'final', response = $2, updated_at = now() WHERE key = $1",
            &[&key, &response],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    pub(super) async fn release(&self, key: &str) -> Result<()> {
        let c = self.client().await?;
        // Only this instance's own unconcluded claim: one taken over by another instance is theirs now.
        c.execute("DELETE FROM settlements WHERE key = $1 AND owner = $2 AND stage <> 'final'", &[&key, &self.id])
            .await
            .map_err(db)?;
        Ok(())
    }

    pub(super) async fn restart(&self, key: &str, last_hash: &str) -> Result<bool> {
        let c = self.client().await?;
        // `last_hash` is on the row, so a replacement recorded while this waits for the row's lock fails the
        // check when it is made again on the row as that replacement left it.
        let restarted: i64 = c
            .query_one(
                "WITH u AS (UPDATE settlements SET stage = 'claimed', owner = $3, signer = NULL, last_hash = NULL, \
                   updated_at = now() WHERE key = $1 AND stage = 'sent' AND last_hash = $2 RETURNING key), \
                 d AS (DELETE FROM attempts WHERE key IN (SELECT key FROM u)) \
                 SELECT count(*) FROM u",
                &[&key, &last_hash, &self.id],
            )
            .await
            .map_err(db)?
            .get(0);
        Ok(restarted == 1)
    }

    pub(super) async fn pending(&self) -> Result<u64> {
        let c = self.client().await?;
        let n: i64 =
            c.query_one("SELECT count(*) FROM settlements WHERE stage = 'sent'", &[]).await.map_err(db)?.get(0);
        Ok(n as u64)
    }

    pub(super) async fn claim_pass(&self, tx_hash: &str, resource: &str) -> Result<bool> {
        let c = self.client().await?;
        let inserted = c
            .execute(
                "INSERT INTO passes (tx_hash, resource) VALUES ($1, $2) ON CONFLICT (tx_hash) DO NOTHING",
                &[&tx_hash, &resource],
            )
            .await
            .map_err(db)?;
        Ok(inserted == 1)
    }

    pub(super) async fn counts(&self) -> Result<(u64, u64)> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE response LIKE '{\"success\":true%') \
                 FROM settlements WHERE stage = 'final'",
                &[],
            )
            .await
            .map_err(db)?;
        Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
    }

    /// Marks this instance alive; returns how many instances are.
    pub async fn heartbeat(&self) -> Result<u64> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO instances (id, seen_at) VALUES ($1, now()) ON CONFLICT (id) DO UPDATE SET seen_at = now()",
            &[&self.id],
        )
        .await
        .map_err(db)?;
        let live: i64 = c
            .query_one(
                "SELECT count(*) FROM instances WHERE seen_at > now() - $1::float8 * interval '1 second'",
                &[&self.lease_secs()],
            )
            .await
            .map_err(db)?
            .get(0);
        Ok(live as u64)
    }

    /// Renews every lease this instance holds; returns them (chain id, address as `0x` lower-case hex).
    pub async fn renew(&self) -> Result<Vec<(u64, String)>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "UPDATE leases SET expires_at = now() + $2::float8 * interval '1 second' WHERE holder = $1 \
                 RETURNING chain_id, address",
                &[&self.id, &self.lease_secs()],
            )
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| (r.get::<_, i64>(0) as u64, r.get(1))).collect())
    }

    /// Leases a settling key to this instance, if it is free or its lease ran out.
    pub async fn acquire(&self, chain_id: u64, address: &str) -> Result<bool> {
        let c = self.client().await?;
        let won = c
            .query_opt(
                "INSERT INTO leases (chain_id, address, holder, expires_at) \
                 VALUES ($1, $2, $3, now() + $4::float8 * interval '1 second') \
                 ON CONFLICT (chain_id, address) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at \
                 WHERE leases.expires_at < now() OR leases.holder = EXCLUDED.holder RETURNING holder",
                &[&(chain_id as i64), &address, &self.id, &self.lease_secs()],
            )
            .await
            .map_err(db)?;
        Ok(won.is_some())
    }

    /// Gives a leased key back (this instance has nothing in flight on it).
    pub async fn give_up(&self, chain_id: u64, address: &str) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "DELETE FROM leases WHERE chain_id = $1 AND address = $2 AND holder = $3",
            &[&(chain_id as i64), &address, &self.id],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Makes this instance the owner of every settlement sent from `signer` (`chain:address`) that is not
    /// concluded, and returns them: the key's previous holder died or gave it up.
    pub async fn take_sent(&self, signer: &str) -> Result<Vec<Settlement>> {
        let c = self.client().await?;
        let keys = c
            .query(
                "UPDATE settlements SET owner = $2, updated_at = now() WHERE signer = $1 AND stage = 'sent' RETURNING key",
                &[&signer, &self.id],
            )
            .await
            .map_err(db)?;
        let mut rows = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(row) = self.get(key.get(0)).await? {
                rows.push(row);
            }
        }
        Ok(rows)
    }

    /// Forgets the claims of dead instances (nothing was sent for them) and instances long dead.
    pub async fn reap(&self) -> Result<u64> {
        let c = self.client().await?;
        let reaped = c
            .execute(
                concat!(
                    "DELETE FROM settlements s WHERE s.stage = 'claimed' AND s.owner <> $1 AND NOT ",
                    alive!("s.owner", "$2")
                ),
                &[&self.id, &self.lease_secs()],
            )
            .await
            .map_err(db)?;
        c.execute(
            "DELETE FROM instances WHERE seen_at < now() - 10 * $1::float8 * interval '1 second'",
            &[&self.lease_secs()],
        )
        .await
        .map_err(db)?;
        Ok(reaped)
    }

    /// Leaves the cluster at shutdown: this instance's leases and heartbeat go, so others take over at once.
    pub async fn leave(&self) -> Result<()> {
        let c = self.client().await?;
        c.execute("DELETE FROM leases WHERE holder = $1", &[&self.id]).await.map_err(db)?;
        c.execute("DELETE FROM instances WHERE id = $1", &[&self.id]).await.map_err(db)?;
        Ok(())
    }
}
