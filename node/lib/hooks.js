'use strict'
// Hooks: your code at fixed points of a payment, as the official x402 SDKs offer them. The points are the
// core's exchange machines' (paywire_core::hooks), so a hook runs at the same moment, with the same context,
// in every language:
// - server (the Express, Hono and Fastify middleware, PaidTools): beforeVerify, afterVerify, verifyFailure,
//   beforeSettle, afterSettle, settleFailure;
// - client (wrapFetch, PayingSession): beforePaymentCreation, afterPaymentCreation, paymentCreationFailure.
//
// A hook takes the context (the core's JSON: `hook`, `method`, `resource`, and where they apply
// `paymentRequired`, `requirements`, `paymentPayload`, `payer`, `verifyResponse`, `settleResponse`, `error`)
// and may return `{ abort: true, reason, message }` before anything is paid or charged (the before hooks and
// afterVerify): the client then throws `payment_aborted`, the server answers the bill with the reason. A hook
// that throws there stops the exchange too (`hook_failed`). After the money moved, or when a step failed,
// hooks only observe: an abort or a throw is logged and ignored. A hook cannot stand in for the facilitator.

const { PaywireError } = require('./errors')

const SERVER_POINTS = ['beforeVerify', 'afterVerify', 'verifyFailure', 'beforeSettle', 'afterSettle', 'settleFailure']
const CLIENT_POINTS = ['beforePaymentCreation', 'afterPaymentCreation', 'paymentCreationFailure']

/** Hooks by point, run in the order they were added; give it to a middleware, `PaidTools` or a paying client. */
class Hooks {
  #byPoint = new Map()

  /** Adds `hook` (sync or async) at `point` (a name of `SERVER_POINTS` or `CLIENT_POINTS`); returns this. */
  on(point, hook) {
    if (!SERVER_POINTS.includes(point) && !CLIENT_POINTS.includes(point)) {
      throw new PaywireError('invalid_argument', `there is no hook point ${JSON.stringify(point)}; the points are ${[...SERVER_POINTS, ...CLIENT_POINTS].join(', ')}`)
    }
    if (typeof hook !== 'function') throw new TypeError(`a hook must be a function, not ${typeof hook}`)
    const list = this.#byPoint.get(point) ?? []
    list.push(hook)
    this.#byPoint.set(point, list)
    return this
  }

  /** Before `/verify`, after the offline checks; may abort. */
  onBeforeVerify(hook) { return this.on('beforeVerify', hook) }
  /** After `/verify` accepted, before the handler runs; may abort. */
  onAfterVerify(hook) { return this.on('afterVerify', hook) }
  /** `/verify` refused the payment or failed. */
  onVerifyFailure(hook) { return this.on('verifyFailure', hook) }
  /** The handler delivered, before the payment's first `/settle`; may abort (nothing is sent then). */
  onBeforeSettle(hook) { return this.on('beforeSettle', hook) }
  /** The payment settled and is recorded, before the response is sent. */
  onAfterSettle(hook) { return this.on('afterSettle', hook) }
  /** `/settle` refused the payment, left it pending or failed. */
  onSettleFailure(hook) { return this.on('settleFailure', hook) }
  /** Client: a bill is to be paid, before the payment is chosen and signed; may abort. */
  onBeforePaymentCreation(hook) { return this.on('beforePaymentCreation', hook) }
  /** Client: a payment was created, before it is sent. */
  onAfterPaymentCreation(hook) { return this.on('afterPaymentCreation', hook) }
  /** Client: creating a payment failed (the policy refused every offer, the signer failed). */
  onPaymentCreationFailure(hook) { return this.on('paymentCreationFailure', hook) }

  /** The points with hooks (of one side, `server` or `client`, when given), for the core's machines. */
  points(side) {
    const allowed = side === 'server' ? SERVER_POINTS : side === 'client' ? CLIENT_POINTS : null
    return [...this.#byPoint.keys()].filter((p) => allowed === null || allowed.includes(p))
  }

  /** Runs the hooks at `point` with `context`; resolves to what a machine's `feedHooked` takes. */
  async run(point, context) {
    for (const hook of this.#byPoint.get(point) ?? []) {
      let result
      try {
        result = await hook(context)
      } catch (e) {
        // The core decides what a throw means at this point, and logs it.
        return { failed: `${e?.name ?? 'Error'}: ${e?.message ?? String(e)}` }
      }
      if (result != null && result.abort === true) {
        return { abort: String(result.reason ?? ''), message: result.message == null ? undefined : String(result.message) }
      }
    }
    return undefined
  }
}

/** The hooks of an options object (`hooks`), or none; refuses anything else. */
function hooksOf(options) {
  const hooks = options?.hooks
  if (hooks == null) return new Hooks()
  if (!(hooks instanceof Hooks)) throw new PaywireError('invalid_argument', '`hooks` must be a paywire Hooks object')
  return hooks
}

module.exports = { Hooks, hooksOf, SERVER_POINTS, CLIENT_POINTS }
