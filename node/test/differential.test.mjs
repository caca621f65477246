// Differential tests, both ways, against the official x402 TypeScript SDKs (@x402/core and @x402/evm 2.27,
// viem 2.55), with live clocks, random keys and random nonces:
//
// - paywire's Payer pays bills the official resource server made; the official facilitator scheme
//   (ExactEvmScheme / ExactEvmSchemeV1 from @x402/evm) verifies the payment against an in-memory chain, and
//   the official header codecs read paywire's headers as the same objects, byte for byte;
// - the official client pays bills paywire built; paywire's readPayment + checkPayment accept the payment;
// - tampered payments (amount, payTo, validBefore, signature) are refused by both, and payments validly
//   signed for other terms are refused by both for the same x402 reason.
//
// Run from node/test: `node --test differential.test.mjs`.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { x402Client, x402HTTPClient } from '@x402/core/client'
import { x402Facilitator } from '@x402/core/facilitator'
import * as http from '@x402/core/http'
import { x402ResourceServer } from '@x402/core/server'
import {
  DEFAULT_ASSETS,
  PERMIT2_ADDRESS,
  authorizationTypes,
  eip3009ABI,
  erc20AllowanceAbi,
  permit2WitnessTypes,
  x402ExactPermit2ProxyABI,
  x402ExactPermit2ProxyAddress,
} from '@x402/evm'
import { registerExactEvmScheme as registerClient } from '@x402/evm/exact/client'
import { ExactEvmScheme as FacilitatorScheme, registerExactEvmScheme as registerFacilitator } from '@x402/evm/exact/facilitator'
import { ExactEvmScheme as ServerScheme, registerExactEvmScheme as registerServer } from '@x402/evm/exact/server'
import { ExactEvmSchemeV1 as FacilitatorSchemeV1 } from '@x402/evm/exact/v1/facilitator'
import { EVM_NETWORK_CHAIN_ID_MAP } from '@x402/evm/v1'
import {
  decodeFunctionData,
  encodeFunctionResult,
  getAddress,
  recoverTypedDataAddress,
  verifyTypedData,
} from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'

import {
  LocalSigner,
  PaymentPayload,
  PaymentRequired,
  Payer,
  PaywireError,
  PriceTag,
  SettleResponse,
  buildPaymentRequired,
  checkPayment,
  errorCodes,
  readPayment,
  readSettlement,
  settlementHeader,
  verifyPayment,
  verifyToResponse,
} from 'paywire'

const PAY_TO = '0x209693Bc6afc0C5328bA36FaF03C514EF312287C'
const OTHER = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'
const FACILITATOR = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC'
const RESOURCE = 'https://api.example.com/premium'
const BASE_SEPOLIA_USDC = '0x036CbD53842c5426634e7929541eC2318f3dCF7e'

const nowSeconds = () => Math.floor(Date.now() / 1000)
const plain = (v) => JSON.parse(JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x)))
const lower = (a) => a.toLowerCase()

// ---- an in-memory chain behind the official facilitator's FacilitatorEvmSigner. It answers what the
// facilitator reads (code, balances, allowances, EIP-3009 nonce state, token domain) and simulates
// transferWithAuthorization and the Permit2 proxy's settle as the contracts would, signature included,
// so that a verdict of the official verify really depends on the payment.

const TOKENS = new Map() // lowercase address -> {name, version}
for (const assets of Object.values(DEFAULT_ASSETS)) for (const a of assets) TOKENS.set(lower(a.asset), { name: a.name, version: a.version })
const CHAIN_ABI = [...eip3009ABI, ...erc20AllowanceAbi, ...x402ExactPermit2ProxyABI]
const MAX_UINT = 2n ** 256n - 1n

class Chain {
  used = new Set() // `${token}:${authorizer}:${nonce}` (EIP-3009) and `permit2:${owner}:${nonce}`
  balances = new Map() // `${token}:${owner}` -> bigint (absent: plenty)

  spend(token, owner, nonce) {
    this.used.add(`${lower(token)}:${lower(owner)}:${String(nonce).toLowerCase()}`)
  }

  balanceOf(token, owner) {
    return this.balances.get(`${lower(token)}:${lower(owner)}`) ?? 10n ** 30n
  }

  /** The FacilitatorEvmSigner of this chain for one chain id. */
  signer(chainId) {
    const offline = async () => {
      throw new Error('the in-memory chain does not send transactions')
    }
    const contracts = new Set([...TOKENS.keys(), lower(PERMIT2_ADDRESS), lower(x402ExactPermit2ProxyAddress)])
    return {
      getAddresses: () => [FACILITATOR],
      getCode: async ({ address }) => (contracts.has(lower(address)) ? '0x6080604052' : '0x'),
      readContract: async ({ address, functionName, args = [] }) => {
        if (functionName !== 'tryAggregate') return this.#call(chainId, address, functionName, args)
        const results = []
        for (const { target, callData } of args[1]) {
          try {
            const call = decodeFunctionData({ abi: CHAIN_ABI, data: callData })
            const result = await this.#call(chainId, target, call.functionName, call.args ?? [])
            results.push({ success: true, returnData: encodeFunctionResult({ abi: CHAIN_ABI, functionName: call.functionName, result }) })
          } catch {
            results.push({ success: false, returnData: '0x' })
          }
        }
        return results
      },
      verifyTypedData: (params) => verifyTypedData(params),
      writeContract: offline,
      sendTransaction: offline,
      waitForTransactionReceipt: offline,
    }
  }

  async #call(chainId, address, fn, args) {
    const token = TOKENS.get(lower(address))
    const revert = (why) => {
      throw new Error(`execution reverted: ${why}`)
    }
    const now = BigInt(nowSeconds())
    switch (fn) {
      case 'name':
      case 'version':
        return token ? token[fn] : revert('not a token')
      case 'balanceOf':
        return this.balanceOf(address, args[0])
      case 'allowance':
        return MAX_UINT
      case 'authorizationState':
        return this.used.has(`${lower(address)}:${lower(args[0])}:${String(args[1]).toLowerCase()}`)
      case 'PERMIT2':
        return lower(address) === lower(x402ExactPermit2ProxyAddress) ? PERMIT2_ADDRESS : revert('no PERMIT2()')
      case 'transferWithAuthorization': {
        if (!token) revert('not a token')
        const [from, to, value, validAfter, validBefore, nonce] = args
        const signature = args.length === 7 ? args[6] : `${args[7]}${args[8].slice(2)}${(Number(args[6]) < 27 ? Number(args[6]) + 27 : Number(args[6])).toString(16)}`
        if (now <= validAfter) revert('authorization is not yet valid')
        if (now >= validBefore) revert('authorization is expired')
        if (this.used.has(`${lower(address)}:${lower(from)}:${nonce.toLowerCase()}`)) revert('authorization is used or canceled')
        if (this.balanceOf(address, from) < value) revert('transfer amount exceeds balance')
        const signer = await recoverTypedDataAddress({
          domain: { name: token.name, version: token.version, chainId, verifyingContract: getAddress(address) },
          types: authorizationTypes,
          primaryType: 'TransferWithAuthorization',
          message: { from, to, value, validAfter, validBefore, nonce },
          signature,
        })
        if (lower(signer) !== lower(from)) revert('invalid signature')
        return undefined
      }
      case 'settle': {
        if (lower(address) !== lower(x402ExactPermit2ProxyAddress)) revert('not the proxy')
        const [permit, owner, witness, signature] = args
        if (now > permit.deadline) revert('signature expired')
        if (now < witness.validAfter) revert('not yet valid')
        if (this.used.has(`permit2:${lower(owner)}:${permit.nonce}`)) revert('invalid nonce')
        if (this.balanceOf(permit.permitted.token, owner) < permit.permitted.amount) revert('transfer amount exceeds balance')
        const signer = await recoverTypedDataAddress({
          domain: { name: 'Permit2', chainId, verifyingContract: PERMIT2_ADDRESS },
          types: permit2WitnessTypes,
          primaryType: 'PermitWitnessTransferFrom',
          message: { permitted: permit.permitted, spender: x402ExactPermit2ProxyAddress, nonce: permit.nonce, deadline: permit.deadline, witness },
          signature,
        })
        if (lower(signer) !== lower(owner)) revert('invalid signer')
        return undefined
      }
      default:
        return revert(`the in-memory chain has no ${fn}()`)
    }
  }
}

const chainIdOf = (network) => (network.startsWith('eip155:') ? Number(network.slice(7)) : EVM_NETWORK_CHAIN_ID_MAP[network])

/** The official facilitator scheme's verdict on a payment (plain objects), on `chain`. */
async function officialVerify(payload, requirements, chain = new Chain()) {
  const signer = chain.signer(chainIdOf(requirements.network))
  const scheme = payload.x402Version === 1 ? new FacilitatorSchemeV1(signer) : new FacilitatorScheme(signer)
  return plain(await scheme.verify(plain(payload), plain(requirements)))
}

/** Runs `fn` with the clock (Date.now) at Unix time `at`; both SDKs' official code reads Date.now. */
async function at(unixSeconds, fn) {
  const real = Date.now
  Date.now = () => unixSeconds * 1000
  try {
    return await fn()
  } finally {
    Date.now = real
  }
}

// ---- the official resource server, with an in-process facilitator for its /supported
async function officialServer() {
  const facilitator = new x402Facilitator()
  registerFacilitator(facilitator, { signer: new Chain().signer(84532), networks: ['eip155:84532', 'eip155:8453', 'eip155:4326'] })
  const client = {
    verify: (p, r) => facilitator.verify(p, r),
    settle: (p, r) => facilitator.settle(p, r),
    getSupported: async () => facilitator.getSupported(),
  }
  const server = new x402ResourceServer(client)
  registerServer(server)
  await server.initialize()
  return server
}
const serverReady = officialServer()

/** A bill from the official server: {object, header} (v2), or the official v1 shape {object, body} (v1). */
async function officialBill({ network, price, v1Network, extra }) {
  if (v1Network) {
    // @x402/core 2.x only serves v2; a v1 bill is the SDK's PaymentRequiredV1 type, priced by its server scheme.
    const priced = await new ServerScheme().parsePrice(price, network)
    const object = {
      x402Version: 1,
      error: 'X-PAYMENT header is required',
      accepts: [{
        scheme: 'exact', network: v1Network, maxAmountRequired: priced.amount, resource: RESOURCE, description: 'Premium',
        mimeType: 'application/json', outputSchema: {}, payTo: PAY_TO, maxTimeoutSeconds: 300, asset: priced.asset, extra: priced.extra,
      }],
    }
    return { object, body: JSON.stringify(object), requirements: object.accepts[0] }
  }
  const server = await serverReady
  const accepts = await server.buildPaymentRequirements({ scheme: 'exact', network, price, payTo: PAY_TO, extra })
  const object = await server.createPaymentRequiredResponse(accepts, { url: RESOURCE, description: 'Premium', mimeType: 'application/json' })
  return { object, header: http.encodePaymentRequiredHeader(object), requirements: object.accepts[0] }
}

/** The official client's payment for a bill: {name, value, payload, address}. */
async function officialPay(wire, { key = generatePrivateKey(), select } = {}) {
  const account = privateKeyToAccount(key)
  const client = new x402HTTPClient(registerClient(select ? new x402Client(select) : new x402Client(), { signer: account }))
  const required = client.getPaymentRequiredResponse(
    (name) => (name.toLowerCase() === 'payment-required' ? wire.header ?? null : null),
    wire.body === undefined ? undefined : JSON.parse(wire.body),
  )
  const payload = plain(await client.createPaymentPayload(required))
  const [[name, value]] = Object.entries(client.encodePaymentSignatureHeader(payload))
  return { name, value, payload, address: account.address }
}

/** A bill paywire built: {bill, header|body} as it travels. */
function paywireBill(tags, version = 2) {
  const bill = buildPaymentRequired(RESOURCE, tags, { x402Version: version, description: 'Premium', mimeType: 'application/json' })
  return version === 2 ? { bill, header: bill.toHeader() } : { bill, body: bill.toJsonText() }
}

const wireOf = (b) => (b.header ? b.header : b.body)

function assertPaywireError(fn, code) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof PaywireError, `expected a PaywireError, got ${e}`)
    assert.equal(e.code, code, `paywire's code: ${e.message}`)
    return true
  })
}

// ---------------------------------------------------------------------------------------------------------

const OFFICIAL_BILLS = [
  { label: 'v2 Base Sepolia USDC (EIP-3009)', network: 'eip155:84532', price: '$0.01', method: 'eip3009' },
  { label: 'v2 Base USDC (EIP-3009)', network: 'eip155:8453', price: '$0.25', method: 'eip3009' },
  { label: 'v2 MegaETH MegaUSD (Permit2 by default)', network: 'eip155:4326', price: '$0.01', method: 'permit2' },
  { label: 'v2 Base Sepolia USDC, Permit2 offer', network: 'eip155:84532', price: '$0.02', method: 'permit2', extra: { assetTransferMethod: 'permit2' } },
  { label: 'v1 base-sepolia', network: 'eip155:84532', v1Network: 'base-sepolia', price: '$0.05', method: 'eip3009' },
  { label: 'v1 base', network: 'eip155:8453', v1Network: 'base', price: '$0.001', method: 'eip3009' },
]

describe('paywire pays bills of the official server; the official facilitator accepts', () => {
  for (const spec of OFFICIAL_BILLS) {
    test(spec.label, async () => {
      const official = await officialBill(spec)
      const version = spec.v1Network ? 1 : 2

      // paywire reads the official bill as the same object, and writes it back byte for byte.
      const bill = version === 2 ? PaymentRequired.fromHeader(official.header) : PaymentRequired.fromBody(official.body)
      assert.deepEqual(bill.toJSON(), plain(official.object))
      if (version === 2) assert.equal(bill.toHeader(), official.header)
      else assert.equal(bill.toJsonText(), official.body)

      const signer = LocalSigner.generate()
      const paid = await new Payer(signer).pay(wireOf(official))
      assert.equal(paid.name, version === 2 ? 'PAYMENT-SIGNATURE' : 'X-PAYMENT')
      assert.equal(paid.payer, signer.address)
      assert.equal(paid.offerIndex, 0)
      assert.equal(paid.amount, BigInt(official.requirements.amount ?? official.requirements.maxAmountRequired))
      const inner = paid.payload.toJSON().payload
      assert.ok(spec.method === 'permit2' ? inner.permit2Authorization : inner.authorization, `a ${spec.method} payment`)

      // The official decoder reads paywire's header as paywire's object; its encoder gives the same bytes.
      const decoded = http.decodePaymentSignatureHeader(paid.value)
      assert.deepEqual(decoded, paid.payload.toJSON())
      assert.equal(http.encodePaymentSignatureHeader(decoded), paid.value)

      if (version === 2) {
        // The official server matches the echoed offer to its own (a deep comparison).
        const server = await serverReady
        assert.deepEqual(server.findMatchingRequirements(official.object.accepts, decoded), official.requirements)
      }
      const verdict = await officialVerify(decoded, official.requirements)
      assert.deepEqual(verdict, { isValid: true, payer: signer.address }, `the official facilitator refused paywire's payment: ${JSON.stringify(verdict)}`)
    })
  }

  test('through the official resource server: verifyPayment via its facilitator', async () => {
    const official = await officialBill(OFFICIAL_BILLS[0])
    const signer = LocalSigner.generate()
    const paid = await new Payer(signer).pay(official.header)
    const server = await serverReady
    const verdict = plain(await server.verifyPayment(http.decodePaymentSignatureHeader(paid.value), official.requirements))
    assert.equal(verdict.isValid, true, JSON.stringify(verdict))
    assert.equal(verdict.payer, signer.address)
  })

  test('the in-memory chain decides: a spent nonce and an empty balance are refused', async () => {
    // A control for the stand-in chain: the verdicts above depend on it and on the payment.
    const official = await officialBill(OFFICIAL_BILLS[0])
    const signer = LocalSigner.generate()
    const paid = await new Payer(signer).pay(official.header)
    const { authorization } = paid.payload.toJSON().payload
    const spent = new Chain()
    spent.spend(official.requirements.asset, authorization.from, authorization.nonce)
    const reused = await officialVerify(paid.payload.toJSON(), official.requirements, spent)
    assert.equal(reused.isValid, false)
    assert.equal(reused.invalidReason, 'invalid_exact_evm_nonce_already_used')
    const poor = new Chain()
    poor.balances.set(`${lower(official.requirements.asset)}:${lower(signer.address)}`, 1n)
    const broke = await officialVerify(paid.payload.toJSON(), official.requirements, poor)
    assert.equal(broke.isValid, false)
    assert.equal(broke.invalidReason, 'invalid_exact_evm_insufficient_balance')
  })
})

// ---------------------------------------------------------------------------------------------------------

const PAYWIRE_BILLS = [
  { label: 'v2 Base Sepolia USDC (EIP-3009)', tag: { network: 'eip155:84532', price: '$0.01' }, method: 'eip3009' },
  { label: 'v2 Base USDC (EIP-3009)', tag: { network: 'eip155:8453', price: '$0.25' }, method: 'eip3009' },
  { label: 'v2 MegaETH MegaUSD (Permit2)', tag: { network: 'eip155:4326', price: '$0.01' }, method: 'permit2' },
  {
    label: 'v2 Base Sepolia USDC, Permit2 offer',
    tag: { network: 'eip155:84532', amount: 20000n, asset: BASE_SEPOLIA_USDC, eip712Name: 'USDC', eip712Version: '2', transferMethod: 'permit2' },
    method: 'permit2',
  },
  { label: 'v1 base-sepolia', tag: { network: 'base-sepolia', price: '$0.05' }, method: 'eip3009', version: 1 },
  { label: 'v1 base', tag: { network: 'base', price: '$0.001' }, method: 'eip3009', version: 1 },
]

describe('the official client pays bills paywire built; paywire accepts', () => {
  for (const spec of PAYWIRE_BILLS) {
    test(spec.label, async () => {
      const version = spec.version ?? 2
      const built = paywireBill([new PriceTag({ payTo: PAY_TO, ...spec.tag })], version)
      const { bill } = built
      if (spec.method === 'permit2') assert.equal(bill.accepts[0].extra.assetTransferMethod, 'permit2')

      // The official decoder reads paywire's bill as paywire's object, byte for byte.
      if (version === 2) {
        assert.deepEqual(http.decodePaymentRequiredHeader(built.header), bill.toJSON())
        assert.equal(http.encodePaymentRequiredHeader(http.decodePaymentRequiredHeader(built.header)), built.header)
      }

      const official = await officialPay(built)
      assert.equal(official.name, version === 2 ? 'PAYMENT-SIGNATURE' : 'X-PAYMENT')
      // A fetch Headers lower-cases the name: paywire reads it whatever its case.
      const payment = readPayment(new Headers({ [official.name]: official.value }))
      assert.ok(payment instanceof PaymentPayload)
      assert.deepEqual(payment.toJSON(), official.payload)
      assert.equal(payment.toHeader(), official.value)

      const accepted = checkPayment(bill, payment)
      assert.equal(accepted.offerIndex, 0)
      assert.ok(accepted.requirements.equals(bill.accepts[0]))
      assert.equal(accepted.verified.payer, official.address)
      assert.equal(accepted.verified.fullyVerified, true)
      assert.equal(accepted.verified.method, spec.method)
      assert.equal(accepted.verified.amount, bill.accepts[0].amount)
      assert.equal(accepted.verified.payTo, PAY_TO)
      assert.equal(verifyToResponse(payment, bill.accepts[0]).isValid, true)
      // The header value (or the payment's JSON text) stands for the payment wherever one is taken.
      for (const text of [official.value, JSON.stringify(official.payload)]) {
        const again = checkPayment(bill, text)
        assert.equal(again.payment.rawJson, payment.rawJson)
        assert.equal(again.verified.payer, official.address)
        assert.equal(verifyPayment(text, bill.accepts[0]).payer, official.address)
        assert.equal(verifyToResponse(text, bill.accepts[0]).isValid, true)
      }
      assertPaywireError(() => checkPayment(bill, 'not base64!'), 'header_invalid_base64')
      assertPaywireError(() => verifyToResponse('{"x402Version":2}', bill.accepts[0]), 'invalid_payload')

      // The official facilitator agrees on the same payment against paywire's offer.
      const verdict = await officialVerify(official.payload, bill.accepts[0].toJSON())
      assert.deepEqual(verdict, { isValid: true, payer: official.address })
    })
  }

  test('a bill of two offers: the official client picks the second, paywire matches it', async () => {
    const built = paywireBill([
      new PriceTag({ network: 'eip155:8453', payTo: PAY_TO, price: '$0.02' }),
      new PriceTag({ network: 'eip155:84532', payTo: PAY_TO, price: '$0.01' }),
    ])
    const official = await officialPay(built, { select: (_, reqs) => reqs.find((r) => r.network === 'eip155:84532') })
    const accepted = checkPayment(built.bill, readPayment({ [official.name]: official.value }))
    assert.equal(accepted.offerIndex, 1)
    assert.equal(accepted.verified.chainId, 84532)
    assert.equal(accepted.verified.amount, 10000n)
  })

  test('settlement headers: each side decodes the other', () => {
    const settle = { success: true, transaction: `0x${'ab'.repeat(32)}`, network: 'eip155:84532', payer: OTHER }
    const theirs = http.encodePaymentResponseHeader(settle)
    const read = readSettlement({ 'PAYMENT-RESPONSE': theirs })
    assert.equal(read.success, true)
    assert.equal(read.transaction, settle.transaction)
    assert.equal(read.network, settle.network)
    assert.equal(read.payer, OTHER)
    const [name, ours] = settlementHeader(2, SettleResponse.fromJson(JSON.stringify(settle)))
    assert.equal(name, 'PAYMENT-RESPONSE')
    assert.deepEqual(http.decodePaymentResponseHeader(ours), settle)
  })
})

// ---------------------------------------------------------------------------------------------------------

const METHODS = {
  eip3009: { tag: { network: 'eip155:84532', price: '$0.01' } },
  permit2: { tag: { network: 'eip155:4326', price: '$0.01' } },
}
const authOf = (p) => p.payload.authorization ?? p.payload.permit2Authorization

// Each tamper edits a signed field of the payment (the offer echoed in `accepted` stays as it was).
const TAMPERS = {
  amount: (p) => {
    const a = authOf(p)
    if (a.permitted) a.permitted.amount = String(BigInt(a.permitted.amount) + 1n)
    else a.value = String(BigInt(a.value) + 1n)
  },
  payTo: (p) => {
    const a = authOf(p)
    ;(a.witness ?? a).to = OTHER
  },
  validBefore: (p) => {
    const a = authOf(p)
    if ('deadline' in a) a.deadline = String(BigInt(a.deadline) + 3600n)
    else a.validBefore = String(BigInt(a.validBefore) + 3600n)
  },
  signature: (p) => {
    // Another valid-looking signature: s flipped in its last byte.
    const s = p.payload.signature
    p.payload.signature = `${s.slice(0, 126)}${(parseInt(s.slice(126, 128), 16) ^ 1).toString(16).padStart(2, '0')}${s.slice(128)}`
  },
}

// Two reasons are worded differently by the official SDKs: the TypeScript SDK 2.27 says
// `invalid_exact_evm_signature` and `invalid_exact_evm_recipient_mismatch` where the Python SDK 2.25 (and
// paywire) say `invalid_exact_evm_payload_signature` and `invalid_exact_evm_payload_recipient_mismatch`.
const TS_WORDING = {
  invalid_exact_evm_payload_signature: 'invalid_exact_evm_signature',
  invalid_exact_evm_payload_recipient_mismatch: 'invalid_exact_evm_recipient_mismatch',
}
const inTsWords = (reason) => TS_WORDING[reason] ?? reason

// What each side answers for a tampered payment. The official EIP-3009 check recovers the signer first, so
// every edit there is a bad signature; its Permit2 check compares the fields first.
const EXPECTED = {
  eip3009: {
    official: {
      amount: 'invalid_exact_evm_signature',
      payTo: 'invalid_exact_evm_signature',
      validBefore: 'invalid_exact_evm_signature',
      signature: 'invalid_exact_evm_signature',
    },
    paywire: {
      amount: 'invalid_exact_evm_payload_authorization_value_mismatch',
      payTo: 'invalid_exact_evm_payload_recipient_mismatch',
      validBefore: 'invalid_exact_evm_payload_signature',
      signature: 'invalid_exact_evm_payload_signature',
    },
  },
  permit2: {
    official: {
      amount: 'permit2_amount_mismatch',
      payTo: 'invalid_permit2_recipient_mismatch',
      validBefore: 'invalid_permit2_signature',
      signature: 'invalid_permit2_signature',
    },
    paywire: {
      amount: 'permit2_amount_mismatch',
      payTo: 'invalid_permit2_recipient_mismatch',
      validBefore: 'invalid_permit2_signature',
      signature: 'invalid_permit2_signature',
    },
  },
}

async function paymentFrom(producer, built) {
  if (producer === 'official client') return (await officialPay(built)).payload
  return (await new Payer(LocalSigner.generate()).pay(built.header)).payload.toJSON()
}

describe('tampered payments are refused by both', () => {
  for (const [method, { tag }] of Object.entries(METHODS)) {
    for (const producer of ['paywire', 'official client']) {
      for (const [field, tamper] of Object.entries(TAMPERS)) {
        test(`${method}, paid by ${producer}: ${field} changed`, async () => {
          const built = paywireBill([new PriceTag({ payTo: PAY_TO, ...tag })])
          const requirements = built.bill.accepts[0]
          const genuine = await paymentFrom(producer, built)
          // The untouched payment passes both, so each refusal below is the tamper's doing.
          assert.equal((await officialVerify(genuine, requirements.toJSON())).isValid, true)
          checkPayment(built.bill, PaymentPayload.fromJson(JSON.stringify(genuine)))

          const bad = structuredClone(genuine)
          tamper(bad)
          const official = await officialVerify(bad, requirements.toJSON())
          assert.equal(official.isValid, false, `the official facilitator accepted a changed ${field}`)
          assert.equal(official.invalidReason, EXPECTED[method].official[field])

          const payment = PaymentPayload.fromJson(JSON.stringify(bad))
          const code = EXPECTED[method].paywire[field]
          assertPaywireError(() => checkPayment(built.bill, payment), code)
          const ours = verifyToResponse(payment, requirements)
          assert.equal(ours.isValid, false)
          assert.equal(ours.invalidReason, code)
          assert.ok(errorCodes().includes(code))
        })
      }
    }
  }
})

describe('payments validly signed for other terms are refused by both, for the same reason', () => {
  const REASONS = {
    eip3009: {
      payTo: 'invalid_exact_evm_payload_recipient_mismatch',
      amount: 'invalid_exact_evm_payload_authorization_value_mismatch',
      expired: 'invalid_exact_evm_payload_authorization_valid_before',
    },
    permit2: { payTo: 'invalid_permit2_recipient_mismatch', amount: 'permit2_amount_mismatch', expired: 'permit2_deadline_expired' },
  }
  for (const [method, { tag }] of Object.entries(METHODS)) {
    for (const producer of ['paywire', 'official client']) {
      test(`${method}, paid by ${producer}: another payee, a lower amount, an expired payment`, async () => {
        const real = paywireBill([new PriceTag({ payTo: PAY_TO, ...tag })])
        const requirements = real.bill.accepts[0]
        const cases = {
          payTo: paywireBill([new PriceTag({ ...tag, payTo: OTHER })]),
          amount: paywireBill([new PriceTag({ ...tag, payTo: PAY_TO, price: '$0.009' })]),
        }
        for (const [what, other] of Object.entries(cases)) {
          const payload = await paymentFrom(producer, other)
          const official = await officialVerify(payload, requirements.toJSON())
          assert.equal(official.isValid, false)
          assert.equal(official.invalidReason, inTsWords(REASONS[method][what]), `official, ${what}`)
          const payment = PaymentPayload.fromJson(JSON.stringify(payload))
          assertPaywireError(() => verifyPayment(payment, requirements), REASONS[method][what])
          // Its echoed offer is not one of the real bill's: checkPayment finds nothing to match.
          assertPaywireError(() => checkPayment(real.bill, payment), 'no_matching_payment_requirements')
        }

        // A genuine payment, checked after it expired.
        const payload = await paymentFrom(producer, real)
        const a = authOf(payload)
        const after = Number(a.validBefore ?? a.deadline) + 1
        const official = await at(after, () => officialVerify(payload, requirements.toJSON()))
        assert.equal(official.isValid, false)
        assert.equal(official.invalidReason, inTsWords(REASONS[method].expired))
        const payment = PaymentPayload.fromJson(JSON.stringify(payload))
        assertPaywireError(() => checkPayment(real.bill, payment, { now: after }), REASONS[method].expired)
        assert.equal(checkPayment(real.bill, payment).verified.payer, getAddress(a.from))
      })
    }
  }
})
