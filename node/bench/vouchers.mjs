// A batch-settlement voucher checked offline from Node (the native module), against the `exact` offline
// verification: what a server does per request before its accounting. Both start from the header value a
// request carries.
//
//   node ../bench/vouchers.mjs [--quick]        (from node/test, where paywire is installed)
//
// `verifyVoucher` (decode, read the voucher payload, the channel against the offer, the channel id, the
// signature) against `verifyToResponse` of an `exact` EIP-3009 payment (decode, the offer, the window, the
// signature). A benchmark, not a test: it asserts only that every voucher and payment is valid.
import { performance } from 'node:perf_hooks'
import * as paywire from 'paywire'

const KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const PAY_TO = '0x209693Bc6afc0C5328bA36FaF03C514EF312287C'
const AUTHORIZER = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'
const USDC = '0x036CbD53842c5426634e7929541eC2318f3dCF7e'
const ORIGIN = 'https://api.example.com'
const BATCH_DOMAIN = {
  name: 'x402 Batch Settlement',
  version: '1',
  chainId: 84532,
  verifyingContract: '0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003',
}
const hex = (bytes) => `0x${Buffer.from(bytes).toString('hex')}`

const quick = process.argv.includes('--quick')
const [rounds, each] = quick ? [2, 50] : [21, 500]
const signer = new paywire.LocalSigner(KEY)

const batchTag = new paywire.PriceTag({
  network: 'eip155:84532',
  payTo: PAY_TO,
  amount: '1000',
  asset: USDC,
  scheme: 'batch-settlement',
  extra: { receiverAuthorizer: AUTHORIZER, withdrawDelay: 900 },
})
const batchOffer = paywire.buildPaymentRequired(`${ORIGIN}/batch`, [batchTag]).accepts[0]
const config = {
  payer: signer.address,
  payerAuthorizer: signer.address,
  receiver: PAY_TO,
  receiverAuthorizer: AUTHORIZER,
  token: USDC,
  withdrawDelay: 900,
  salt: `0x${'00'.repeat(32)}`,
}
const channelId = hex(paywire.typedDataHashes({ domain: BATCH_DOMAIN, primaryType: 'ChannelConfig', message: config }).digest)
const vouchers = []
for (let n = 1; n <= rounds * each; n++) {
  const message = { channelId, maxClaimableAmount: String(n * 1000) }
  const { digest } = paywire.typedDataHashes({ domain: BATCH_DOMAIN, primaryType: 'Voucher', message })
  const payload = { type: 'voucher', channelConfig: config, voucher: { ...message, signature: hex(signer.signDigest(digest)) } }
  const text = JSON.stringify({ x402Version: 2, payload, accepted: JSON.parse(batchOffer.rawJson) })
  vouchers.push(paywire.PaymentPayload.fromJson(text).toHeader())
}

const exactTag = new paywire.PriceTag({ network: 'eip155:84532', payTo: PAY_TO, price: '$0.001' })
const bill = paywire.buildPaymentRequired(`${ORIGIN}/weather`, [exactTag])
const exactOffer = bill.accepts[0]
const payer = new paywire.Payer(signer)
const payments = []
for (let i = 0; i < rounds * each; i++) payments.push(payer.paySync(bill).value)
const now = Math.floor(Date.now() / 1000)

const checkVoucher = (header) => {
  if (!paywire.verifyVoucher(header, batchOffer).isValid) throw new Error('a voucher was refused')
}
const checkExact = (header) => {
  if (!paywire.verifyToResponse(header, exactOffer, { now }).isValid) throw new Error('a payment was refused')
}

// Median over rounds of the mean seconds per check, for each of `runs` on its headers; each round runs every
// one of them in turn, so a machine that slows down or speeds up weighs on all alike.
function interleaved(runs, lists) {
  const samples = runs.map(() => [])
  for (let r = 0; r < rounds; r++) {
    runs.forEach((run, i) => {
      const chunk = lists[i].slice(r * each, (r + 1) * each)
      const start = performance.now()
      for (const h of chunk) run(h)
      samples[i].push((performance.now() - start) / 1000 / chunk.length)
    })
  }
  return samples.map((s) => s.sort((a, b) => a - b)[Math.floor(s.length / 2)])
}

checkVoucher(vouchers[0])
checkExact(payments[0])
const [exact, voucher] = interleaved([checkExact, checkVoucher], [payments, vouchers])
const line = (what, s) => `${what}${(s * 1e6).toFixed(1).padStart(7)} us, ${Math.round(1 / s).toString().padStart(8)} per second`
console.log(line('exact, offline verification (verifyToResponse): ', exact))
console.log(line('batch-settlement voucher (verifyVoucher):        ', voucher))
console.log(`ratio: ${(voucher / exact).toFixed(2)}x`)
