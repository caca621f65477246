// A paid API for the on-chain fault tests: paywire's Express middleware in front of a handler that serves
// (/weather), one that answers 500 (/broken) and one that throws (/crash). Each costs PRICE (default $0.01).
// TAKEOVER_AFTER: seconds before a payment left in flight by a dead replica is taken over (default 300).
// SIGN_IN=1: sign-in-with-x on (a wallet that paid signs in again without paying).
// TRANSFER_METHOD=permit2: PRICE_ATOMIC (default 10000) of Base Sepolia's USDC, paid through Permit2.
// UPTO_FACILITATOR (the facilitator's upto key): GET /generate, metered with the upto scheme, at most UPTO_MAX
// (default 50000) units of USDC, charging the `used` query parameter (the Settlement-Overrides header).
// BATCH_AUTHORIZER (the receiver authorizer, e.g. the facilitator's key): GET /batch, paid from batch-settlement
// channels, BATCH_PRICE (default 1000) units of USDC a request, and POST /claim (free), which claims and sweeps.
//
//   PAYWIRE_NODE_DIR=node/ PAY_TO=0x... FACILITATOR_URL=http://... PORT=3000 node paid_app.mjs
//
// paywire and express are loaded from PAYWIRE_NODE_DIR (the built package and its dev dependencies).
import { createRequire } from 'node:module'
import path from 'node:path'

const require = createRequire(path.join(process.env.PAYWIRE_NODE_DIR, 'package.json'))
const express = require('express')
const { FacilitatorClient, LocalSigner, PriceTag, RedisStore, paymentMiddleware } = require('paywire')

const network = process.env.NETWORK ?? 'eip155:84532'
const tags = process.env.TRANSFER_METHOD === 'permit2'
  ? new PriceTag({ network, payTo: process.env.PAY_TO, amount: process.env.PRICE_ATOMIC ?? '10000', asset: '0x036CbD53842c5426634e7929541eC2318f3dCF7e', transferMethod: 'permit2' })
  : new PriceTag({ network, payTo: process.env.PAY_TO, price: process.env.PRICE ?? '$0.01' })
const routes = Object.fromEntries(['weather', 'broken', 'crash'].map((p) => [`GET /${p}`, { tags }]))
// UPTO_FACILITATOR=supported: the tag leaves the facilitator's address out, and the facilitator's /supported
// answer fills it in.
const fromSupported = process.env.UPTO_FACILITATOR === 'supported'
if (process.env.UPTO_FACILITATOR) {
  routes['GET /generate'] = {
    tags: new PriceTag({
      network,
      payTo: process.env.PAY_TO,
      amount: process.env.UPTO_MAX ?? '50000',
      asset: '0x036CbD53842c5426634e7929541eC2318f3dCF7e',
      scheme: 'upto',
      extra: fromSupported ? undefined : { facilitatorAddress: process.env.UPTO_FACILITATOR },
    }),
  }
}

// BATCH_AUTHORIZER_KEY instead: the server holds its receiver authorizer (it signs claims and refunds).
const receiverAuthorizer = process.env.BATCH_AUTHORIZER_KEY ? new LocalSigner(process.env.BATCH_AUTHORIZER_KEY) : undefined
if (receiverAuthorizer) process.env.BATCH_AUTHORIZER = receiverAuthorizer.address
if (process.env.BATCH_AUTHORIZER) {
  routes['GET /batch'] = {
    tags: new PriceTag({
      network,
      payTo: process.env.PAY_TO,
      amount: process.env.BATCH_PRICE ?? '1000',
      asset: '0x036CbD53842c5426634e7929541eC2318f3dCF7e',
      scheme: 'batch-settlement',
      extra: { receiverAuthorizer: process.env.BATCH_AUTHORIZER, withdrawDelay: 900 },
    }),
  }
}

/** STORE_URL: a payment store shared with other processes, over HTTP (test_shared_store.py serves it). */
function sharedStore(url) {
  const call = async (op, body) => {
    const r = await fetch(`${url}/${op}`, { method: 'POST', body: JSON.stringify(body) })
    if (!r.ok) throw new Error(`the store answered ${r.status} to ${op}`)
    return r.json()
  }
  return {
    claim: async (key, entry, expiresAt) => (await call('claim', { key, entry, expiresAt })).entry,
    get: async (key) => (await call('get', { key })).entry,
    replace: async (key, token, entry, expiresAt) => (await call('replace', { key, token, entry, expiresAt })).replaced,
    release: async (key, token) => {
      await call('release', { key, token })
    },
  }
}

/** REDIS_URL: the payment store on Redis that replicas share (paywire's RedisStore, node-redis client). */
async function redisStore(url) {
  const { createClient } = require('redis')
  const client = createClient({ url })
  client.on('error', (e) => console.error(`redis: ${e.message}`))
  await client.connect()
  return new RedisStore(client)
}

const store = process.env.REDIS_URL
  ? await redisStore(process.env.REDIS_URL)
  : process.env.STORE_URL
    ? sharedStore(process.env.STORE_URL)
    : undefined

const app = express()
const facilitator = new FacilitatorClient(process.env.FACILITATOR_URL)
const paywall = paymentMiddleware(routes, {
  facilitator,
  supported: fromSupported ? await facilitator.supported() : undefined,
  store,
  publicUrl: process.env.PUBLIC_URL,
  takeoverAfter: process.env.TAKEOVER_AFTER ? Number(process.env.TAKEOVER_AFTER) : undefined,
  signIn: process.env.SIGN_IN === '1',
  receiverAuthorizer,
  // Claims by schedule: off unless a test asks, so the other tests claim when they say (POST /claim).
  claims: { everySeconds: Number(process.env.BATCH_CLAIM_EVERY ?? 0), atAmount: process.env.BATCH_CLAIM_AT ?? '0', tickSeconds: 0.5 },
})
app.use(paywall)
// served_by: a response held by one process and collected from another still names the first. `served` counts
// the handler's runs (GET /served, unpaid), so a test can tell a response answered again from one served again.
let served = 0
app.get('/weather', (req, res) => {
  served += 1
  res.json({ forecast: 'sunny', paid_by: req.paywire.payer, served_by: 'node' })
})
app.get('/generate', (req, res) => {
  // An upto route: the handler reports what the request used, in atomic units ("50%" and "$0.01" work too).
  res.set('Settlement-Overrides', JSON.stringify({ amount: String(req.query.used) }))
  res.json({ generated: 'tokens', charged: String(req.query.used) })
})
app.get('/batch', (req, res) => res.json({ item: 'paid from a channel', paid_by: req.paywire.payer }))
app.post('/claim', async (req, res) => res.json(await paywall.claim()))
app.get('/served', (req, res) => res.json({ served }))
app.get('/broken', (req, res) => res.status(500).json({ error: 'the weather service is down' }))
app.get('/crash', () => {
  throw new Error('the handler crashed')
})
app.get('/health', (req, res) => res.json({ ok: true }))

app.listen(Number(process.env.PORT), '127.0.0.1')
