// The official x402 Express server (@x402/express), unchanged, settling through the facilitator at
// FACILITATOR_URL (paywire's, in the on-chain suite): GET /weather costs PRICE (default $0.01). SIGN_IN=1 adds
// the official sign-in-with-x extension (@x402/extensions), with its in-memory record of who paid.
//
//   PAYWIRE_NODE_TEST_DIR=node/test PAY_TO=0x... FACILITATOR_URL=http://... PORT=3000 node official_server.mjs
//
// The official packages are the ones node/test installs (package.json there pins them).
import { createRequire } from 'node:module'
import path from 'node:path'

const require = createRequire(path.join(process.env.PAYWIRE_NODE_TEST_DIR, 'package.json'))
const express = require('express')
const { paymentMiddleware, x402ResourceServer } = require('@x402/express')
const { HTTPFacilitatorClient } = require('@x402/core/server')
const { ExactEvmScheme } = require('@x402/evm/exact/server')
const siwx = process.env.SIGN_IN === '1' ? require('@x402/extensions') : null

const network = process.env.NETWORK ?? 'eip155:84532'
const resourceServer = new x402ResourceServer(new HTTPFacilitatorClient({ url: process.env.FACILITATOR_URL })).register(
  network,
  new ExactEvmScheme(),
)
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
    },
    resourceServer,
  ),
)
let served = 0
app.get('/weather', (req, res) => {
  served += 1
  res.json({ forecast: 'sunny' })
})
app.get('/served', (req, res) => res.json({ served }))
app.get('/health', (req, res) => res.json({ ok: true }))
app.listen(Number(process.env.PORT), '127.0.0.1')
