// The official x402 client (@x402/core's x402Client with @x402/evm's exact or upto scheme, and viem), signing
// a payment for a bill without sending it: prints the PaymentPayload JSON.
//
//   PAYWIRE_NODE_TEST_DIR=node/test PRIVATE_KEY=0x... SCHEME=upto BILL='{"x402Version":2,...}' node official_payload.mjs
import { createRequire } from 'node:module'
import path from 'node:path'

const require = createRequire(path.join(process.env.PAYWIRE_NODE_TEST_DIR, 'package.json'))
const { x402Client } = require('@x402/core/client')
const { ExactEvmScheme } = require('@x402/evm/exact/client')
const { UptoEvmScheme } = require('@x402/evm/upto/client')
const { privateKeyToAccount } = require('viem/accounts')

const account = privateKeyToAccount(process.env.PRIVATE_KEY)
const scheme = process.env.SCHEME === 'upto' ? new UptoEvmScheme(account) : new ExactEvmScheme(account)
const client = new x402Client().register('eip155:*', scheme)
const payload = await client.createPaymentPayload(JSON.parse(process.env.BILL))
console.log(JSON.stringify(payload))
