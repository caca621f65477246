// The WebAssembly build of paywire's core (bindings/wasm) with the Node binding's calling conventions, so
// the package's glue (lib/) runs on it unchanged. Where the native module takes "a LocalSigner or an
// address" or "a bill or its text" in one argument, the wasm module has a function for each; this file
// picks one by the argument's type. Nothing else happens here.
//
// The module must be initialised (entry.mjs awaits it) before any of these is called. Constants (which
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

/** `new Gate(routes, options?, issuer?, access?, receiverAuthorizer?)`. */
function Gate(routes, options, issuer, access, receiverAuthorizer) {
  return wasm.Gate.create(routes.map((r) => r.copy()), options ?? {}, issuer == null ? [] : [issuer.copy()],
    access == null ? [] : [access.copy()], receiverAuthorizer == null ? [] : [receiverAuthorizer.copy()])
}
Gate.prototype = wasm.Gate.prototype

const buildPaymentRequired = (resourceUrl, tags, options) =>
  wasm.buildPaymentRequiredOwned(resourceUrl, tags.map((t) => t.copy()), options ?? {})

// A payment given as a PaymentPayload or as the header value (or JSON text) it arrived in.
const isPayload = (payment) => payment instanceof wasm.PaymentPayload
const checkPayment = (bill, payment, options) =>
  isPayload(payment) ? wasm.checkPaymentPayload(bill, payment, options ?? {}) : wasm.checkPaymentText(bill, payment, options ?? {})
const verifyPayment = (payment, requirements, options) =>
  isPayload(payment)
    ? wasm.verifyPaymentPayload(payment, requirements, options ?? {})
    : wasm.verifyPaymentText(payment, requirements, options ?? {})
const verifyToResponse = (payment, requirements, options) =>
  isPayload(payment)
    ? wasm.verifyToResponsePayload(payment, requirements, options ?? {})
    : wasm.verifyToResponseText(payment, requirements, options ?? {})

const verifyVoucher = (payment, requirements) =>
  isPayload(payment) ? wasm.verifyVoucherPayload(payment, requirements) : wasm.verifyVoucherText(payment, requirements)

const mcpToolRoute = (name, tags, description) => wasm.mcpToolRoute(name, tags.map((t) => t.copy()), description)

const outcomeIsOpen = (status, settlement) =>
  settlement == null ? wasm.outcomeIsOpenWithout(status) : wasm.outcomeIsOpenWith(status, settlement)

export const {
  VERSION,
  DEFAULT_FACILITATOR_URL,
  FACILITATOR_RETRIES_WITHOUT_ANSWER,
  EXPOSED_HEADERS,
  ALLOWED_HEADERS,
  MAX_HEADER_BYTES,
  RECEIPT_HEADER,
  MCP_PAYMENT_META_KEY,
  MCP_PAYMENT_RESPONSE_META_KEY,
} = wasm.constants()

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
  checkRpcUrls,
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
  decode,
  encodeJsonText,
  decodeHeaderText,
  typedDataHashes,
  recoverAddress,
  parsePrice,
  chainId,
  toCaip2,
  knownAssets,
  errorCodes,
  paymentIdentifierDeclaration,
  settlementHeader,
  SignedOffer,
  SignedReceipt,
  Issuer,
  AccessPolicy,
  offersIn,
  receiptIn,
  receiptExtension,
  carriesPayment,
  mcpToolRequest,
  mcpCallParams,
  mcpResultResponse,
  mcpToolHead,
  mcpArgumentsBody,
  mcpHandlerResponse,
  mcpToolResult,
} = wasm
export {
  NativePayer,
  PricedRoute,
  Gate,
  mcpToolRoute,
  buildPaymentRequired,
  checkPayment,
  verifyPayment,
  verifyToResponse,
  verifyVoucher,
  outcomeIsOpen,
}
