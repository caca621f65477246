// The WebAssembly build of paywire's core (bindings/wasm) with the Node binding's calling conventions, so
// the package's glue (lib/) runs on it unchanged. Where the native module takes "a LocalSigner or an
// address" or "a bill or its text" in one argument, the wasm module has a function for each; this file
// picks one by the argument's type. Nothing else happens here.
//
// The module must be initialised (browser.mjs awaits it) before any of these is called. Constants (which
// wasm-bindgen cannot export as values) are read at import, after initialisation.

import * as wasm from './pkg/paywire_wasm.js'

const W = wasm.NativePayer

/** `new NativePayer(localSignerOrAddress, policy?, options?)`, as in the Node binding. */
function NativePayer(signer, policy, options) {
  const p = policy ?? new wasm.Policy(undefined)
  return typeof signer === 'string' ? W.forAddress(signer, p, options ?? {}) : W.forLocalSigner(signer, p, options ?? {})
}
NativePayer.prototype = W.prototype
NativePayer.forAddress = W.forAddress
NativePayer.forLocalSigner = W.forLocalSigner

const isBill = (bill) => bill instanceof wasm.PaymentRequired
Object.assign(W.prototype, {
  select(bill) {
    return isBill(bill) ? this.selectBill(bill) : this.selectText(bill)
  },
  pay(bill, purchase, eip2612Nonce) {
    return isBill(bill) ? this.payBill(bill, purchase, eip2612Nonce) : this.payText(bill, purchase, eip2612Nonce)
  },
  prepare(bill, purchase, eip2612Nonce) {
    return isBill(bill) ? this.prepareBill(bill, purchase, eip2612Nonce) : this.prepareText(bill, purchase, eip2612Nonce)
  },
})

// The Node binding takes price tags and routes by reference; the wasm one by value, so it is handed copies.
function PricedRoute(tags, pattern, options) {
  return wasm.PricedRoute.create(tags.map((t) => t.copy()), pattern ?? undefined, options ?? {})
}
PricedRoute.prototype = wasm.PricedRoute.prototype

/** `new Gate(routes, options?)`. Issuers and access policies (receipts) need the Node build for now. */
function Gate(routes, options, issuer, access) {
  if (issuer != null || access != null) {
    throw new Error(`\u0001paywire:${JSON.stringify({ code: 'invalid_argument', message: "issuers and access policies are not in paywire's WebAssembly build yet; use the Node build for receipts", category: 'configuration', payer: null, refusals: [] })}`)
  }
  return wasm.Gate.create(routes.map((r) => r.copy()), options ?? {})
}
Gate.prototype = wasm.Gate.prototype

const buildPaymentRequired = (resourceUrl, tags, options) =>
  wasm.buildPaymentRequiredOwned(resourceUrl, tags.map((t) => t.copy()), options ?? {})

export const { DEFAULT_FACILITATOR_URL, FACILITATOR_RETRIES_WITHOUT_ANSWER, EXPOSED_HEADERS, ALLOWED_HEADERS, MAX_HEADER_BYTES } =
  wasm.constants()

export const {
  LocalSigner,
  Policy,
  PaymentHeader,
  PreparedPayment,
  PaymentRequired,
  PaymentRequirements,
  PaymentPayload,
  SettleResponse,
  PaidFetch,
  FetchStarted,
  FetchStep,
  purchaseKey,
  readSettlement,
  errorCategory,
  statusFor,
  decodeHeaderJson,
  PriceTag,
  AcceptedPayment,
  VerifiedPayment,
  VerifyResponse,
  SupportedResponse,
  Started,
  Exchange,
  Step,
  readPayment,
  statusForReason,
  facilitatorRequest,
  facilitatorEndpoint,
  facilitatorHeaders,
  readVerifyAnswer,
  readSettleAnswer,
  readSupportedAnswer,
  settleAgain,
  facilitatorUnreachable,
  redactUrl,
} = wasm
export const VERSION = wasm.VERSION
export { NativePayer, PricedRoute, Gate, buildPaymentRequired }
