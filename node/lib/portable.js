'use strict'
// The API that runs wherever JavaScript does: everything the package has but Express, Fastify and the Redis
// store, which need Node. index.js adds those; the WebAssembly build (wasm/entry.mjs) exports this alone.

const core = require('./core')
const { PaywireError } = require('./errors')
const { Payer, Policy, fromViemAccount } = require('./payer')
const { wrapFetch, refund, settlement, payment } = require('./fetch')
const { FacilitatorClient, DEFAULT_FACILITATOR_URL } = require('./facilitator')
const { MemoryStore, EXPOSED_HEADERS, ALLOWED_HEADERS } = require('./gate')
const { honoPaymentMiddleware } = require('./hono')
const { PayingSession, PaidTools, toolSettlement } = require('./mcp')
const { Hooks } = require('./hooks')

// The core's names (as index.js has them), then the glue's.
const { NativePayer, headerPairs, ...api } = core

module.exports = {
  ...api,
  PaywireError,
  Payer,
  Policy,
  fromViemAccount,
  wrapFetch,
  refund,
  settlement,
  payment,
  FacilitatorClient,
  DEFAULT_FACILITATOR_URL,
  MemoryStore,
  EXPOSED_HEADERS,
  ALLOWED_HEADERS,
  honoPaymentMiddleware,
  PayingSession,
  PaidTools,
  toolSettlement,
  Hooks,
}
