'use strict'
// The gate's payment store on Redis, shared by every replica of a paid API, in any language: the key layout
// and the atomic scripts are the core's, so Node and Python replicas of one API read each other's records.

const core = require('./core')

/**
 * A payment store on Redis. `client` is a connected node-redis client (`createClient()`, which has
 * `sendCommand`) or an ioredis client (which has `call`). `prefix` keeps several APIs apart on one Redis;
 * every replica of one API must use the same one. Records expire when their payment could no longer be
 * retried.
 */
class RedisStore {
  constructor(client, { prefix = core.REDIS_KEY_PREFIX } = {}) {
    if (typeof client?.sendCommand !== 'function' && typeof client?.call !== 'function') {
      throw new TypeError('RedisStore needs a node-redis client (sendCommand) or an ioredis client (call)')
    }
    this.client = client
    this.prefix = prefix
  }

  async #eval(script, key, ...args) {
    const argv = ['EVAL', script, '1', this.prefix + key, ...args.map(String)]
    if (typeof this.client.sendCommand === 'function') return this.client.sendCommand(argv)
    return this.client.call(...argv)
  }

  async claim(key, entry, expiresAt) {
    const held = await this.#eval(core.REDIS_CLAIM, key, tokenOf(entry), entry, expiresAt)
    return held == null ? null : String(held)
  }

  async get(key) {
    const held = await this.#eval(core.REDIS_GET, key)
    return held == null ? null : String(held)
  }

  async replace(key, token, entry, expiresAt) {
    return Number(await this.#eval(core.REDIS_REPLACE, key, token, tokenOf(entry), entry, expiresAt)) === 1
  }

  async release(key, token) {
    await this.#eval(core.REDIS_RELEASE, key, token)
  }
}

/** The token of an entry (the core's JSON). */
function tokenOf(entry) {
  return JSON.parse(entry).token
}

module.exports = { RedisStore }
