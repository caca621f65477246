// An agent that pays for an API with fetch: at most $0.01 per call and $1 in all.
//
//   PRIVATE_KEY=0x... API_URL=http://127.0.0.1:3000/weather [REQUESTS=1] node agent.mjs
//
// Prints one line per request: the status, what was paid, and the settlement transaction. Where a server asks
// for Permit2 and sponsors its approval (eip2612GasSponsoring), PAYWIRE_RPC_URLS=eip155:84532=https://...
// (comma-separated for more) names a JSON-RPC endpoint per network: the payer's Permit2 allowance and EIP-2612
// nonce are read there, and a payer who never approved Permit2 pays with a permit.
import { LocalSigner, Payer, Policy, knownAssets, payment, settlement, wrapFetch } from 'paywire'

const signer = new LocalSigner(process.env.PRIVATE_KEY)
const payer = new Payer(signer, new Policy({ maxPerPayment: '$0.01', budget: '$1' }))
const rpcUrls = Object.fromEntries(
  (process.env.PAYWIRE_RPC_URLS ?? '').split(',').filter((e) => e.includes('=')).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
)
const paidFetch = wrapFetch(fetch, payer, { rpcUrls })
const url = process.env.API_URL ?? 'http://127.0.0.1:3000/weather'

// "10000" atomic units of USDC (6 decimals) reads as "0.01 USDC".
function money(offer) {
  const token = knownAssets().find((a) => a.network === offer.network && a.address.toLowerCase() === offer.asset.toLowerCase())
  if (!token) return `${offer.amount} atomic units of ${offer.asset}`
  const units = offer.amount.toString().padStart(token.decimals + 1, '0')
  const whole = units.slice(0, -token.decimals)
  const cents = units.slice(-token.decimals).replace(/0+$/, '')
  return `${whole}${cents ? `.${cents}` : ''} ${token.symbol}`
}

let failures = 0
for (let i = 1; i <= Number(process.env.REQUESTS ?? 1); i++) {
  const started = performance.now()
  const response = await paidFetch(url)
  const ms = (performance.now() - started).toFixed(0)
  const body = await response.text()
  const paid = payment(response)
  const receipt = settlement(response)
  if (!response.ok) failures++
  const what = paid ? `${receipt?.success ? 'paid' : 'offered'} ${money(paid.requirements)} from ${paid.payer}` : 'not paid'
  const tx = receipt?.success ? `in transaction ${receipt.transaction}` : `not settled (${receipt?.errorReason ?? 'no receipt'})`
  console.log(`#${i} ${response.status} ${ms} ms: ${what} ${tx}; ${body}`)
}
console.log(`spent ${payer.spentUsd} in all`)
process.exitCode = failures === 0 ? 0 : 1
