// paywire's Node client on a batch-settlement route, one process of several: it reads its channels from the
// file CHANNELS (if there is one; importChannels), pays API_URL PAYS times, asks for its refund when REFUND=1,
// writes its channels back (exportChannels) and prints a JSON summary: each paid request's status, how many
// HTTP requests it took, its receipt's transaction and charged total; the refund's transaction or error code.
//
//   PAYWIRE_NODE_DIR=node/ PRIVATE_KEY=0x... API_URL=http://... CHANNELS=/tmp/c.json PAYS=3 node channel_client.mjs
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'

const require = createRequire(path.join(process.env.PAYWIRE_NODE_DIR, 'package.json'))
const { LocalSigner, Payer, refund, settlement, wrapFetch } = require('paywire')

const file = process.env.CHANNELS
const payer = new Payer(new LocalSigner(process.env.PRIVATE_KEY))
if (existsSync(file)) payer.importChannels(readFileSync(file, 'utf8'))
let sent = 0
const counting = (request) => {
  sent += 1
  return fetch(request)
}
const pay = wrapFetch(counting, payer)
const paid = []
for (let i = 0; i < Number(process.env.PAYS ?? '1'); i++) {
  sent = 0
  const response = await pay(process.env.API_URL)
  await response.arrayBuffer()
  const receipt = settlement(response)
  const state = receipt ? JSON.parse(receipt.toJsonText()).extra?.channelState : null
  paid.push({ status: response.status, sent, transaction: receipt?.transaction ?? null, charged: state?.chargedCumulativeAmount ?? null })
}
let refunded = null
if (process.env.REFUND === '1') {
  try {
    const receipt = await refund(fetch, payer, process.env.API_URL)
    refunded = { transaction: receipt.transaction }
  } catch (e) {
    refunded = { error: e.code ?? String(e) }
  }
}
writeFileSync(file, payer.exportChannels())
console.log(JSON.stringify({ paid, refunded }))
