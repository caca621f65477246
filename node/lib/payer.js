'use strict'
// The paying side's JS layer: any signer (sync or async), policies with bigints, and viem accounts.

const core = require('./core')
const { PaywireError } = require('./errors')

/** The key of a Payer's native side, for the glue. */
const NATIVE = Symbol('paywire.native')

/** Policy options as the core reads them: bigints become decimal strings, `maxPerPayment: null` no cap. */
function policyDocument(options) {
  const plain = (value) => {
    if (typeof value === 'bigint') return value.toString()
    if (Array.isArray(value)) return value.map(plain)
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, plain(v)]))
    }
    return value
  }
  const doc = plain(options ?? {})
  if (doc.maxPerPayment === null) doc.maxPerPayment = 'none'
  if (typeof doc.maxAmount === 'number') doc.maxAmount = String(doc.maxAmount)
  for (const asset of doc.allowedAssets ?? []) {
    for (const key of ['maxPerPayment', 'budget']) if (typeof asset[key] === 'number') asset[key] = String(asset[key])
  }
  return doc
}

/**
 * What a payer may pay (default: known stablecoins only, at most $1 per payment). Options: `networks`,
 * `prefer` (chain ids or network names), `payTo`, `maxPerPayment` (USD such as "$0.05"; `null` for no cap),
 * `budget` (USD), `maxAmount` (atomic units), `maxValiditySeconds`, `allowKnownAssets`, `allowAnyAsset`,
 * `allowedAssets` (`{chainId, address, maxPerPayment, budget}` in atomic units).
 */
const NativePolicy = core.Policy
function Policy(options) {
  if (!new.target) throw new TypeError("Class constructor Policy cannot be invoked without 'new'")
  return new NativePolicy(policyDocument(options))
}
Policy.prototype = NativePolicy.prototype
Object.defineProperty(Policy, 'name', { value: 'Policy' })

const isThenable = (v) => v != null && typeof v.then === 'function'

// Hex without Buffer, so the glue also runs in browsers and edge runtimes.
const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
const fromHex = (hex) => Uint8Array.from(hex.match(/../g) ?? [], (h) => Number.parseInt(h, 16))

function signatureBytes(sig) {
  if (sig instanceof Uint8Array) return sig
  if (typeof sig === 'string' && /^(0x)?[0-9a-fA-F]*$/.test(sig)) return fromHex(sig.replace(/^0x/, ''))
  throw new PaywireError('signer_failed', 'the signer must return the 65-byte signature as a Uint8Array or a 0x hex string')
}

function signerFailed(e) {
  if (e instanceof PaywireError) return e
  return new PaywireError('signer_failed', `the signer failed: ${e?.message ? e.message : String(e)}`, { cause: e })
}

/**
 * Pays bills under a policy, signing at most one live payment per purchase. `signer` is a `LocalSigner`,
 * or any object with `address` and `signDigest(digest: Uint8Array)` returning (or resolving to) 65 bytes
 * `r || s || v`; see `fromViemAccount` for viem accounts. Options: `expiryMargin`, `maxRemembered`, and for
 * tests `clock` (a Unix time, or a function returning one) and `randomness` (bytes consumed in order).
 */
class Payer {
  #native
  #signer
  #clock
  #local

  constructor(signer, policy, options = {}) {
    if (signer == null || typeof signer !== 'object') {
      throw new PaywireError('invalid_argument', 'a Payer needs a signer: a LocalSigner or an object with address and signDigest()')
    }
    const local = signer instanceof core.LocalSigner
    if (!local && (typeof signer.address !== 'string' || typeof signer.signDigest !== 'function')) {
      throw new PaywireError('invalid_argument', 'a signer needs an `address` string and a `signDigest(digest: Uint8Array)` method')
    }
    if (policy != null && !(policy instanceof core.Policy)) policy = new Policy(policy)
    const { clock, randomness, expiryMargin, maxRemembered } = options
    this.#clock = typeof clock === 'function' ? clock : null
    this.#native = new core.NativePayer(local ? signer : signer.address, policy ?? undefined, {
      expiryMargin,
      maxRemembered,
      now: typeof clock === 'number' ? clock : undefined,
      randomness,
    })
    this.#signer = signer
    this.#local = local
  }

  /** The signer this payer was made with. */
  get signer() {
    return this.#signer
  }

  /** The paying address. */
  get address() {
    return this.#native.address
  }

  /** Spent so far in known stablecoins, as a USD string such as "$0.03". */
  get spentUsd() {
    return this.#native.spentUsd
  }

  /** Restores the USD spent before (e.g. by the previous run of a long-lived agent). */
  restoreSpentUsd(spent) {
    this.#native.restoreSpentUsd(spent)
  }

  /** The index of the offer this payer would pay (throws with every refusal when none fits). */
  select(bill) {
    return this.#native.select(bill)
  }

  #tick() {
    if (this.#clock !== null) this.#native.setNow(Math.floor(Number(this.#clock())))
  }

  /**
   * Pays a bill (a `PaymentRequired`, a `PAYMENT-REQUIRED` value or a v1 JSON body). `purchase` names the
   * purchase, so a retry of the same purchase gets the same payment. Resolves to a `PaymentHeader`.
   */
  async pay(bill, purchase, { eip2612Nonce } = {}) {
    this.#tick()
    if (this.#local) return this.#native.pay(bill, purchase ?? undefined, eip2612Nonce ?? undefined)
    const prepared = this.#native.prepare(bill, purchase ?? undefined, eip2612Nonce ?? undefined)
    if (!(prepared instanceof core.PreparedPayment)) return prepared
    const signatures = []
    for (const digest of prepared.digests) {
      try {
        signatures.push(signatureBytes(await this.#signer.signDigest(digest)))
      } catch (e) {
        throw signerFailed(e)
      }
    }
    return this.#native.complete(prepared, signatures)
  }

  /** Pays with a signer that signs synchronously (a `LocalSigner`, say); throws for an asynchronous one. */
  paySync(bill, purchase, { eip2612Nonce } = {}) {
    this.#tick()
    if (this.#local) return this.#native.pay(bill, purchase ?? undefined, eip2612Nonce ?? undefined)
    const prepared = this.#native.prepare(bill, purchase ?? undefined, eip2612Nonce ?? undefined)
    if (!(prepared instanceof core.PreparedPayment)) return prepared
    const signatures = prepared.digests.map((digest) => {
      let sig
      try {
        sig = this.#signer.signDigest(digest)
      } catch (e) {
        throw signerFailed(e)
      }
      if (isThenable(sig)) {
        Promise.resolve(sig).catch(() => {})
        throw new PaywireError('signer_failed', "the signer's signDigest is asynchronous; use await payer.pay()")
      }
      return signatureBytes(sig)
    })
    return this.#native.complete(prepared, signatures)
  }

  /** First half of a payment for remote signers: a `PaymentHeader` if the purchase has one, else a `PreparedPayment`. */
  prepare(bill, purchase, { eip2612Nonce } = {}) {
    this.#tick()
    return this.#native.prepare(bill, purchase ?? undefined, eip2612Nonce ?? undefined)
  }

  /** Second half: the signatures of `prepared.digests`, checked against the payer. */
  complete(prepared, signatures) {
    return this.#native.complete(prepared, signatures.map(signatureBytes))
  }

  /**
   * The native payer for the core's paying machine (`wrapFetch`), its clock read now, and whether it signs
   * by itself (a `LocalSigner`) or the glue must await the signer.
   */
  [NATIVE]() {
    this.#tick()
    return { native: this.#native, local: this.#local, sign: (digest) => this.#signer.signDigest(digest) }
  }
  /** Forgets the payment of a purchase once a response to the paid request arrived. */
  forget(purchase) {
    this.#native.forget(purchase)
  }
  /**
   * This payer's batch-settlement channels as JSON text, to keep where you choose (a file, a database) and
   * give to `importChannels` in the next process: it then pays on from the same channels.
   */
  exportChannels() {
    return this.#native.exportChannels()
  }
  /** Takes in channels `exportChannels` wrote; returns how many. A malformed text changes nothing. */
  importChannels(text) {
    return this.#native.importChannels(text)
  }

  toString() {
    return `Payer(${this.address})`
  }
}

/**
 * A paywire signer from a viem account that can sign raw hashes (`privateKeyToAccount`,
 * `mnemonicToAccount`, `toAccount` with `sign`). paywire signs EIP-712 digests it computed itself, so the
 * account's `sign({ hash })` is all it needs.
 */
function fromViemAccount(account) {
  if (!account || typeof account.address !== 'string') {
    throw new PaywireError('invalid_argument', 'fromViemAccount needs a viem account with an address')
  }
  if (typeof account.sign !== 'function') {
    throw new PaywireError('invalid_argument', "this viem account cannot sign raw hashes (no sign({ hash })); use a local account such as privateKeyToAccount(key)")
  }
  return {
    address: account.address,
    async signDigest(digest) {
      return account.sign({ hash: `0x${toHex(digest)}` })
    },
  }
}

module.exports = { NATIVE, signatureBytes, signerFailed, Payer, Policy, fromViemAccount, policyDocument }
