// A paid API on an edge runtime (Cloudflare's workerd): Hono with paywire's Hono middleware, from the npm
// package's worker build (the "workerd" export condition: the WebAssembly core, imported as a module).
// tests/e2e/edge_worker.mjs bundles it as wrangler would; test_edge.py runs it under workerd.
//
// Bindings: PAY_TO, FACILITATOR_URL, PUBLIC_URL (optional: the origin bills name, shared by isolates), and
// UPTO_FACILITATOR (optional: the facilitator's upto key), which adds GET /generate, metered with the upto scheme
// (at most $0.01), charging the `used` query parameter.

import { Hono } from 'hono'
import { FacilitatorClient, PriceTag, honoPaymentMiddleware } from 'paywire'

let served = 0

function paidApi(env) {
  const app = new Hono()
  const tag = new PriceTag({ network: 'eip155:84532', payTo: env.PAY_TO, price: '$0.01' })
  const facilitator = new FacilitatorClient(env.FACILITATOR_URL)
  const routes = { 'GET /weather': tag }
  if (env.UPTO_FACILITATOR) {
    routes['GET /generate'] = new PriceTag({
      network: 'eip155:84532', payTo: env.PAY_TO, price: '$0.01', scheme: 'upto',
      extra: { facilitatorAddress: env.UPTO_FACILITATOR },
    })
  }
  app.use(honoPaymentMiddleware(routes, { facilitator, publicUrl: env.PUBLIC_URL || undefined }))
  app.get('/weather', (c) => {
    served += 1
    return c.json({ forecast: 'sunny', paid_by: c.get('paywire').payer, served_by: 'workerd' })
  })
  // Metered: the handler reports what the request used, in atomic units; the middleware settles exactly that.
  app.get('/generate', (c) => {
    c.header('Settlement-Overrides', JSON.stringify({ amount: c.req.query('used') }))
    return c.json({ generated: 'tokens', charged: c.req.query('used') })
  })
  app.get('/served', (c) => c.json({ served }))
  app.get('/health', (c) => c.json({ ok: true }))
  return app
}

let app = null

export default {
  // Workers hand the bindings to each request, and allow randomness only inside one: build on the first.
  fetch(request, env, ctx) {
    app ??= paidApi(env)
    return app.fetch(request, env, ctx)
  },
}
