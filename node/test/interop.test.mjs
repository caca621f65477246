// paywire against the official x402 TypeScript SDK, both ways, over real HTTP on loopback with the
// facilitator double: the official fetch client pays paywire's servers, and paywire's wrapFetch pays the
// official Express server.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import express from 'express'
import { Hono } from 'hono'
import { privateKeyToAccount } from 'viem/accounts'
import { wrapFetchWithPayment, x402Client, decodePaymentResponseHeader } from '@x402/fetch'
import { ExactEvmScheme as ExactEvmClient } from '@x402/evm/exact/client'
import { ExactEvmScheme as ExactEvmServer } from '@x402/evm/exact/server'
import { paymentMiddleware as officialPaymentMiddleware, x402ResourceServer } from '@x402/express'
import { HTTPFacilitatorClient } from '@x402/core/server'
import * as paywire from 'paywire'
import { FacilitatorDouble } from './support/facilitator.mjs'
import { serveExpress, serveHono } from './support/servers.mjs'

// Well-known development keys (anvil's first accounts): never hold value.
const PAYER_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const PAYER = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
const PAY_TO = '0x209693Bc6afc0C5328bA36FaF03C514EF312287C'
const NETWORK = 'eip155:84532'
const SECRET = 'the paid content'
const quiet = { warn() {}, error() {}, info() {}, log() {} }

async function facilitatorFor(t) {
  const fac = new FacilitatorDouble()
  await fac.listen()
  t.after(() => fac.close())
  return fac
}

const officialFetch = () =>
  wrapFetchWithPayment(fetch, new x402Client().register('eip155:*', new ExactEvmClient(privateKeyToAccount(PAYER_KEY))))

describe('the official @x402/fetch client pays paywire', () => {
  const routes = () => ({
    'GET /weather': new paywire.PriceTag({ network: NETWORK, payTo: PAY_TO, price: '$0.001' }),
    'POST /order': new paywire.PriceTag({ network: NETWORK, payTo: PAY_TO, price: '$0.002' }),
  })
  const servers = {
    async express(fac) {
      const app = express()
      app.use(express.json())
      app.use(paywire.paymentMiddleware(routes(), { facilitator: new paywire.FacilitatorClient(fac.url), logger: quiet }))
      app.get('/weather', (req, res) => res.json({ forecast: SECRET, payer: req.paywire.payer }))
      app.post('/order', (req, res) => res.json({ got: req.body, payer: req.paywire.payer }))
      return serveExpress(app)
    },
    async hono(fac) {
      const app = new Hono()
      app.use(paywire.honoPaymentMiddleware(routes(), { facilitator: new paywire.FacilitatorClient(fac.url), logger: quiet }))
      app.get('/weather', (c) => c.json({ forecast: SECRET, payer: c.get('paywire').payer }))
      app.post('/order', async (c) => c.json({ got: await c.req.json(), payer: c.get('paywire').payer }))
      return serveHono(app)
    },
  }

  for (const [name, serve] of Object.entries(servers)) {
    test(`a GET and a POST on a paywire ${name} server`, async (t) => {
      const fac = await facilitatorFor(t)
      const served = await serve(fac)
      t.after(() => served.close())
      const pay = officialFetch()

      const r = await pay(`${served.url}/weather`)
      assert.equal(r.status, 200)
      assert.deepEqual(await r.json(), { forecast: SECRET, payer: PAYER })
      const receipt = decodePaymentResponseHeader(r.headers.get('payment-response'))
      assert.equal(receipt.success, true)
      assert.equal(receipt.payer, PAYER)
      assert.equal(receipt.network, NETWORK)

      const order = { item: 'umbrella', qty: 2 }
      const posted = await pay(`${served.url}/order`, { method: 'POST', body: JSON.stringify(order), headers: { 'content-type': 'application/json' } })
      assert.equal(posted.status, 200)
      assert.deepEqual(await posted.json(), { got: order, payer: PAYER })

      assert.equal(fac.settled.length, 2)
      assert.deepEqual(fac.settled.map((s) => s.paymentRequirements.amount), ['1000', '2000'])
    })
  }
})

describe("paywire's wrapFetch pays the official @x402/express server", () => {
  async function officialServer(t, fac) {
    const resourceServer = new x402ResourceServer(new HTTPFacilitatorClient({ url: fac.url })).register(NETWORK, new ExactEvmServer())
    const app = express()
    app.use(express.json())
    app.use(
      officialPaymentMiddleware(
        {
          'GET /weather': { accepts: { scheme: 'exact', price: '$0.001', network: NETWORK, payTo: PAY_TO }, description: 'Weather' },
          'POST /order': { accepts: { scheme: 'exact', price: '$0.002', network: NETWORK, payTo: PAY_TO }, description: 'An order' },
        },
        resourceServer,
      ),
    )
    app.get('/weather', (req, res) => res.json({ forecast: SECRET }))
    app.post('/order', (req, res) => res.json({ got: req.body }))
    const served = await serveExpress(app)
    t.after(() => served.close())
    return served.url
  }

  test('a GET and a POST, each settled once', async (t) => {
    const fac = await facilitatorFor(t)
    const url = await officialServer(t, fac)
    const unpaid = await fetch(`${url}/weather`)
    assert.equal(unpaid.status, 402)
    const bill = paywire.PaymentRequired.fromHeader(unpaid.headers.get('payment-required'))
    assert.equal(bill.accepts[0].amount, 1000n)

    const payer = new paywire.Payer(paywire.fromViemAccount(privateKeyToAccount(PAYER_KEY)), new paywire.Policy({ maxPerPayment: '$0.01' }))
    const pay = paywire.wrapFetch(fetch, payer)
    const r = await pay(`${url}/weather`)
    assert.equal(r.status, 200)
    assert.deepEqual(await r.json(), { forecast: SECRET })
    const settled = paywire.settlement(r)
    assert.ok(settled?.success)
    assert.equal(settled.payer, PAYER)
    assert.equal(paywire.payment(r).amount, 1000n)

    const order = { item: 'umbrella', qty: 2 }
    const posted = await pay(`${url}/order`, { method: 'POST', body: JSON.stringify(order), headers: { 'content-type': 'application/json' } })
    assert.equal(posted.status, 200)
    assert.deepEqual(await posted.json(), { got: order })
    assert.ok(paywire.settlement(posted)?.success)

    assert.equal(fac.settled.length, 2)
    assert.equal(fac.settleCalls, 2)
    assert.equal(payer.spentUsd, '$0.003')
  })
})
