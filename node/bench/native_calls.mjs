// Where a Node payment's time goes: single native calls of paywire's binding, timed one by one.
//
//     cd node/test && node ../bench/native_calls.mjs
//
// Each figure is the best of 5 rounds; the loop yields to the event loop every 256 calls so Node-API
// finalizers run, as they would in a server.
import { createRequire } from 'node:module'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setImmediate as tick } from 'node:timers/promises'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(resolve(here, '..', 'test', 'package.json'))
const paywire = require('paywire')

const signer = new paywire.LocalSigner(`0x${'11'.repeat(32)}`)
const tag = new paywire.PriceTag({ network: 'eip155:8453', payTo: `0x${'22'.repeat(20)}`, price: '$0.01' })
const bill = paywire.buildPaymentRequired('https://api.example.com/x', [tag])
const billHeader = bill.toHeader()
const payer = new paywire.Payer(signer)

async function time(name, call, n = 10000) {
  for (let i = 0; i < 1000; i++) call(i)
  let best = Infinity
  for (let round = 0; round < 5; round++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < n; i++) {
      call(i)
      if (i % 256 === 255) await tick()
    }
    best = Math.min(best, Number(process.hrtime.bigint() - start) / n / 1000)
  }
  console.log(`${name.padEnd(36)} ${best.toFixed(1).padStart(6)} µs`)
}

const digest = new Uint8Array(32).fill(7)
const header = payer.paySync(bill)
const payment = paywire.PaymentPayload.fromHeader(header.value)
await time('PaymentRequired.fromHeader', () => paywire.PaymentRequired.fromHeader(billHeader))
await time('LocalSigner.signDigest', () => signer.signDigest(digest))
await time('paySync, from the header string', (i) => { payer.paySync(billHeader, `p${i}`); payer.forget(`p${i}`) }, 5000)
await time('paySync, from a parsed bill', (i) => { payer.paySync(bill, `p${i}`); payer.forget(`p${i}`) }, 5000)
await time('PaymentPayload.fromHeader', () => paywire.PaymentPayload.fromHeader(header.value))
await time('checkPayment, a parsed payment', () => paywire.checkPayment(bill, payment))
await time('checkPayment, from the header string', () => paywire.checkPayment(bill, header.value))
