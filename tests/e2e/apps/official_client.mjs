// The official x402 fetch client (@x402/fetch with @x402/evm and viem), unchanged, making one request:
//
//   PAYWIRE_NODE_TEST_DIR=node/test PRIVATE_KEY=0x... API_URL=http://... node official_client.mjs
//
// It pays exact, upto and batch-settlement offers; CHANNEL_DIR keeps its batch-settlement channels in files
// there (the official file storage), so the next process goes on from the same channel.
// Prints "STATUS BODY", then "settled in transaction 0x…" when the server's receipt says so.
import { createRequire } from 'node:module'
import path from 'node:path'

const require = createRequire(path.join(process.env.PAYWIRE_NODE_TEST_DIR, 'package.json'))
const { wrapFetchWithPayment, x402Client, decodePaymentResponseHeader } = require('@x402/fetch')
const { ExactEvmScheme } = require('@x402/evm/exact/client')
const { UptoEvmScheme } = require('@x402/evm/upto/client')
const { BatchSettlementEvmScheme } = require('@x402/evm/batch-settlement/client')
const { FileClientChannelStorage } = require('@x402/evm/batch-settlement/client/file-storage')
const { privateKeyToAccount } = require('viem/accounts')

const account = privateKeyToAccount(process.env.PRIVATE_KEY)
const storage = process.env.CHANNEL_DIR ? new FileClientChannelStorage({ directory: process.env.CHANNEL_DIR }) : undefined
const client = new x402Client()
  .register('eip155:*', new ExactEvmScheme(account))
  .register('eip155:*', new UptoEvmScheme(account))
  .register('eip155:*', new BatchSettlementEvmScheme(account, storage ? { storage } : undefined))
const pay = wrapFetchWithPayment(fetch, client)
const response = await pay(process.env.API_URL)
console.log(`${response.status} ${await response.text()}`)
const header = response.headers.get('payment-response')
if (header) {
  const receipt = decodePaymentResponseHeader(header)
  if (receipt.success) console.log(`settled in transaction ${receipt.transaction}`)
}
