// The official x402 Express server (@x402/express), unchanged, settling through the facilitator at
// FACILITATOR_URL (paywire's, in the on-chain suite): GET /weather costs PRICE (default $0.01).
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

const network = process.env.NETWORK ?? 'eip155:84532'
const resourceServer = new x402ResourceServer(new HTTPFacilitatorClient({ url: process.env.FACILITATOR_URL })).register(
  network,
  new ExactEvmScheme(),
)
const app = express()
app.use(
  paymentMiddleware(
    {
      'GET /weather': {
        accepts: { scheme: 'exact', price: process.env.PRICE ?? '$0.01', network, payTo: process.env.PAY_TO },
        description: 'Weather',
      },
    },
    resourceServer,
  ),
)
app.get('/weather', (req, res) => res.json({ forecast: 'sunny' }))
app.get('/health', (req, res) => res.json({ ok: true }))
app.listen(Number(process.env.PORT), '127.0.0.1')
