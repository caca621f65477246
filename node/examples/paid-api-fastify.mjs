// A paid API with Fastify: GET /weather costs $0.001 in USDC on Base Sepolia.
//
//   PAY_TO=0xYourAddress [PRICE=$0.001] [PORT=3000] node paid-api-fastify.mjs
//
// Fastify knows which route takes a request before any hook runs, so paywire prices exactly the routes
// whose pattern is priced; a 404 is never billed. FACILITATOR_URL defaults to the public x402.org
// facilitator (test networks only).
import Fastify from 'fastify'
import { FacilitatorClient, PriceTag, fastifyPaywire } from 'paywire'

const payTo = process.env.PAY_TO ?? '0x209693Bc6afc0C5328bA36FaF03C514EF312287C'
const weather = new PriceTag({ network: process.env.NETWORK ?? 'eip155:84532', payTo, price: process.env.PRICE ?? '$0.001' })

const app = Fastify()
await app.register(fastifyPaywire, {
  routes: { 'GET /weather': { tags: weather, description: 'Current weather', mimeType: 'application/json' } },
  facilitator: new FacilitatorClient(process.env.FACILITATOR_URL),
})
app.get('/weather', async (request) => ({ city: 'Lisbon', tempC: 21, paidBy: request.paywire.payer }))
app.get('/', async () => 'free')

const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' })
console.log(`paid API on ${address}`)
