// A paid API with Express: GET /weather costs $0.001 in USDC on Base Sepolia.
//
//   PAY_TO=0xYourAddress [PRICE=$0.001] [PORT=3000] node paid-api.mjs
//
// FACILITATOR_URL defaults to the public x402.org facilitator (test networks only); PORT to 3000.
import express from 'express'
import { FacilitatorClient, PriceTag, paymentMiddleware } from 'paywire'

const payTo = process.env.PAY_TO ?? '0x209693Bc6afc0C5328bA36FaF03C514EF312287C'
const weather = new PriceTag({ network: process.env.NETWORK ?? 'eip155:84532', payTo, price: process.env.PRICE ?? '$0.001' })

const app = express()
app.use(express.json())
app.use(
  paymentMiddleware(
    { 'GET /weather': { tags: weather, description: 'Current weather', mimeType: 'application/json' } },
    { facilitator: new FacilitatorClient(process.env.FACILITATOR_URL) },
  ),
)
app.get('/weather', (req, res) => res.json({ city: 'Lisbon', tempC: 21, paidBy: req.paywire.payer }))
app.get('/', (req, res) => res.send('free'))

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`paid API on http://127.0.0.1:${server.address().port}`)
})
