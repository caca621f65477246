// The payment gate's own time per paid request in Node: paywire's core gate driven the way the Express, Hono
// and Fastify adapters drive it, with a facilitator that answers at once, against the core's offline
// verification of the same payments alone. The difference is what the gate adds.
//
//   node bench/gate.mjs [--quick]        (from node/test, where paywire is installed)
//
// A benchmark, not a test: it asserts nothing about speed (only that every request was served).
import { performance } from 'node:perf_hooks'
import * as paywire from 'paywire'

const KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const PAY_TO = '0x209693Bc6afc0C5328bA36FaF03C514EF312287C'
const ORIGIN = 'https://api.example.com'
const tag = new paywire.PriceTag({ network: 'eip155:84532', payTo: PAY_TO, price: '$0.001' })
const verified = paywire.VerifyResponse.fromJson('{"isValid":true,"payer":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}')
const settled = paywire.SettleResponse.fromJson(`{"success":true,"transaction":"0x${'ab'.repeat(32)}","network":"eip155:84532","payer":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}`)
const handlerHeaders = [['content-type', 'application/json']]
const handlerBody = new TextEncoder().encode('{"forecast":"sunny"}')
const empty = new Uint8Array(0)

const quick = process.argv.includes('--quick')
const [rounds, each] = quick ? [2, 50] : [7, 400]
const bill = paywire.buildPaymentRequired(`${ORIGIN}/weather`, [tag])
const payer = new paywire.Payer(new paywire.LocalSigner(KEY))
const headers = []
for (let i = 0; i < rounds * each * 3 + 10; i++) {
  const h = payer.paySync(bill)
  headers.push([h.name, h.value])
}

const bigGate = new paywire.Gate([new paywire.PricedRoute([tag], 'GET /weather')])
// A server that has run for a while: its store is full, and every new payment drops the oldest record.
const smallGate = new paywire.Gate([new paywire.PricedRoute([tag], 'GET /weather')], { maxEntries: each / 2 })

function gateOnce(header, gate = bigGate) {
  const started = gate.handle({ method: 'GET', path: '/weather', pathAndQuery: '/weather', origin: ORIGIN, headers: [header, ['host', 'api.example.com']] })
  const exchange = started.takeExchange()
  let step = started.takeStep()
  for (;;) {
    switch (step.kind) {
      case 'readBody': step = exchange.feedBody(empty); break
      case 'verify': step = exchange.feedVerified(verified); break
      case 'runHandler': step = exchange.feedHandled(200, handlerHeaders, handlerBody); break
      case 'settle': step = exchange.feedSettled(settled); break
      default:
        if (step.kind !== 'respond' || step.status !== 200) throw new Error(`unexpected ${step.kind} ${step.status}`)
        return
    }
  }
}

const verifyOnly = (header) => paywire.checkPayment(bill, header[1])

function perRequest(run, list) {
  const size = Math.floor(list.length / rounds)
  const samples = []
  for (let r = 0; r < rounds; r++) {
    const chunk = list.slice(r * size, (r + 1) * size)
    const start = performance.now()
    for (const h of chunk) run(h)
    samples.push((performance.now() - start) / chunk.length)
  }
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)] * 1000
}

gateOnce(headers.at(-1))
verifyOnly(headers.at(-2))
const verify = perRequest(verifyOnly, headers.slice(0, rounds * each))
const full = perRequest((h) => gateOnce(h), headers.slice(rounds * each, 2 * rounds * each))
const atCapacity = perRequest((h) => gateOnce(h, smallGate), headers.slice(2 * rounds * each, 3 * rounds * each))
console.log(`offline verification alone (checkPayment):       ${verify.toFixed(1).padStart(8)} us per request`)
console.log(`the gate, one paid request (verify to response): ${full.toFixed(1).padStart(8)} us per request`)
console.log(`what the gate adds beyond verification:           ${(full - verify).toFixed(1).padStart(8)} us per request`)
console.log(`the same with the store full (${each / 2} records):     ${(atCapacity - verify).toFixed(1).padStart(8)} us per request`)
