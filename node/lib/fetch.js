'use strict'
// A fetch that pays x402 bills: a 402 is paid under the payer's policy and the request sent once more with
// the payment.
//
// The contract (the same as paywire's Python clients): at most one paid retry; a request that already
// carries a payment is never paid again; the body is read once and kept for the retry; a purchase (method,
// URL, body) retried while its outcome is open (the response was lost, or the server answered 409 or 5xx, or
// reported the settlement pending) reuses its payment instead of paying twice.

const { createHash } = require('node:crypto')
const core = require('./core')

const settlements = new WeakMap()
const payments = new WeakMap()

/** The settlement receipt of a paid response (its decoded `PAYMENT-RESPONSE`), or null. */
function settlement(response) {
  return settlements.get(response) ?? null
}

/** The payment sent for a response (a `PaymentHeader`), or null when the request was not paid for. */
function payment(response) {
  return payments.get(response) ?? null
}

function purchaseKey(method, url, body) {
  return `${method.toUpperCase()} ${url} ${createHash('sha256').update(body).digest('hex')}`
}

function billOf(headers, body) {
  try {
    return core.PaymentRequired.fromResponse(headers, body)
  } catch {
    return null // a 402 that is not an x402 bill reaches the caller as it is
  }
}

function settlementIn(headers) {
  try {
    return core.readSettlement(headers)
  } catch {
    return null // an unreadable receipt does not hide the response itself
  }
}

/** Framing headers of the original request; the paid copy gets its own for the buffered body. */
const FRAMING = ['content-length', 'transfer-encoding']

/**
 * Wraps `fetch` (the global one, undici's, or any with the same signature) so it pays x402 bills with
 * `payer`. The returned function takes what fetch takes and resolves to the final `Response`; pass it to
 * `settlement()` and `payment()` to read what was paid.
 */
function wrapFetch(fetchImpl, payer) {
  if (typeof fetchImpl !== 'function') throw new TypeError('wrapFetch(fetch, payer): fetch must be a function')
  if (payer == null || typeof payer.pay !== 'function' || typeof payer.forget !== 'function') {
    throw new TypeError('wrapFetch(fetch, payer): payer must be a paywire Payer')
  }
  return async function paywireFetch(input, init) {
    const request = new Request(input, init)
    if (core.carriesPayment(request.headers)) return fetchImpl(request)
    const hasBody = request.body !== null
    const body = hasBody ? new Uint8Array(await request.arrayBuffer()) : new Uint8Array(0)
    const send = (headers) => {
      const init = { headers, body: hasBody ? body : undefined }
      if (hasBody) init.duplex = 'half'
      return fetchImpl(new Request(request, init))
    }
    const response = await send(request.headers)
    if (response.status !== 402) return response
    const bill = billOf(response.headers, new Uint8Array(await response.clone().arrayBuffer()))
    if (bill === null) return response
    const key = purchaseKey(request.method, request.url, body)
    const header = await payer.pay(bill, key)
    const headers = new Headers()
    request.headers.forEach((value, name) => {
      if (!FRAMING.includes(name.toLowerCase())) headers.append(name, value)
    })
    headers.set(header.name, header.value)
    // If this throws (the connection dropped), the payment is kept: a retry of the same purchase reuses it.
    const paid = await send(headers)
    const receipt = settlementIn(paid.headers)
    // A definite answer settles the purchase's fate; while it is open, a retry must reuse the payment.
    if (!core.outcomeIsOpen(paid.status, receipt ?? undefined)) payer.forget(key)
    settlements.set(paid, receipt)
    payments.set(paid, header)
    return paid
  }
}

module.exports = { wrapFetch, settlement, payment, purchaseKey }
