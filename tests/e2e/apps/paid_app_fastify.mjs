// A paid Fastify API for the on-chain fault tests: paywire's plugin in front of a handler that serves
// (/weather), one that answers 500 (/broken) and one that throws (/crash). Each costs PRICE (default $0.01).
// BATCH_AUTHORIZER (the receiver authorizer, e.g. the facilitator's key): GET /batch, paid from batch-settlement
// channels, BATCH_PRICE (default 1000) units of USDC a request, and POST /claim (free), which claims and sweeps.
// UPTO_FACILITATOR (the facilitator's upto key): GET /generate, metered with the upto scheme (at most UPTO_MAX),
// charging the `used` query parameter.
import { createRequire } from 'node:module'
import { join } from 'node:path'

const require = createRequire(join(process.env.PAYWIRE_NODE_DIR, 'package.json'))
const Fastify = require('fastify')
const { FacilitatorClient, PriceTag, fastifyPaywire } = require('paywire')

const tag = new PriceTag({ network: process.env.NETWORK ?? 'eip155:84532', payTo: process.env.PAY_TO, price: process.env.PRICE ?? '$0.01' })
const app = Fastify()
const routes = { 'GET /weather': tag, 'GET /broken': tag, 'GET /crash': tag }
if (process.env.BATCH_AUTHORIZER) {
  routes['GET /batch'] = new PriceTag({
    network: process.env.NETWORK ?? 'eip155:84532',
    payTo: process.env.PAY_TO,
    amount: process.env.BATCH_PRICE ?? '1000',
    asset: '0x036CbD53842c5426634e7929541eC2318f3dCF7e',
    scheme: 'batch-settlement',
    extra: { receiverAuthorizer: process.env.BATCH_AUTHORIZER, withdrawDelay: 900 },
  })
}
if (process.env.UPTO_FACILITATOR) {
  routes['GET /generate'] = new PriceTag({
    network: process.env.NETWORK ?? 'eip155:84532',
    payTo: process.env.PAY_TO,
    amount: process.env.UPTO_MAX ?? '50000',
    asset: '0x036CbD53842c5426634e7929541eC2318f3dCF7e',
    scheme: 'upto',
    extra: { facilitatorAddress: process.env.UPTO_FACILITATOR },
  })
}
await app.register(fastifyPaywire, { routes, facilitator: new FacilitatorClient(process.env.FACILITATOR_URL) })
// An upto route: the handler reports what the request used, in atomic units.
app.get('/generate', async (request, reply) => {
  reply.header('Settlement-Overrides', JSON.stringify({ amount: request.query.used }))
  return { generated: 'tokens', charged: request.query.used }
})
app.get('/batch', async () => ({ item: 'paid from a channel' }))
app.post('/claim', async () => app.paywireClaim())
app.get('/weather', async (request) => ({ forecast: 'sunny', paidBy: request.paywire.payer }))
app.get('/broken', async (request, reply) => reply.code(500).send({ error: 'the weather service is down' }))
app.get('/crash', async () => {
  throw new Error('the handler crashed')
})
app.get('/health', async () => ({ ok: true }))
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
