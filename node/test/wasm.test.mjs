// The WebAssembly build (`paywire/wasm`, chosen by the "browser" and "worker" export conditions) against the
// official SDKs' vectors and against the native build: the same payments byte for byte, the same paying
// machine move by move, the same errors.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'

import nativeApi from 'paywire'
import wasmApi from 'paywire/wasm'
import { Hono } from 'hono'

import { runClient, runGate, runRoutes } from './support/exchange-vectors.mjs'
import { FacilitatorDouble } from './support/facilitator.mjs'
import { serveHono } from './support/servers.mjs'
import { noFreeVariant } from './support/variants.mjs'

// Plain objects (the packages' default exports), so the names can be compared by value.
const native = nativeApi
const wasm = wasmApi

const VECTORS = new URL('../../tests/vectors/', import.meta.url)
const load = (file) => JSON.parse(readFileSync(new URL(`${file}.json`, VECTORS), 'utf8'))
const bytes = (h) => new Uint8Array(Buffer.from(h.replace(/^0x/, ''), 'hex'))

test('the wasm build exports the paying side and the gate under the native names', () => {
  for (const name of ['LocalSigner', 'Payer', 'Policy', 'PaymentRequired', 'PaidFetch', 'PaywireError', 'wrapFetch',
    'settlement', 'payment', 'purchaseKey', 'readSettlement', 'fromViemAccount', 'PriceTag', 'PricedRoute', 'Gate',
    'buildPaymentRequired', 'readPayment', 'FacilitatorClient', 'MemoryStore', 'honoPaymentMiddleware',
    'VerifyResponse', 'SettleResponse', 'DEFAULT_FACILITATOR_URL', 'EXPOSED_HEADERS', 'ALLOWED_HEADERS']) {
    assert.equal(typeof wasm[name], typeof native[name], name)
  }
})

test("payments.json: the wasm build signs the official SDKs' headers byte for byte", async () => {
  const cases = load('payments').cases
  assert.ok(cases.length > 5)
  for (const c of cases) {
    const payer = new wasm.Payer(new wasm.LocalSigner(c.key), undefined, {
      expiryMargin: c.expiryMargin,
      clock: c.now,
      randomness: bytes(c.nonce),
    })
    const bill = 'header' in c.bill ? wasm.PaymentRequired.fromHeader(c.bill.header) : wasm.PaymentRequired.fromBody(c.bill.body)
    const eip2612Nonce = 'eip2612Nonce' in c ? BigInt(c.eip2612Nonce) : undefined
    const header = await payer.pay(bill, undefined, { eip2612Nonce })
    assert.equal(header.offerIndex, c.expect.offerIndex, c.name)
    assert.equal(header.name, c.expect.headerName, c.name)
    assert.equal(header.value, c.expect.headerValue, `${c.name}: the wasm build's header differs from @x402/core's`)
  }
})

test('client.json: the paying machine moves as the native one, move by move', () => {
  const cases = load('client').cases
  assert.ok(cases.length > 5)
  for (const c of cases) runClient(c, wasm)
})

test('routes.json and gate.json: the payment gate matches routes and moves as the native one', () => {
  for (const file of ['routes', 'gate']) {
    const cases = load(file).cases
    assert.ok(cases.length > 0, file)
    for (const c of cases) (file === 'routes' ? runRoutes : runGate)(c, wasm)
  }
})

test('errors are PaywireError with the core code and category', async () => {
  const payer = new wasm.Payer(new wasm.LocalSigner(`0x${'42'.repeat(32)}`), { maxPerPayment: '$0.001' })
  const bill = new native.PriceTag({ network: 'eip155:84532', payTo: '0x209693Bc6afc0C5328bA36FaF03C514EF312287C', price: '$0.01' })
  const header = native.buildPaymentRequired('https://api.test/r', [bill]).toHeader()
  await assert.rejects(payer.pay(header), (e) => e instanceof wasm.PaywireError && e.code === 'no_acceptable_offer' && e.category === 'local')
  assert.throws(() => wasm.PaymentRequired.fromHeader('not base64 !'), (e) => e instanceof wasm.PaywireError && e.category === 'malformed_input')
  assert.throws(() => new wasm.LocalSigner('0x12'), (e) => e.code === 'invalid_private_key' && !e.message.includes('0x12'))
})

test('a signer that lives in JS (a wallet) signs through the wasm payer', async () => {
  const key = new wasm.LocalSigner(`0x${'43'.repeat(32)}`)
  const wallet = { address: key.address, signDigest: async (digest) => key.signDigest(digest) }
  const tag = new native.PriceTag({ network: 'eip155:84532', payTo: '0x209693Bc6afc0C5328bA36FaF03C514EF312287C', price: '$0.01' })
  const bill = native.buildPaymentRequired('https://api.test/r', [tag]).toHeader()
  const opts = { clock: 1_760_000_000, randomness: new Uint8Array(32).fill(7) }
  const viaWallet = await new wasm.Payer(wallet, undefined, opts).pay(bill)
  const local = await new native.Payer(new native.LocalSigner(`0x${'43'.repeat(32)}`), undefined, opts).pay(bill)
  assert.equal(viaWallet.value, local.value)
})

test('Hono on the wasm build: no variant of a priced route is served unpaid; the wasm client pays it once', async (t) => {
  const fac = new FacilitatorDouble()
  await fac.listen()
  t.after(() => fac.close())
  const tag = () => new wasm.PriceTag({ network: 'eip155:84532', payTo: '0x209693Bc6afc0C5328bA36FaF03C514EF312287C', price: '$0.001' })
  const app = new Hono({ strict: false })
  app.use(wasm.honoPaymentMiddleware({ 'GET /a': tag(), 'GET /dear': tag() }, { facilitator: new wasm.FacilitatorClient(fac.url) }))
  app.get('/a', (c) => c.text('the-paid-content'))
  app.get('/dear', (c) => c.text('the-paid-content'))
  const server = await serveHono(app)
  t.after(server.close)
  await noFreeVariant(server.url, 'hono (wasm)')
  const payer = new wasm.Payer(new wasm.LocalSigner(`0x${'44'.repeat(32)}`))
  const r = await wasm.wrapFetch(fetch, payer)(`${server.url}/a`)
  assert.equal(await r.text(), 'the-paid-content')
  assert.ok(wasm.settlement(r)?.success)
})
