'use strict'
// paywire: x402 payments for Node. The protocol (bills, headers, EIP-712 signing, offline verification,
// spend policies, signed receipts) is paywire's Rust core; this package adds the glue of the Node ecosystem:
// fetch (`wrapFetch`), a facilitator client, and Express, Hono and Fastify middleware on the core's gate.

const core = require('./lib/core')
const { PaywireError } = require('./lib/errors')
const { Payer, Policy, fromViemAccount } = require('./lib/payer')
const { wrapFetch, settlement, payment } = require('./lib/fetch')
const { FacilitatorClient, DEFAULT_FACILITATOR_URL } = require('./lib/facilitator')
const { MemoryStore, EXPOSED_HEADERS, ALLOWED_HEADERS } = require('./lib/gate')
const { paymentMiddleware, paid } = require('./lib/express')
const { fastifyPaywire } = require('./lib/fastify')
const { honoPaymentMiddleware } = require('./lib/hono')
const { RedisStore } = require('./lib/redis')

const { NativePayer, headerPairs, ...api } = core

module.exports = {
  ...api,
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
  RedisStore,
  EXPOSED_HEADERS,
  ALLOWED_HEADERS,
  paymentMiddleware,
  paid,
  honoPaymentMiddleware,
  fastifyPaywire,
}
