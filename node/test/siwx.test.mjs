// Sign-in-with-x over real servers on loopback: a wallet that paid once gets the resource again by signing in,
// without paying. paywire's Express and Hono middleware and wrapFetch, and interop both ways with the official
// @x402/extensions 2.27 (its SIWX client extension paying and signing in to paywire; paywire signing in to an
// official @x402/express server). The facilitator double counts settlements: a sign-in never settles.

import { test } from 'node:test'
import assert from 'node:assert/strict'

import { HTTPFacilitatorClient } from '@x402/core/server'
import { ExactEvmScheme as ExactEvmClient } from '@x402/evm/exact/client'
import { ExactEvmScheme as ExactEvmServer } from '@x402/evm/exact/server'
import { paymentMiddleware as officialPaymentMiddleware, x402ResourceServer } from '@x402/express'
import {
  InMemorySIWxStorage,
  createSIWxClientExtension,
  createSIWxPayload,
  createSIWxResourceServerExtension,
  declareSIWxExtension,
  encodeSIWxHeader,
} from '@x402/extensions'
import { wrapFetchWithPayment, x402Client } from '@x402/fetch'
import express from 'express'
import { Hono } from 'hono'
import * as paywire from 'paywire'
import { privateKeyToAccount } from 'viem/accounts'

import { FacilitatorDouble } from './support/facilitator.mjs'
import { serveExpress, serveHono } from './support/servers.mjs'

const KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const OTHER_KEY = '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a'
const PAYER = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
const PAY_TO = '0x209693Bc6afc0C5328bA36FaF03C514EF312287C'
const NETWORK = 'eip155:84532'
const tag = () => new paywire.PriceTag({ network: NETWORK, payTo: PAY_TO, price: '$0.001' })
const payer = (key = KEY) => new paywire.Payer(new paywire.LocalSigner(key))
const quiet = { warn() {}, error() {} }

async function facilitator(t) {
  const fac = new FacilitatorDouble()
  await fac.listen()
  t.after(() => fac.close())
  return fac
}

async function shop(t, fac, signIn = true) {
  const seen = []
  const app = express()
  app.use(paywire.paymentMiddleware({ 'GET /weather': tag() }, { facilitator: new paywire.FacilitatorClient(fac.url), signIn, logger: quiet }))
  app.get('/weather', (req, res) => {
    seen.push({ payer: req.paywire.payer, paid: req.paywire.payment != null })
    res.json({ forecast: 'sunny' })
  })
  const server = await serveExpress(app)
  t.after(server.close)
  return { url: server.url, seen }
}

/** A fetch that records the headers of every request it sends. */
function recordingFetch() {
  const sent = []
  const f = async (input, init) => {
    const request = new Request(input, init)
    sent.push(request.headers)
    return fetch(request)
  }
  return { fetch: f, sent }
}

test('a wallet that paid signs in and is served without paying; its sign-in replayed is refused', async (t) => {
  const fac = await facilitator(t)
  const { url, seen } = await shop(t, fac)
  const recording = recordingFetch()
  const pay = paywire.wrapFetch(recording.fetch, payer())
  const first = await pay(`${url}/weather`)
  const second = await pay(`${url}/weather`)
  assert.equal(first.status, 200)
  assert.ok(paywire.payment(first))
  assert.equal(second.status, 200)
  assert.deepEqual(await second.json(), { forecast: 'sunny' })
  assert.equal(paywire.payment(second), null)
  assert.equal(second.headers.get('payment-response'), null)
  assert.deepEqual(seen, [{ payer: PAYER, paid: true }, { payer: PAYER, paid: false }])
  assert.equal(fac.settleCalls, 1)
  const used = recording.sent.map((h) => h.get('sign-in-with-x')).filter(Boolean)
  const replay = await fetch(`${url}/weather`, { headers: { 'SIGN-IN-WITH-X': used.at(-1) } })
  assert.equal(replay.status, 402)
  assert.equal((await replay.json()).error, 'invalid_siwx_nonce')
})

test('sign-ins are refused with their reasons, and a wallet that never paid pays', async (t) => {
  const fac = await facilitator(t)
  const { url } = await shop(t, fac)
  await paywire.wrapFetch(fetch, payer())(`${url}/weather`)
  const unpaid = await fetch(`${url}/weather`)
  const info = paywire.decodeHeaderJson(unpaid.headers.get('payment-required')).extensions['sign-in-with-x'].info
  const account = privateKeyToAccount(KEY)
  const signed = async (change = {}) => {
    const complete = { ...info, chainId: NETWORK, type: 'eip191', ...change }
    return encodeSIWxHeader(await createSIWxPayload(complete, account, `http://${complete.domain}/weather`))
  }
  const refused = async (header) => {
    const r = await fetch(`${url}/weather`, { headers: { 'SIGN-IN-WITH-X': header } })
    const text = await r.text()
    assert.equal(r.status, 402)
    assert.ok(!text.includes('sunny'))
    return JSON.parse(text).error
  }
  assert.equal(await refused(await signed({ domain: 'evil.test', uri: 'http://evil.test/weather' })), 'invalid_siwx_domain_mismatch')
  assert.equal(await refused(await signed({ chainId: 'eip155:1' })), 'invalid_siwx_unsupported_chain')
  assert.equal(await refused(await signed({ expirationTime: '2020-01-01T00:00:00Z' })), 'invalid_siwx_expired')
  assert.equal(await refused(await signed({ issuedAt: '2020-01-01T00:00:00Z' })), 'invalid_siwx_issued_at_too_old')
  const other = await createSIWxPayload({ ...info, chainId: NETWORK, type: 'eip191' }, privateKeyToAccount(OTHER_KEY), `${url}/weather`)
  assert.equal(await refused(encodeSIWxHeader(other)), 'siwx_no_payment_on_record')
  const good = await signed()
  assert.equal((await fetch(`${url}/weather`, { headers: { 'SIGN-IN-WITH-X': good } })).status, 200)
  assert.equal(await refused(good), 'invalid_siwx_nonce')
  // The other wallet's paying client signs in, is refused, and pays once.
  const r = await paywire.wrapFetch(fetch, payer(OTHER_KEY))(`${url}/weather`)
  assert.equal(r.status, 200)
  assert.ok(paywire.payment(r))
  assert.equal(fac.settleCalls, 2)
})

test('with sign-in off in the client, it pays every time; Hono signs in too', async (t) => {
  const fac = await facilitator(t)
  const { url } = await shop(t, fac)
  const pay = paywire.wrapFetch(fetch, payer(), { signIn: false })
  await pay(`${url}/weather`)
  assert.ok(paywire.payment(await pay(`${url}/weather`)))
  assert.equal(fac.settleCalls, 2)
  const hono = new Hono()
  hono.use(paywire.honoPaymentMiddleware({ 'GET /weather': tag() }, { facilitator: new paywire.FacilitatorClient(fac.url), signIn: { maxAgeSeconds: 60 } }))
  hono.get('/weather', (c) => c.json({ forecast: 'sunny' }))
  const server = await serveHono(hono)
  t.after(server.close)
  const honoPay = paywire.wrapFetch(fetch, payer())
  assert.ok(paywire.payment(await honoPay(`${server.url}/weather`)))
  const again = await honoPay(`${server.url}/weather`)
  assert.equal(again.status, 200)
  assert.equal(paywire.payment(again), null)
  assert.equal(fac.settleCalls, 3)
})

test('the official client pays, then signs in to a paywire server', async (t) => {
  const fac = await facilitator(t)
  const { url, seen } = await shop(t, fac)
  const account = privateKeyToAccount(KEY)
  const client = new x402Client().register('eip155:*', new ExactEvmClient(account))
  client.registerExtension(createSIWxClientExtension({ signers: [account] }))
  const officialFetch = wrapFetchWithPayment(fetch, client)
  const answers = []
  for (let i = 0; i < 3; i++) answers.push(await officialFetch(`${url}/weather`))
  assert.deepEqual(answers.map((r) => r.status), [200, 200, 200])
  assert.ok(answers[0].headers.get('payment-response'))
  assert.ok(answers.slice(1).every((r) => r.headers.get('payment-response') === null))
  assert.deepEqual(seen.map((s) => s.paid), [true, false, false])
  assert.equal(fac.settleCalls, 1)
})

test('paywire pays, then signs in to an official @x402/express server', async (t) => {
  const fac = await facilitator(t)
  const resourceServer = new x402ResourceServer(new HTTPFacilitatorClient({ url: fac.url })).register(NETWORK, new ExactEvmServer())
  let served = 0
  const app = express()
  app.use(officialPaymentMiddleware({
    'GET /weather': { accepts: { scheme: 'exact', price: '$0.001', network: NETWORK, payTo: PAY_TO }, extensions: declareSIWxExtension({ network: NETWORK }) },
  }, resourceServer))
  app.get('/weather', (req, res) => {
    served++
    res.json({ forecast: 'sunny' })
  })
  const server = await serveExpress(app)
  t.after(server.close)
  // The official extension needs the server's origin, known once it listens.
  resourceServer.registerExtension(createSIWxResourceServerExtension({ origin: server.url, storage: new InMemorySIWxStorage() }))
  const recording = recordingFetch()
  const pay = paywire.wrapFetch(recording.fetch, payer())
  const first = await pay(`${server.url}/weather`)
  const second = await pay(`${server.url}/weather`)
  assert.equal(first.status, 200, await first.clone().text())
  assert.ok(paywire.payment(first))
  assert.equal(second.status, 200, await second.clone().text())
  assert.equal(paywire.payment(second), null)
  assert.ok(recording.sent.some((h) => h.get('sign-in-with-x')))
  assert.equal(served, 2)
  assert.equal(fac.settleCalls, 1)
})
