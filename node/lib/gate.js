'use strict'
// What the Express, Hono and Fastify adapters share: the core's payment gate (`Gate`), configured from
// their options, and the loop that performs its steps. Every decision (which route is priced, the bill,
// the checks, replays, held responses, every status and message) is the core's; an adapter only reads the
// request, runs the handler with its response captured, and sends what the gate answers.

const core = require('./core')
const { PaywireError } = require('./errors')
const { hooksOf } = require('./hooks')

/** Response headers a browser client must be allowed to read. */
const EXPOSED_HEADERS = core.EXPOSED_HEADERS
/** Request headers a browser client sends (add them to your CORS allowed headers). */
const ALLOWED_HEADERS = core.ALLOWED_HEADERS

/**
 * The gate's own store of payment records, in this process's memory (the default): at most `maxEntries`
 * records and `maxBytes` of held responses, the oldest served records dropped first. Several processes
 * serving the same routes need one store they share: an object with async `claim(key, entry, expiresAt)`,
 * `get(key)`, `replace(key, token, entry, expiresAt)` and `release(key, token)`, where an entry is the JSON
 * text the core writes (one format in every language) and `claim`/`get` resolve to the live entry or null.
 */
class MemoryStore {
  constructor({ maxEntries = 100_000, maxBytes = 256 * 1024 * 1024 } = {}) {
    this.maxEntries = maxEntries
    this.maxBytes = maxBytes
  }
}

/** Thrown by an adapter's `readBody` when the body exceeds the limit. */
class TooLarge extends Error {}

function pricedRoute(pattern, value) {
  if (value instanceof core.PricedRoute) return value
  const r = value instanceof core.PriceTag || Array.isArray(value) ? { tags: value } : { ...value }
  const tags = Array.isArray(r.tags) ? r.tags : [r.tags]
  if (tags.length === 0 || !tags.every((t) => t instanceof core.PriceTag)) {
    throw new PaywireError('invalid_argument', 'a route is a PriceTag, an array of them, or { tags, description, mimeType, x402Version, receipts }')
  }
  return new core.PricedRoute(tags, pattern ?? undefined, {
    description: r.description,
    mimeType: r.mimeType,
    x402Version: r.x402Version,
    receipts: r.receipts,
  })
}

const STEP_LOGS = { warning: 'warn', error: 'error' }

/**
 * The gate of a middleware. `routes` maps `"[METHOD] /path"` patterns to a `PriceTag`, an array of them, or
 * `{ tags, description, mimeType, x402Version, receipts }`; `attached` are routes without a pattern, which an
 * adapter starts for the framework route it is attached to.
 */
class PaymentGate {
  constructor(routes, options = {}, attached = []) {
    const { facilitator, access, issuer, store, publicUrl, allowOnchainSignatures = false, caseSensitive = false,
      maxRequestBytes, maxReplayBytes, takeoverAfter, signIn, passFacilitator, receiverAuthorizer, supported,
      logger = console } = options
    const claims = options.claims ?? {}
    const priced = Object.entries(routes ?? {}).map(([pattern, value]) => pricedRoute(pattern, value))
    this.attachedBase = priced.length
    for (const value of attached) priced.push(pricedRoute(null, value))
    const external = store != null && !(store instanceof MemoryStore)
    const bounds = store instanceof MemoryStore ? store : new MemoryStore()
    this.hooks = hooksOf(options)
    this.native = new core.Gate(priced, {
      publicUrl: publicUrl ?? undefined,
      allowOnchainSignatures,
      maxRequestBytes,
      maxReplayBytes,
      caseSensitive,
      externalStore: external,
      maxEntries: bounds.maxEntries,
      maxBytes: bounds.maxBytes,
      takeoverAfter,
      hooks: this.hooks.points('server'),
      signIn: signIn === true ? {} : signIn || undefined,
      passFacilitator: passFacilitator ?? undefined,
      claimEverySeconds: claims.everySeconds ?? undefined,
      claimAtAmount: claims.atAmount == null ? undefined : String(claims.atAmount),
      // A SupportedResponse (its toJSON) or the plain answer.
      supportedJson: supported == null ? undefined : JSON.stringify(supported),
    }, issuer ?? undefined, access ?? undefined, receiverAuthorizer ?? undefined)
    this.claimTickMs = Math.max(100, (claims.tickSeconds ?? 5) * 1000)
    if (facilitator == null) {
      const { FacilitatorClient } = require('./facilitator')
      this.facilitator = new FacilitatorClient()
    } else {
      if (typeof facilitator.verify !== 'function' || typeof facilitator.settle !== 'function') {
        throw new PaywireError('invalid_argument', 'facilitator needs verify() and settle() (a paywire FacilitatorClient)')
      }
      this.facilitator = facilitator
    }
    this.store = external ? store : null
    this.log = logger
    if (this.native.offersBatch) {
      // batch-settlement charges are claimed on the schedule, checked every few seconds from now on.
      this.#ticker = setInterval(() => this.#checkClaims(), this.claimTickMs)
      this.#ticker.unref?.()
    }
    if (this.native.namesClientHost) {
      this.log.warn('paywire: receipts and signed offers will name the Host header the client sends; set publicUrl to the app\'s external origin')
    }
  }

  /**
   * Starts a request (`head`: `{method, path, pathAndQuery, origin, headers}`); `framework` is what the
   * router says (`{pattern}` or `{noRoute: true}`), if anything. Null when the request is free.
   */
  begin(head, framework) {
    const started = this.native.handle(head, framework ?? undefined)
    const exchange = started.takeExchange()
    return exchange == null ? null : { exchange, step: started.takeStep() }
  }

  /** Starts a request to the `index`-th attached route. */
  beginAttached(index, head) {
    const started = this.native.start(this.attachedBase + index, head)
    return { exchange: started.takeExchange(), step: started.takeStep() }
  }

  /**
   * Performs the steps of an exchange until its answer. `io` is the adapter: `readBody(limit)` resolving to
   * the body (throwing `TooLarge`, or resolving to null when the client is gone), `runHandler(paid)`
   * resolving to `{status, headers, body}` without sending it (throwing the handler's error), and
   * `send(status, headers, body)`.
   */
  async drive(exchange, step, io) {
    try {
      return await this.#drive(exchange, step, io)
    } finally {
      this.#checkClaims()
    }
  }

  async #drive(exchange, step, io) {
    let handlerError
    try {
      for (;;) {
        this.#log(step)
        switch (step.kind) {
          case 'respond':
            return await io.send(step.status, step.headers, step.body)
          case 'fail':
            throw handlerError
          case 'done':
          case 'passThrough':
            return
          case 'readBody':
            step = await this.#readBody(exchange, step, io)
            break
          case 'store':
            step = await this.#store(exchange, step)
            break
          case 'verify':
          case 'settle':
            step = await this.#facilitate(exchange, step)
            break
          case 'hook':
            step = exchange.feedHooked(await this.hooks.run(step.hookPoint, step.hookContext))
            break
          default: {
            const paid = { payer: step.payer, payment: step.accepted ?? null, receipt: step.receipt ?? null }
            let out
            try {
              out = await io.runHandler(paid)
            } catch (e) {
              handlerError = e
              step = exchange.feedHandlerFailed()
              break
            }
            step = exchange.feedHandled(out.status, core.headerPairs(out.headers), out.body)
          }
        }
      }
    } catch (e) {
      if (!exchange.ended) {
        let cleanup = exchange.cancel()
        while (cleanup.kind === 'store') cleanup = await this.#store(exchange, cleanup)
      }
      throw e
    }
  }

  /**
   * batch-settlement: claims every channel's charges at the facilitator (one transaction per offer) and sweeps
   * them to the receiver; resolves to the summary `{claims, settles}`. The gate also claims by itself on its
   * `claims` schedule (`{everySeconds = 300, atAmount, tickSeconds = 5}`); with both off, call this well within
   * the offers' withdraw delay.
   */
  async claim() {
    const started = this.native.claim()
    const exchange = started.takeExchange()
    let step = started.takeStep()
    for (;;) {
      this.#log(step)
      if (step.kind === 'store') step = await this.#store(exchange, step)
      else if (step.kind === 'verify' || step.kind === 'settle') step = await this.#facilitate(exchange, step)
      else break
    }
    const text = new TextDecoder().decode(step.body ?? new Uint8Array(0))
    if (step.kind !== 'respond' || step.status !== 200) {
      throw new PaywireError('unexpected_settle_error', `the claim failed (${step.status}): ${text}`)
    }
    return JSON.parse(text)
  }

  #claiming = null
  #ticker = null
  #closed = false

  /** Starts a claim run in the background when the claim schedule says one is due and none is running. */
  /**
   * Stops the scheduled claims (a server shutting down): no run starts after this; resolves when a run in
   * progress has ended. Claiming by hand (`claim()`) still works.
   */
  async close() {
    this.#closed = true
    if (this.#ticker != null) clearInterval(this.#ticker)
    this.#ticker = null
    await this.#claiming
  }

  #checkClaims() {
    if (this.#closed || this.#claiming != null || !this.native.claimDue()) return
    this.#claiming = this.claim()
      .then((summary) => this.#reportClaims(summary))
      .catch((e) => this.log.warn(`paywire: a scheduled claim failed (${e?.message ?? e}); it is tried again later`))
      .finally(() => {
        this.#claiming = null
      })
  }

  #reportClaims(summary) {
    for (const kind of ['claims', 'settles']) {
      for (const row of summary[kind] ?? []) {
        if (row.success) this.log.info?.(`paywire: ${kind.slice(0, -1)} ${row.amount} on ${row.network} in ${row.transaction}`)
        else this.log.warn(`paywire: a scheduled ${kind.slice(0, -1)} failed (${row.errorReason}); it is tried again later`)
      }
    }
  }

  #log(step) {
    for (const [level, message] of step.logs) this.log[STEP_LOGS[level] ?? 'warn'](message)
  }

  async #readBody(exchange, step, io) {
    let body
    try {
      body = await io.readBody(step.limit)
    } catch (e) {
      if (e instanceof TooLarge) return exchange.feedBodyTooLarge()
      throw e
    }
    return body == null ? exchange.feedClientGone() : exchange.feedBody(body)
  }

  async #store(exchange, step) {
    const store = this.store
    try {
      switch (step.op) {
        case 'claim':
          return exchange.feedStore({ entry: (await store.claim(step.key, step.entry, step.expiresAt)) ?? undefined })
        case 'get':
          return exchange.feedStore({ entry: (await store.get(step.key)) ?? undefined })
        case 'replace':
          return exchange.feedStore({ replaced: Boolean(await store.replace(step.key, step.token, step.entry, step.expiresAt)) })
        default:
          await store.release(step.key, step.token)
          return exchange.feedStore({})
      }
    } catch (e) {
      return exchange.feedStoreFailed(`${e?.name ?? 'Error'}: ${e?.message ?? String(e)}`)
    }
  }

  async #facilitate(exchange, step) {
    const kind = step.kind
    let answer
    try {
      answer = await this.facilitator[kind](step.payment, step.requirements)
    } catch (e) {
      if (e instanceof PaywireError) return exchange.feedFacilitatorFailed(e.message, e.code)
      this.log.error(`paywire: the facilitator object threw on /${kind}:`, e)
      return exchange.feedFacilitatorFailed(`${e?.name ?? 'Error'}: ${e?.message ?? String(e)}`)
    }
    const expected = kind === 'verify' ? core.VerifyResponse : core.SettleResponse
    if (!(answer instanceof expected)) {
      const got = answer?.constructor?.name ?? typeof answer
      return exchange.feedFacilitatorFailed(`the facilitator object's ${kind}() returned ${got}, not paywire's ${expected.name}`, 'invalid_facilitator_response')
    }
    return kind === 'verify' ? exchange.feedVerified(answer) : exchange.feedSettled(answer)
  }
}

module.exports = { PaymentGate, MemoryStore, TooLarge, EXPOSED_HEADERS, ALLOWED_HEADERS }
