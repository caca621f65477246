'use strict'
// A facilitator client over fetch: `/verify`, `/settle`, `/supported`.
//
// How answers are read is paywire's core rule, the same in every language: business failures come back as
// answers (`isValid` / `success` false with a reason), also when the facilitator sends them with a 4xx status;
// an unreachable or silent facilitator throws PaywireError `facilitator_unreachable`; a 5xx or an answer
// without the x402 shape throws `invalid_facilitator_response`. Messages name the facilitator by origin and
// path only, never its credentials or query. `settle` asks once more with the same body when the facilitator
// reports `settlement_pending` with a transaction, as the official servers do; any call whose connection
// closed without an answer is asked once more (`FACILITATOR_RETRIES_WITHOUT_ANSWER`).

const core = require('./core')
const { fromFields } = require('./errors')

const DEFAULT_FACILITATOR_URL = core.DEFAULT_FACILITATOR_URL
/** Milliseconds to wait for an answer, as the official clients do: settling waits for a transaction. */
const DEFAULT_TIMEOUT_MS = 90_000

/**
 * A facilitator client. Options: `headers` (an object for every endpoint, an object keyed by endpoint
 * `verify` / `settle` / `supported`, or a function of the endpoint returning either, possibly async, for
 * short-lived tokens), `timeoutMs` (default 90 000), `fetch` (default the global fetch).
 */
class FacilitatorClient {
  #headers
  #fetch

  constructor(url = DEFAULT_FACILITATOR_URL, { headers, timeoutMs = DEFAULT_TIMEOUT_MS, fetch: fetchImpl } = {}) {
    this.url = String(url)
    this.timeoutMs = timeoutMs
    this.#headers = headers
    // Called as a plain function: browsers and Workers throw "Illegal invocation" for fetch called on another object.
    const call = fetchImpl ?? globalThis.fetch
    this.#fetch = (...args) => call(...args)
  }

  async #call(endpoint, read, body) {
    const configured = typeof this.#headers === 'function' ? await this.#headers(endpoint) : this.#headers
    const [url, method] = core.facilitatorEndpoint(this.url, endpoint)
    const headers = [['content-type', 'application/json'], ...core.facilitatorHeaders(configured ?? null, endpoint)]
    let response
    let text
    for (let attempt = 0; ; attempt++) {
      try {
        response = await this.#fetch(url, { method, headers, body, signal: AbortSignal.timeout(this.timeoutMs) })
        text = await response.text()
        break
      } catch (e) {
        // Closed without an answer (undici: "other side closed"): the core's rule asks once more.
        const noAnswer = e?.cause?.code === 'UND_ERR_SOCKET'
        if (noAnswer && attempt < core.FACILITATOR_RETRIES_WITHOUT_ANSWER) continue
        throw this.#unreachable(endpoint, e)
      }
    }
    return read(response.status, text)
  }

  #unreachable(endpoint, e) {
    const silent = e && (e.name === 'TimeoutError' || e.name === 'AbortError')
    const detail = e?.cause?.code ? e.cause.code : (e?.name) || 'Error'
    const error = fromFields(core.facilitatorUnreachable(this.url, endpoint, silent, this.timeoutMs / 1000, detail))
    error.cause = e
    return error
  }

  /** `POST /verify` with the payment as received and the server's own offer. */
  async verify(payment, requirements) {
    return this.#call('verify', core.readVerifyAnswer, core.facilitatorRequest(payment, requirements))
  }

  /** `POST /settle`; once more with the same body when the facilitator reports `settlement_pending` with a transaction. */
  async settle(payment, requirements) {
    const body = core.facilitatorRequest(payment, requirements)
    let result = await this.#call('settle', core.readSettleAnswer, body)
    if (core.settleAgain(result)) result = await this.#call('settle', core.readSettleAnswer, body)
    return result
  }

  /** `GET /supported`. */
  async supported() {
    return this.#call('supported', core.readSupportedAnswer)
  }

  toString() {
    return `FacilitatorClient(${core.redactUrl(this.url)})`
  }
}

module.exports = { FacilitatorClient, DEFAULT_FACILITATOR_URL, DEFAULT_TIMEOUT_MS }
