// The WebAssembly build (`paywire/wasm`, chosen by the "browser", "worker", "workerd" and "edge-light" export
// conditions) against the native build: the same names, every vector file of tests/vectors/ (the official
// SDKs' bytes and the exchange machines move by move), the same errors, the same route variants refused.

import { describe, it, test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'

import { Hono } from 'hono'
import nativeApi from 'paywire'
import wasmApi from 'paywire/wasm'

import { FacilitatorDouble } from './support/facilitator.mjs'
import { serveHono } from './support/servers.mjs'
import { noFreeVariant } from './support/variants.mjs'
import { vectorRunners } from './support/vector-runners.mjs'

// Plain objects (the packages' default exports), so the names can be compared by value.
const native = nativeApi
const wasm = wasmApi

/** What needs Node itself: its HTTP frameworks and the Redis store. */
const NODE_ONLY = ['paymentMiddleware', 'paid', 'fastifyPaywire', 'RedisStore']

const VECTORS = new URL('../../tests/vectors/', import.meta.url)
const load = (file) => JSON.parse(readFileSync(new URL(`${file}.json`, VECTORS), 'utf8'))

test('the wasm build exports every name of the Node package but those that need Node', () => {
  const expected = Object.keys(native).filter((n) => !NODE_ONLY.includes(n) && !n.startsWith('REDIS_')).sort()
  assert.deepEqual(Object.keys(wasm).sort(), expected)
  for (const name of expected) assert.equal(typeof wasm[name], typeof native[name], name)
  for (const name of ['VERSION', 'DEFAULT_FACILITATOR_URL', 'EXPOSED_HEADERS', 'ALLOWED_HEADERS', 'RECEIPT_HEADER', 'MAX_HEADER_BYTES']) {
    assert.equal(wasm[name], native[name], name)
  }
})

const RUNNERS = vectorRunners(wasm)
const FILES = readdirSync(VECTORS).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5)).sort()

test('every vector file has a runner for the wasm build', () => {
  assert.deepEqual(FILES, Object.keys(RUNNERS).sort())
})

for (const file of FILES) {
  describe(`${file} (wasm)`, () => {
    for (const [index, c] of load(file).cases.entries()) {
      it(c.name, async () => {
        await RUNNERS[file](c, index)
      })
    }
  })
}

test('errors are PaywireError with the core code and category, and never echo a key', async () => {
  const payer = new wasm.Payer(new wasm.LocalSigner(`0x${'42'.repeat(32)}`), { maxPerPayment: '$0.001' })
  const tag = new wasm.PriceTag({ network: 'eip155:84532', payTo: '0x209693Bc6afc0C5328bA36FaF03C514EF312287C', price: '$0.01' })
  const header = wasm.buildPaymentRequired('https://api.test/r', [tag]).toHeader()
  await assert.rejects(payer.pay(header), (e) => e instanceof wasm.PaywireError && e.code === 'no_acceptable_offer' && e.category === 'local')
  assert.throws(() => wasm.PaymentRequired.fromHeader('not base64 !'), (e) => e instanceof wasm.PaywireError && e.category === 'malformed_input')
  assert.throws(() => new wasm.LocalSigner('0x12'), (e) => e.code === 'invalid_private_key' && !e.message.includes('0x12'))
  // The tag passed to buildPaymentRequired is still usable: the build takes copies.
  assert.equal(tag.toRequirements('https://api.test/r').amount, 10_000n)
})

test('a signer that lives in JS (a wallet) signs through the wasm payer, byte for byte the native one', async () => {
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
  assert.equal(fac.settleCalls, 1)
})
