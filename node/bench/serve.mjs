// Paid requests per second through Express: paywire's middleware against the official `@x402/express` 2.27,
// each in a node process of its own, both settling through the same facilitator stub (a node:http server in
// a third process that answers /verify and /settle at once, valid and settled), on this machine. Then the same
// with an in-process stand-in for the stub in each server, where the middleware and the framework are all
// there is to measure. Every request carries its own payment, signed before the clock starts; the load is
// bench/load.mjs (8 at a time over keep-alive connections).
//
//   cd node/test && node ../bench/serve.mjs [--quick]
//
// A benchmark, not a test: it asserts nothing about speed (only that every paid request was served).
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { load } from './load.mjs'

const require = createRequire(new URL('../test/package.json', import.meta.url))
const NETWORK = 'eip155:84532'
const PAY_TO = '0x209693Bc6afc0C5328bA36FaF03C514EF312287C'
const PAYER = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
const KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const TX = `0x${'ab'.repeat(32)}`
const VERIFIED = { isValid: true, payer: PAYER }
const SETTLED = { success: true, transaction: TX, network: NETWORK, payer: PAYER }
const SUPPORTED = { kinds: [1, 2].map((v) => ({ x402Version: v, scheme: 'exact', network: NETWORK })), extensions: [], signers: {} }

/** The facilitator stub: answers at once. */
function stub() {
  return http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const body = req.url === '/verify' ? VERIFIED : req.url === '/settle' ? SETTLED : SUPPORTED
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    })
  })
}

function paywireApp(facilitatorUrl) {
  const express = require('express')
  const paywire = require('paywire')
  const facilitator =
    facilitatorUrl === 'inprocess'
      ? {
          verified: paywire.VerifyResponse.fromJson(JSON.stringify(VERIFIED)),
          settled: paywire.SettleResponse.fromJson(JSON.stringify(SETTLED)),
          async verify() {
            return this.verified
          },
          async settle() {
            return this.settled
          },
        }
      : new paywire.FacilitatorClient(facilitatorUrl)
  const tag = new paywire.PriceTag({ network: NETWORK, payTo: PAY_TO, price: '$0.001' })
  const app = express()
  app.use(paywire.paymentMiddleware({ 'GET /weather': tag }, { facilitator }))
  app.get('/weather', (req, res) => res.json({ forecast: 'sunny' }))
  return app
}

function officialApp(facilitatorUrl) {
  const express = require('express')
  const { paymentMiddleware, x402ResourceServer } = require('@x402/express')
  const { HTTPFacilitatorClient } = require('@x402/core/server')
  const { ExactEvmScheme } = require('@x402/evm/exact/server')
  const facilitator =
    facilitatorUrl === 'inprocess'
      ? { verify: async () => VERIFIED, settle: async () => SETTLED, getSupported: async () => SUPPORTED }
      : new HTTPFacilitatorClient({ url: facilitatorUrl })
  const server = new x402ResourceServer(facilitator).register(NETWORK, new ExactEvmScheme())
  const app = express()
  const accepts = { scheme: 'exact', price: '$0.001', network: NETWORK, payTo: PAY_TO }
  app.use(paymentMiddleware({ 'GET /weather': { accepts } }, server))
  app.get('/weather', (req, res) => res.json({ forecast: 'sunny' }))
  return app
}

/** Runs a role in this process: prints the port it listens on. */
async function serve(role, facilitatorUrl) {
  const server = role === 'stub' ? stub() : http.createServer((role === 'paywire' ? paywireApp : officialApp)(facilitatorUrl))
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  console.log(server.address().port)
  // Exit normally on a signal, so that `node --cpu-prof` writes its profile.
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0))
}

/** Starts a role in a process of its own; resolves to its URL and the process. */
async function start(role, facilitatorUrl = '') {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--role', role, facilitatorUrl], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const [line] = await once(child.stdout, 'data')
  return { url: `http://127.0.0.1:${String(line).trim()}`, child }
}

async function measure(role, facilitatorUrl, count) {
  const { url, child } = await start(role, facilitatorUrl)
  try {
    const paywire = require('paywire')
    const bill = (await fetch(`${url}/weather`)).headers.get('payment-required')
    const payer = new paywire.Payer(new paywire.LocalSigner(KEY))
    const headers = Array.from({ length: count + 50 }, () => {
      const h = payer.paySync(bill)
      return [h.name, h.value]
    })
    await load(`${url}/weather`, headers.slice(0, 50)) // warm up
    return await load(`${url}/weather`, headers.slice(50))
  } finally {
    child.kill()
  }
}

const args = process.argv.slice(2)
if (args[0] === '--role') {
  await serve(args[1], args[2])
} else {
  const count = args.includes('--quick') ? 60 : 4000
  const facilitator = await start('stub')
  try {
    for (const [label, url] of [
      ['the facilitator stub over HTTP', facilitator.url],
      ['an in-process stub', 'inprocess'],
    ]) {
      const ours = await measure('paywire', url, count)
      const theirs = await measure('official', url, count)
      console.log(`-- ${label}`)
      console.log(`Express + paywire:           ${ours.toFixed(0).padStart(8)} paid requests/s`)
      console.log(`Express + @x402/express:     ${theirs.toFixed(0).padStart(8)} paid requests/s`)
      console.log(`ratio:                       ${(ours / theirs).toFixed(2).padStart(8)}x`)
    }
  } finally {
    facilitator.child.kill()
  }
}
