package dev.paywire

import dev.paywire.ffi.redisScripts
import dev.paywire.ffi.storeEntryToken
import redis.clients.jedis.UnifiedJedis

/**
 * A [PaymentStore] on Redis, shared by every replica of a paid API in any language: the key layout and the
 * atomic Lua scripts are paywire's core's, the same that Python's `paywire.redis` and Node's `RedisStore` run,
 * so Kotlin, Python and Node replicas of one API read each other's records. Each record expires when its
 * payment could no longer be retried.
 *
 * [jedis] is a Jedis client (`RedisClient.create("redis://host:6379")`, pooled and thread-safe); [prefix]
 * keeps several APIs apart on one Redis, and every replica of one API must use the same one.
 */
class RedisPaymentStore(
    private val jedis: UnifiedJedis,
    private val prefix: String = SCRIPTS.keyPrefix,
) : PaymentStore {
    private fun eval(script: String, key: String, vararg args: String): Any? =
        jedis.eval(script, listOf(prefix + key), args.toList())

    override fun claim(key: String, entry: String, expiresAt: Long): String? =
        eval(SCRIPTS.claim, key, storeEntryToken(entry), entry, expiresAt.toString())?.toString()

    override fun get(key: String): String? = eval(SCRIPTS.get, key)?.toString()

    override fun replace(key: String, token: String, entry: String, expiresAt: Long): Boolean =
        (eval(SCRIPTS.replace, key, token, storeEntryToken(entry), entry, expiresAt.toString()) as? Long) == 1L

    override fun release(key: String, token: String) {
        eval(SCRIPTS.release, key, token)
    }

    private companion object {
        val SCRIPTS = redisScripts()
    }
}
