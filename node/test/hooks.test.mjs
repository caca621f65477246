// Hooks over real servers on loopback: Express, Hono and Fastify behind paywire's middleware, paywire's
// wrapFetch, paid MCP tools over an in-memory MCP session, and the facilitator double (the official SDK's
// verification). The points and what a hook may change are the core's (the exchange vectors hold them for
// every language); these tests prove the Node glue runs them, and that a hook never gets content served unpaid.

import { test } from 'node:test'
import assert from 'node:assert/strict'

import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import express from 'express'
import Fastify from 'fastify'
import { Hono } from 'hono'
import * as paywire from 'paywire'
import { z } from 'zod'

import { FacilitatorDouble } from './support/facilitator.mjs'
import { serveExpress, serveHono } from './support/servers.mjs'

const KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const PAYER = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
const PAY_TO = '0x209693Bc6afc0C5328bA36FaF03C514EF312287C'
const tag = () => new paywire.PriceTag({ network: 'eip155:84532', payTo: PAY_TO, price: '$0.001' })
const payer = (policy) => new paywire.Payer(new paywire.LocalSigner(KEY), policy)

async function facilitator(t) {
  const fac = new FacilitatorDouble()
  await fac.listen()
  t.after(() => fac.close())
  return fac
}

/** Hooks that record every context they see at `points`. */
function recording(seen, points, hooks = new paywire.Hooks()) {
  for (const point of points) hooks.on(point, (ctx) => { seen.push(ctx) })
  return hooks
}

async function shop(t, fac, hooks) {
  const calls = { weather: 0 }
  const app = express()
  app.use(paywire.paymentMiddleware({ 'GET /weather': tag() }, { facilitator: new paywire.FacilitatorClient(fac.url), hooks }))
  app.get('/weather', (req, res) => {
    calls.weather++
    res.json({ forecast: 'sunny' })
  })
  const server = await serveExpress(app)
  t.after(server.close)
  return { url: server.url, calls }
}

test('server and client hooks run in order with their context; a replay runs none', async (t) => {
  const fac = await facilitator(t)
  const serverSeen = []
  const every = ['beforeVerify', 'afterVerify', 'verifyFailure', 'beforeSettle', 'afterSettle', 'settleFailure']
  const { url, calls } = await shop(t, fac, recording(serverSeen, every))
  const clientSeen = []
  const pay = paywire.wrapFetch(fetch, payer(), { hooks: recording(clientSeen, ['beforePaymentCreation', 'afterPaymentCreation']) })
  const response = await pay(`${url}/weather`)
  assert.equal(response.status, 200)
  const again = await fetch(`${url}/weather`, { headers: { 'PAYMENT-SIGNATURE': paywire.payment(response).value } })
  assert.equal(again.status, 200)
  assert.deepEqual(clientSeen.map((c) => c.hook), ['before_payment_creation', 'after_payment_creation'])
  assert.equal(clientSeen[0].resource, `${url}/weather`)
  assert.equal(clientSeen[0].paymentRequired.accepts[0].payTo, PAY_TO)
  assert.equal(clientSeen[0].paymentPayload, undefined)
  assert.equal(clientSeen[1].payer, PAYER)
  assert.ok(clientSeen[1].paymentPayload && clientSeen[1].requirements)
  assert.deepEqual(serverSeen.map((c) => c.hook), ['before_verify', 'after_verify', 'before_settle', 'after_settle'])
  assert.ok(serverSeen.every((c) => c.payer === PAYER && c.resource === `${url}/weather`))
  assert.equal(serverSeen[1].verifyResponse.isValid, true)
  assert.equal(serverSeen[3].settleResponse.success, true)
  assert.equal(calls.weather, 1)
  assert.equal(fac.settleCalls, 1)
})

test('a hook aborts before /verify: the bill with its reason, nothing verified or served', async (t) => {
  const fac = await facilitator(t)
  const hooks = new paywire.Hooks().onBeforeVerify((ctx) => ctx.payer === PAYER ? { abort: true, reason: 'blocked_payer', message: 'this wallet is blocked' } : undefined)
  const { url, calls } = await shop(t, fac, hooks)
  const response = await paywire.wrapFetch(fetch, payer())(`${url}/weather`)
  assert.equal(response.status, 402)
  assert.deepEqual(await response.json(), { error: 'blocked_payer', message: 'this wallet is blocked' })
  assert.equal(paywire.decodeHeaderJson(response.headers.get('payment-required')).error, 'blocked_payer')
  assert.equal(calls.weather, 0)
  assert.equal(fac.verifyCalls, 0)
})

test('an async hook aborts before /settle: the handler ran, its content is never sent, nothing settled', async (t) => {
  const fac = await facilitator(t)
  const hooks = new paywire.Hooks().onBeforeSettle(async () => {
    await new Promise((r) => setTimeout(r, 5))
    return { abort: true, reason: 'not_today' }
  })
  const { url, calls } = await shop(t, fac, hooks)
  const response = await paywire.wrapFetch(fetch, payer())(`${url}/weather`)
  const text = await response.text()
  assert.equal(response.status, 402)
  assert.ok(!text.includes('sunny'))
  assert.equal(JSON.parse(text).error, 'not_today')
  assert.equal(calls.weather, 1)
  assert.equal(fac.settleCalls, 0)
})

test('a hook that throws before /verify: 500 hook_failed, nothing charged; after the settlement a throw is ignored', async (t) => {
  const fac = await facilitator(t)
  const logged = []
  const logger = { warn: (m) => logged.push(m), error: (m) => logged.push(m) }
  const app = express()
  const failing = new paywire.Hooks().onBeforeVerify(() => { throw new Error('quota store down') })
  const late = new paywire.Hooks().onAfterSettle(() => { throw new Error('ledger down') }).onAfterSettle(() => ({ abort: true, reason: 'too_late' }))
  const facilitatorClient = new paywire.FacilitatorClient(fac.url)
  app.get('/a', paywire.paid(tag(), { facilitator: facilitatorClient, hooks: failing, logger }), (req, res) => res.send('content a'))
  app.get('/b', paywire.paid(tag(), { facilitator: facilitatorClient, hooks: late, logger }), (req, res) => res.send('content b'))
  const server = await serveExpress(app)
  t.after(server.close)
  const a = await paywire.wrapFetch(fetch, payer())(`${server.url}/a`)
  const body = await a.json()
  assert.equal(a.status, 500)
  assert.equal(body.error, 'hook_failed')
  assert.ok(!JSON.stringify(body).includes('quota store'))
  assert.equal(fac.verifyCalls, 0)
  const b = await paywire.wrapFetch(fetch, payer())(`${server.url}/b`)
  assert.equal(b.status, 200)
  assert.equal(await b.text(), 'content b')
  assert.equal(fac.settleCalls, 1)
  assert.ok(logged.some((m) => m.includes('quota store down')))
  assert.ok(logged.some((m) => m.includes('ledger down')))
})

test('failure hooks see the facilitator refuse a settlement, then a verification', async (t) => {
  const fac = await facilitator(t)
  const seen = []
  const { url } = await shop(t, fac, recording(seen, ['verifyFailure', 'settleFailure']))
  fac.mode = 'settle_fails'
  assert.equal((await paywire.wrapFetch(fetch, payer())(`${url}/weather`)).status, 402)
  fac.mode = 'verify_invalid'
  assert.equal((await paywire.wrapFetch(fetch, payer())(`${url}/weather`)).status, 402)
  assert.deepEqual(seen.map((c) => c.hook), ['settle_failure', 'verify_failure'])
  assert.equal(seen[0].error.code, 'insufficient_funds')
  assert.equal(seen[0].settleResponse.success, false)
  assert.equal(seen[1].verifyResponse.isValid, false)
})

test('client hooks: an abort before payment creation throws payment_aborted; a policy refusal reaches the failure hook', async (t) => {
  const fac = await facilitator(t)
  const { url, calls } = await shop(t, fac, new paywire.Hooks())
  const cap = new paywire.Hooks().onBeforePaymentCreation((ctx) => BigInt(ctx.paymentRequired.accepts[0].amount) > 100n ? { abort: true, reason: 'too_expensive' } : undefined)
  await assert.rejects(paywire.wrapFetch(fetch, payer(), { hooks: cap })(`${url}/weather`), (e) => e.code === 'payment_aborted' && e.message.includes('too_expensive'))
  const seen = []
  const strict = payer(new paywire.Policy({ maxPerPayment: '$0.0001' }))
  await assert.rejects(paywire.wrapFetch(fetch, strict, { hooks: recording(seen, ['paymentCreationFailure']) })(`${url}/weather`), (e) => e.code === 'no_acceptable_offer')
  assert.deepEqual(seen.map((c) => c.error.code), ['no_acceptable_offer'])
  const throwing = new paywire.Hooks().onBeforePaymentCreation(() => { throw new TypeError('bad config') })
  await assert.rejects(paywire.wrapFetch(fetch, payer(), { hooks: throwing })(`${url}/weather`), (e) => e.code === 'hook_failed' && e.message.includes('bad config'))
  assert.equal(fac.verifyCalls, 0)
  assert.equal(calls.weather, 0)
})

test('Hono and Fastify run the same server hooks', async (t) => {
  const fac = await facilitator(t)
  const seen = []
  const hooks = recording(seen, ['beforeVerify', 'afterSettle'])
  const hono = new Hono()
  hono.use(paywire.honoPaymentMiddleware({ 'GET /weather': tag() }, { facilitator: new paywire.FacilitatorClient(fac.url), hooks }))
  hono.get('/weather', (c) => c.json({ forecast: 'sunny' }))
  const honoServer = await serveHono(hono)
  t.after(honoServer.close)
  const fastify = Fastify()
  await fastify.register(paywire.fastifyPaywire, { routes: { 'GET /weather': tag() }, facilitator: new paywire.FacilitatorClient(fac.url), hooks })
  fastify.get('/weather', async () => ({ forecast: 'sunny' }))
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  t.after(() => fastify.close())
  const fastifyUrl = `http://127.0.0.1:${fastify.server.address().port}`
  assert.equal((await paywire.wrapFetch(fetch, payer())(`${honoServer.url}/weather`)).status, 200)
  assert.equal((await paywire.wrapFetch(fetch, payer())(`${fastifyUrl}/weather`)).status, 200)
  assert.deepEqual(seen.map((c) => c.hook), ['before_verify', 'after_settle', 'before_verify', 'after_settle'])
})

test('paid MCP tools and the paying session run hooks too', async (t) => {
  const fac = await facilitator(t)
  const serverSeen = []
  const server = new McpServer({ name: 'weather', version: '1.0.0' })
  const paid = new paywire.PaidTools({ facilitator: new paywire.FacilitatorClient(fac.url), hooks: recording(serverSeen, ['beforeVerify', 'afterSettle']) })
  server.registerTool('get_weather', { inputSchema: { city: z.string() } },
    paid.tool('get_weather', tag(), async ({ city }) => ({ content: [{ type: 'text', text: `sunny in ${city}` }] })))
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
  await server.connect(serverSide)
  const client = new Client({ name: 'agent', version: '1.0.0' })
  await client.connect(clientSide)
  t.after(() => client.close())
  const clientSeen = []
  const session = new paywire.PayingSession(client, payer(), { hooks: recording(clientSeen, ['beforePaymentCreation', 'afterPaymentCreation']) })
  const result = await session.callTool({ name: 'get_weather', arguments: { city: 'Paris' } })
  assert.equal(result.content[0].text, 'sunny in Paris')
  assert.deepEqual(clientSeen.map((c) => c.hook), ['before_payment_creation', 'after_payment_creation'])
  assert.equal(clientSeen[0].resource, 'mcp://tool/get_weather')
  assert.deepEqual(serverSeen.map((c) => c.hook), ['before_verify', 'after_settle'])
})

test('hook points and hook objects are checked', () => {
  assert.throws(() => new paywire.Hooks().on('beforeEverything', () => {}), (e) => e.code === 'invalid_argument' && e.message.includes('beforeVerify'))
  assert.throws(() => new paywire.Hooks().on('afterSettle', 'nope'), TypeError)
  assert.throws(() => paywire.wrapFetch(fetch, payer(), { hooks: { onBeforeVerify() {} } }), (e) => e.code === 'invalid_argument')
})
