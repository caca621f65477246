'use strict'
// A facilitator client over fetch: `/verify`, `/settle`, `/supported`.
//
// Business failures come back as answers (`isValid` / `success` false with a reason), also when the
// facilitator sends them with a 4xx status. An unreachable or silent facilitator throws PaywireError
// `facilitator_unreachable`; a 5xx or an answer without the x402 shape throws `invalid_facilitator_response`.
// Messages name the facilitator by origin and path only, never its credentials or query.

const core = require('./core')
const { PaywireError } = require('./errors')

const DEFAULT_FACILITATOR_URL = 'https://x402.org/facilitator'
/** Milliseconds to wait for an answer, as the official clients do: settling waits for a transaction. */
const DEFAULT_TIMEOUT_MS = 90_000

const upstream = (code, message, cause) => new PaywireError(code, message, { category: 'upstream', cause })

function redacted(url) {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}${u.pathname}`
  } catch {
    return '(an invalid URL)'
  }
}

/** The headers for one endpoint out of a flat object or one keyed by endpoint (official `createAuthHeaders`). */
function pick(value, endpoint) {
  if (value == null) return {}
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new PaywireError('invalid_argument', `facilitator headers must be an object, an object keyed by endpoint, or a function returning one; got ${typeof value}`, { category: 'configuration' })
  }
  const entries = Object.entries(value)
  if (entries.length > 0 && entries.every(([, v]) => v !== null && typeof v === 'object')) {
    const chosen = value[endpoint] ?? (endpoint === 'supported' ? value.list : undefined) ?? {}
    return Object.fromEntries(Object.entries(chosen).map(([k, v]) => [k, String(v)]))
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, String(v)]))
}

/**
 * A facilitator client. Options: `headers` (an object for every endpoint, an object keyed by endpoint
 * `verify` / `settle` / `supported`, or a function of the endpoint returning either, possibly async, for
 * short-lived tokens), `timeoutMs` (default 90 000), `fetch` (default the global fetch).
 */
class FacilitatorClient {
  #headers
  #fetch

  constructor(url = DEFAULT_FACILITATOR_URL, { headers, timeoutMs = DEFAULT_TIMEOUT_MS, fetch: fetchImpl } = {}) {
    this.url = String(url).replace(/\/+$/, '')
    this.timeoutMs = timeoutMs
    this.#headers = headers
    this.#fetch = fetchImpl ?? globalThis.fetch
  }

  async #call(method, endpoint, body) {
    const raw = typeof this.#headers === 'function' ? await this.#headers(endpoint) : this.#headers
    const headers = { 'content-type': 'application/json', ...pick(raw, endpoint) }
    const where = `${redacted(this.url)}/${endpoint}`
    let response
    try {
      response = await this.#fetch(`${this.url}/${endpoint}`, {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      })
      return { status: response.status, ok: response.ok, text: await response.text() }
    } catch (e) {
      const silent = e && (e.name === 'TimeoutError' || e.name === 'AbortError')
      const what = silent ? `did not answer within ${this.timeoutMs / 1000} s` : `could not be reached (${e && e.cause && e.cause.code ? e.cause.code : e && e.name})`
      throw upstream('facilitator_unreachable', `the facilitator at ${where} ${what}`, e)
    }
  }

  #answer(endpoint, { status, ok, text }, parse, member) {
    let usable = ok
    if (!ok && status >= 400 && status < 500) {
      // A refusal may come with a 4xx status and a proper body; a 5xx is the facilitator failing.
      try {
        const body = JSON.parse(text)
        usable = body !== null && typeof body === 'object' && member in body
      } catch {
        usable = false
      }
    }
    if (!usable) {
      throw upstream('invalid_facilitator_response', `the facilitator's /${endpoint} answered HTTP ${status} without an x402 answer`)
    }
    return parse(text)
  }

  /** `POST /verify` with the payment as received and the server's own offer. */
  async verify(payment, requirements) {
    const body = core.facilitatorRequest(payment, requirements)
    return this.#answer('verify', await this.#call('POST', 'verify', body), core.VerifyResponse.fromJson, 'isValid')
  }

  /** `POST /settle`; once more with the same body when the facilitator reports `settlement_pending` with a transaction. */
  async settle(payment, requirements) {
    const body = core.facilitatorRequest(payment, requirements)
    let result = this.#answer('settle', await this.#call('POST', 'settle', body), core.SettleResponse.fromJson, 'success')
    if (result.isPending && result.transaction) {
      result = this.#answer('settle', await this.#call('POST', 'settle', body), core.SettleResponse.fromJson, 'success')
    }
    return result
  }

  /** `GET /supported`. */
  async supported() {
    return this.#answer('supported', await this.#call('GET', 'supported'), core.SupportedResponse.fromJson, 'kinds')
  }

  toString() {
    return `FacilitatorClient(${redacted(this.url)})`
  }
}

module.exports = { FacilitatorClient, DEFAULT_FACILITATOR_URL, DEFAULT_TIMEOUT_MS }
