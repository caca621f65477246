//! What a gate remembers about the payments it took, so that a payment is served once per request and never
//! for two different requests, and a client whose answer was lost gets it again.
//!
//! A record lives under a key (the signed authorization's own name, and the `payment-identifier` id when the
//! payment carries one) with a token naming the request that holds it: only that request may change or
//! release it. Stores shared by several processes keep the entry's JSON ([`StoreEntry::to_json`]), one
//! format for every language, and let it expire at [`StoreEntry::expires_at`].

use crate::prelude::*;
use crate::sync::{Mutex, MutexGuard};
use alloc::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode, Result};

/// Where a payment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordState {
    /// A request is verifying, serving or settling it right now.
    InFlight,
    /// The handler answered, but whether the payment settled is unknown; the response is held for a retry of
    /// the same payment, which asks the facilitator again.
    Unsettled,
    /// Settled and served; the response is held unless it was too large.
    Done,
}

impl RecordState {
    /// The state's name in records: `in_flight`, `unsettled`, `done`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::InFlight => "in_flight",
            RecordState::Unsettled => "unsettled",
            RecordState::Done => "done",
        }
    }
}

/// A payment the gate has taken, and the response it answered with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Where the payment stands.
    pub state: RecordState,
    /// A digest of the request it paid for (method, path and query, body): only the same request gets the
    /// held response.
    pub fingerprint: String,
    /// A digest of the payment as sent.
    pub payment: String,
    /// The held response's status (0 while in flight).
    #[serde(default)]
    pub status: u16,
    /// The held response's headers.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The held response's body.
    #[serde(default, with = "base64_body")]
    pub body: Option<Vec<u8>>,
    /// When the request now holding it took it (unix seconds; 0: unknown, from a version that did not say):
    /// a record in flight much longer than any request takes belongs to a process that died mid-request.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub since: u64,
    /// What an `upto` payment charges (atomic units), decided when its handler ran: a retry settles the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A record under a key, with the token of the request that holds it and when it may be forgotten.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreEntry {
    /// The format's version (1).
    #[serde(default = "version_one")]
    pub version: u8,
    /// Names the request holding the record; changes and releases must present it.
    pub token: String,
    /// Unix time after which the payment can no longer settle and the entry may be dropped.
    pub expires_at: u64,
    /// The record.
    #[serde(flatten)]
    pub record: Record,
}

fn version_one() -> u8 {
    1
}

impl StoreEntry {
    /// The entry as stored by shared stores: compact JSON, the body in base64.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads an entry stored with [`StoreEntry::to_json`].
    pub fn from_json(text: &str) -> Result<Self> {
        let entry: StoreEntry = serde_json::from_str(text).map_err(|e| {
            Error::new(ErrorCode::InvalidArgument, format!("a stored payment record is unreadable: {e}"))
        })?;
        if entry.version != 1 {
            return Err(Error::new(
                ErrorCode::InvalidArgument,
                format!("a stored payment record has format version {}; this paywire reads version 1", entry.version),
            ));
        }
        Ok(entry)
    }

    /// The bytes the entry holds (its response), which bounds a memory store.
    pub fn size(&self) -> usize {
        self.record.body.as_ref().map_or(0, Vec::len)
            + self.record.headers.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
            + self.record.fingerprint.len()
            + self.record.payment.len()
            + self.token.len()
    }
}

mod base64_body {
    use super::*;

    pub fn serialize<S: serde::Serializer>(body: &Option<Vec<u8>>, s: S) -> core::result::Result<S::Ok, S::Error> {
        match body {
            Some(b) => s.serialize_some(&base64::engine::general_purpose::STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> core::result::Result<Option<Vec<u8>>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| base64::engine::general_purpose::STANDARD.decode(t).map_err(serde::de::Error::custom)).transpose()
    }
}

/// A store of payment records. Each method must be atomic with respect to the others on the same key; a
/// store shared by processes implements them over its database (a Redis key or an SQL row per key).
pub trait PaymentStore: Send + Sync {
    /// Stores `entry` under `key` and returns `None`, or returns the live entry already there (unchanged).
    fn claim(&self, key: &str, entry: StoreEntry, now: u64) -> Result<Option<StoreEntry>>;
    /// The live entry under `key`, if any.
    fn get(&self, key: &str, now: u64) -> Result<Option<StoreEntry>>;
    /// Stores `entry` under `key` if the live entry there has `token`; `false` if it has not.
    fn replace(&self, key: &str, token: &str, entry: StoreEntry, now: u64) -> Result<bool>;
    /// Forgets the entry under `key` if it has `token` (a payment that was not settled).
    fn release(&self, key: &str, token: &str) -> Result<()>;
}

/// A [`PaymentStore`] in this process's memory. Entries are dropped once expired. At most `max_entries`
/// entries and `max_bytes` of held responses are kept; past either, expired entries go first, then the oldest
/// served ones (a retry of those is then refused). Payments in flight or with an open settlement are never
/// dropped to make room: a store full of those refuses new payments instead.
pub struct MemoryStore {
    max_entries: usize,
    max_bytes: usize,
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_key: BTreeMap<String, (u64, StoreEntry)>,
    order: BTreeMap<u64, String>,
    next: u64,
    bytes: usize,
}

impl Entries {
    fn live(&self, key: &str, now: u64) -> Option<&StoreEntry> {
        self.by_key.get(key).map(|(_, e)| e).filter(|e| e.expires_at > now)
    }

    fn drop_key(&mut self, key: &str) {
        if let Some((seq, gone)) = self.by_key.remove(key) {
            self.order.remove(&seq);
            self.bytes -= gone.size();
        }
    }

    fn put(&mut self, key: &str, entry: StoreEntry) {
        self.drop_key(key);
        let seq = self.next;
        self.next += 1;
        self.bytes += entry.size();
        self.order.insert(seq, key.to_string());
        self.by_key.insert(key.to_string(), (seq, entry));
    }
}

/// The default bounds of a [`MemoryStore`].
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;
/// The default byte bound of a [`MemoryStore`].
pub const DEFAULT_MAX_BYTES: usize = 256 * 1024 * 1024;

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(DEFAULT_MAX_ENTRIES, DEFAULT_MAX_BYTES)
    }
}

impl MemoryStore {
    /// A store keeping at most `max_entries` entries and `max_bytes` of held responses.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        MemoryStore { max_entries: max_entries.max(1), max_bytes, inner: Mutex::new(Entries::default()) }
    }

    /// How many entries are kept.
    pub fn len(&self) -> usize {
        self.lock().by_key.len()
    }

    /// Whether no entry is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // Every change is completed under the lock without calling out, so a poisoned lock is consistent.
        self.inner.lock()
    }

    /// Makes room for an entry of `incoming` bytes by dropping expired and served entries, oldest first, and
    /// no more than needed. One walk from the oldest entry: a full store pays for what it drops, not for
    /// what it keeps (entries still in flight are skipped, and there are only as many as requests running).
    fn make_room(&self, entries: &mut Entries, incoming: usize, now: u64) -> Result<()> {
        let fits = |count: usize, bytes: usize| count < self.max_entries && bytes + incoming <= self.max_bytes;
        let (mut count, mut bytes) = (entries.by_key.len(), entries.bytes);
        let mut doomed = Vec::new();
        for key in entries.order.values() {
            if fits(count, bytes) {
                break;
            }
            if let Some((_, e)) = entries.by_key.get(key)
                && (e.expires_at <= now || e.record.state == RecordState::Done)
            {
                count -= 1;
                bytes -= e.size();
                doomed.push(key.clone());
            }
        }
        for key in doomed {
            entries.drop_key(&key);
        }
        if fits(count, bytes) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorCode::PaymentInProgress,
                "the payment store is full of payments in progress; try again shortly",
            ))
        }
    }
}

impl PaymentStore for MemoryStore {
    fn claim(&self, key: &str, entry: StoreEntry, now: u64) -> Result<Option<StoreEntry>> {
        let mut entries = self.lock();
        if let Some(held) = entries.live(key, now) {
            return Ok(Some(held.clone()));
        }
        entries.drop_key(key);
        self.make_room(&mut entries, entry.size(), now)?;
        entries.put(key, entry);
        Ok(None)
    }

    fn get(&self, key: &str, now: u64) -> Result<Option<StoreEntry>> {
        Ok(self.lock().live(key, now).cloned())
    }

    fn replace(&self, key: &str, token: &str, entry: StoreEntry, now: u64) -> Result<bool> {
        let mut entries = self.lock();
        if entries.live(key, now).is_none_or(|held| held.token != token) {
            return Ok(false);
        }
        let size = entry.size();
        entries.drop_key(key);
        // The record is this request's own: room is made by dropping others, never by losing this one.
        let _ = self.make_room(&mut entries, size, now);
        entries.put(key, entry);
        Ok(true)
    }

    fn release(&self, key: &str, token: &str) -> Result<()> {
        let mut entries = self.lock();
        if entries.by_key.get(key).is_some_and(|(_, e)| e.token == token) {
            entries.drop_key(key);
        }
        Ok(())
    }
}

impl core::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemoryStore").field("entries", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(token: &str, state: RecordState, body: usize, expires_at: u64) -> StoreEntry {
        StoreEntry {
            version: 1,
            token: token.into(),
            expires_at,
            record: Record {
                state,
                fingerprint: "f".into(),
                payment: "p".into(),
                status: 200,
                headers: vec![("a".into(), "b".into())],
                body: Some(vec![7; body]),
                since: 0,
                charge: None,
            },
        }
    }

    #[test]
    fn entries_round_trip_as_json() {
        let e = entry("t", RecordState::Unsettled, 3, 99);
        let text = e.to_json();
        assert_eq!(
            text,
            r#"{"version":1,"token":"t","expiresAt":99,"state":"unsettled","fingerprint":"f","payment":"p","status":200,"headers":[["a","b"]],"body":"BwcH"}"#
        );
        assert_eq!(StoreEntry::from_json(&text).unwrap(), e);
        assert!(StoreEntry::from_json(&text.replace("\"version\":1", "\"version\":2")).is_err());
        assert!(StoreEntry::from_json("{}").is_err());
    }

    #[test]
    fn claim_replace_release_by_token() {
        let s = MemoryStore::default();
        assert_eq!(s.claim("k", entry("a", RecordState::InFlight, 0, 100), 10).unwrap(), None);
        assert_eq!(s.claim("k", entry("b", RecordState::InFlight, 0, 100), 10).unwrap().unwrap().token, "a");
        assert!(!s.replace("k", "b", entry("b", RecordState::Done, 0, 100), 10).unwrap());
        assert!(s.replace("k", "a", entry("a", RecordState::Done, 0, 100), 10).unwrap());
        s.release("k", "b").unwrap();
        assert!(s.get("k", 10).unwrap().is_some());
        s.release("k", "a").unwrap();
        assert!(s.get("k", 10).unwrap().is_none());
        // Expired entries are gone for every operation.
        s.claim("e", entry("a", RecordState::InFlight, 0, 100), 10).unwrap();
        assert!(s.get("e", 100).unwrap().is_none());
        assert!(!s.replace("e", "a", entry("a", RecordState::Done, 0, 100), 100).unwrap());
        assert_eq!(s.claim("e", entry("c", RecordState::InFlight, 0, 200), 100).unwrap(), None);
    }

    #[test]
    fn a_full_store_drops_served_entries_first() {
        let s = MemoryStore::new(2, usize::MAX);
        s.claim("open", entry("a", RecordState::Unsettled, 0, 100), 1).unwrap();
        s.claim("done", entry("a", RecordState::Done, 0, 100), 1).unwrap();
        s.claim("new", entry("a", RecordState::InFlight, 0, 100), 1).unwrap();
        assert!(s.get("done", 1).unwrap().is_none());
        assert!(s.get("open", 1).unwrap().is_some());
        let full = s.claim("more", entry("a", RecordState::InFlight, 0, 100), 1).unwrap_err();
        assert_eq!(full.code(), ErrorCode::PaymentInProgress);
        let bytes = MemoryStore::new(10, 100);
        bytes.claim("big", entry("a", RecordState::Done, 60, 100), 1).unwrap();
        bytes.claim("big2", entry("a", RecordState::Done, 60, 100), 1).unwrap();
        assert!(bytes.get("big", 1).unwrap().is_none());
        assert!(bytes.get("big2", 1).unwrap().is_some());
    }

    #[test]
    fn a_full_store_drops_only_what_the_new_entry_needs_oldest_first() {
        let s = MemoryStore::new(3, usize::MAX);
        s.claim("stale", entry("a", RecordState::InFlight, 0, 5), 1).unwrap();
        s.claim("old", entry("a", RecordState::Done, 0, 100), 1).unwrap();
        s.claim("young", entry("a", RecordState::Done, 0, 100), 1).unwrap();
        // The expired claim (a process that died mid-request) is the oldest: it goes, the served ones stay.
        s.claim("new", entry("a", RecordState::InFlight, 0, 100), 10).unwrap();
        assert_eq!(s.len(), 3);
        assert!(s.get("old", 10).unwrap().is_some() && s.get("young", 10).unwrap().is_some());
        // Then the oldest served entry, and only it.
        s.claim("newer", entry("a", RecordState::InFlight, 0, 100), 10).unwrap();
        assert!(s.get("old", 10).unwrap().is_none());
        assert!(s.get("young", 10).unwrap().is_some() && s.get("new", 10).unwrap().is_some());
        // Entries in flight are never dropped to make room.
        s.claim("newest", entry("a", RecordState::InFlight, 0, 100), 10).unwrap();
        let full = s.claim("more", entry("a", RecordState::InFlight, 0, 100), 10).unwrap_err();
        assert_eq!(full.code(), ErrorCode::PaymentInProgress);
        assert_eq!(s.len(), 3);
    }
}
