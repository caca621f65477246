// Paid MCP tools over real MCP sessions (@modelcontextprotocol/sdk's in-memory transport, and its streamable
// HTTP transport on a loopback server), settled by the facilitator double (the official SDK's verification):
// the paying session and the priced tools, and what an attacker tries: a payment replayed for other
// arguments or another tool, a lost answer, one payment sent twice at once, malformed payments.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'

import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import * as paywire from 'paywire'
import { z } from 'zod'

import { FacilitatorDouble } from './support/facilitator.mjs'

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

function weatherServer(fac, calls) {
  const server = new McpServer({ name: 'weather', version: '1.0.0' })
  const paid = new paywire.PaidTools({ facilitator: new paywire.FacilitatorClient(fac.url) })
  server.registerTool(
    'get_weather',
    { description: 'The weather', inputSchema: { city: z.string(), days: z.number().optional() } },
    paid.tool('get_weather', tag(), async ({ city, days = 1 }, extra) => {
      calls.push({ city, days, payer: extra.paywire.payer })
      return { content: [{ type: 'text', text: `sunny in ${city} for ${days} day(s)` }] }
    }),
  )
  server.registerTool(
    'broken',
    { inputSchema: { city: z.string() } },
    paid.tool('broken', tag(), async ({ city }) => {
      calls.push({ city, broken: true })
      throw new Error('the weather station is down')
    }),
  )
  server.registerTool('free', { inputSchema: { city: z.string() } }, async ({ city }) => ({
    content: [{ type: 'text', text: `free weather for ${city}` }],
  }))
  return server
}

async function connected(t, server) {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
  await server.connect(serverSide)
  const client = new Client({ name: 'agent', version: '1.0.0' })
  await client.connect(clientSide)
  t.after(() => client.close())
  return client
}

test('MCP: an unpaid call gets the bill and the tool does not run', async (t) => {
  const fac = await facilitator(t)
  const calls = []
  const client = await connected(t, weatherServer(fac, calls))
  const result = await client.callTool({ name: 'get_weather', arguments: { city: 'Paris' } })
  assert.equal(result.isError, true)
  const bill = result.structuredContent
  assert.equal(bill.x402Version, 2)
  assert.deepEqual(bill.resource, { url: 'mcp://tool/get_weather', description: 'Tool: get_weather', mimeType: 'application/json' })
  assert.equal(bill.accepts[0].amount, '1000')
  assert.deepEqual(JSON.parse(result.content[0].text), bill)
  assert.deepEqual(calls, [])
  assert.equal(fac.settleCalls, 0)
})

test('MCP: an agent pays once and gets the result with its settlement; free tools and other calls pass through', async (t) => {
  const fac = await facilitator(t)
  const calls = []
  const client = await connected(t, weatherServer(fac, calls))
  const paying = new paywire.PayingSession(client, payer())
  const result = await paying.callTool({ name: 'get_weather', arguments: { city: 'Paris', days: 2 } })
  assert.ok(!result.isError, JSON.stringify(result))
  assert.equal(result.content[0].text, 'sunny in Paris for 2 day(s)')
  const settled = paywire.toolSettlement(result)
  assert.ok(settled?.success && settled.transaction)
  assert.deepEqual(calls, [{ city: 'Paris', days: 2, payer: PAYER }])
  const free = await paying.callTool({ name: 'free', arguments: { city: 'Rome' } })
  assert.equal(free.content[0].text, 'free weather for Rome')
  assert.equal(paywire.toolSettlement(free), null)
  const tools = await paying.listTools()
  assert.deepEqual(tools.tools.map((x) => x.name).sort(), ['broken', 'free', 'get_weather'])
  assert.equal(fac.settleCalls, 1)
})

test('MCP: a failing tool settles nothing; a failed settlement never returns the content', async (t) => {
  const fac = await facilitator(t)
  const calls = []
  const client = await connected(t, weatherServer(fac, calls))
  const broken = await new paywire.PayingSession(client, payer()).callTool({ name: 'broken', arguments: { city: 'Lima' } })
  assert.equal(broken.isError, true)
  assert.match(broken.content[0].text, /the weather station is down/)
  assert.equal(paywire.toolSettlement(broken), null)
  assert.equal(fac.settleCalls, 0)
  fac.mode = 'settle_fails'
  const refused = await new paywire.PayingSession(client, payer()).callTool({ name: 'get_weather', arguments: { city: 'Bern' } })
  assert.equal(refused.isError, true)
  assert.ok(!JSON.stringify(refused).includes('sunny'))
  assert.equal(refused.structuredContent.error, 'insufficient_funds')
  assert.equal(refused.structuredContent['x402/payment-response'].success, false)
})

test('MCP: the policy refuses a tool that costs too much, before anything is signed', async (t) => {
  const fac = await facilitator(t)
  const calls = []
  const client = await connected(t, weatherServer(fac, calls))
  const paying = new paywire.PayingSession(client, payer(new paywire.Policy({ maxPerPayment: '$0.0001' })))
  await assert.rejects(paying.callTool({ name: 'get_weather', arguments: { city: 'Kyiv' } }), (e) => e.code === 'no_acceptable_offer')
  assert.deepEqual(calls, [])
  assert.equal(fac.verifyCalls, 0)
})

test('MCP: a payment replayed for other arguments or another tool is refused; a lost answer is not charged twice', async (t) => {
  const fac = await facilitator(t)
  const calls = []
  const client = await connected(t, weatherServer(fac, calls))
  const unpaid = await client.callTool({ name: 'get_weather', arguments: { city: 'Rome' } })
  const bill = paywire.PaymentRequired.fromJson(JSON.stringify(unpaid.structuredContent))
  const pay = async () => JSON.parse(paywire.decodeHeaderText((await payer().pay(bill)).value))
  const payment = await pay()
  const call = (name, args, p) => client.callTool({ name, arguments: args, _meta: { 'x402/payment': p } })
  const first = await call('get_weather', { city: 'Rome' }, payment)
  assert.ok(!first.isError)
  assert.equal(calls.length, 1)
  const other = await call('get_weather', { city: 'Lima' }, payment)
  assert.equal(other.isError, true)
  const elsewhere = await call('broken', { city: 'Rome' }, payment)
  assert.equal(elsewhere.isError, true)
  assert.equal(calls.length, 1)
  const again = await call('get_weather', { city: 'Rome' }, payment)
  assert.deepEqual(again, first)
  // One payment sent twice at once: one run, one settlement.
  const fresh = await pay()
  await Promise.all([call('get_weather', { city: 'Oslo' }, fresh), call('get_weather', { city: 'Oslo' }, fresh)])
  assert.deepEqual(calls.map((c) => c.city), ['Rome', 'Oslo'])
  assert.equal(fac.settleCalls, 2)
})

test('MCP: malformed payments are refused with the bill, never run', async (t) => {
  const fac = await facilitator(t)
  const calls = []
  const client = await connected(t, weatherServer(fac, calls))
  for (const junk of ['not json', 12, { x402Version: 2 }, [1], 'eyJ4In0=', { x402Version: 2, accepted: null }]) {
    const r = await client.callTool({ name: 'get_weather', arguments: { city: 'Rome' }, _meta: { 'x402/payment': junk } })
    assert.equal(r.isError, true, JSON.stringify(junk))
    assert.ok(r.structuredContent?.accepts?.length, JSON.stringify(junk))
  }
  assert.deepEqual(calls, [])
  assert.equal(fac.verifyCalls, 0)
})

test('MCP: over streamable HTTP', async (t) => {
  const fac = await facilitator(t)
  const calls = []
  const server = weatherServer(fac, calls)
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID() })
  await server.connect(transport)
  const http = createServer((req, res) => transport.handleRequest(req, res))
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise((resolve) => {
    http.close(resolve)
    http.closeAllConnections()
  }))
  const client = new Client({ name: 'agent', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${http.address().port}/mcp`)))
  t.after(() => client.close())
  const result = await new paywire.PayingSession(client, payer()).callTool({ name: 'get_weather', arguments: { city: 'Quito' } })
  assert.ok(!result.isError, JSON.stringify(result))
  assert.ok(paywire.toolSettlement(result)?.success)
  assert.deepEqual(calls, [{ city: 'Quito', days: 1, payer: PAYER }])
  assert.equal(fac.settleCalls, 1)
})
