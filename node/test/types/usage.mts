// Compiled by package.test.mjs with tsc --strict: the public API as a TypeScript user writes it.
import {
  FacilitatorClient, LocalSigner, Payer, PaywireError, PriceTag, Policy, buildPaymentRequired, checkPayment,
  fromViemAccount, honoPaymentMiddleware, paymentMiddleware, readPayment, settlement, wrapFetch,
  type Paid, type Signer,
} from 'paywire'

const signer: Signer = { address: `0x${'11'.repeat(20)}`, signDigest: async (d: Uint8Array) => d }
const local = new LocalSigner(`0x${'11'.repeat(32)}`)
const payer = new Payer(local, new Policy({ maxPerPayment: '$0.05', networks: ['eip155:8453'] }))
const payer2 = new Payer(signer, { maxAmount: 10n ** 6n })
const tag = new PriceTag({ network: 'eip155:8453', payTo: `0x${'22'.repeat(20)}`, price: '$0.01' })
const bill = buildPaymentRequired('https://api.example.com/weather', [tag], { description: 'Weather' })
const header = payer.paySync(bill, 'GET /weather')
const amount: bigint = header.amount
const payment = readPayment(new Headers({ [header.name]: header.value }))
if (payment) {
  const accepted = checkPayment(bill, payment, { now: 1_700_000_000 })
  const who: string = accepted.verified.payer
  void who
}
const paidFetch = wrapFetch(fetch, payer2)
async function run(): Promise<void> {
  const response = await paidFetch('https://api.example.com/weather', { method: 'POST', body: '{}' })
  const tx: string | undefined = settlement(response)?.transaction
  void tx
}
const facilitator = new FacilitatorClient('https://facilitator.example', { headers: (e) => ({ authorization: `Bearer ${e}` }), timeoutMs: 5000 })
const express = paymentMiddleware({ 'GET /weather': tag, 'POST /report': { tags: [tag], x402Version: 1 } }, { facilitator })
const hono = honoPaymentMiddleware({ 'GET /weather/:city': [tag] }, { facilitator, publicUrl: 'https://api.example.com' })
const viemSigner: Signer = fromViemAccount({ address: `0x${'11'.repeat(20)}`, sign: async ({ hash }) => hash })
function onError(e: unknown): string | null {
  return e instanceof PaywireError ? `${e.code} (${e.category}): ${e.message}` : null
}
const paid: Paid | undefined = undefined
void [amount, run, express, hono, viemSigner, onError, paid]
