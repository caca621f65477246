// One payment (choose under the policy, EIP-712 digest, sign, encode PAYMENT-SIGNATURE) in Node with the
// native core (napi-rs) and with the WebAssembly build (paywire/wasm, what browsers and edge runtimes
// load), on the same bill and key. Chromium's figure comes from tests/e2e/test_browser.py.
//
//   node bench/wasm.mjs [--quick]        (from node/test, where paywire is installed)
//
// A benchmark, not a test: it asserts nothing about speed.
import { performance } from 'node:perf_hooks'
import native from 'paywire'
import wasm from 'paywire/wasm'

const KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const tag = new native.PriceTag({ network: 'eip155:84532', payTo: '0x209693Bc6afc0C5328bA36FaF03C514EF312287C', price: '$0.001' })
const bill = native.buildPaymentRequired('https://api.example.com/weather', [tag]).toHeader()

const quick = process.argv.includes('--quick')
const [rounds, each] = quick ? [2, 20] : [7, 500]

async function measure(lib) {
  const payer = new lib.Payer(new lib.LocalSigner(KEY), { budget: '$100000' })
  const times = []
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now()
    for (let i = 0; i < each; i++) await payer.pay(bill, `GET /weather ${r} ${i}`)
    times.push(((performance.now() - t0) * 1000) / each)
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)]
}

for (const [name, lib] of [['native (napi-rs)', native], ['wasm', wasm]]) {
  console.log(`${name.padEnd(18)} ${(await measure(lib)).toFixed(1)} µs per payment (median of ${rounds} rounds of ${each})`)
}
