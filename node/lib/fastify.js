'use strict'
// Fastify plugin that bills routes with x402 (Fastify 4 and 5).
//
//   fastify.register(fastifyPaywire, { routes: { 'GET /weather': tag }, facilitator })
//   fastify.get('/report/:id', { config: { paywire: tag } }, handler)   // or price a route where it is declared
//
// Fastify says which route takes a request before any hook runs, so a request is priced exactly when its
// route is (`routeOptions.url` against the patterns, or the route's own `config.paywire`); a request no route
// takes (a 404) is never billed. The exchange is the core's gate, run across Fastify's hooks: `onRequest`
// starts it, `preParsing` reads the body it is bound to, the handler runs, and `onSend` holds the reply until
// the payment settles. The handler sees what was paid as `request.paywire`.

const { Readable } = require('node:stream')
const { PaymentGate, TooLarge } = require('./gate')

const STATE = Symbol('paywire')

/** A promise and its resolvers. */
function deferred() {
  let resolve, reject
  const promise = new Promise((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

async function bytesOf(payload) {
  if (payload == null) return new Uint8Array(0)
  if (typeof payload === 'string') return new Uint8Array(Buffer.from(payload))
  if (payload instanceof Uint8Array) return payload
  const chunks = []
  for await (const chunk of payload) chunks.push(Buffer.from(chunk))
  return new Uint8Array(Buffer.concat(chunks))
}

async function readLimited(stream, limit) {
  const chunks = []
  let size = 0
  for await (const chunk of stream) {
    size += chunk.length
    if (size > limit) throw new TooLarge()
    chunks.push(Buffer.from(chunk))
  }
  return Buffer.concat(chunks)
}

function headersOf(request) {
  const pairs = []
  const raw = request.raw.rawHeaders
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i], raw[i + 1]])
  return pairs
}

/**
 * One exchange run across the hooks: `drive` runs as a task; each hook waits for it to ask for what the hook
 * provides (the body, the handler's reply) or to answer.
 */
class Run {
  constructor(gate, started, request) {
    this.next = deferred()
    this.io = {
      readBody: (limit) => this.#ask({ want: 'body', limit }),
      runHandler: (paid) => {
        request.paywire = paid
        return this.#ask({ want: 'handler' })
      },
      send: async (status, headers, body) => this.next.resolve({ want: 'send', status, headers, body }),
    }
    this.done = gate.drive(started.exchange, started.step, this.io).then(
      () => this.next.resolve({ want: 'end' }),
      (error) => this.next.resolve({ want: 'error', error }),
    )
  }

  #ask(request) {
    const answer = deferred()
    this.pending = answer
    this.next.resolve({ ...request })
    return answer.promise
  }

  /** Waits for the exchange's next request (`body`, `handler`, `send`, `end`, `error`). */
  async wants() {
    const request = await this.next.promise
    this.next = deferred()
    return request
  }

  answer(value) {
    this.pending.resolve(value)
  }

  fail(error) {
    this.pending.reject(error)
  }
}

function sendFinal(reply, { status, headers, body }) {
  reply.removeHeader('content-length')
  for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name)
  const grouped = new Map()
  for (const [name, value] of headers) grouped.set(name.toLowerCase(), [...(grouped.get(name.toLowerCase()) ?? []), value])
  for (const [name, values] of grouped) reply.header(name, values.length === 1 ? values[0] : values)
  reply.code(status)
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength)
}

/**
 * The plugin. Options: `routes` (as `paymentMiddleware`'s), and `facilitator`, `access`, `issuer`, `store`,
 * `publicUrl`, `allowOnchainSignatures`, `maxRequestBytes`, `maxReplayBytes`, `receiverAuthorizer`, `claims`,
 * `logger`. `batch-settlement` charges are claimed by themselves on the `claims` schedule (see
 * `PaymentGate`); `await fastify.paywireClaim()` claims now and sweeps to the receiver.
 */
function fastifyPaywire(fastify, options, done) {
  const { routes = {}, ...gateOptions } = options
  const gate = new PaymentGate(routes, { caseSensitive: true, logger: fastify.log, ...gateOptions })
  // batch-settlement: `await fastify.paywireClaim()` claims the channels' charges and sweeps them.
  fastify.decorate('paywireClaim', () => gate.claim())
  // The scheduled claims stop with the server (a run in progress ends first).
  fastify.addHook('onClose', async () => gate.close())
  // A route priced where it is declared (`config: { paywire }`) gets its own gate, made the first time it is
  // asked for, from the route's own config: whatever the request, the price is the route's.
  const attached = new WeakMap()
  const gateOf = (config) => {
    let own = attached.get(config)
    if (own === undefined) {
      own = new PaymentGate({}, { caseSensitive: true, logger: fastify.log, ...gateOptions }, [config.paywire])
      attached.set(config, own)
    }
    return own
  }

  fastify.addHook('onRequest', async (request, reply) => {
    const head = {
      method: request.method,
      path: request.raw.url.split('?')[0],
      pathAndQuery: request.raw.url,
      origin: `${request.protocol}://${request.host ?? request.hostname}`,
      headers: headersOf(request),
    }
    const config = request.routeOptions?.config
    const own = config?.paywire != null ? gateOf(config) : null
    let started
    let runGate = gate
    if (own) {
      runGate = own
      started = own.beginAttached(0, head)
    } else {
      const framework = request.is404 || request.routeOptions?.url === undefined
        ? { noRoute: true }
        : { pattern: request.routeOptions.url }
      started = gate.begin(head, framework)
    }
    if (started === null) return
    const run = new Run(runGate, started, request)
    request[STATE] = run
    await step(run, reply)
    const hasBody = request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0
    if (run.want?.want === 'body' && !hasBody) {
      // Fastify parses no body here, so the gate gets the empty one now.
      run.answer(new Uint8Array(0))
      await step(run, reply)
    }
    if (run.final) return reply
  })

  fastify.addHook('preParsing', async (request, reply, payload) => {
    const run = request[STATE]
    if (run?.want?.want !== 'body') return payload
    let body
    try {
      body = await readLimited(payload, run.want.limit)
    } catch (e) {
      if (e instanceof TooLarge) run.fail(e)
      else run.answer(null)
      await step(run, reply)
      return Readable.from([])
    }
    run.answer(new Uint8Array(body))
    await step(run, reply)
    return Readable.from([body])
  })

  fastify.addHook('onSend', async (request, reply, payload) => {
    const run = request[STATE]
    if (!run) return payload
    if (run.final) {
      const final = run.final
      run.final = null
      return sendFinal(reply, final)
    }
    if (run.want?.want !== 'handler') return payload
    const headers = Object.entries(reply.getHeaders()).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, String(x)]) : [[k, String(v)]]))
    run.answer({ status: reply.statusCode, headers, body: await bytesOf(payload) })
    const next = await run.wants()
    run.want = next
    if (next.want === 'error') throw next.error
    if (next.want !== 'send') return payload
    return sendFinal(reply, next)
  })

  fastify.addHook('onError', async (request, _reply, error) => {
    const run = request[STATE]
    if (run && run.want?.want === 'handler') {
      run.fail(error)
      run.want = null
      await run.done
    }
  })

  done()
}

/** Advances the exchange to its next need; answers from the hook when the gate has answered. */
async function step(run, reply) {
  const next = await run.wants()
  run.want = next
  if (next.want === 'error') throw next.error
  if (next.want === 'end') {
    // The client went away before the handler: it must not run unpaid.
    throw new Error('paywire: the client went away before its payment was taken')
  }
  if (next.want === 'send') {
    run.final = next
    reply.send(Buffer.alloc(0))
  }
}

// Not encapsulated: the hooks apply to every route of the instance the plugin is registered on.
fastifyPaywire[Symbol.for('skip-override')] = true
fastifyPaywire[Symbol.for('fastify.display-name')] = 'paywire'

module.exports = { fastifyPaywire }
