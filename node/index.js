'use strict'
// paywire: x402 payments for Node. The protocol (bills, headers, EIP-712 signing, offline verification,
// spend policies, signed receipts) is paywire's Rust core; this package adds the glue of the Node ecosystem:
// fetch (`wrapFetch`), a facilitator client, and Express, Hono and Fastify middleware on the core's gate.

const portable = require('./lib/portable')
const { paymentMiddleware, paid } = require('./lib/express')
const { fastifyPaywire } = require('./lib/fastify')
const { RedisStore } = require('./lib/redis')

module.exports = { ...portable, RedisStore, paymentMiddleware, paid, fastifyPaywire }
