// A paid Fastify API for the on-chain fault tests: paywire's plugin in front of a handler that serves
// (/weather), one that answers 500 (/broken) and one that throws (/crash). Each costs PRICE (default $0.01).
import { createRequire } from 'node:module'
import { join } from 'node:path'

const require = createRequire(join(process.env.PAYWIRE_NODE_DIR, 'package.json'))
const Fastify = require('fastify')
const { FacilitatorClient, PriceTag, fastifyPaywire } = require('paywire')

const tag = new PriceTag({ network: process.env.NETWORK ?? 'eip155:84532', payTo: process.env.PAY_TO, price: process.env.PRICE ?? '$0.01' })
const app = Fastify()
await app.register(fastifyPaywire, {
  routes: { 'GET /weather': tag, 'GET /broken': tag, 'GET /crash': tag },
  facilitator: new FacilitatorClient(process.env.FACILITATOR_URL),
})
app.get('/weather', async (request) => ({ forecast: 'sunny', paidBy: request.paywire.payer }))
app.get('/broken', async (request, reply) => reply.code(500).send({ error: 'the weather service is down' }))
app.get('/crash', async () => {
  throw new Error('the handler crashed')
})
app.get('/health', async () => ({ ok: true }))
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
