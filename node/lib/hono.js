'use strict'
// Hono middleware that bills routes with x402.
//
//   app.use(honoPaymentMiddleware({ 'GET /weather': new PriceTag({ network, payTo, price: '$0.001' }) },
//                                 { facilitator: new FacilitatorClient(url) }))
//
// Hono routes a request before any middleware runs, so the middleware asks it which route takes the request
// (`c.req.matchedRoutes`): a request no route takes (Hono's 404) is never billed. Patterns also match the
// request's path in every form a router might route it in (letter case, trailing slash, percent-encoding), so
// whatever Hono says, a priced path is never served unpaid. The exchange is the core's gate. The handler sees what was paid as `c.get('paywire')`.
// Its response is held until the payment settles, so streamed responses arrive whole.

const { PaymentGate, TooLarge } = require('./gate')
const { headerPairs } = require('./core')

const NO_BODY = [101, 204, 205, 304]

/**
 * What Hono's router says takes the request: `{ noRoute: true }` when only this middleware matched (Hono
 * answers 404), else the pattern of the last route matched (the one that answers). Undefined when this Hono
 * cannot say.
 */
function honoRoute(c, self) {
  let routes
  try {
    routes = c.req.matchedRoutes
  } catch {
    return undefined
  }
  if (!Array.isArray(routes)) return undefined
  const others = routes.filter((r) => r.handler !== self)
  if (others.length === 0) return { noRoute: true }
  const path = others[others.length - 1].path
  return typeof path === 'string' ? { pattern: path } : undefined
}

/** Hono middleware billing `routes`; the same routes and options as the Express `paymentMiddleware`. */
function honoPaymentMiddleware(routes, options = {}) {
  const gate = new PaymentGate(routes, options)
  async function paywireMiddleware(c, next) {
    const url = new URL(c.req.url)
    const headers = headerPairs(c.req.raw.headers)
    const head = { method: c.req.method, path: url.pathname, pathAndQuery: url.pathname + url.search, origin: url.origin, headers }
    const started = gate.begin(head, honoRoute(c, paywireMiddleware))
    if (started === null) return next()
    let final = null
    await gate.drive(started.exchange, started.step, {
      async readBody(limit) {
        if (c.req.raw.body === null) return new Uint8Array(0)
        // Hono caches the body, so the handler can still read it in any form.
        const body = new Uint8Array(await c.req.arrayBuffer())
        if (body.length > limit) throw new TooLarge()
        return body
      },
      async runHandler(paid) {
        c.set('paywire', paid)
        await next()
        if (c.error) throw c.error
        const res = c.res
        return { status: res.status, headers: headerPairs(res.headers), body: new Uint8Array(await res.arrayBuffer()) }
      },
      async send(status, out, body) {
        const h = new Headers()
        for (const [name, value] of out) h.append(name, value)
        final = new Response(NO_BODY.includes(status) || body.length === 0 ? null : body, { status, headers: h })
      },
    })
    if (final === null) return
    // Replace, not merge: Hono would otherwise copy the handler's headers over the final ones.
    c.res = undefined
    c.res = final
  }
  // batch-settlement: `await middleware.claim()` claims the channels' charges and sweeps them.
  paywireMiddleware.claim = () => gate.claim()
  // Stops the scheduled claims (at shutdown); resolves when a run in progress has ended.
  paywireMiddleware.close = () => gate.close()
  return paywireMiddleware
}

module.exports = { honoPaymentMiddleware }
