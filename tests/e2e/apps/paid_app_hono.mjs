// A paid Hono API (on @hono/node-server) for the on-chain suite: paywire's Hono middleware in front of
// GET /weather (PRICE, default $0.01). UPTO_FACILITATOR (the facilitator's upto key) adds GET /generate, metered
// with the upto scheme (at most UPTO_MAX), charging the `used` query parameter; BATCH_AUTHORIZER adds GET /batch,
// paid from batch-settlement channels (BATCH_PRICE units a request), and POST /claim (free), which claims and
// sweeps.
//
//   PAYWIRE_NODE_TEST_DIR=node/test PAY_TO=0x... FACILITATOR_URL=http://... PORT=3000 node paid_app_hono.mjs
import { createRequire } from 'node:module'
import { join } from 'node:path'

const require = createRequire(join(process.env.PAYWIRE_NODE_TEST_DIR, 'package.json'))
const { Hono } = require('hono')
const { serve } = require('@hono/node-server')
const { FacilitatorClient, PriceTag, honoPaymentMiddleware } = require('paywire')

const network = process.env.NETWORK ?? 'eip155:84532'
const USDC = '0x036CbD53842c5426634e7929541eC2318f3dCF7e'
const routes = { 'GET /weather': new PriceTag({ network, payTo: process.env.PAY_TO, price: process.env.PRICE ?? '$0.01' }) }
if (process.env.UPTO_FACILITATOR) {
  routes['GET /generate'] = new PriceTag({
    network, payTo: process.env.PAY_TO, amount: process.env.UPTO_MAX ?? '50000', asset: USDC, scheme: 'upto',
    extra: { facilitatorAddress: process.env.UPTO_FACILITATOR },
  })
}
if (process.env.BATCH_AUTHORIZER) {
  routes['GET /batch'] = new PriceTag({
    network, payTo: process.env.PAY_TO, amount: process.env.BATCH_PRICE ?? '1000', asset: USDC,
    scheme: 'batch-settlement', extra: { receiverAuthorizer: process.env.BATCH_AUTHORIZER, withdrawDelay: 900 },
  })
}
// Claims when a test asks (POST /claim), not on a schedule.
const paywall = honoPaymentMiddleware(routes, {
  facilitator: new FacilitatorClient(process.env.FACILITATOR_URL),
  claims: { everySeconds: 0 },
})
const app = new Hono()
app.use(paywall)
app.get('/weather', (c) => c.json({ forecast: 'sunny', paid_by: c.get('paywire').payer }))
// An upto route: the handler reports what the request used, in atomic units.
app.get('/generate', (c) => {
  c.header('Settlement-Overrides', JSON.stringify({ amount: c.req.query('used') }))
  return c.json({ generated: 'tokens', charged: c.req.query('used') })
})
app.get('/batch', (c) => c.json({ item: 'paid from a channel' }))
app.post('/claim', async (c) => c.json(await paywall.claim()))
app.get('/health', (c) => c.json({ ok: true }))
serve({ fetch: app.fetch, port: Number(process.env.PORT), hostname: '127.0.0.1' })
