// End to end over real HTTP on loopback: an Express or a Hono app behind paywire's middleware, paid by
// paywire's wrapFetch (or by hand-made headers), against the facilitator double (support/facilitator.mjs).
// The cases are those of python/tests/test_e2e.py; every one runs against both frameworks.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import express from 'express'
import { Hono } from 'hono'
import { privateKeyToAccount } from 'viem/accounts'
import * as paywire from 'paywire'
import { FacilitatorDouble } from './support/facilitator.mjs'
import { serveExpress, serveHono } from './support/servers.mjs'

// Well-known development keys (anvil's first accounts): never hold value.
const PAYER_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const PAYER = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
const ISSUER_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'
const PAY_TO = '0x209693Bc6afc0C5328bA36FaF03C514EF312287C'
const NETWORK = 'eip155:84532'
const SECRET = 'the paid content'

const tag = (price = '$0.001', more = {}) => new paywire.PriceTag({ network: NETWORK, payTo: PAY_TO, price, ...more })
// The gate's warnings (facilitator failures, missing publicUrl) are expected here; keep the output readable.
const quiet = { warn() {}, error() {}, info() {}, log() {} }

const payer = (options) => new paywire.Payer(new paywire.LocalSigner(PAYER_KEY), new paywire.Policy({ maxPerPayment: '$0.01' }), options)
const payingFetch = (p = payer(), inner = fetch) => paywire.wrapFetch(inner, p)
const paidHeaders = (header) => ({ [header.name]: header.value })
const billOf = (r) => paywire.PaymentRequired.fromHeader(r.headers.get('payment-required'))
const exposes = (r) => assert.match(r.headers.get('access-control-expose-headers') ?? '', /PAYMENT-REQUIRED, PAYMENT-RESPONSE/)
const deferred = () => {
  let resolve
  const promise = new Promise((r) => (resolve = r))
  return { promise, resolve }
}

/** A loopback URL where nothing listens. */
async function closedPortUrl() {
  const s = createServer()
  await new Promise((r) => s.listen(0, '127.0.0.1', r))
  const { port } = s.address()
  await new Promise((r) => s.close(r))
  return `http://127.0.0.1:${port}`
}

function shopRoutes() {
  const price = tag()
  return {
    'GET /weather': { tags: price, description: 'Weather', mimeType: 'application/json' },
    'POST /echo': price,
    'POST /order': price,
    'GET /unavailable': price,
    'GET /crash': price,
    'GET /slow': price,
    'GET /mine': tag('$0.001', { extensions: { 'payment-identifier': paywire.paymentIdentifierDeclaration(true) } }),
    'GET /v1/weather': { tags: new paywire.PriceTag({ network: 'base-sepolia', payTo: PAY_TO, price: '$0.001' }), x402Version: 1 },
    'GET /doc': price,
    'POST /doc': { tags: tag('$0.009'), receipts: false },
  }
}

/**
 * What a paid API answers, independent of the framework. `calls` counts handler runs; `slow` (a deferred
 * set by a test) holds /slow open so a test can act while a payment is in flight.
 */
class Shop {
  calls = {}
  slow = null
  slowEntered = deferred()
  count(name) {
    this.calls[name] = (this.calls[name] ?? 0) + 1
  }
  weather(paid) {
    this.count('weather')
    return { forecast: SECRET, payer: paid.payer, amount: paid.payment ? String(paid.payment.verified.amount) : null }
  }
  async slowly() {
    this.count('slow')
    this.slowEntered.resolve()
    // Bounded, so a broken gate that runs this twice fails the test instead of hanging it.
    if (this.slow) await Promise.race([this.slow.promise, new Promise((r) => setTimeout(r, 2000).unref())])
    return { forecast: SECRET }
  }
}

/** The two frameworks, each able to serve the shop and a mounted sub-app. */
const FRAMEWORKS = {
  express: {
    async serve(shop, options) {
      const app = express()
      app.set('env', 'test') // finalhandler prints no stack trace for /crash
      app.use(express.json()) // a body parser first, as the middleware's docs ask
      app.use(paywire.paymentMiddleware(shopRoutes(), options))
      app.get('/weather', (req, res) => res.set('x-forecast', SECRET).json(shop.weather(req.paywire)))
      app.post('/echo', (req, res) => {
        shop.count('echo')
        res.type('application/octet-stream').send(req.body)
      })
      app.post('/order', (req, res) => {
        shop.count('order')
        res.json({ got: req.body })
      })
      app.get('/unavailable', (req, res) => {
        shop.count('unavailable')
        res.status(503).json({ error: SECRET })
      })
      app.get('/crash', () => {
        shop.count('crash')
        throw new Error('handler bug')
      })
      app.get('/slow', async (req, res) => res.json(await shop.slowly()))
      app.get('/mine', (req, res) => {
        shop.count('mine')
        res.json({ secret: `${SECRET} for ${req.paywire.payer}` })
      })
      app.get('/v1/weather', (req, res) => {
        shop.count('v1')
        res.json({ forecast: SECRET })
      })
      app.all('/doc', (req, res) => res.json({ doc: SECRET }))
      app.get('/free', (req, res) => res.json({ free: 'yes' }))
      return serveExpress(app)
    },
    // Express patterns are relative to where the middleware is mounted.
    async serveMounted(options) {
      const api = express.Router()
      api.use(paywire.paymentMiddleware({ 'GET /files/{p:path}': tag() }, options))
      api.get('/files/*rest', (req, res) => res.type('text/plain').send(SECRET))
      const app = express()
      app.use('/api', api)
      return serveExpress(app)
    },
  },
  hono: {
    async serve(shop, options) {
      const app = new Hono()
      app.onError((e, c) => c.text('Internal Server Error', 500)) // no stack trace for /crash
      app.use(paywire.honoPaymentMiddleware(shopRoutes(), options))
      app.get('/weather', (c) => c.json(shop.weather(c.get('paywire')), 200, { 'x-forecast': SECRET }))
      app.post('/echo', async (c) => {
        shop.count('echo')
        return c.body(await c.req.arrayBuffer(), 200, { 'content-type': 'application/octet-stream' })
      })
      app.post('/order', async (c) => {
        shop.count('order')
        return c.json({ got: await c.req.json() })
      })
      app.get('/unavailable', (c) => {
        shop.count('unavailable')
        return c.json({ error: SECRET }, 503)
      })
      app.get('/crash', () => {
        shop.count('crash')
        throw new Error('handler bug')
      })
      app.get('/slow', async (c) => c.json(await shop.slowly()))
      app.get('/mine', (c) => {
        shop.count('mine')
        return c.json({ secret: `${SECRET} for ${c.get('paywire').payer}` })
      })
      app.get('/v1/weather', (c) => {
        shop.count('v1')
        return c.json({ forecast: SECRET })
      })
      app.on(['GET', 'POST'], '/doc', (c) => c.json({ doc: SECRET }))
      app.get('/free', (c) => c.json({ free: 'yes' }))
      return serveHono(app)
    },
    // Hono patterns match the full path, also in a sub-app.
    async serveMounted(options) {
      const api = new Hono()
      api.use(paywire.honoPaymentMiddleware({ 'GET /api/files/{p:path}': tag() }, options))
      api.get('/files/*', (c) => c.text(SECRET))
      const app = new Hono()
      app.route('/api', api)
      return serveHono(app)
    },
  },
}

for (const [name, framework] of Object.entries(FRAMEWORKS)) {
  /**
   * A facilitator double and the shop served for one test, closed after it. `facilitatorUrl` overrides
   * the double's address (a closed port); `client` passes FacilitatorClient options; the rest goes to the
   * middleware.
   */
  async function setup(t, { mode = 'ok', facilitatorUrl, client, ...options } = {}) {
    const facilitator = new FacilitatorDouble()
    facilitator.mode = mode
    const furl = await facilitator.listen()
    t.after(() => facilitator.close())
    const shop = new Shop()
    const served = await framework.serve(shop, {
      facilitator: new paywire.FacilitatorClient(facilitatorUrl ?? furl, { timeoutMs: 5000, ...client }),
      logger: quiet,
      ...options,
    })
    t.after(() => served.close())
    return { fac: facilitator, shop, url: served.url }
  }

  describe(`e2e over ${name}`, () => {

    test('free routes pass through', async (t) => {
      const { url } = await setup(t)
      const r = await fetch(`${url}/free`)
      assert.equal(r.status, 200)
      assert.deepEqual(await r.json(), { free: 'yes' })
    })

    test('a paid request is served with its settlement', async (t) => {
      const { fac, shop, url } = await setup(t)
      const r = await payingFetch()(`${url}/weather`)
      assert.equal(r.status, 200)
      assert.deepEqual(await r.json(), { forecast: SECRET, payer: PAYER, amount: '1000' })
      const settled = paywire.settlement(r)
      assert.ok(settled?.success)
      assert.match(settled.transaction, /^0x[0-9a-f]{64}$/)
      assert.equal(settled.payer, PAYER)
      assert.equal(settled.network, NETWORK)
      assert.equal(paywire.payment(r).amount, 1000n)
      assert.equal(r.headers.get('x-forecast'), SECRET)
      assert.equal(r.headers.get('cache-control'), 'private')
      exposes(r)
      assert.deepEqual([fac.verifyCalls, fac.settleCalls, fac.settled.length, shop.calls.weather], [1, 1, 1, 1])
    })

    test('a payment in flight is not served twice', async (t) => {
      const { fac, shop, url } = await setup(t)
      shop.slow = deferred()
      const header = await payer().pay((await fetch(`${url}/slow`)).headers.get('payment-required'))
      const first = fetch(`${url}/slow`, { headers: paidHeaders(header) })
      await shop.slowEntered.promise // the first request holds the payment now
      let second
      try {
        second = await fetch(`${url}/slow`, { headers: paidHeaders(header) })
      } finally {
        shop.slow.resolve()
      }
      assert.equal(second.status, 409)
      assert.equal((await second.json()).error, 'payment_in_progress')
      exposes(second)
      const r = await first
      assert.equal(r.status, 200)
      assert.deepEqual(await r.json(), { forecast: SECRET })
      assert.deepEqual([fac.settleCalls, shop.calls.slow], [1, 1])
    })

    for (const trouble of ['down', 'garbage']) {
      test(`a facilitator that is ${trouble} is a 502 and nothing is served`, async (t) => {
        const options = trouble === 'down' ? { facilitatorUrl: await closedPortUrl() } : { mode: 'garbage' }
        const { shop, url } = await setup(t, options)
        const r = await payingFetch()(`${url}/weather`)
        assert.equal(r.status, 502)
        exposes(r)
        const text = await r.text()
        const body = JSON.parse(text)
        assert.equal(body.error, trouble === 'down' ? 'facilitator_unreachable' : 'invalid_facilitator_response')
        assert.ok(body.message)
        assert.ok(!text.includes(SECRET))
        assert.deepEqual(shop.calls, {})
      })
    }

    test('a pending settlement is asked again once by the facilitator client', async (t) => {
      const { fac, url } = await setup(t, { mode: 'pending_then_ok' })
      const r = await payingFetch()(`${url}/weather`)
      assert.equal(r.status, 200)
      assert.ok(paywire.settlement(r).success)
      assert.equal(fac.settleCalls, 2)
      assert.equal(fac.settled.length, 1)
    })

    test('a lost response and its retry cost one payment', async (t) => {
      const { fac, shop, url } = await setup(t)
      let lost = false
      // Delivers requests but loses the response to the first paid one (a dropped connection).
      const losing = async (request) => {
        const response = await fetch(request)
        if (request.headers.has('payment-signature') && !lost) {
          lost = true
          await response.arrayBuffer()
          throw new TypeError('fetch failed: connection reset by peer')
        }
        return response
      }
      const p = payer()
      const f = payingFetch(p, losing)
      await assert.rejects(f(`${url}/weather`), /connection reset/)
      const r = await f(`${url}/weather`)
      assert.equal(r.status, 200)
      assert.equal((await r.json()).forecast, SECRET)
      assert.ok(paywire.payment(r).reused, 'the retry signed a second payment')
      assert.deepEqual([fac.settleCalls, shop.calls.weather], [1, 1])
      assert.equal(p.spentUsd, '$0.001')
    })

    test('the request body is kept for the paid retry', async (t) => {
      const { fac, url } = await setup(t)
      const data = new Uint8Array(256 * 40).map((_, i) => i % 256)
      const r = await payingFetch()(`${url}/echo`, { method: 'POST', body: data, headers: { 'content-type': 'application/octet-stream' } })
      assert.equal(r.status, 200)
      assert.deepEqual(new Uint8Array(await r.arrayBuffer()), data)
      assert.equal(fac.settleCalls, 1)
    })

    test('a JSON body reaches the paid handler', async (t) => {
      const { fac, shop, url } = await setup(t)
      const order = { item: 'umbrella', qty: 2 }
      const r = await payingFetch()(`${url}/order`, { method: 'POST', body: JSON.stringify(order), headers: { 'content-type': 'application/json' } })
      assert.equal(r.status, 200)
      assert.deepEqual(await r.json(), { got: order })
      // The payment is bound to that body: the same payment with another body is another request.
      const send = (body) => fetch(`${url}/order`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...paidHeaders(paywire.payment(r)) } })
      const again = await send(order)
      assert.equal(again.status, 200)
      assert.deepEqual(await again.json(), { got: order })
      const other = await send({ item: 'umbrella', qty: 200 })
      assert.equal(other.status, 402)
      assert.equal(billOf(other).error, 'invalid_exact_evm_nonce_already_used')
      assert.deepEqual([fac.settleCalls, shop.calls.order], [1, 1])
    })

    test('a request that carries a payment is never paid again', async (t) => {
      const { url } = await setup(t)
      const stale = await payer().pay(paywire.buildPaymentRequired(`${url}/weather`, [tag('$0.0001')]))
      const p = payer()
      const r = await payingFetch(p)(`${url}/weather`, { headers: paidHeaders(stale) })
      assert.equal(r.status, 402)
      assert.equal(p.spentUsd, '$0')
      assert.equal(paywire.payment(r), null)
    })

    test('a v1 route bills in the body and takes X-PAYMENT', async (t) => {
      const { shop, url } = await setup(t)
      const unpaid = await fetch(`${url}/v1/weather`)
      assert.equal(unpaid.status, 402)
      assert.equal(unpaid.headers.get('payment-required'), null)
      const bill = await unpaid.json()
      assert.equal(bill.x402Version, 1)
      assert.equal(bill.accepts[0].network, 'base-sepolia')
      const r = await payingFetch()(`${url}/v1/weather`)
      assert.equal(r.status, 200)
      assert.deepEqual(await r.json(), { forecast: SECRET })
      assert.equal(paywire.payment(r).name, 'X-PAYMENT')
      assert.ok(r.headers.get('x-payment-response'))
      assert.ok(paywire.settlement(r).success)
      assert.equal(shop.calls.v1, 1)
    })

    test('an async signer pays', async (t) => {
      const { url } = await setup(t)
      const local = new paywire.LocalSigner(PAYER_KEY)
      let calls = 0
      const remote = {
        address: local.address,
        async signDigest(digest) {
          calls++
          await new Promise((r) => setImmediate(r))
          return local.signDigest(digest)
        },
      }
      const r = await payingFetch(new paywire.Payer(remote))(`${url}/weather`)
      assert.equal(r.status, 200)
      assert.equal((await r.json()).payer, PAYER)
      assert.equal(calls, 1)
    })

    test('a viem account pays through fromViemAccount', async (t) => {
      const { fac, url } = await setup(t)
      const signer = paywire.fromViemAccount(privateKeyToAccount(PAYER_KEY))
      const r = await payingFetch(new paywire.Payer(signer))(`${url}/weather`)
      assert.equal(r.status, 200)
      assert.equal((await r.json()).payer, PAYER)
      assert.equal(fac.settled.length, 1)
    })

    test('receipts stand in for a new payment', async (t) => {
      const issuerSigner = new paywire.LocalSigner(ISSUER_KEY)
      const trusted = [issuerSigner.address]
      const { fac, shop, url } = await setup(t, { issuer: new paywire.Issuer(issuerSigner), access: new paywire.AccessPolicy(trusted, 3600) })
      const offers = paywire.offersIn(billOf(await fetch(`${url}/weather`)))
      assert.equal(offers.length, 1)
      assert.equal(offers[0].verify(trusted).signer, issuerSigner.address)
      const paid = await payingFetch()(`${url}/weather`)
      assert.equal(paid.status, 200)
      const receipt = paywire.receiptIn(paywire.settlement(paid))
      assert.ok(receipt)
      assert.equal(receipt.verify(trusted).payload.payer, PAYER)
      const presented = { [paywire.RECEIPT_HEADER]: receipt.toHeader() }
      const again = await fetch(`${url}/weather`, { headers: presented })
      assert.equal(again.status, 200)
      assert.deepEqual(await again.json(), { forecast: SECRET, payer: PAYER, amount: null })
      const elsewhere = await fetch(`${url}/slow`, { headers: presented })
      assert.equal(elsewhere.status, 402, 'a receipt for one resource opened another')
      assert.equal(fac.settleCalls, 1)
      assert.equal(shop.calls.weather, 2)
    })

    test('receipts can be refused per route', async (t) => {
      const issuerSigner = new paywire.LocalSigner(ISSUER_KEY)
      const { url } = await setup(t, { issuer: new paywire.Issuer(issuerSigner), access: new paywire.AccessPolicy([issuerSigner.address], 3600) })
      const receipt = paywire.receiptIn(paywire.settlement(await payingFetch()(`${url}/doc`)))
      const presented = { [paywire.RECEIPT_HEADER]: receipt.toHeader() }
      assert.equal((await fetch(`${url}/doc`, { headers: presented })).status, 200)
      assert.equal((await fetch(`${url}/doc`, { method: 'POST', headers: presented })).status, 402)
    })

    test("a stolen payment id does not unlock another's response", async (t) => {
      const { fac, shop, url } = await setup(t)
      const bill = (await fetch(`${url}/mine`)).headers.get('payment-required')
      const victim = await payer().pay(bill)
      assert.ok(victim.paymentId)
      assert.equal((await fetch(`${url}/mine`, { headers: paidHeaders(victim) })).status, 200)
      const thief = await new paywire.Payer(paywire.LocalSigner.generate()).pay(bill)
      const forged = JSON.parse(paywire.decodeHeaderText(thief.value))
      forged.extensions['payment-identifier'].info.id = victim.paymentId
      const stolen = await fetch(`${url}/mine`, { headers: { 'PAYMENT-SIGNATURE': paywire.encodeJsonText(JSON.stringify(forged)) } })
      assert.equal(stolen.status, 409)
      const text = await stolen.text()
      assert.equal(JSON.parse(text).error, 'payment_identifier_conflict')
      assert.ok(!text.includes(SECRET))
      assert.deepEqual([fac.settleCalls, shop.calls.mine], [1, 1])
    })

    test('path patterns in a mounted app are billed', async (t) => {
      const fac = new FacilitatorDouble()
      const furl = await fac.listen()
      t.after(() => fac.close())
      const served = await framework.serveMounted({ facilitator: new paywire.FacilitatorClient(furl), logger: quiet })
      t.after(() => served.close())
      for (const path of ['/api/files/a', '/api/files/a/b/c.txt']) {
        const r = await fetch(`${served.url}${path}`)
        assert.equal(r.status, 402, path)
        assert.equal(billOf(r).resource.url, `${served.url}${path}`)
      }
      assert.equal((await fetch(`${served.url}/api/other`)).status, 404)
      const paid = await payingFetch()(`${served.url}/api/files/a/b`)
      assert.equal(paid.status, 200)
      assert.equal(await paid.text(), SECRET)
      assert.equal(fac.settleCalls, 1)
    })

    test('the facilitator client sends per-endpoint auth headers', async (t) => {
      // A function (short-lived tokens) returning headers keyed by endpoint, as the official createAuthHeaders does.
      const tokens = async () => ({ verify: { Authorization: 'Bearer v' }, settle: { Authorization: 'Bearer s' }, supported: {} })
      const { fac, url } = await setup(t, { client: { headers: tokens } })
      const r = await payingFetch()(`${url}/weather`)
      assert.equal(r.status, 200)
      assert.deepEqual(fac.authHeaders, [
        { endpoint: 'verify', authorization: 'Bearer v' },
        { endpoint: 'settle', authorization: 'Bearer s' },
      ])
    })

    test('the same settle headers go with both asks of a pending settlement', async (t) => {
      const { fac, url } = await setup(t, { mode: 'pending_then_ok', client: { headers: { Authorization: 'Bearer all' } } })
      assert.equal((await payingFetch()(`${url}/weather`)).status, 200)
      const settles = fac.authHeaders.filter((h) => h.endpoint === 'settle')
      assert.equal(settles.length, 2)
      assert.deepEqual(settles.map((h) => h.authorization), ['Bearer all', 'Bearer all'])
    })
  })
}

