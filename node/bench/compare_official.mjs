// paywire against the official x402 TypeScript SDK (@x402/core + @x402/evm 2.27, viem 2.55), measured in one run
// on this machine. Prints each figure and the ratio (official / paywire).
//
//     cd node/test && npm install          # the official SDKs, and paywire linked as node_modules/paywire
//     node ../bench/compare_official.mjs [--quick]
//
// Resolution: packages come from node/test/node_modules through createRequire (so the script runs from any
// directory); that loads their CommonJS builds, which are the same compiled code as their ESM builds. The
// cold-start processes import the ESM entries, as an application would, with node/test as working directory.
//
// - pay: a PAYMENT-REQUIRED header value in, a PAYMENT-SIGNATURE header value out (parse, select, sign,
//   encode), a new purchase and a new signature every time; paywire's `pay` (async, as the official client's
//   createPaymentPayload) and its `paySync` are both timed;
// - verify: a PAYMENT-SIGNATURE header value checked offline against the offer. paywire: checkPayment of
//   the header value (decode, match, every check, signature recovery). Official: decode + viem's verifyTypedData over the
//   authorization, as the facilitator checks the signature; and the whole official facilitator verify
//   (ExactEvmScheme) with its chain reads answered by constants;
// - cold: a new `node` process that imports the SDK and pays once (wall time and its own peak RSS).
//
// Warm figures are the median over rounds of the mean per call (process.hrtime.bigint, after a warm-up),
// each contender timed in a process of its own; cold figures are the median of several processes. A benchmark, not a test: it asserts nothing about speed.
// --quick: a few seconds, for CI smoke runs; its figures are not for reporting.

import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const TEST_DIR = fileURLToPath(new URL('../test/', import.meta.url))
const require = createRequire(new URL('../test/package.json', import.meta.url))

const paywire = require('paywire')
const { x402Client, x402HTTPClient } = require('@x402/core/client')
const { decodePaymentSignatureHeader } = require('@x402/core/http')
const { authorizationTypes } = require('@x402/evm')
const { registerExactEvmScheme } = require('@x402/evm/exact/client')
const { ExactEvmScheme: FacilitatorScheme } = require('@x402/evm/exact/facilitator')
const { verifyTypedData } = require('viem')
const { privateKeyToAccount } = require('viem/accounts')

const QUICK = process.argv.includes('--quick')
const KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const PAY_TO = '0x209693Bc6afc0C5328bA36FaF03C514EF312287C'
const BILL = paywire.buildPaymentRequired(
  'https://api.example.com/weather',
  [new paywire.PriceTag({ network: 'eip155:84532', payTo: PAY_TO, price: '$0.001' })],
  { description: 'Weather' },
)
const HEADER = BILL.toHeader()
const OFFER = BILL.accepts[0].toJSON()

// ---- timing

const now = () => process.hrtime.bigint()

// Node-API finalizers (which free the native side of paywire's objects) run when the event loop turns, and
// an `await` of a settled promise does not turn it: a loop that never yields piles up unfinalized objects,
// hundreds of MiB of them, which no server does. So every loop yields every YIELD_EVERY calls, for both SDKs,
// and the finalizers' work is timed with the rest.
const YIELD_EVERY = 256
const turn = () => new Promise(setImmediate)

/** Median over `rounds` of the mean seconds per call of `fn` (sync or async), each round ~`roundSeconds`. */
async function perCall(fn, { rounds, roundSeconds }) {
  // Warm-up for about one round, which also sizes the rounds.
  let calls = 0
  const start = now()
  while (Number(now() - start) / 1e9 < roundSeconds) {
    await fn()
    if (++calls % YIELD_EVERY === 0) await turn()
  }
  const size = Math.max(10, calls)
  const samples = []
  for (let r = 0; r < rounds; r++) {
    await turn()
    const t = now()
    for (let i = 1; i <= size; i++) {
      await fn()
      if (i % YIELD_EVERY === 0) await turn()
    }
    samples.push(Number(now() - t) / 1e9 / size)
  }
  return median(samples)
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

// ---- the contenders

// Each call is a new purchase with the life wrapFetch gives it: paid under a new key, forgotten once answered.
// (Never forgetting would also time the payer's list of open purchases, which it scans on every payment.)
function paywirePay() {
  const payer = new paywire.Payer(new paywire.LocalSigner(KEY))
  let n = 0
  return async () => {
    const purchase = `purchase-${n++}`
    const { value } = await payer.pay(HEADER, purchase)
    payer.forget(purchase)
    return value
  }
}

function paywirePaySync() {
  const payer = new paywire.Payer(new paywire.LocalSigner(KEY))
  let n = 0
  return () => {
    const purchase = `purchase-${n++}`
    const { value } = payer.paySync(HEADER, purchase)
    payer.forget(purchase)
    return value
  }
}

function officialPay() {
  const client = new x402HTTPClient(registerExactEvmScheme(new x402Client(), { signer: privateKeyToAccount(KEY) }))
  return async () => {
    const required = client.getPaymentRequiredResponse((name) => (name.toUpperCase() === 'PAYMENT-REQUIRED' ? HEADER : null))
    const payload = await client.createPaymentPayload(required)
    return client.encodePaymentSignatureHeader(payload)['PAYMENT-SIGNATURE']
  }
}

function paywireVerify(value) {
  return () => paywire.checkPayment(BILL, value).verified.fullyVerified
}

// The signature check of the official facilitator (src/shared/verifySignature.ts): the typed data from the
// payload and the offer, then viem recovers the signer and compares it with `from`.
function viemVerify(value) {
  const domain = { name: OFFER.extra.name, version: OFFER.extra.version, chainId: 84532, verifyingContract: OFFER.asset }
  return async () => {
    const { payload } = decodePaymentSignatureHeader(value)
    const a = payload.authorization
    return verifyTypedData({
      address: a.from,
      domain,
      types: authorizationTypes,
      primaryType: 'TransferWithAuthorization',
      message: { from: a.from, to: a.to, value: BigInt(a.value), validAfter: BigInt(a.validAfter), validBefore: BigInt(a.validBefore), nonce: a.nonce },
      signature: payload.signature,
    })
  }
}

// The whole official facilitator verify; the chain is a stand-in answering constants (the payer has no code,
// the token has, simulations pass), so no chain call is timed.
function facilitatorVerify(value) {
  const signer = {
    getAddresses: () => ['0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC'],
    getCode: async ({ address }) => (address.toLowerCase() === OFFER.asset.toLowerCase() ? '0x6080604052' : '0x'),
    readContract: async ({ functionName }) => ({ balanceOf: 10n ** 30n, authorizationState: false, name: OFFER.extra.name, version: OFFER.extra.version })[functionName],
    verifyTypedData: (p) => verifyTypedData(p),
    writeContract: async () => { throw new Error('offline') },
    sendTransaction: async () => { throw new Error('offline') },
    waitForTransactionReceipt: async () => { throw new Error('offline') },
  }
  const scheme = new FacilitatorScheme(signer)
  return async () => (await scheme.verify(decodePaymentSignatureHeader(value), OFFER)).isValid
}

// ---- cold start: each process reports its own peak RSS (VmHWM), since a child's rusage would count the
// memory Linux carries across fork and exec.

const PEAK_RSS = `
const hwm = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8').match(/VmHWM:\\s+(\\d+)/)[1]
console.error(hwm)`

const COLD = {
  paywire: `
import { LocalSigner, Payer } from 'paywire'
const payer = new Payer(new LocalSigner(${JSON.stringify(KEY)}))
console.log((await payer.pay(${JSON.stringify(HEADER)})).value.slice(0, 16))${PEAK_RSS}`,
  official: `
import { x402Client, x402HTTPClient } from '@x402/core/client'
import { registerExactEvmScheme } from '@x402/evm/exact/client'
import { privateKeyToAccount } from 'viem/accounts'
const client = new x402HTTPClient(registerExactEvmScheme(new x402Client(), { signer: privateKeyToAccount(${JSON.stringify(KEY)}) }))
const required = client.getPaymentRequiredResponse((n) => (n.toUpperCase() === 'PAYMENT-REQUIRED' ? ${JSON.stringify(HEADER)} : null))
console.log(client.encodePaymentSignatureHeader(await client.createPaymentPayload(required))['PAYMENT-SIGNATURE'].slice(0, 16))${PEAK_RSS}`,
  'node alone': `console.log('')${PEAK_RSS}`,
}

/** Median wall seconds and median peak RSS (MiB) of a fresh `node` running `script`. */
function cold(script, runs) {
  const walls = []
  const rss = []
  for (let i = 0; i <= runs; i++) {
    const t = now()
    const done = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: TEST_DIR, encoding: 'utf8' })
    const wall = Number(now() - t) / 1e9
    if (done.status !== 0) throw new Error(`the cold script failed: ${done.stderr}`)
    if (i === 0) continue // the first run warms the page cache
    walls.push(wall)
    rss.push(Number(done.stderr.trim().split(/\s+/).pop()) / 1024)
  }
  return [median(walls), median(rss)]
}

// ---- the run

const version = (pkg) => JSON.parse(readFileSync(`${TEST_DIR}node_modules/${pkg}/package.json`, 'utf8')).version

const CONTENDERS = { paywirePay, paywirePaySync, officialPay, paywireVerify, viemVerify, facilitatorVerify }
const TIMING = QUICK ? { rounds: 3, roundSeconds: 0.05 } : { rounds: 7, roundSeconds: 0.5 }

/**
 * Seconds per call of one contender, timed in a `node` process of its own: each starts from the same state
 * (this script's imports loaded, nothing else run), so no contender pays for another's garbage or warm-up.
 */
function warm(name, header) {
  const args = [fileURLToPath(import.meta.url), '--warm', name, ...(header ? [header] : []), ...(QUICK ? ['--quick'] : [])]
  const done = spawnSync(process.execPath, args, { cwd: TEST_DIR, encoding: 'utf8' })
  if (done.status !== 0) throw new Error(`timing ${name} failed: ${done.stderr}`)
  return Number(done.stdout.trim())
}

async function main() {
  const runs = QUICK ? 2 : 9

  // Both sides must take each other's payment before either is timed.
  const ours = await paywirePay()()
  const theirs = await officialPay()()
  if (!paywireVerify(theirs)() || !(await viemVerify(ours)()) || !(await facilitatorVerify(ours)())) {
    throw new Error('the two SDKs disagree on a payment')
  }

  const us = (s) => `${(s * 1e6).toFixed(1)} µs`
  const rows = []
  const row = (name, a, b, fmt, ratio = b / a) => rows.push([name, fmt(a), fmt(b), ratio])

  const payOfficial = warm('officialPay')
  row('pay (header in, header out)', warm('paywirePay'), payOfficial, us)
  row('pay, paySync', warm('paywirePaySync'), payOfficial, us)
  const verifyOurs = warm('paywireVerify', ours)
  row('verify offline: viem signature', verifyOurs, warm('viemVerify', ours), us)
  row('verify offline: facilitator', verifyOurs, warm('facilitatorVerify', ours), us)

  const [oursS, oursMb] = cold(COLD.paywire, runs)
  const [theirsS, theirsMb] = cold(COLD.official, runs)
  const [nodeS, nodeMb] = cold(COLD['node alone'], runs)
  row('cold import and pay: wall', oursS, theirsS, (s) => `${s.toFixed(3)} s`)
  row('cold import and pay: peak RSS', oursMb, theirsMb, (m) => `${m.toFixed(1)} MiB`)

  console.log(`paywire ${paywire.VERSION} vs @x402/core ${version('@x402/core')} + @x402/evm ${version('@x402/evm')} + viem ${version('viem')} on Node ${process.version}${QUICK ? ' (--quick: not for reporting)' : ''}`)
  console.log(`${''.padEnd(32)} ${'paywire'.padStart(12)} ${'official'.padStart(12)} ${'ratio'.padStart(8)}`)
  for (const [name, a, b, ratio] of rows) console.log(`${name.padEnd(32)} ${a.padStart(12)} ${b.padStart(12)} ${ratio.toFixed(1).padStart(7)}x`)
  console.log(`(a node process that imports nothing: ${nodeS.toFixed(3)} s, ${nodeMb.toFixed(1)} MiB; both cold rows include it)`)
}

const warmAt = process.argv.indexOf('--warm')
if (warmAt > 0) {
  const [name, header] = process.argv.slice(warmAt + 1)
  console.log(await perCall(CONTENDERS[name](header?.startsWith('--') ? undefined : header), TIMING))
} else {
  await main()
}
