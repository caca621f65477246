'use strict'
// What the Express and Hono middleware share: billing a request, verifying its payment, holding the
// handler's response until the payment settles, and remembering payments so none is served twice. The
// semantics are those of paywire's Python ASGI middleware; the adapters only move requests and responses.

const { createHash, randomBytes } = require('node:crypto')
const core = require('./core')
const { PaywireError } = require('./errors')

/** Response headers a browser client must be allowed to read. */
const EXPOSED_HEADERS = 'PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-PAYMENT-RESPONSE'
/** Request headers a browser client sends (add them to your CORS allowed headers). */
const ALLOWED_HEADERS = 'PAYMENT-SIGNATURE, X-PAYMENT, X-PAYWIRE-RECEIPT'
/** Methods whose handler may run again for the same paid request without doing anything twice. */
const SAFE_METHODS = ['GET', 'HEAD', 'OPTIONS']
/** What a buyer is told when the facilitator fails; the details go to the server's log. */
const UPSTREAM_MESSAGE = 'the payment service is unavailable; nothing was charged for this request; try again later'
const UNCONFIRMED_MESSAGE =
  'the payment is not confirmed yet; send the same request with the same payment again to receive the response'
/** Errors that only say the authorization has expired. */
const EXPIRED = ['invalid_exact_evm_payload_authorization_valid_before', 'permit2_deadline_expired']

const newToken = () => randomBytes(16).toString('hex')
const encoder = new TextEncoder()

/**
 * A payment the server has taken. `state` is "in_flight" (being processed), "unsettled" (the handler
 * answered but the settlement's outcome is unknown; `body` holds the response) or "done" (settled and
 * served; `body` holds the response unless it was larger than `maxReplayBytes`). `payment` is a digest of
 * the payment and `fingerprint` one of the request, so only the same payment for the same request gets the
 * held response. `token` names the request that holds the record; only it may change or release it.
 */
function record(fingerprint, payment, expiresAt) {
  return { fingerprint, payment, expiresAt, token: newToken(), state: 'in_flight', status: 0, headers: [], body: null }
}

const recordSize = (r) => (r.body ? r.body.length : 0) + r.headers.reduce((n, [k, v]) => n + k.length + v.length, 0)

/**
 * Where the middleware remembers payments, in this process's memory. For several processes serving the
 * same routes, pass a store with the same four async methods over a shared database (`claim`, `replace` and
 * `release` must each be atomic). Records are dropped once their authorization expired; at most
 * `maxEntries` records and `maxBytes` of held responses are kept, dropping the oldest served ones first.
 */
class MemoryStore {
  #records = new Map()
  #total = 0

  constructor({ maxEntries = 100_000, maxBytes = 256 * 1024 * 1024 } = {}) {
    this.maxEntries = maxEntries
    this.maxBytes = maxBytes
  }

  /** Stores `rec` under `key` and resolves to null, or to the live record already there. */
  async claim(key, rec) {
    const held = await this.get(key)
    if (held) return held
    this.#put(key, rec)
    return null
  }

  /** The live record under `key`, if any. */
  async get(key) {
    const held = this.#records.get(key)
    return held && held.expiresAt > Date.now() / 1000 ? held : null
  }

  /** Stores `rec` under `key` if the record there has `token`; false if it has not. */
  async replace(key, token, rec) {
    const held = this.#records.get(key)
    if (!held || held.token !== token) return false
    this.#put(key, rec)
    return true
  }

  /** Forgets the record under `key` if it has `token` (a payment that was not settled). */
  async release(key, token) {
    const held = this.#records.get(key)
    if (held && held.token === token) this.#drop(key)
  }

  get size() {
    return this.#records.size
  }

  #drop(key) {
    const gone = this.#records.get(key)
    if (gone) {
      this.#records.delete(key)
      this.#total -= recordSize(gone)
    }
  }

  #put(key, rec) {
    this.#drop(key)
    const size = recordSize(rec)
    if (this.#records.size >= this.maxEntries || this.#total + size > this.maxBytes) this.#prune(size)
    this.#records.set(key, rec)
    this.#total += size
  }

  #prune(incoming) {
    const now = Date.now() / 1000
    for (const [key, r] of this.#records) if (r.expiresAt <= now) this.#drop(key)
    for (const [key, r] of this.#records) {
      if (this.#records.size < this.maxEntries && this.#total + incoming <= this.maxBytes) break
      if (r.state === 'done') this.#drop(key)
    }
  }
}

function escapeRegex(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** `"[METHOD] /path"` with `{name}` or `:name` (one segment), `{name:path}` or `*` (the rest). */
function compile(pattern) {
  const text = String(pattern).trim()
  const space = text.lastIndexOf(' ')
  const method = space < 0 ? '' : text.slice(0, space).trim().toUpperCase()
  const path = space < 0 ? text : text.slice(space + 1)
  if (!path.startsWith('/')) {
    throw new PaywireError('invalid_argument', `route ${JSON.stringify(pattern)} is not "[METHOD] /path"; e.g. "GET /weather/{city}"`, { category: 'configuration' })
  }
  let regex = ''
  for (const part of path.split(/(\{[^/{}]+\}|:[A-Za-z0-9_]+|\*)/)) {
    if (part === '*') regex += '.*'
    else if (part.startsWith('{') && part.endsWith('}')) regex += part.slice(1, -1).split(':')[1]?.trim() === 'path' ? '.+' : '[^/]+'
    else if (/^:[A-Za-z0-9_]+$/.test(part)) regex += '[^/]+'
    else regex += escapeRegex(part)
  }
  return { method: method || null, regex: new RegExp(`^${regex}$`) }
}

const header = (headers, name) => {
  const lower = name.toLowerCase()
  for (const [k, v] of headers) if (k.toLowerCase() === lower) return v
  return null
}
const without = (headers, name) => headers.filter(([k]) => k.toLowerCase() !== name.toLowerCase())
const setHeader = (headers, name, value) => [...without(headers, name), [name.toLowerCase(), value]]

function withExposed(headers) {
  const existing = headers.filter(([k]) => k.toLowerCase() === 'access-control-expose-headers').map(([, v]) => v)
  return [...without(headers, 'access-control-expose-headers'), ['access-control-expose-headers', [...existing, EXPOSED_HEADERS].join(', ')]]
}

/** Keeps paid content out of shared caches. */
function privateCache(headers) {
  const cache = header(headers, 'cache-control')
  if (cache !== null && cache.split(',').some((d) => d.trim().toLowerCase() === 'private')) return headers
  return setHeader(headers, 'cache-control', cache ? `${cache}, private` : 'private')
}

const sha256 = (...parts) => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest('hex')
}

/** The signed authorization's own name: a signature can pay once, whatever id it is sent with. */
function authKey(accepted) {
  const v = accepted.verified
  return `auth:${v.chainId}:${v.asset}:${v.payer}:${v.nonce}`.toLowerCase()
}

function expect(answer, cls, endpoint) {
  if (!(answer instanceof cls)) {
    throw new PaywireError('invalid_facilitator_response', `the facilitator object's ${endpoint}() returned ${answer?.constructor?.name ?? typeof answer}, not paywire's ${cls.name}`, { category: 'upstream' })
  }
  return answer
}

function normalizeRoute(route) {
  const r = route instanceof core.PriceTag || Array.isArray(route) ? { tags: route } : { ...route }
  const tags = Array.isArray(r.tags) ? r.tags : [r.tags]
  if (tags.length === 0 || !tags.every((t) => t instanceof core.PriceTag)) {
    throw new PaywireError('invalid_argument', 'a route is a PriceTag, an array of them, or { tags, description, mimeType, x402Version, receipts }', { category: 'configuration' })
  }
  return { tags, description: r.description, mimeType: r.mimeType, x402Version: r.x402Version ?? 2, receipts: r.receipts ?? true }
}

/** Thrown by an adapter's `readBody` when the body exceeds the limit. */
class TooLarge extends Error {}

/**
 * The billing logic, independent of the web framework. `routes` maps `"[METHOD] /path"` patterns to a
 * `PriceTag`, an array of them, or `{ tags, description, mimeType, x402Version, receipts }`.
 */
class PaymentGate {
  constructor(routes, options = {}) {
    const { facilitator, access, issuer, store, publicUrl, allowOnchainSignatures = false,
      maxRequestBytes = 10 * 1024 * 1024, maxReplayBytes = 1024 * 1024, logger = console } = options
    this.routes = []
    for (const [pattern, value] of Object.entries(routes ?? {})) {
      const route = normalizeRoute(value)
      // Fail at start-up, not on the first request, when a price tag cannot make a bill.
      core.buildPaymentRequired('http://localhost/', route.tags, { x402Version: route.x402Version })
      this.routes.push({ ...compile(pattern), route })
    }
    if (facilitator == null) {
      const { FacilitatorClient } = require('./facilitator')
      this.facilitator = new FacilitatorClient()
    } else {
      if (typeof facilitator.verify !== 'function' || typeof facilitator.settle !== 'function') {
        throw new PaywireError('invalid_argument', 'facilitator needs verify() and settle() (a paywire FacilitatorClient)', { category: 'configuration' })
      }
      this.facilitator = facilitator
    }
    this.access = access ?? null
    this.issuer = issuer ?? null
    this.store = store ?? new MemoryStore()
    this.publicUrl = publicUrl ? String(publicUrl).replace(/\/+$/, '') : null
    this.allowOnchainSignatures = allowOnchainSignatures
    this.maxRequestBytes = maxRequestBytes
    this.maxReplayBytes = maxReplayBytes
    this.log = logger
    if ((this.issuer || this.access) && !this.publicUrl) {
      this.log.warn('paywire: receipts and signed offers will name the Host header the client sends; set publicUrl to the app\'s external origin')
    }
  }

  /** The priced route a request falls under, or null when it is free. */
  routeFor(method, path) {
    const m = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase()
    if (m === 'OPTIONS') return null
    for (const r of this.routes) if ((r.method === null || r.method === m) && r.regex.test(path)) return r.route
    return null
  }

  /** The URL a bill names: `publicUrl` (else the request's origin) and the full path with its query. */
  resourceUrl(origin, fullPath) {
    return (this.publicUrl ?? origin) + fullPath
  }

  /** Runs one request to a priced route (see `Exchange` for what the adapter provides). */
  async handle(route, io) {
    await new Exchange(this, route, io).run()
  }
}

/**
 * One request to a priced route, from bill to settled response. `io` is the adapter: `method`,
 * `fullPath` (path and query as sent), `headers` ([name, value] pairs), `origin`, `readBody(limit)`,
 * `runHandler(paid, body)` resolving to `{status, headers, body}` without sending it, and
 * `send(status, headers, body)`.
 */
class Exchange {
  constructor(gate, route, io) {
    this.gate = gate
    this.route = route
    this.io = io
    this.method = io.method.toUpperCase()
    this.url = gate.resourceUrl(io.origin, io.fullPath)
    this.headers = io.headers
    this.held = new Map()
    this.bill = core.buildPaymentRequired(this.url, route.tags, {
      x402Version: route.x402Version,
      description: route.description,
      mimeType: route.mimeType,
    })
  }

  async run() {
    let payment = null
    let unreadable = null
    try {
      payment = core.readPayment(this.headers)
    } catch (e) {
      if (!(e instanceof PaywireError)) throw e
      unreadable = e
    }
    const receipt = header(this.headers, core.RECEIPT_HEADER)
    if (this.gate.access && this.route.receipts && receipt !== null) {
      let grant = null
      try {
        grant = this.gate.access.checkRequest(this.headers, this.url)
      } catch (e) {
        if (!(e instanceof PaywireError)) throw e
        if (payment === null) return this.refuse(unreadable ?? e)
        // A bad receipt does not spoil the payment sent with it.
      }
      if (grant) {
        const body = await this.readBody()
        if (body === null) return
        const out = await this.io.runHandler({ payer: grant.payload.payer, payment: null, receipt: grant.payload }, body)
        return this.io.send(out.status, withExposed(privateCache(out.headers)), out.body)
      }
    }
    if (unreadable) return this.refuse(unreadable)
    if (payment === null || this.method === 'HEAD') {
      // HEAD shows the bill; it is never charged for, as it delivers nothing.
      return this.answerBill(402, 'Payment required', 'this resource costs a payment; pay one of the offers')
    }
    let accepted
    try {
      accepted = core.checkPayment(this.bill, payment, { allowOnchainSignatures: this.gate.allowOnchainSignatures })
    } catch (e) {
      if (!(e instanceof PaywireError)) throw e
      if (EXPIRED.includes(e.code)) return this.replayExpired(payment, e)
      return this.refuse(e)
    }
    const body = await this.readBody()
    if (body !== null) await this.guarded(() => this.take(accepted, body))
  }

  /** An expired payment may still be the retry of one this server took: answer from its record, else refuse. */
  async replayExpired(payment, expired) {
    const until = payment.lastAcceptableTime
    if (until === null) return this.refuse(expired)
    let accepted
    try {
      accepted = core.checkPayment(this.bill, payment, { now: until, allowOnchainSignatures: this.gate.allowOnchainSignatures })
    } catch {
      return this.refuse(expired)
    }
    const body = await this.readBody()
    if (body === null) return
    const key = authKey(accepted)
    const claim = this.claimRecord(accepted, body)
    const held = await this.gate.store.get(key)
    if (!held || held.state === 'in_flight' || held.fingerprint !== claim.fingerprint || held.payment !== claim.payment) {
      return this.refuse(expired)
    }
    await this.guarded(() => this.replay(key, held, claim, accepted, body))
  }

  /** The request body, or null once the answer is sent (too large) or the client is gone. */
  async readBody() {
    try {
      return await this.io.readBody(this.gate.maxRequestBytes)
    } catch (e) {
      if (e instanceof TooLarge) {
        await this.answerJson(413, 'invalid_argument', 'the request body is larger than this route takes')
        return null
      }
      throw e
    }
  }

  claimRecord(accepted, body) {
    const fingerprint = sha256(this.method, '\0', this.io.fullPath, '\0', body)
    return record(fingerprint, sha256(accepted.payment.rawJson), Number(accepted.verified.validBefore) + 60)
  }

  /** Runs `work`, then releases the records it still holds, whatever happened. */
  async guarded(work) {
    try {
      await work()
    } finally {
      for (const [key, token] of this.held) await this.gate.store.release(key, token)
    }
  }

  async take(accepted, body) {
    const key = authKey(accepted)
    const claim = this.claimRecord(accepted, body)
    const held = await this.gate.store.claim(key, claim)
    if (held) return this.replay(key, held, claim, accepted, body)
    this.held.set(key, claim.token)
    if (accepted.paymentId !== null) {
      // The payment-identifier extension: one id, one payment for one request.
      const marker = { ...claim, token: newToken(), state: 'done' }
      const other = await this.gate.store.claim(`id:${accepted.paymentId}`, marker)
      if (other === null) this.held.set(`id:${accepted.paymentId}`, marker.token)
      else if (other.payment !== claim.payment || other.fingerprint !== claim.fingerprint) {
        return this.answerJson(409, 'payment_identifier_conflict',
          'this payment id already paid for a different request or with a different payment; use a new payment id')
      }
    }
    await this.serve(accepted, body, key, claim)
  }

  async replay(key, held, claim, accepted, body) {
    if (held.fingerprint !== claim.fingerprint || held.payment !== claim.payment) {
      return this.refuse(new PaywireError('invalid_exact_evm_nonce_already_used', 'this payment was already used for another request', { category: 'refused' }))
    }
    if (held.state === 'in_flight') {
      return this.answerJson(409, 'payment_in_progress', 'this payment is being processed for an earlier request; wait for its answer')
    }
    if (held.state === 'unsettled') return this.settleHeld(key, held, accepted, body)
    // The same request with the same payment: the client lost our answer. Answer it again, unpaid twice.
    await this.answerAgain(held, accepted, body)
  }

  /** Answers a settled payment again: the held response, or for a safe method the handler's anew. */
  async answerAgain(held, accepted, body) {
    if (held.body !== null) return this.sendFinal(held.status, held.headers, held.body)
    if (!SAFE_METHODS.includes(this.method)) {
      return this.answerJson(409, 'payment_already_served',
        'this payment was already served and its response is no longer held; running the request again would do it twice')
    }
    const out = await this.io.runHandler(this.paid(accepted), body)
    let headers = out.headers
    for (const name of ['payment-response', 'x-payment-response']) {
      const value = header(held.headers, name)
      if (value !== null) headers = setHeader(headers, name, value)
    }
    await this.sendFinal(out.status, privateCache(headers), out.body)
  }

  /** A retry of a payment whose settlement's outcome was unknown: take the record over, settle again, answer. */
  async settleHeld(key, held, accepted, body) {
    const mine = { ...held, state: 'in_flight', token: newToken() }
    if (!(await this.gate.store.replace(key, held.token, mine))) {
      return this.answerJson(409, 'payment_in_progress', 'this payment is being processed for an earlier request; wait for its answer')
    }
    this.held.set(key, mine.token) // released if the settlement now definitely fails
    try {
      await this.settleAndAnswer(accepted, key, mine, held.status, held.headers, held.body, body)
    } catch (e) {
      // Whatever happened, the settlement is still open: put the record back for the next retry.
      await this.record(key, mine, { ...held, token: newToken() })
      throw e
    }
  }

  paid(accepted) {
    return { payer: accepted.verified.payer, payment: accepted, receipt: null }
  }

  /** Verifies with the facilitator, runs the handler, settles. */
  async serve(accepted, body, key, claim) {
    let verdict
    try {
      verdict = expect(await this.gate.facilitator.verify(accepted.payment, accepted.requirements), core.VerifyResponse, 'verify')
    } catch (e) {
      return this.upstreamFailed('/verify', e, UPSTREAM_MESSAGE)
    }
    if (!verdict.isValid) {
      const reason = verdict.invalidReason || 'invalid_payment'
      return this.answerBill(core.statusForReason(reason), reason, verdict.invalidMessage || reason)
    }
    const out = await this.io.runHandler(this.paid(accepted), body)
    if (out.status >= 400) {
      // The handler failed: nothing was delivered, so nothing is charged.
      return this.sendFinal(out.status, out.headers, out.body)
    }
    await this.settleAndAnswer(accepted, key, claim, out.status, out.headers, out.body, body)
  }

  /** Moves the record this request holds to `next`; from then on it outlives the request. */
  async record(key, current, next) {
    let stored = false
    try {
      stored = await this.gate.store.replace(key, current.token, next)
    } catch (e) {
      this.gate.log.error(`paywire: could not record the outcome of a settlement for ${this.url}:`, e)
    }
    if (stored) this.held.clear() // the payment's records (and its id's) now outlive this request
    return stored
  }

  /** Settles, records the outcome, and releases the response. */
  async settleAndAnswer(accepted, key, rec, status, headers, response, body) {
    const version = this.bill.x402Version
    let failure = null
    let settled = null
    try {
      settled = expect(await this.gate.facilitator.settle(accepted.payment, accepted.requirements), core.SettleResponse, 'settle')
    } catch (e) {
      failure = e
    }
    if (settled === null || settled.isPending) {
      // The outcome is unknown: hold the response for a retry of the same payment, which settles again.
      await this.record(key, rec, { ...rec, state: 'unsettled', status, headers, body: response })
    } else if (settled.success) {
      headers = this.settledHeaders(headers, accepted, settled)
      const kept = response !== null && response.length <= this.gate.maxReplayBytes ? response : null
      await this.record(key, rec, { ...rec, state: 'done', status, headers, body: kept })
    }
    if (settled === null) return this.upstreamFailed('/settle', failure, UNCONFIRMED_MESSAGE)
    if (settled.isPending) {
      const reason = settled.errorReason || 'settlement_pending'
      return this.answerBill(402, reason, UNCONFIRMED_MESSAGE, [core.settlementHeader(version, settled)])
    }
    if (!settled.success) {
      const reason = settled.errorReason || 'settlement_failed'
      return this.answerBill(402, reason, settled.errorMessage || reason, [core.settlementHeader(version, settled)])
    }
    if (response === null) {
      // Settled now for a response too large to have been held: run a safe request again.
      return this.answerAgain({ ...rec, headers, body: null }, accepted, body)
    }
    await this.sendFinal(status, headers, response)
  }

  settledHeaders(headers, accepted, settled) {
    const version = this.bill.x402Version
    if (this.gate.issuer && version >= 2) {
      try {
        const receipt = this.gate.issuer.issueReceipt(this.url, accepted.verified.payer, settled.network, settled.transaction)
        settled = settled.withExtension('offer-receipt', core.receiptExtension(receipt))
      } catch (e) {
        if (!(e instanceof PaywireError)) throw e
        this.gate.log.warn(`paywire: serving a settled payment without a signed receipt: ${e.message}`)
      }
    }
    const [name, value] = core.settlementHeader(version, settled)
    return privateCache(setHeader(headers, name, value))
  }

  async upstreamFailed(endpoint, e, message) {
    let code = 'invalid_facilitator_response'
    if (e instanceof PaywireError) {
      this.gate.log.warn(`paywire: the facilitator failed on ${endpoint} for ${this.url}: [${e.code}] ${e.message}`)
      code = e.code
    } else {
      this.gate.log.error(`paywire: the facilitator threw on ${endpoint} for ${this.url}:`, e)
    }
    await this.answerJson(502, code, message)
  }

  /** Answers a refused payment: the bill again with the reason (402), or 400/409/500/502 by its kind. */
  async refuse(e) {
    const status = core.statusFor(e.code)
    if (status === 400 || status === 402) return this.answerBill(status, e.code, e.message)
    await this.answerJson(status, e.code, e.message)
  }

  async answerBill(status, reason, message, extra = []) {
    let bill = this.bill
    if (this.gate.issuer && bill.x402Version >= 2) {
      try {
        bill = this.gate.issuer.signBill(bill)
      } catch (e) {
        if (!(e instanceof PaywireError)) throw e
        this.gate.log.warn(`paywire: sending a bill without signed offers: ${e.message}`)
      }
    }
    bill = bill.withError(reason)
    const headers = [['content-type', 'application/json'], ['cache-control', 'no-store']]
    let body
    if (bill.x402Version >= 2) {
      headers.push(['payment-required', bill.toHeader()])
      body = JSON.stringify({ error: reason, message })
    } else {
      body = bill.toJsonText()
    }
    for (const [name, value] of extra) headers.push([name.toLowerCase(), value])
    await this.sendFinal(status, headers, encoder.encode(body))
  }

  async answerJson(status, code, message) {
    const body = encoder.encode(JSON.stringify({ error: code, message }))
    await this.sendFinal(status, [['content-type', 'application/json'], ['cache-control', 'no-store']], body)
  }

  async sendFinal(status, headers, body) {
    const head = this.method === 'HEAD'
    const framing = headers.filter(([k]) => ['content-length', 'transfer-encoding'].includes(k.toLowerCase()))
    let out = headers.filter(([k]) => !['content-length', 'transfer-encoding'].includes(k.toLowerCase()))
    if (status < 200 || status === 204 || status === 304) {
      body = new Uint8Array(0) // no body, and no Content-Length, may go with these
    } else if (head && body.length === 0) {
      out = out.concat(framing.filter(([k]) => k.toLowerCase() === 'content-length')) // the app's, for GET
    } else {
      out.push(['content-length', String(body.length)])
    }
    await this.io.send(status, withExposed(out), head ? new Uint8Array(0) : body)
  }
}

module.exports = { PaymentGate, MemoryStore, TooLarge, EXPOSED_HEADERS, ALLOWED_HEADERS, compile }
