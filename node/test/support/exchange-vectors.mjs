// Runners of the exchange vectors (routes.json, gate.json, client.json) through the Node binding's machines:
// Gate/Exchange and PaidFetch, move by move (formats: tests/vectors/README.md).

import assert from 'node:assert/strict'

import { Gate, LocalSigner, Payer, PaidFetch, Policy, PriceTag, PricedRoute, SettleResponse, VerifyResponse, decodeHeaderJson } from 'paywire'

/** The package's names the runners use; the WebAssembly build (`paywire/wasm`) passes its own. */
const NATIVE = { Gate, LocalSigner, Payer, PaidFetch, Policy, PriceTag, PricedRoute, SettleResponse, VerifyResponse, decodeHeaderJson }

const enc = (s) => new TextEncoder().encode(s)
const dec = (b) => new TextDecoder().decode(b)
const header = (headers, name) => (headers ?? []).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1] ?? null

export function runRoutes(c, lib = NATIVE) {
  const { Gate, PriceTag, PricedRoute } = lib
  const tag = new PriceTag({ network: 'eip155:84532', payTo: '0x209693Bc6afc0C5328bA36FaF03C514EF312287C', price: '$0.01' })
  const gate = new Gate(c.patterns.map((p) => new PricedRoute([tag], p)), { caseSensitive: c.caseSensitive })
  for (const [method, path, index] of c.priced) assert.equal(gate.routeFor(method, path), index, `${method} ${path} must be priced`)
  for (const [method, path] of c.free) assert.equal(gate.routeFor(method, path), null, `${method} ${path} must be free`)
  for (const [method, pattern, index] of c.framework) {
    assert.equal(gate.routeFor(method, '/\u0000unmatched', { pattern }), index, `framework route ${method} ${pattern}`)
  }
}

function gateOf(config, lib) {
  const { Gate, PriceTag, PricedRoute } = lib
  const routes = config.routes.map((r) => new PricedRoute(
    r.tags.map((t) => new PriceTag({ network: t.network, payTo: t.payTo, price: t.price })),
    r.pattern,
    { x402Version: r.x402Version },
  ))
  return new Gate(routes, {
    maxRequestBytes: config.maxRequestBytes,
    maxReplayBytes: config.maxReplayBytes,
    externalStore: config.externalStore ?? false,
    hooks: (config.hooks ?? []).map(camel),
    signIn: config.signIn ?? undefined,
  })
}

/** A bill's sign-in-with-x declaration: its info (but the random nonce), the nonce's form, its chains. */
function checkSiwx(label, bill, want) {
  const declared = bill.extensions['sign-in-with-x']
  for (const k of ['domain', 'uri', 'issuedAt', 'resources']) assert.deepEqual(declared.info[k], want[k], `${label}: sign-in info member ${k}`)
  assert.equal(declared.info.version, '1', label)
  assert.match(declared.info.nonce, /^[A-Za-z0-9]{16,}$/, `${label}: nonce`)
  assert.deepEqual(declared.supportedChains.map((c) => c.chainId), want.chains, `${label}: sign-in chains`)
  assert.ok(declared.supportedChains.every((c) => c.type === 'eip191'), label)
  assert.equal(typeof declared.schema, 'object', `${label}: the schema`)
}

/** A snake-case hook name (as the vectors spell it) in camel case (as JavaScript does). */
const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase())

/** A `hooked` input as `feedHooked` takes it. */
function verdict(hooked) {
  if (hooked.abort) return { abort: hooked.abort.reason, message: hooked.abort.message }
  if (hooked.failed != null) return { failed: hooked.failed }
  return undefined
}

/** Whether `got` is `want`, an object matching by the members `want` names. */
function matches(got, want) {
  if (want !== null && typeof want === 'object' && !Array.isArray(want)) {
    return got !== null && typeof got === 'object' && Object.entries(want).every(([k, v]) => matches(got[k], v))
  }
  return JSON.stringify(got) === JSON.stringify(want)
}

function checkHook(label, step, e) {
  assert.equal(step.hookPoint, camel(e.point), `${label}: hook point`)
  const context = step.hookContext
  for (const [k, v] of Object.entries(e.context ?? {})) {
    assert.ok(matches(context[k], v), `${label}: hook context member ${k} in ${JSON.stringify(context)}`)
  }
  for (const k of e.contextKeys ?? []) assert.ok(context[k] != null, `${label}: hook context lacks ${k}`)
}

function feedGate(exchange, value, lib) {
  const { SettleResponse, VerifyResponse } = lib
  if ('body' in value) return exchange.feedBody(enc(value.body))
  if (value.bodyTooLarge) return exchange.feedBodyTooLarge()
  if (value.clientGone) return exchange.feedClientGone()
  if (value.verified) return exchange.feedVerified(VerifyResponse.fromJson(JSON.stringify(value.verified)))
  if (value.settled) return exchange.feedSettled(SettleResponse.fromJson(JSON.stringify(value.settled)))
  if (value.facilitatorFailed) return exchange.feedFacilitatorFailed(value.facilitatorFailed.message, value.facilitatorFailed.code)
  if (value.handled) return exchange.feedHandled(value.handled.status, value.handled.headers, enc(value.handled.body))
  if (value.handlerFailed) return exchange.feedHandlerFailed()
  if (value.hooked) return exchange.feedHooked(verdict(value.hooked))
  const store = value.store
  if ('entry' in store) return exchange.feedStore({})
  if ('replaced' in store) return exchange.feedStore({ replaced: store.replaced })
  if ('released' in store) return exchange.feedStore({})
  return exchange.feedStoreFailed(store.failed)
}

function checkHeaders(label, headers, e) {
  for (const [k, v] of Object.entries(e.headers ?? {})) assert.equal(header(headers, k), v, `${label}: header ${k}`)
  for (const k of e.absentHeaders ?? []) assert.equal(header(headers, k), null, `${label}: header ${k} must be absent`)
}

function checkStep(label, step, e, lib) {
  const { decodeHeaderJson } = lib
  assert.equal(step.kind, e.action, `${label}: ${step.kind}`)
  if ('shielded' in e) assert.equal(step.shielded, e.shielded, `${label}: shielded`)
  for (const text of e.logs ?? []) assert.ok(step.logs.some(([, m]) => m.includes(text)), `${label}: no log line with ${text}`)
  if (step.kind === 'readBody') assert.equal(step.limit, e.limit, label)
  if (step.kind === 'runHandler' && e.payer) assert.equal(step.payer, e.payer, label)
  if (step.kind === 'hook') checkHook(label, step, e)
  if (step.kind === 'store') {
    assert.equal(step.op, e.op, label)
    if (e.keyPrefix) assert.ok(step.key.startsWith(e.keyPrefix), `${label}: ${step.key}`)
    if (e.state) assert.equal(step.state, e.state, label)
  }
  if (step.kind === 'respond') {
    const headers = step.headers
    const body = step.body
    assert.equal(step.status, e.status, `${label}: ${dec(body)}`)
    checkHeaders(label, headers, e)
    if ('body' in e) assert.equal(dec(body), e.body, label)
    for (const [k, v] of Object.entries(e.json ?? {})) assert.deepEqual(JSON.parse(dec(body))[k], v, `${label}: body member ${k}`)
    if (e.bill) {
      const h = header(headers, 'payment-required')
      assert.deepEqual(h ? decodeHeaderJson(h) : JSON.parse(dec(body)), e.bill, `${label}: the bill`)
    }
    if (e.siwx) checkSiwx(label, decodeHeaderJson(header(headers, 'payment-required')), e.siwx)
    if (e.settlement) {
      const value = header(headers, 'payment-response') ?? header(headers, 'x-payment-response')
      assert.ok(value, `${label}: no settlement header`)
      const decoded = decodeHeaderJson(value)
      for (const [k, v] of Object.entries(e.settlement)) assert.deepEqual(decoded[k], v, `${label}: settlement member ${k}`)
    }
  }
}

export function runGate(c, lib = NATIVE) {
  const gate = gateOf(c.gate, lib)
  const exchanges = new Map()
  c.moves.forEach((m, i) => {
    const label = `${c.name} (move ${i})`
    let step
    if (m.start) {
      const started = gate.handle({ ...m.request }, undefined, m.now)
      const exchange = started.takeExchange()
      if (exchange) exchanges.set(m.start, exchange)
      step = started.takeStep()
    } else if (m.feed) {
      step = feedGate(exchanges.get(m.feed), m.input, lib)
    } else {
      step = exchanges.get(m.cancel).cancel()
    }
    checkStep(label, step, m.expect, lib)
  })
}

function checkFetch(label, step, e) {
  assert.equal(step.kind, e.action, `${label}: ${step.kind}`)
  if (step.kind === 'send') {
    assert.equal(step.method, e.method, label)
    assert.equal(step.url, e.url, label)
    checkHeaders(label, step.headers, e)
    if (e.body !== undefined && e.body !== null) assert.equal(dec(step.body), e.body, label)
    if (e.noBody) assert.equal(step.body ?? null, null, label)
    if (e.own !== undefined) assert.equal(step.own, e.own, `${label}: own`)
  } else if (step.kind === 'sign') {
    assert.equal(step.digests.length, e.digests, label)
  } else if (step.kind === 'hook') {
    checkHook(label, step, e)
  } else if (step.kind === 'fail') {
    assert.equal(step.error.code, e.error, label)
  } else if (step.kind === 'done' || step.kind === 'raise') {
    if ('paid' in e) assert.equal(step.payment != null, e.paid, `${label}: paid`)
    if ('open' in e) assert.equal(step.open, e.open, `${label}: open`)
    if ('paidStatus' in e) assert.equal(step.paidStatus, e.paidStatus, `${label}: paidStatus`)
    if ('reused' in e) assert.equal(step.payment.reused, e.reused, `${label}: reused`)
    if ('bodyRead' in e) assert.equal(step.bodyRead, e.bodyRead, `${label}: bodyRead`)
    if ('signedIn' in e) assert.equal(step.signedIn, e.signedIn, `${label}: signedIn`)
    if ('passUsed' in e) assert.equal(step.passUsed, e.passUsed, `${label}: passUsed`)
    if ('unpaid' in e) assert.equal(step.unpaid?.code, e.unpaid, `${label}: unpaid`)
    if (e.settlement) {
      const got = JSON.parse(step.settlement.toJsonText())
      for (const [k, v] of Object.entries(e.settlement)) assert.deepEqual(got[k], v, `${label}: settlement member ${k}`)
    }
  }
}

/** Runs a client.json case through `lib`: the package (the native core) or its WebAssembly build. */
export function runClient(c, lib = NATIVE) {
  const p = c.payer
  const signer = new lib.LocalSigner(p.key)
  const policy = p.policy ? new lib.Policy(p.policy) : undefined
  const payer = new lib.Payer(signer, policy, {
    expiryMargin: p.expiryMargin,
    clock: p.now,
    randomness: Uint8Array.from(Buffer.from(p.nonce.slice(2), 'hex')),
  })
  const o = c.options
  const options = { followRedirects: o.followRedirects, maxRedirects: o.maxRedirects, alreadyPaid: o.alreadyPaid, signInline: o.signInline, hooks: (o.hooks ?? []).map(camel), signIn: o.signIn, passFacilitators: o.passFacilitators }
  const calls = new Map()
  c.moves.forEach((m, i) => {
    const label = `${c.name} (move ${i})`
    let step
    if (m.start) {
      const r = m.request
      const started = lib.PaidFetch.start(payer, { method: r.method, url: r.url, headers: r.headers ?? [], body: r.body === undefined ? undefined : enc(r.body) }, options)
      calls.set(m.start, { call: started.takeCall(), last: null })
      step = started.takeStep()
      calls.get(m.start).last = step
    } else {
      const entry = calls.get(m.feed)
      const v = m.input
      if (v.response) step = entry.call.feedResponse(v.response.status, v.response.headers)
      else if ('body' in v) step = entry.call.feedBody(enc(v.body))
      else if (v.sendFailed) step = entry.call.feedSendFailed()
      else if (v.hooked) step = entry.call.feedHooked(verdict(v.hooked))
      else step = entry.call.feedSignatures(entry.last.digests.map((d) => signer.signDigest(d)))
      entry.last = step
    }
    checkFetch(label, step, m.expect)
  })
}
