// The official x402 Express server (@x402/express), unchanged, settling through the facilitator at
// FACILITATOR_URL (paywire's, in the on-chain suite): GET /weather costs PRICE (default $0.01). SIGN_IN=1 adds
// the official sign-in-with-x extension (@x402/extensions), with its in-memory record of who paid. UPTO=1 adds
// GET /generate, metered with the official upto scheme (at most $0.01), charging the `used` query parameter
// (setSettlementOverrides); the official server reads the facilitator's upto address from its /supported.
// BATCH=1 adds GET /batch, paid from batch-settlement channels ($0.001 a request; the official server takes the
// facilitator's receiver authorizer from its /supported), and POST /claim, which claims and sweeps with the
// official channel manager.
//
//   PAYWIRE_NODE_TEST_DIR=node/test PAY_TO=0x... FACILITATOR_URL=http://... PORT=3000 node official_server.mjs
//
// The official packages are the ones node/test installs (package.json there pins them).
import { createRequire } from 'node:module'
import path from 'node:path'

const require = createRequire(path.join(process.env.PAYWIRE_NODE_TEST_DIR, 'package.json'))
const express = require('express')
const { paymentMiddleware, setSettlementOverrides, x402ResourceServer } = require('@x402/express')
const { HTTPFacilitatorClient } = require('@x402/core/server')
const { ExactEvmScheme } = require('@x402/evm/exact/server')
const { UptoEvmScheme } = require('@x402/evm/upto/server')
const { BatchSettlementEvmScheme } = require('@x402/evm/batch-settlement/server')
const siwx = process.env.SIGN_IN === '1' ? require('@x402/extensions') : null

const network = process.env.NETWORK ?? 'eip155:84532'
const facilitator = new HTTPFacilitatorClient({ url: process.env.FACILITATOR_URL })
const resourceServer = new x402ResourceServer(facilitator).register(network, new ExactEvmScheme())
const upto = process.env.UPTO === '1'
if (upto) resourceServer.register(network, new UptoEvmScheme())
const batch = process.env.BATCH === '1' ? new BatchSettlementEvmScheme(process.env.PAY_TO) : null
if (batch) resourceServer.register(network, batch)
if (siwx) {
  const origin = `http://127.0.0.1:${process.env.PORT}`
  resourceServer.registerExtension(siwx.createSIWxResourceServerExtension({ origin, storage: new siwx.InMemorySIWxStorage() }))
}
const app = express()
app.use(
  paymentMiddleware(
    {
      'GET /weather': {
        accepts: { scheme: 'exact', price: process.env.PRICE ?? '$0.01', network, payTo: process.env.PAY_TO },
        description: 'Weather',
        ...(siwx ? { extensions: siwx.declareSIWxExtension({ network }) } : {}),
      },
      ...(upto
        ? { 'GET /generate': { accepts: { scheme: 'upto', price: '$0.01', network, payTo: process.env.PAY_TO }, description: 'Metered' } }
        : {}),
      ...(batch
        ? { 'GET /batch': { accepts: { scheme: 'batch-settlement', price: '$0.001', network, payTo: process.env.PAY_TO }, description: 'Channel' } }
        : {}),
    },
    resourceServer,
  ),
)
let served = 0
app.get('/weather', (req, res) => {
  served += 1
  res.json({ forecast: 'sunny' })
})
app.get('/generate', (req, res) => {
  setSettlementOverrides(res, { amount: String(req.query.used) })
  res.json({ generated: 'tokens', charged: String(req.query.used) })
})
app.get('/batch', (req, res) => res.json({ item: 'paid from a channel' }))
app.post('/claim', async (req, res) => {
  const manager = batch.createChannelManager(facilitator, network)
  res.json(await manager.claimAndSettle())
})
app.get('/served', (req, res) => res.json({ served }))
app.get('/health', (req, res) => res.json({ ok: true }))
app.listen(Number(process.env.PORT), '127.0.0.1')
