'use strict'
// What the WebAssembly build exports (wasm/entry.mjs): the paying side, the x402 messages, and the payment
// gate with its Hono middleware. Express, Fastify and the Redis store need Node; receipts (Issuer,
// AccessPolicy) need the Node build for now.

const core = require('./core')
const { PaywireError } = require('./errors')
const { Payer, Policy, fromViemAccount } = require('./payer')
const { wrapFetch, settlement, payment } = require('./fetch')
const { FacilitatorClient, DEFAULT_FACILITATOR_URL } = require('./facilitator')
const { MemoryStore, EXPOSED_HEADERS, ALLOWED_HEADERS } = require('./gate')
const { honoPaymentMiddleware } = require('./hono')

module.exports = {
  VERSION: core.VERSION,
  LocalSigner: core.LocalSigner,
  PaymentRequired: core.PaymentRequired,
  PaymentRequirements: core.PaymentRequirements,
  PaymentPayload: core.PaymentPayload,
  SettleResponse: core.SettleResponse,
  VerifyResponse: core.VerifyResponse,
  SupportedResponse: core.SupportedResponse,
  PaymentHeader: core.PaymentHeader,
  PreparedPayment: core.PreparedPayment,
  PaidFetch: core.PaidFetch,
  PriceTag: core.PriceTag,
  PricedRoute: core.PricedRoute,
  Gate: core.Gate,
  buildPaymentRequired: core.buildPaymentRequired,
  purchaseKey: core.purchaseKey,
  readPayment: core.readPayment,
  readSettlement: core.readSettlement,
  decodeHeaderJson: core.decodeHeaderJson,
  statusFor: core.statusFor,
  PaywireError,
  Payer,
  Policy,
  fromViemAccount,
  wrapFetch,
  settlement,
  payment,
  FacilitatorClient,
  DEFAULT_FACILITATOR_URL,
  MemoryStore,
  EXPOSED_HEADERS,
  ALLOWED_HEADERS,
  honoPaymentMiddleware,
}
