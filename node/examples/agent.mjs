// An agent that pays for an API with fetch: at most $0.01 per call and $1 in all.
//
//   PRIVATE_KEY=0x... API_URL=http://127.0.0.1:3000/weather node agent.mjs
import { LocalSigner, Payer, Policy, settlement, wrapFetch } from 'paywire'

const signer = new LocalSigner(process.env.PRIVATE_KEY)
const payer = new Payer(signer, new Policy({ maxPerPayment: '$0.01', budget: '$1' }))
const paidFetch = wrapFetch(fetch, payer)

const response = await paidFetch(process.env.API_URL ?? 'http://127.0.0.1:3000/weather')
console.log(response.status, await response.json())
const receipt = settlement(response)
if (receipt) console.log(`paid ${payer.spentUsd} from ${payer.address} in transaction ${receipt.transaction}`)
