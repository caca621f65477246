// A facilitator test double served over real HTTP on loopback: /verify is the official @x402/evm
// facilitator's own verification against an in-memory chain; /settle re-verifies and then marks the
// authorization used on that chain instead of broadcasting it. The real on-chain facilitator has its own
// suite; this double lets the Node suite drive every facilitator outcome on purpose.
//
// `mode`: "ok"; "verify_invalid"; "settle_fails" (insufficient_funds); "garbage" (answers that are not
// x402); "settle_down_once" (the first /settle answers 502, settling nothing); "pending_then_ok" and
// "pending_twice" (the first one or two /settle calls report settlement_pending, later ones reconcile).

import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import { x402Facilitator } from '@x402/core/facilitator'
import { registerExactEvmScheme } from '@x402/evm/exact/facilitator'
import * as evm from '@x402/evm'
import { verifyTypedData } from 'viem'

export const FACILITATOR_ADDRESS = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC'
const NETWORKS = ['eip155:84532', 'eip155:8453']

export class FacilitatorDouble {
  mode = 'ok'
  verifyCalls = 0
  settleCalls = 0
  settled = []
  authHeaders = []
  used = new Set()
  pending = new Set()

  async officialVerify(body) {
    const { paymentPayload: payload, paymentRequirements: requirements } = body
    const contracts = new Set([requirements.asset, evm.PERMIT2_ADDRESS].map((a) => a.toLowerCase()))
    const used = this.used
    const signer = {
      getAddresses: () => [FACILITATOR_ADDRESS],
      getCode: async ({ address }) => (contracts.has(address.toLowerCase()) ? '0x6080604052' : '0x'),
      readContract: async ({ functionName, args }) => {
        if (functionName === 'authorizationState') return used.has(`${String(args[0]).toLowerCase()}:${String(args[1]).toLowerCase()}`)
        return {
          balanceOf: 10n ** 30n, allowance: 2n ** 256n - 1n,
          name: requirements.extra?.name, version: requirements.extra?.version, PERMIT2: evm.PERMIT2_ADDRESS,
        }[functionName]
      },
      verifyTypedData: (p) => verifyTypedData(p),
      writeContract: async () => { throw new Error('offline') },
      sendTransaction: async () => { throw new Error('offline') },
      waitForTransactionReceipt: async () => { throw new Error('offline') },
    }
    const facilitator = new x402Facilitator()
    const networks = requirements.network.startsWith('eip155:') ? [requirements.network] : ['eip155:84532']
    registerExactEvmScheme(facilitator, { signer, networks })
    try {
      return JSON.parse(JSON.stringify(await facilitator.verify(payload, requirements)))
    } catch (e) {
      return { isValid: false, invalidReason: 'invalid_payload', invalidMessage: String(e?.message ?? e) }
    }
  }

  async verify(body) {
    this.verifyCalls++
    if (this.mode === 'verify_invalid') return [200, { isValid: false, invalidReason: 'insufficient_funds', payer: '0x0' }]
    return [200, await this.officialVerify(body)]
  }

  async settle(body) {
    this.settleCalls++
    if (this.mode === 'settle_down_once' && this.settleCalls === 1) return [502, '<html>upstream error</html>']
    const network = body.paymentRequirements.network
    if (this.mode === 'settle_fails') return [200, { success: false, errorReason: 'insufficient_funds', transaction: '', network }]
    const auth = body.paymentPayload.payload.authorization
    const key = `${auth.from.toLowerCase()}:${auth.nonce.toLowerCase()}`
    const tx = `0x${createHash('sha256').update(JSON.stringify(auth)).digest('hex')}`
    const pendingFor = { pending_then_ok: 1, pending_twice: 2 }[this.mode] ?? 0
    if (this.pending.has(key)) {
      // A settlement broadcast earlier: reconcile against its transaction instead of paying twice.
      if (this.settleCalls <= pendingFor) return [200, { success: false, errorReason: 'settlement_pending', transaction: tx, network }]
      this.pending.delete(key)
    } else {
      const verdict = await this.officialVerify(body)
      if (!verdict.isValid) {
        return [200, { success: false, errorReason: verdict.invalidReason ?? 'invalid_payload', transaction: '', network, payer: verdict.payer }]
      }
      this.used.add(key)
      if (this.settleCalls <= pendingFor) {
        this.pending.add(key)
        return [200, { success: false, errorReason: 'settlement_pending', transaction: tx, network }]
      }
    }
    this.settled.push(body)
    return [200, { success: true, transaction: tx, network, payer: auth.from }]
  }

  supported() {
    const kinds = NETWORKS.map((network) => ({ x402Version: 2, scheme: 'exact', network }))
    kinds.push({ x402Version: 1, scheme: 'exact', network: 'base-sepolia' })
    return [200, { kinds, extensions: [], signers: { 'eip155:*': [FACILITATOR_ADDRESS] } }]
  }

  /** Serves the double on a free loopback port; resolves to its URL. */
  async listen() {
    this.server = createServer(async (req, res) => {
      const chunks = []
      for await (const c of req) chunks.push(c)
      const endpoint = new URL(req.url, 'http://x').pathname.slice(1)
      this.authHeaders.push({ endpoint, authorization: req.headers.authorization ?? '' })
      let status = 404
      let answer = 'not found'
      try {
        if (this.mode === 'garbage' && endpoint !== 'supported') [status, answer] = [endpoint === 'settle' ? 502 : 200, '<html>upstream error</html>']
        else if (endpoint === 'verify') [status, answer] = await this.verify(JSON.parse(Buffer.concat(chunks)))
        else if (endpoint === 'settle') [status, answer] = await this.settle(JSON.parse(Buffer.concat(chunks)))
        else if (endpoint === 'supported') [status, answer] = this.supported()
      } catch (e) {
        [status, answer] = [500, String(e?.stack ?? e)]
      }
      const text = typeof answer === 'string' ? answer : JSON.stringify(answer)
      res.writeHead(status, { 'content-type': typeof answer === 'string' ? 'text/html' : 'application/json' })
      res.end(text)
    })
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${this.server.address().port}`
    return this.url
  }

  close() {
    return new Promise((resolve) => this.server.close(resolve))
  }
}
