'use strict'
// Express middleware that bills routes with x402 (Express 4 and 5).
//
//   app.use(express.json())   // body parsers first: the payment is bound to the request's body
//   app.use(paymentMiddleware({ 'GET /weather': new PriceTag({ network, payTo, price: '$0.001' }) },
//                             { facilitator: new FacilitatorClient(url) }))
//
// Patterns match `req.path` (relative to where the middleware is mounted) in every form Express might route
// it in; `paid(tag)` on a route prices exactly what Express routes there. The exchange is the core's gate.
// The handler sees what was paid as `req.paywire`. Its response is held until the payment settles, so
// streamed responses arrive whole.

const { headerPairs } = require('./core')
const { PaymentGate, TooLarge } = require('./gate')

function requestPairs(req) {
  const pairs = []
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) pairs.push([req.rawHeaders[i], req.rawHeaders[i + 1]])
  return pairs
}

const hasBody = (req) => req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0

/** The body a payment is bound to: what a body parser made of it, or the raw bytes (then kept as `req.body`). */
async function readBody(req, limit) {
  // A body parser read the stream: Express 4's body-parser marks that `_body`, Express 5's (2.x) only ends it.
  if (req.body !== undefined && (req._body || req.readableEnded)) {
    const b = req.body
    if (Buffer.isBuffer(b)) return new Uint8Array(b)
    return new Uint8Array(Buffer.from(typeof b === 'string' ? b : JSON.stringify(b)))
  }
  if (!hasBody(req)) return new Uint8Array(0)
  const chunks = []
  let size = 0
  for await (const chunk of req) {
    size += chunk.length
    if (size > limit) throw new TooLarge()
    chunks.push(chunk)
  }
  const body = Buffer.concat(chunks)
  // Body parsers skip a request whose body was read (`_body`); the handler gets the bytes.
  req.body = body
  req._body = true
  return new Uint8Array(body)
}

/** Runs the rest of the chain with the response captured, not sent. */
function capture(req, res, next, paid) {
  return new Promise((resolve) => {
    const original = { write: res.write, end: res.end, writeHead: res.writeHead, flushHeaders: res.flushHeaders }
    const chunks = []
    const toBuffer = (chunk, encoding) =>
      Buffer.isBuffer(chunk) ? chunk : typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : Buffer.from(chunk)
    res.writeHead = (status, reason, headers) => {
      res.statusCode = status
      const h = typeof reason === 'object' ? reason : headers
      if (Array.isArray(h)) for (let i = 0; i + 1 < h.length; i += 2) res.setHeader(h[i], h[i + 1])
      else if (h) for (const [k, v] of Object.entries(h)) res.setHeader(k, v)
      return res
    }
    res.flushHeaders = () => {}
    res.write = (chunk, encoding, cb) => {
      if (chunk != null) chunks.push(toBuffer(chunk, encoding))
      const done = typeof encoding === 'function' ? encoding : cb
      if (typeof done === 'function') process.nextTick(done)
      return true
    }
    res.end = (chunk, encoding, cb) => {
      if (typeof chunk === 'function') cb = chunk
      else if (chunk != null) chunks.push(toBuffer(chunk, encoding))
      if (typeof encoding === 'function') cb = encoding
      Object.assign(res, original)
      resolve({ status: res.statusCode, headers: headerPairs(res.getHeaders()), body: new Uint8Array(Buffer.concat(chunks)) })
      if (typeof cb === 'function') process.nextTick(cb)
      return res
    }
    req.paywire = paid
    next()
  })
}

function send(res, status, headers, body) {
  if (res.headersSent) return void res.end()
  for (const name of res.getHeaderNames()) res.removeHeader(name)
  const grouped = new Map()
  for (const [name, value] of headers) {
    const key = name.toLowerCase()
    grouped.set(key, [...(grouped.get(key) ?? []), value])
  }
  for (const [name, values] of grouped) res.setHeader(name, values.length === 1 ? values[0] : values)
  res.statusCode = status
  res.end(Buffer.from(body.buffer, body.byteOffset, body.byteLength))
}

function head(req) {
  return {
    method: req.method,
    path: req.path,
    pathAndQuery: req.originalUrl,
    origin: `${req.protocol}://${req.get('host') ?? 'localhost'}`,
    headers: requestPairs(req),
  }
}

function io(req, res, next) {
  return {
    readBody: (limit) => readBody(req, limit),
    runHandler: (paid) => capture(req, res, next, paid),
    send: async (status, headers, body) => send(res, status, headers, body),
  }
}

/**
 * Express middleware billing `routes` (`"[METHOD] /path"` → a `PriceTag`, an array of them, or
 * `{ tags, description, mimeType, x402Version, receipts }`). A request is priced when its path, in any form
 * Express might route it in (letter case, trailing slash, percent-encoding), matches a pattern. Options:
 * `facilitator` (default: the public x402.org facilitator, test networks only), `access` (an `AccessPolicy`:
 * receipts instead of payments), `issuer` (an `Issuer`: signed offers and receipts), `store`, `publicUrl`,
 * `allowOnchainSignatures`, `caseSensitive`, `maxRequestBytes`, `maxReplayBytes`, `receiverAuthorizer`,
 * `claims`, `logger`. `batch-settlement` charges are claimed by themselves on the `claims` schedule (every five
 * minutes by default); `await middleware.claim()` claims what the channels were charged now and sweeps it to the
 * receiver.
 */
function paymentMiddleware(routes, options = {}) {
  const gate = new PaymentGate(routes, options)
  function paywireMiddleware(req, res, next) {
    const started = gate.begin(head(req))
    if (started === null) return next()
    gate.drive(started.exchange, started.step, io(req, res, next)).catch(next)
  }
  // batch-settlement: `await middleware.claim()` claims the channels' charges and sweeps them.
  paywireMiddleware.claim = () => gate.claim()
  // Stops the scheduled claims (at shutdown); resolves when a run in progress has ended.
  paywireMiddleware.close = () => gate.close()
  return paywireMiddleware
}

/**
 * A route-level middleware pricing the Express route it is put on, as Express routes it:
 * `app.get('/weather/:city', paid(new PriceTag({...})), handler)`. `route` is a `PriceTag`, an array of them,
 * or `{ tags, description, ... }`; the options are those of `paymentMiddleware`.
 */
function paid(route, options = {}) {
  const gate = new PaymentGate({}, options, [route])
  function paywireRoute(req, res, next) {
    const started = gate.beginAttached(0, head(req))
    gate.drive(started.exchange, started.step, io(req, res, next)).catch(next)
  }
  paywireRoute.claim = () => gate.claim()
  paywireRoute.close = () => gate.close()
  return paywireRoute
}

module.exports = { paymentMiddleware, paid }
