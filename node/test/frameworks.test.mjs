// Every Node server adapter over a real server, tried as an attacker would: the route's variants as each
// framework routes them (case, trailing slash, percent-encoding, `//`, mounts, HEAD) are never served unpaid;
// and the paying client over real servers: a payment never follows a redirect to another origin, one call
// pays once whatever the redirects, a payment for one resource is refused at another. Each test is the
// regression test of a defect found in paywire before the exchange moved into the core.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import v8 from 'node:v8'
import vm from 'node:vm'

import express from 'express'
import Fastify from 'fastify'
import { Hono } from 'hono'
import * as paywire from 'paywire'

import { FacilitatorDouble } from './support/facilitator.mjs'
import { serveExpress, serveHono } from './support/servers.mjs'
import { VARIANTS, noFreeVariant, raw } from './support/variants.mjs'

const KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const PAY_TO = '0x209693Bc6afc0C5328bA36FaF03C514EF312287C'
const SECRET = 'the-paid-content'
const tag = () => new paywire.PriceTag({ network: 'eip155:84532', payTo: PAY_TO, price: '$0.001' })
const payer = () => new paywire.Payer(new paywire.LocalSigner(KEY))

async function facilitator(t) {
  const fac = new FacilitatorDouble()
  await fac.listen()
  t.after(() => fac.close())
  return fac
}

test('Express: the variants of a priced route are never served unpaid (Express routes /A and /a/ to /a)', async (t) => {
  const fac = await facilitator(t)
  const app = express()
  app.use(paywire.paymentMiddleware({ 'GET /a': tag(), 'GET /dear': tag() }, { facilitator: new paywire.FacilitatorClient(fac.url) }))
  app.get('/a', (req, res) => res.send(SECRET))
  app.get('/dear', (req, res) => res.send(SECRET))
  const server = await serveExpress(app)
  t.after(server.close)
  await noFreeVariant(server.url, 'express')
  const r = await paywire.wrapFetch(fetch, payer())(`${server.url}/A`)
  assert.equal(r.status, 200)
  assert.equal(await r.text(), SECRET)
  assert.equal(fac.settleCalls, 1)
})

test('Express: paid() on a route prices exactly what Express routes there', async (t) => {
  const fac = await facilitator(t)
  const app = express()
  const paid = paywire.paid(tag(), { facilitator: new paywire.FacilitatorClient(fac.url) })
  app.get('/a', paid, (req, res) => res.send(`${SECRET} for ${req.paywire.payer}`))
  app.get('/dear', paid, (req, res) => res.send(SECRET))
  const server = await serveExpress(app)
  t.after(server.close)
  await noFreeVariant(server.url, 'express paid()')
  const r = await paywire.wrapFetch(fetch, payer())(`${server.url}/a`)
  assert.equal(r.status, 200)
  assert.match(await r.text(), /0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266/)
})

test('Express: a mounted router is billed under its mount', async (t) => {
  const fac = await facilitator(t)
  const app = express()
  const router = express.Router()
  router.use(paywire.paymentMiddleware({ 'GET /a': tag(), 'GET /dear': tag() }, { facilitator: new paywire.FacilitatorClient(fac.url) }))
  router.get('/a', (req, res) => res.send(SECRET))
  router.get('/dear', (req, res) => res.send(SECRET))
  app.use('/api', router)
  const server = await serveExpress(app)
  t.after(server.close)
  for (const path of VARIANTS) {
    const r = await raw(server.url, `/api${path}`)
    assert.ok(!(r.status === 200 && r.body.includes(SECRET)), `/api${path} served unpaid`)
  }
  const bill = await fetch(`${server.url}/api/a?x=1`)
  assert.equal(bill.status, 402)
  // The bill names the URL as the client sent it, mount and query included.
  assert.equal(paywire.PaymentRequired.fromResponse(bill.headers).resource.url, `${server.url}/api/a?x=1`)
})

test('Hono: the variants of a priced route are never served unpaid', async (t) => {
  const fac = await facilitator(t)
  const app = new Hono({ strict: false })
  app.use(paywire.honoPaymentMiddleware({ 'GET /a': tag(), 'GET /dear': tag() }, { facilitator: new paywire.FacilitatorClient(fac.url) }))
  app.get('/a', (c) => c.text(SECRET))
  app.get('/dear', (c) => c.text(SECRET))
  const server = await serveHono(app)
  t.after(server.close)
  await noFreeVariant(server.url, 'hono')
  const r = await paywire.wrapFetch(fetch, payer())(`${server.url}/a`)
  assert.equal(await r.text(), SECRET)
})

test('Hono: a request no route takes is Hono\'s 404, not a bill; a routed one under the same pattern is billed', async (t) => {
  const fac = await facilitator(t)
  const app = new Hono()
  app.use(paywire.honoPaymentMiddleware({ 'GET /files/*': tag() }, { facilitator: new paywire.FacilitatorClient(fac.url) }))
  app.get('/files/report', (c) => c.text(SECRET))
  const server = await serveHono(app)
  t.after(server.close)
  assert.equal((await fetch(`${server.url}/files/missing`)).status, 404)
  assert.equal((await fetch(`${server.url}/files/report`)).status, 402)
  // Hono's router tells case: no route takes /FILES/report, so Hono answers it, with nothing of the route's.
  const other = await fetch(`${server.url}/FILES/report`)
  assert.equal(other.status, 404)
  assert.ok(!(await other.text()).includes(SECRET))
})

test('Fastify: the plugin bills exactly the routes Fastify routes to, and config.paywire prices a route where it is declared', async (t) => {
  const fac = await facilitator(t)
  const app = Fastify({ routerOptions: { ignoreTrailingSlash: true, caseSensitive: false, ignoreDuplicateSlashes: true } })
  await app.register(paywire.fastifyPaywire, { routes: { 'GET /a': tag() }, facilitator: new paywire.FacilitatorClient(fac.url) })
  app.get('/a', async () => SECRET)
  app.get('/dear', { config: { paywire: tag() } }, async () => SECRET)
  app.get('/boom', { config: { paywire: tag() } }, async () => {
    throw new Error('the handler failed')
  })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  t.after(() => app.close())
  await noFreeVariant(url, 'fastify')
  const f = paywire.wrapFetch(fetch, payer())
  for (const path of ['/a', '/DEAR']) {
    const r = await f(`${url}${path}`)
    assert.equal(r.status, 200, path)
    assert.equal(await r.text(), SECRET)
  }
  const boom = await f(`${url}/boom`)
  assert.equal(boom.status, 500)
  assert.equal(fac.settleCalls, 2, 'a failed handler is not charged')
  const missing = await fetch(`${url}/missing`, { headers: { 'PAYMENT-SIGNATURE': 'x' } })
  assert.equal(missing.status, 404, 'a route no one takes is not billed')
})

/** A server that answers `handler(req, res)`, recording every request's headers. */
async function plainServer(t, handler) {
  const seen = []
  const server = createServer((req, res) => {
    seen.push({ url: req.url, headers: req.headers })
    handler(req, res)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise((r) => server.close(r)))
  return { url: `http://127.0.0.1:${server.address().port}`, seen }
}

test('wrapFetch: a payment never follows a redirect to another origin, nor credentials (undici forwarded PAYMENT-SIGNATURE)', async (t) => {
  const fac = await facilitator(t)
  const other = await plainServer(t, (req, res) => res.end('elsewhere'))
  const app = express()
  app.use(paywire.paymentMiddleware({ 'GET /a': tag() }, { facilitator: new paywire.FacilitatorClient(fac.url) }))
  app.get('/a', (req, res) => res.redirect(302, `${other.url}/landing`))
  const server = await serveExpress(app)
  t.after(server.close)
  const r = await paywire.wrapFetch(fetch, payer())(`${server.url}/a`, { headers: { authorization: 'Bearer secret' } })
  assert.equal(r.status, 200)
  assert.equal(await r.text(), 'elsewhere')
  assert.equal(other.seen.length, 1)
  for (const name of ['payment-signature', 'x-payment', 'authorization']) {
    assert.equal(other.seen[0].headers[name], undefined, `${name} reached another origin`)
  }
  assert.ok(paywire.settlement(r)?.success, 'the receipt of the paid hop is kept')
})

test('wrapFetch: a chain of bills after redirects is paid once per call', async (t) => {
  const fac = await facilitator(t)
  const app = express()
  const routes = {}
  for (let i = 0; i < 5; i++) routes[`GET /hop${i}`] = tag()
  app.use(paywire.paymentMiddleware(routes, { facilitator: new paywire.FacilitatorClient(fac.url) }))
  for (let i = 0; i < 5; i++) app.get(`/hop${i}`, (req, res) => res.redirect(302, `/hop${i + 1}`))
  const server = await serveExpress(app)
  t.after(server.close)
  const p = payer()
  const r = await paywire.wrapFetch(fetch, p)(`${server.url}/hop0`)
  assert.equal(r.status, 402, 'the second bill is returned, not paid')
  assert.equal(p.spentUsd, '$0.001')
  assert.equal(fac.verifyCalls, 1)
})

test('a payment made for one resource is refused at another with the same price and payee', async (t) => {
  const fac = await facilitator(t)
  const app = express()
  app.use(paywire.paymentMiddleware({ 'GET /a': tag(), 'GET /b': tag() }, { facilitator: new paywire.FacilitatorClient(fac.url) }))
  app.get('/a', (req, res) => res.send('a'))
  app.get('/b', (req, res) => res.send(SECRET))
  const server = await serveExpress(app)
  t.after(server.close)
  const bill = paywire.PaymentRequired.fromResponse((await fetch(`${server.url}/a`)).headers)
  const header = await payer().pay(bill)
  const stolen = await fetch(`${server.url}/b`, { headers: { [header.name]: header.value } })
  assert.equal(stolen.status, 402)
  assert.equal(paywire.PaymentRequired.fromResponse(stolen.headers).error, 'payment_resource_mismatch')
  assert.ok(!(await stolen.text()).includes(SECRET))
  assert.equal(fac.verifyCalls, 0)
})

test('errors the glue raises carry the core\'s category for their code', () => {
  const cases = [
    () => paywire.paymentMiddleware({ 'GET weather': tag() }, { facilitator: { verify() {}, settle() {} } }),
    () => new paywire.PriceTag({ network: 'eip155:84532', payTo: PAY_TO, price: '$0.01', transferMethod: 'permit2' }),
    () => new paywire.PricedRoute([tag()], 'GET /x', { x402Version: 7 }),
    () => paywire.paymentMiddleware({ 'GET /w': tag() }, { facilitator: {} }),
  ]
  for (const make of cases) {
    assert.throws(make, (e) => {
      assert.ok(e instanceof paywire.PaywireError, String(e))
      assert.equal(e.category, paywire.errorCategory(e.code), `${e.code}: the glue and the core disagree`)
      return true
    })
  }
})

test('the claim schedule\'s options are checked when the middleware is built', () => {
  const channel = new paywire.PriceTag({
    network: 'eip155:84532',
    payTo: PAY_TO,
    amount: '1000',
    asset: '0x036CbD53842c5426634e7929541eC2318f3dCF7e',
    scheme: 'batch-settlement',
    extra: { receiverAuthorizer: PAY_TO },
  })
  const facilitator = new paywire.FacilitatorClient('http://127.0.0.1:9')
  assert.throws(
    () => paywire.paymentMiddleware({ 'GET /c': channel }, { facilitator, claims: { atAmount: 'lots' } }),
    (e) => e.code === 'invalid_argument',
  )
  // Slower than half the default withdraw delay (900 s): a payer could withdraw before the claim.
  assert.throws(
    () => paywire.paymentMiddleware({ 'GET /c': channel }, { facilitator, claims: { everySeconds: 3600 } }),
    (e) => e.code === 'invalid_argument' && e.message.includes('claim at least every 450 s'),
  )
  // Both off, and `claims: null` taken as the defaults: no throw.
  paywire.paymentMiddleware({ 'GET /c': channel }, { facilitator, claims: { everySeconds: 0, atAmount: 0 } })
  paywire.paymentMiddleware({ 'GET /c': channel }, { facilitator, claims: null })
  paywire.paymentMiddleware({ 'GET /a': tag() }, { facilitator, claims: { everySeconds: 1 } })
})

test('the facilitator /supported answer fills in what a price tag leaves out', async () => {
  const usdc = '0x036CbD53842c5426634e7929541eC2318f3dCF7e'
  const metered = new paywire.PriceTag({ network: 'eip155:84532', payTo: PAY_TO, amount: '1000', asset: usdc, scheme: 'upto' })
  const upto = '0x1111111111111111111111111111111111111111'
  const answer = { kinds: [{ x402Version: 2, scheme: 'upto', network: 'eip155:84532', extra: { facilitatorAddress: upto } }] }
  const facilitator = new paywire.FacilitatorClient('http://127.0.0.1:9')
  // A SupportedResponse or the plain answer.
  for (const supported of [paywire.SupportedResponse.fromJson(JSON.stringify(answer)), answer]) {
    const app = express()
    const paywall = paywire.paymentMiddleware({ 'GET /m': metered }, { facilitator, supported, claims: { everySeconds: 0 } })
    app.use(paywall)
    app.get('/m', (req, res) => res.json({ ok: true }))
    const server = app.listen(0)
    try {
      const response = await fetch(`http://127.0.0.1:${server.address().port}/m`)
      const bill = paywire.PaymentRequired.fromHeader(response.headers.get('payment-required'))
      assert.equal(bill.accepts[0].toJSON().extra.facilitatorAddress, upto)
    } finally {
      server.close()
      await paywall.close()
    }
  }
  // Without it, the middleware says what is missing and where it comes from.
  assert.throws(
    () => paywire.paymentMiddleware({ 'GET /m': metered }, { facilitator }),
    (e) => e.code === 'invalid_price_tag' && e.message.includes('/supported'),
  )
})

test('the scheduled claims stop with close(), in every Node adapter', async () => {
  const channel = new paywire.PriceTag({
    network: 'eip155:84532', payTo: PAY_TO, amount: '1000', asset: '0x036CbD53842c5426634e7929541eC2318f3dCF7e',
    scheme: 'batch-settlement', extra: { receiverAuthorizer: PAY_TO },
  })
  const facilitator = new paywire.FacilitatorClient('http://127.0.0.1:9')
  const options = { facilitator, claims: { everySeconds: 1, tickSeconds: 0.1 } }
  for (const mw of [paywire.paymentMiddleware({ 'GET /c': channel }, options), paywire.paid(channel, options),
    paywire.honoPaymentMiddleware({ 'GET /c': channel }, options)]) {
    await mw.close()
    await mw.close() // twice is harmless
    // Claiming by hand still works after close (nothing charged: nothing claimed, no facilitator call).
    assert.deepEqual(await mw.claim(), { claims: [], settles: [] })
  }
  const app = Fastify()
  await app.register(paywire.fastifyPaywire, { routes: { 'GET /c': channel }, ...options })
  await app.ready()
  await app.close()
})

// A fetch standing in for an API that bills Permit2 with eip2612GasSponsoring declared, and for a JSON-RPC endpoint.
const RPC = 'https://rpc.test/v2/SECRET-KEY'
function sponsoredApi(seen, allowance, nonce, pad = 0) {
  const tag = new paywire.PriceTag({
    network: 'eip155:84532', payTo: PAY_TO, amount: '10000', asset: '0x036CbD53842c5426634e7929541eC2318f3dCF7e',
    transferMethod: 'permit2', extensions: { eip2612GasSponsoring: { info: { description: 'gasless Permit to Permit2', version: '1' } } },
  })
  const bill = paywire.buildPaymentRequired('https://api.test/data', [tag])
  return async (request) => {
    const body = request.body ? await request.text() : ''
    seen.push({ url: request.url, headers: request.headers, body })
    if (request.url === RPC) {
      const data = JSON.parse(body).params[0].data
      const n = data.startsWith('0x7ecebe00') ? nonce : allowance
      // Followed by `pad` spaces: still valid JSON.
      const answer = JSON.stringify({ jsonrpc: '2.0', id: 1, result: `0x${n.toString(16).padStart(64, '0')}` })
      return new Response(answer + ' '.repeat(pad), { headers: { 'content-type': 'application/json' } })
    }
    if (request.headers.get('payment-signature')) return new Response('ok')
    return new Response('', { status: 402, headers: { 'PAYMENT-REQUIRED': bill.toHeader() } })
  }
}

for (const [allowance, permit] of [[0, true], [10000, false]]) {
  test(`fetch reads the chain for a sponsored Permit2 bill (allowance ${allowance}: ${permit ? 'a permit' : 'no permit'})`, async () => {
    const seen = []
    const paidFetch = paywire.wrapFetch(sponsoredApi(seen, allowance, 4), payer(), { rpcUrls: { 'eip155:84532': RPC } })
    assert.equal((await paidFetch('https://api.test/data')).status, 200)
    const reads = seen.filter((r) => r.url === RPC)
    assert.equal(reads.length, permit ? 2 : 1)
    for (const r of reads) assert.equal(r.headers.get('payment-signature'), null)
    const payment = paywire.PaymentPayload.fromHeader(seen.at(-1).headers.get('payment-signature'))
    // The declaration is echoed either way; a permit adds its signature.
    const info = payment.extensions.eip2612GasSponsoring.info
    assert.equal('signature' in info, permit)
    if (permit) assert.equal(info.nonce, '4')
  })
}

test('a chain read answered past the core limit is no answer, and the endpoint is not asked again', async () => {
  for (const [pad, reads, permit] of [[64 * 1024, 1, false], [100, 2, true]]) {
    const seen = []
    const paidFetch = paywire.wrapFetch(sponsoredApi(seen, 0, 4, pad), payer(), { rpcUrls: { 'eip155:84532': RPC } })
    assert.equal((await paidFetch('https://api.test/data')).status, 200)
    const rpc = seen.filter((r) => r.url === RPC)
    assert.equal(rpc.length, reads)
    assert.ok(rpc.every((r) => r.headers.get('accept-encoding') === 'identity'))
    const payment = paywire.PaymentPayload.fromHeader(seen.at(-1).headers.get('payment-signature'))
    assert.equal('signature' in payment.extensions.eip2612GasSponsoring.info, permit, `pad ${pad}`)
  }
})

test('a chain read that hangs ends at the core deadline, and the payment goes on', { timeout: 60000 }, async () => {
  const seen = []
  const api = sponsoredApi(seen, 0, 4)
  let hung = 0
  // Held as an HTTP stack holds a request in flight (nothing else would: a Request and its signal are collected).
  const inFlight = []
  const hanging = async (request) => {
    // The allowance read never answers; only its signal ends it.
    if (request.url === RPC && (await request.clone().text()).includes('0xdd62ed3e')) {
      hung += 1
      inFlight.push(request)
      return new Promise((_, reject) => request.signal.addEventListener('abort', () => reject(request.signal.reason)))
    }
    return api(request)
  }
  const started = Date.now()
  const paidFetch = paywire.wrapFetch(hanging, payer(), { rpcUrls: { 'eip155:84532': RPC } })
  // Collections while it hangs: Node holds the deadline's signals only weakly, so a deadline nothing kept alive
  // would never fire. The collections also keep the event loop alive, as a hung socket would (the deadline's
  // timer is unref'd), for at most 30 s, so a failure ends instead of hanging.
  v8.setFlagsFromString('--expose_gc')
  const gc = vm.runInNewContext('gc')
  const collecting = setInterval(gc, 250)
  const stop = setTimeout(() => clearInterval(collecting), 30000)
  try {
    assert.equal((await paidFetch('https://api.test/data')).status, 200)
  } finally {
    clearInterval(collecting)
    clearTimeout(stop)
  }
  assert.equal(hung, 1)
  const took = Date.now() - started
  assert.ok(took >= 15000 - 50 && took < 25000, `${took} ms`)
  // An endpoint that did not answer is not asked for the nonce: no permit, at once.
  assert.equal(seen.filter((r) => r.url === RPC).length, 0)
  const payment = paywire.PaymentPayload.fromHeader(seen.at(-1).headers.get('payment-signature'))
  assert.equal('signature' in payment.extensions.eip2612GasSponsoring.info, false)
})

test('rpcUrls are checked when the fetch is wrapped, and never shown', () => {
  for (const rpcUrls of [{ base: RPC }, { 'eip155:84532': 'ftp://rpc.test/SECRET-KEY' }]) {
    assert.throws(() => paywire.wrapFetch(fetch, payer(), { rpcUrls }), (e) => {
      assert.equal(e.code, 'invalid_argument')
      assert.ok(!String(e.message).includes('SECRET-KEY'))
      return true
    })
  }
})
