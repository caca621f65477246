// The runners of every file of tests/vectors/ (formats: tests/vectors/README.md), over a library: the package
// (the native core, vectors.test.mjs) or its WebAssembly build (wasm.test.mjs). The Rust runner
// (core/tests/vectors.rs) and the Python suite (python/tests/test_vectors.py) run the same files.

import assert from 'node:assert/strict'

import { runClient, runGate, runRoutes } from './exchange-vectors.mjs'

const CATEGORIES = ['malformed_input', 'refused', 'configuration', 'local', 'upstream']

/** The runner of each vector file, by file name, calling `lib`'s names. */
export function vectorRunners(lib) {
  const {
    Issuer, LocalSigner, Payer, PaymentPayload, PaymentRequired, PaymentRequirements, PaywireError, Policy, PriceTag, SettleResponse, SignedOffer, SignedReceipt, chainId, decode, decodeHeaderJson, decodeHeaderText, encodeJsonText, knownAssets, readPayment, readSettlement, recoverAddress, toCaip2, typedDataHashes, verifyPayment, verifyToResponse,
  } = lib
  const hex = (b) => `0x${Buffer.from(b).toString('hex')}`
  // A plain Uint8Array, as the API documents, not a Buffer.
  const bytes = (h) => new Uint8Array(Buffer.from(h.replace(/^0x/, ''), 'hex'))

  function checkError(err, expectedCode) {
    assert.ok(err instanceof PaywireError, `expected a PaywireError [${expectedCode}], got ${err?.stack ?? err}`)
    assert.equal(err.code, expectedCode, String(err))
    assert.ok(err.message, 'the error has no message')
    assert.ok(CATEGORIES.includes(err.category), `unknown category ${err.category}`)
    return err
  }

  function expectError(expectedCode, call) {
    let result
    try {
      result = call()
    } catch (err) {
      return checkError(err, expectedCode)
    }
    assert.fail(`expected ${expectedCode}, but the call returned ${result}`)
  }

  async function expectRejection(expectedCode, call) {
    let result
    try {
      result = await call()
    } catch (err) {
      return checkError(err, expectedCode)
    }
    assert.fail(`expected ${expectedCode}, but the call resolved to ${result}`)
  }

  const billOf = (wire) => ('header' in wire ? PaymentRequired.fromHeader(wire.header) : PaymentRequired.fromBody(wire.body))

  function runHeaders(c) {
    const { value, jsonText } = c
    assert.equal(decodeHeaderText(value), jsonText)
    assert.deepEqual(decodeHeaderJson(value), c.json)
    assert.equal(encodeJsonText(jsonText), value)
    assert.equal(decode(value).message, c.message)
    // Detached on purpose: the statics must not depend on `this` (napi-rs factories did).
    const parse = {
      PaymentRequired: PaymentRequired.fromHeader,
      PaymentPayload: PaymentPayload.fromHeader,
      SettleResponse: SettleResponse.fromHeader,
    }[c.message]
    assert.ok(parse, `unknown message ${c.message}`)
    const message = parse(value)
    if (c.message !== 'SettleResponse') assert.equal(message.toHeader(), value, 're-encoding changed the bytes')
  }

  function runResponses(c) {
    const headers = c.headers.map(([name, value]) => [name, value])
    const body = new TextEncoder().encode(c.body)
    const expect = c.expect
    const read = () => {
      switch (c.read) {
        case 'paymentRequired': {
          const bill = PaymentRequired.fromResponse(headers, body)
          return [bill.x402Version, JSON.parse(bill.toJsonText())]
        }
        case 'payment': {
          const payment = readPayment(headers)
          return payment === null ? null : [payment.x402Version, payment.toJSON()]
        }
        case 'settlement': {
          const settlement = readSettlement(headers)
          return settlement === null ? null : [null, settlement.toJSON()]
        }
        default:
          throw new Error(`unknown read ${c.read}`)
      }
    }
    if ('error' in expect) {
      expectError(expect.error, read)
    } else if ('none' in expect) {
      assert.equal(read(), null)
    } else {
      const got = read()
      assert.notEqual(got, null, 'nothing was read')
      const [version, json] = got
      if ('x402Version' in expect) assert.equal(version, expect.x402Version)
      assert.deepEqual(json, expect.json)
    }
  }

  function runNetworks(c) {
    const expect = c.expect
    if ('error' in expect) {
      expectError(expect.error, () => chainId(c.network))
    } else {
      assert.equal(chainId(c.network), expect.chainId)
      assert.equal(toCaip2(c.network), expect.caip2)
    }
  }

  const typed = (domain, primaryType, message) => typedDataHashes({ domain, primaryType, message })

  function runAssets(c, index) {
    const ours = knownAssets()[index]
    const theirs = c.asset
    assert.ok(ours, `the asset table has no entry ${index}`)
    assert.equal(ours.chainId, chainId(theirs.network), 'table order differs')
    for (const key of ['address', 'eip712Name', 'eip712Version', 'decimals', 'symbol', 'transferMethod', 'supportsEip2612']) {
      assert.equal(ours[key], theirs[key], key)
    }
    const domain = {
      name: ours.eip712Name,
      version: ours.eip712Version,
      chainId: ours.chainId,
      verifyingContract: ours.address,
    }
    const transfer = c.transfer
    const hashes = typed(domain, 'TransferWithAuthorization', transfer.message)
    assert.equal(hex(hashes.domainSeparator), c.domainSeparator)
    assert.equal(hex(hashes.digest), transfer.digest)
    assert.equal(hex(new LocalSigner(transfer.key).signDigest(hashes.digest)), transfer.signature)
  }

  function runTypedData(c) {
    const hashes = typed(c.domain, c.primaryType, c.message)
    assert.equal(hex(hashes.domainSeparator), c.domainSeparator)
    assert.equal(hex(hashes.digest), c.digest)
    assert.equal(recoverAddress(hashes.digest, bytes(c.signature)), c.signer)
    if ('key' in c) assert.equal(hex(new LocalSigner(c.key).signDigest(hashes.digest)), c.signature)
  }

  function runMoney(c) {
    // As in every binding, a tag that cannot make an offer is refused when it is made.
    const offerOf = () => new PriceTag({ network: c.network, payTo: c.payTo, price: c.price }).toRequirements('https://example.com/r', 2)
    const expect = c.expect
    if ('error' in expect) {
      expectError(expect.error, offerOf)
      return
    }
    const offer = offerOf()
    assert.equal(typeof offer.amount, 'bigint')
    assert.equal(offer.amount.toString(), expect.amount)
    assert.equal(offer.asset, expect.asset)
    assert.deepEqual(offer.extra ?? {}, expect.extra)
  }

  async function runPayments(c) {
    const payer = new Payer(new LocalSigner(c.key), undefined, {
      expiryMargin: c.expiryMargin,
      clock: c.now,
      randomness: bytes(c.nonce),
    })
    const eip2612Nonce = 'eip2612Nonce' in c ? BigInt(c.eip2612Nonce) : undefined
    const header = await payer.pay(billOf(c.bill), undefined, { eip2612Nonce })
    const expect = c.expect
    assert.equal(header.offerIndex, expect.offerIndex)
    assert.equal(header.name, expect.headerName)
    assert.equal(header.value, expect.headerValue, "paywire's header differs from @x402/core's")
  }

  async function runSelection(c) {
    const payer = new Payer(new LocalSigner(c.key), new Policy(c.policy), {
      clock: c.now,
      randomness: bytes(c.nonce),
    })
    for (const [i, step] of c.steps.entries()) {
      const bill = billOf(step.bill)
      const expect = step.expect
      if ('index' in expect) {
        assert.equal((await payer.pay(bill)).offerIndex, expect.index, `step ${i}`)
      } else {
        const err = await expectRejection(expect.error, () => payer.pay(bill))
        assert.deepEqual(err.refusals.map((r) => r.index), expect.refused, `step ${i}`)
      }
    }
  }

  function runVerification(c) {
    const payment = PaymentPayload.fromHeader(c.payment)
    const requirements = PaymentRequirements.fromJson(JSON.stringify(c.requirements))
    const options = { now: c.now }
    const verdict = verifyToResponse(payment, requirements, options)
    const expect = c.expect
    assert.equal(verdict.isValid, expect.isValid, verdict.invalidMessage ?? undefined)
    assert.equal(verdict.invalidReason, expect.invalidReason ?? null)
    assert.equal(verdict.payer, expect.payer)
    // The throwing form agrees with the verdict.
    if (expect.isValid) {
      assert.equal(verifyPayment(payment, requirements, options).payer, expect.payer)
    } else {
      const err = expectError(expect.invalidReason, () => verifyPayment(payment, requirements, options))
      assert.equal(err.payer, expect.payer)
    }
  }

  function runCredentials(c) {
    const issuer = new Issuer(new LocalSigner(c.key), c.format)
    assert.equal(issuer.address, c.signer)
    assert.equal(issuer.kid, c.kid)
    const given = c.input
    if (c.kind === 'offer') {
      const requirements = PaymentRequirements.fromJson(JSON.stringify({ ...given.requirements, maxTimeoutSeconds: 60 }))
      const ours = issuer.issueOffer(requirements, given.resourceUrl, given.acceptIndex, given.validUntil)
      assert.deepEqual(ours.toJSON(), c.expect)
      const official = SignedOffer.fromObject(c.expect)
      assert.equal(official.verify([c.signer], given.validUntil).signer, c.signer)
      assert.equal(official.describes(requirements), true)
    } else if (c.kind === 'receipt') {
      const ours = issuer.issueReceipt(given.resourceUrl, given.payer, given.network, given.transaction ?? null, given.issuedAt)
      assert.deepEqual(ours.toJSON(), c.expect)
      const verified = SignedReceipt.fromObject(c.expect).verify([c.signer])
      assert.equal(verified.signer, c.signer)
      assert.equal(verified.payload.payer, given.payer)
      // A receipt without a transaction states an empty one.
      assert.equal(verified.payload.transaction || null, given.transaction ?? null)
    } else {
      assert.fail(`unknown kind ${c.kind}`)
    }
  }

  function runMalformed(c) {
    const parse = {
      header: decodeHeaderJson,
      paymentRequired: PaymentRequired.fromHeader,
      payment: PaymentPayload.fromHeader,
      settleResponse: SettleResponse.fromHeader,
    }[c.kind]
    assert.ok(parse, `unknown kind ${c.kind}`)
    expectError(c.error, () => parse(c.input))
  }

  return {
    headers: runHeaders,
    responses: runResponses,
    networks: runNetworks,
    assets: runAssets,
    typed_data: runTypedData,
    money: runMoney,
    payments: runPayments,
    selection: runSelection,
    verification: runVerification,
    credentials: runCredentials,
    malformed: runMalformed,
    routes: (c) => runRoutes(c, lib),
    gate: (c) => runGate(c, lib),
    client: (c) => runClient(c, lib),
  }
}
