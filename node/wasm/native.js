// The WebAssembly build of paywire's core (bindings/wasm) with the Node binding's calling conventions, so
// the package's glue (lib/) runs on it unchanged. Where the native module takes "a LocalSigner or an
// address" or "a bill or its text" in one argument, the wasm module has a function for each; this file
// picks one by the argument's type. Nothing else happens here.
//
// The module must be initialised (browser.mjs awaits it) before any of these is called.

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
} = wasm
export const VERSION = wasm.VERSION
export { NativePayer }
