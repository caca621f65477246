//! The gate's shared payment store on Redis, as data: the key layout and the Lua scripts every language runs.
//! Replicas of one API, in any language, read and write each other's records because they all use these.
//!
//! A record is a Redis hash under [`REDIS_KEY_PREFIX`] + the gate's key, with two fields: `token` (the
//! entry's token, compared by [`REDIS_REPLACE`] and [`REDIS_RELEASE`]) and `entry` (the core's JSON,
//! [`super::store::StoreEntry`]). It expires at the entry's `expiresAt` (`EXPIREAT`), so Redis forgets a
//! payment when it could no longer be retried. Each script runs atomically on its key.

/// The prefix of every key the gate writes.
pub const REDIS_KEY_PREFIX: &str = "paywire:gate:";

/// Claims a key: `KEYS[1]` the key; `ARGV` the entry's token, its JSON and its `expiresAt`. Returns the live
/// entry's JSON when the key is taken, else stores the entry and returns nil.
pub const REDIS_CLAIM: &str = "\
local held = redis.call('HGET', KEYS[1], 'entry')
if held then return held end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'entry', ARGV[2])
redis.call('EXPIREAT', KEYS[1], tonumber(ARGV[3]))
return false";

/// Reads a key: `KEYS[1]` the key. Returns the live entry's JSON, or nil.
pub const REDIS_GET: &str = "return redis.call('HGET', KEYS[1], 'entry')";

/// Replaces an entry if the live one has a token: `KEYS[1]` the key; `ARGV` the token expected, the new
/// entry's token, its JSON and its `expiresAt`. Returns 1 when it replaced the entry, else 0.
pub const REDIS_REPLACE: &str = "\
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'token', ARGV[2], 'entry', ARGV[3])
redis.call('EXPIREAT', KEYS[1], tonumber(ARGV[4]))
return 1";

/// Forgets an entry if it has a token: `KEYS[1]` the key; `ARGV[1]` the token. Returns 1 when it did.
pub const REDIS_RELEASE: &str = "\
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_script_touches_only_its_key_and_the_two_fields() {
        for script in [REDIS_CLAIM, REDIS_GET, REDIS_REPLACE, REDIS_RELEASE] {
            assert!(!script.contains("KEYS[2]"), "{script}");
            for call in script.split("redis.call(").skip(1) {
                assert!(call.contains("KEYS[1]"), "{call}");
            }
        }
        assert!(REDIS_CLAIM.contains("EXPIREAT") && REDIS_REPLACE.contains("EXPIREAT"));
    }
}
