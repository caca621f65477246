// Passes in Node, over real servers on loopback: an Express server that accepts passes a trusted issuer
// signed and names where to get one (passFacilitator), and wrapFetch trusting that pass facilitator. The pass
// facilitator here is a small stand-in that signs a receipt for the transaction it is asked about (the real
// one, which checks the transaction on chain, is tested on anvil in tests/e2e/test_passes.py). The facilitator
// double settles the first payment.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'

import express from 'express'
import * as paywire from 'paywire'

import { FacilitatorDouble } from './support/facilitator.mjs'
import { serveExpress } from './support/servers.mjs'

const KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const ISSUER_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'
const PAYER = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
const PAY_TO = '0x209693Bc6afc0C5328bA36FaF03C514EF312287C'
const tag = () => new paywire.PriceTag({ network: 'eip155:84532', payTo: PAY_TO, price: '$0.001' })

/** A pass facilitator stand-in: signs a receipt for each pass request, and keeps what it was asked. */
async function passFacilitator(t, { down = false } = {}) {
  const issuer = new paywire.Issuer(new paywire.LocalSigner(ISSUER_KEY))
  const asked = []
  const server = createServer(async (req, res) => {
    let body = ''
    for await (const chunk of req) body += chunk
    const request = JSON.parse(body)
    asked.push({ path: req.url, ...request })
    if (down) {
      res.writeHead(503).end()
      return
    }
    const receipt = issuer.issueReceipt(request.resource, PAYER, 'eip155:84532', request.transaction)
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ success: true, header: receipt.toHeader(), issuer: issuer.address, expiresAt: Math.floor(Date.now() / 1000) + 600 }))
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => new Promise((r) => server.close(r)))
  return { url: `http://127.0.0.1:${server.address().port}`, asked, issuer }
}

async function shop(t, fac, passes) {
  const seen = []
  const app = express()
  app.use(paywire.paymentMiddleware({ 'GET /weather': tag() }, {
    facilitator: new paywire.FacilitatorClient(fac.url),
    access: new paywire.AccessPolicy([passes.issuer.address], 600),
    passFacilitator: passes.url,
    // The server's signed offers state its prices to the facilitator; without them no pass is offered.
    issuer: new paywire.Issuer(new paywire.LocalSigner(KEY)),
    publicUrl: undefined,
    logger: { warn() {}, error() {} },
  }))
  app.get('/weather', (req, res) => {
    seen.push({ payer: req.paywire.payer, paid: req.paywire.payment != null })
    res.json({ forecast: 'sunny' })
  })
  const server = await serveExpress(app)
  t.after(server.close)
  return { url: server.url, seen }
}

test('a client that trusts the pass facilitator pays once, then gets a pass and presents it', async (t) => {
  const fac = new FacilitatorDouble()
  await fac.listen()
  t.after(() => fac.close())
  const passes = await passFacilitator(t)
  const { url, seen } = await shop(t, fac, passes)
  const bill = paywire.decodeHeaderJson((await fetch(`${url}/weather`)).headers.get('payment-required'))
  assert.equal(bill.extensions['paywire-pass'].info.endpoint, `${passes.url}/passes/transaction`)
  const pay = paywire.wrapFetch(fetch, new paywire.Payer(new paywire.LocalSigner(KEY)), { passFacilitators: [passes.url] })
  const first = await pay(`${url}/weather`)
  assert.equal(first.status, 200)
  const settled = paywire.settlement(first)
  assert.ok(paywire.payment(first) && settled.success)
  const answers = []
  for (let i = 0; i < 3; i++) answers.push(await pay(`${url}/weather`))
  assert.deepEqual(answers.map((r) => r.status), [200, 200, 200])
  assert.ok(answers.every((r) => paywire.payment(r) === null))
  assert.deepEqual(seen.map((s) => s.paid), [true, false, false, false])
  assert.equal(fac.settleCalls, 1)
  // One pass request, for the settled transaction and this resource, signed by the payer.
  assert.equal(passes.asked.length, 1)
  const [asked] = passes.asked
  assert.equal(asked.path, '/passes/transaction')
  assert.equal(asked.transaction, settled.transaction)
  assert.equal(asked.resource, `${url}/weather`)
  assert.match(asked.signature, /^0x[0-9a-f]{130}$/)
  assert.equal(asked.offer.format, 'eip712')
})

test('a client that does not trust the facilitator a bill names never calls it, and one that fails (503) fails nothing', async (t) => {
  const fac = new FacilitatorDouble()
  await fac.listen()
  t.after(() => fac.close())
  const passes = await passFacilitator(t, { down: true })
  const { url } = await shop(t, fac, passes)
  const untrusting = paywire.wrapFetch(fetch, new paywire.Payer(new paywire.LocalSigner(KEY)))
  await untrusting(`${url}/weather`)
  assert.ok(paywire.payment(await untrusting(`${url}/weather`)))
  assert.equal(passes.asked.length, 0)
  const trusting = paywire.wrapFetch(fetch, new paywire.Payer(new paywire.LocalSigner(KEY)), { passFacilitators: [passes.url] })
  await trusting(`${url}/weather`)
  const again = await trusting(`${url}/weather`)
  assert.equal(again.status, 200)
  assert.ok(paywire.payment(again), 'no pass to be had: the call pays')
  assert.equal(passes.asked.length, 1)
  assert.equal(fac.settleCalls, 4)
})
