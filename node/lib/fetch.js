'use strict'
// A fetch that pays x402 bills: a 402 is paid under the payer's policy and the request sent once more with
// the payment.
//
// The exchange is paywire's core paying client (`PaidFetch`), the same in every language: at most one
// payment per call, whatever the redirects (the core follows them, so a payment header never reaches a
// redirect's target, and credentials never another origin); a request that already carries a payment is never
// paid again; the body is read once and kept for the retry; a purchase (method, URL, body) retried while its
// outcome is open (the response was lost, or the server answered 409 or 5xx, or reported the settlement
// pending) reuses its payment instead of paying twice.

const core = require('./core')
const { fromFields } = require('./errors')
const { NATIVE, signatureBytes, signerFailed } = require('./payer')
const { hooksOf } = require('./hooks')

// The machine takes a paywire Payer (its native side, its clock read now) as well as a native payer.
const startNative = core.PaidFetch.start
core.PaidFetch.start = (payer, request, options) =>
  startNative(typeof payer?.[NATIVE] === 'function' ? payer[NATIVE]().native : payer, request, options)

/** Performs a paying client's `sign` step with `sign` (digest to signature), feeding the signatures or the failure. */
async function signStep(call, step, sign) {
  const signatures = []
  for (const digest of step.digests) {
    try {
      signatures.push(signatureBytes(await sign(digest)))
    } catch (e) {
      return call.feedSignFailed(signerFailed(e).message)
    }
  }
  return call.feedSignatures(signatures)
}

const settlements = new WeakMap()
const payments = new WeakMap()
// Why a final 402 was not paid (or a refund refused), by response.
const unpaids = new WeakMap()

/** The settlement receipt of a paid response (its decoded `PAYMENT-RESPONSE`), or null. */
function settlement(response) {
  return settlements.get(response) ?? null
}

/** The payment sent for a response (a `PaymentHeader`), or null when the request was not paid for. */
function payment(response) {
  return payments.get(response) ?? null
}

/** The core's purchase key: method, URL and body digest. */
function purchaseKey(method, url, body) {
  return core.purchaseKey(method, url, body)
}

/**
 * Wraps `fetch` (the global one, undici's, or any with the same signature) so it pays x402 bills with
 * `payer`. The returned function takes what fetch takes and resolves to the final `Response`; pass it to
 * `settlement()` and `payment()` to read what was paid. Redirects are followed by paywire (as the request's
 * `redirect` option says), never by the wrapped fetch. `options.hooks` (a `Hooks`) runs your code before and
 * after each payment is created and when creating one fails. Where a bill offers sign-in-with-x, the payer
 * signs in first (a wallet that paid before gets the resource again without paying); `options.signIn: false`
 * turns that off. `options.passFacilitators` (base URLs) are the facilitators it may ask for a pass when a
 * bill names one: after a settled payment, the next call to the resource gets a pass there and presents it
 * until it expires or is refused. `options.rpcUrls` maps networks (`'eip155:8453'`) to JSON-RPC URLs: where
 * a bill declares `eip2612GasSponsoring` and the payment moves its token through Permit2, the payer's Permit2
 * allowance and EIP-2612 nonce are read there (two `eth_call`s through `fetch`), so a payer who never
 * approved Permit2, and holds no gas, pays with a permit the facilitator submits. An RPC URL is never logged
 * or put in an error.
 */
function wrapFetch(fetchImpl, payer, options = {}) {
  if (typeof fetchImpl !== 'function') throw new TypeError('wrapFetch(fetch, payer): fetch must be a function')
  if (payer == null || typeof payer[NATIVE] !== 'function') {
    throw new TypeError('wrapFetch(fetch, payer): payer must be a paywire Payer')
  }
  const hooks = hooksOf(options)
  // A Map or a plain object; checked now, so a bad URL fails here and not at the first payment.
  const given = options.rpcUrls
  const rpcUrls = given instanceof Map ? Object.fromEntries(given) : { ...(given ?? {}) }
  if (Object.keys(rpcUrls).length > 0) core.checkRpcUrls(rpcUrls)
  return async function paywireFetch(input, init) {
    return drive(fetchImpl, payer, new Request(input, init), hooks, {
      signIn: options.signIn ?? true,
      passFacilitators: options.passFacilitators ?? [],
      rpcUrls,
    })
  }
}

/**
 * Asks the server of `url` (a batch-settlement route) to return `payer`'s channel balance: `options.amount`
 * units, or everything it did not charge. Resolves to the refund's receipt (its transaction); rejects with a
 * `PaywireError` when the server refuses (nothing to refund, or it does not hold the key to sign refunds:
 * then `initiateWithdraw` on the contract, and `finalizeWithdraw` after the channel's withdraw delay, return
 * the balance without the server).
 */
async function refund(fetchImpl, payer, url, options = {}) {
  if (typeof fetchImpl !== 'function') throw new TypeError('refund(fetch, payer, url): fetch must be a function')
  if (payer == null || typeof payer[NATIVE] !== 'function') {
    throw new TypeError('refund(fetch, payer, url): payer must be a paywire Payer')
  }
  const amount = options.amount == null ? undefined : String(options.amount)
  const out = await drive(fetchImpl, payer, new Request(url), hooksOf({}), {
    signIn: false,
    passFacilitators: [],
    refund: true,
    refundAmount: amount,
  })
  // The core's machine ends a refund with its receipt, or with the error saying why.
  const unpaid = unpaids.get(out)
  if (unpaid) throw unpaid
  return settlements.get(out)
}

/** One call through the core's paying machine: `request` sent with `fetchImpl`, paid by `payer`. */
async function drive(fetchImpl, payer, request, hooks, callOptions) {
  const body = request.body === null ? undefined : new Uint8Array(await request.arrayBuffer())
  const { native, local, sign } = payer[NATIVE]()
  const started = startNative(native, {
    method: request.method,
    url: request.url,
    headers: core.headerPairs(request.headers),
    body,
  }, {
    followRedirects: request.redirect === 'follow',
    signInline: local,
    hooks: hooks.points('client'),
    ...callOptions,
  })
  const call = started.takeCall()
  let step = started.takeStep()
  let response = null
  let read = null
  let own = false
  let limit = null
  // Undoes what the last deadline hung on the caller's signal.
  let release = () => {}
  try {
    for (;;) {
      switch (step.kind) {
        case 'send': {
          own = step.own
          limit = step.bodyLimit ?? null
          // The last hop's answer (a redirect, a paid-for 402) is done with: free its connection.
          if (response !== null && !response.bodyUsed) await response.body?.cancel().catch(() => {})
          // The machine's own request (a chain read, a pass) has the core's deadline, its answer included (or the
          // caller's signal, if it aborts first).
          release()
          let signal = request.signal
          if (step.timeoutMs != null) [signal, release] = deadline(request.signal, step.timeoutMs)
          const options = { method: step.method, headers: step.headers, redirect: 'manual', signal }
          if (step.body !== null && step.body !== undefined) {
            options.body = step.body
            options.duplex = 'half'
          }
          try {
            // A Request, as fetch wrappers written for `fetch(request)` expect.
            response = await fetchImpl(new Request(step.url, options))
          } catch (e) {
            // The payment, if any, stays remembered (the outcome is open); a side request (a pass) that
            // failed lets the call go on, unless the caller aborted it.
            const next = call.feedSendFailed()
            if (next.kind === 'raise' || request.signal?.aborted) throw e
            response = null
            step = next
            break
          }
          step = call.feedResponse(response.status, core.headerPairs(response.headers))
          break
        }
        case 'readBody':
          try {
            read = limit === null ? new Uint8Array(await response.arrayBuffer()) : await readAtMost(response, limit)
          } catch (e) {
            // The machine's own request (a chain read, a pass) whose answer broke off: as no answer.
            if (!own || request.signal?.aborted) throw e
            read = new Uint8Array(0)
          }
          step = call.feedBody(read)
          break
        case 'sign':
          step = await signStep(call, step, sign)
          break
        case 'hook':
          step = call.feedHooked(await hooks.run(step.hookPoint, step.hookContext))
          break
        case 'fail':
          throw fromFields(step.error)
        default: {
          const out = step.bodyRead
            ? new Response(read, { status: response.status, statusText: response.statusText, headers: response.headers })
            : response
          settlements.set(out, step.settlement ?? null)
          payments.set(out, step.payment ?? null)
          if (step.unpaid) unpaids.set(out, fromFields(step.unpaid))
          return out
        }
      }
    }
  } finally {
    release()
  }
}

/**
 * The caller's signal (if any) combined with a deadline of `ms` milliseconds, and what releases the combination
 * once the request is done with. Node holds a timeout signal, and one AbortSignal.any() makes, only weakly (as
 * does a Request following its signal): the release function keeps them alive until then, or a collection could
 * drop them and the deadline would never fire. On Node 18 it also unhooks the listener hung on the caller's signal.
 */
function deadline(signal, ms) {
  const timeout = AbortSignal.timeout(ms)
  let combined = timeout
  const hung = []
  if (signal && typeof AbortSignal.any === 'function') {
    combined = AbortSignal.any([signal, timeout])
  } else if (signal) {
    // Node 18 lacks AbortSignal.any: whichever aborts first aborts the request.
    const both = new AbortController()
    for (const s of [signal, timeout]) {
      if (s.aborted) {
        both.abort(s.reason)
        continue
      }
      const onAbort = () => both.abort(s.reason)
      s.addEventListener('abort', onAbort, { once: true })
      hung.push([s, onAbort])
    }
    combined = both.signal
  }
  const held = [timeout, combined]
  return [combined, () => {
    for (const [s, onAbort] of hung) s.removeEventListener('abort', onAbort)
    return held
  }]
}

/**
 * At most `limit + 1` bytes of a response's body: the core takes a longer answer to the machine's own request
 * as none, and the glue never holds more.
 */
async function readAtMost(response, limit) {
  if (!response.body) return new Uint8Array(0)
  const reader = response.body.getReader()
  const chunks = []
  let size = 0
  while (size <= limit) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
    size += value.byteLength
  }
  if (size > limit) await reader.cancel().catch(() => {})
  const out = new Uint8Array(Math.min(size, limit + 1))
  let at = 0
  for (const chunk of chunks) {
    const part = chunk.subarray(0, out.length - at)
    out.set(part, at)
    at += part.length
    if (at === out.length) break
  }
  return out
}

module.exports = { wrapFetch, refund, settlement, payment, purchaseKey, signStep }
