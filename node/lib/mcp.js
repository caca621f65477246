'use strict'
// Paid MCP tools, both sides, on the x402 MCP transport (`x402/payment` in a call's `_meta`).
//
// Every decision is the core's, as for HTTP: a tool call is priced, checked and settled by the same gate (bill,
// offline check, the payment bound to this tool and these arguments, replays answered from the record, the
// result held until the payment settles), and paid by the same client (spend policy, one payment per call, a
// payment kept for a retry when the outcome is open). The core maps the tool call onto them (`mcp*`); this file
// only moves JSON between them and the MCP SDK. A tool's resource is `mcp://tool/{name}`, as the official SDKs
// name it.

const core = require('./core')
const { fromFields, PaywireError } = require('./errors')
const { NATIVE } = require('./payer')
const { signStep } = require('./fetch')
const { PaymentGate, MemoryStore } = require('./gate')
const { hooksOf } = require('./hooks')

/** The settlement a tool result carries (`_meta["x402/payment-response"]`, a `SettleResponse`), or null. */
function toolSettlement(result) {
  const value = result?._meta?.[core.MCP_PAYMENT_RESPONSE_META_KEY]
  if (value == null || typeof value !== 'object') return null
  try {
    return core.SettleResponse.fromJson(JSON.stringify(value))
  } catch {
    return null
  }
}

/**
 * Calls MCP tools through `client` (an `@modelcontextprotocol/sdk` `Client`, or anything with its `callTool`)
 * and pays the ones that bill, with `payer` under its policy. A call is paid at most once; a call whose paid
 * outcome was left open (no answer, the payment still settling) keeps its payment, so calling the same tool
 * with the same arguments again sends the same payment instead of paying twice. Every other member is the
 * client's. `options.hooks` (a `Hooks`) runs your code before and after each payment is created and when
 * creating one fails.
 */
class PayingSession {
  constructor(client, payer, options = {}) {
    if (client == null || typeof client.callTool !== 'function') {
      throw new TypeError('new PayingSession(client, payer): client needs callTool() (an MCP Client)')
    }
    if (payer == null || typeof payer[NATIVE] !== 'function') {
      throw new TypeError('new PayingSession(client, payer): payer must be a paywire Payer')
    }
    this.client = client
    this.payer = payer
    this.hooks = hooksOf(options)
    // biome-ignore lint/correctness/noConstructorReturn: the session is the client, with callTool paying
    return new Proxy(this, {
      get(target, name, receiver) {
        if (name in target) return Reflect.get(target, name, receiver)
        const value = client[name]
        return typeof value === 'function' ? value.bind(client) : value
      },
    })
  }

  /**
   * Calls a tool (`params`: `{name, arguments, _meta}`, as `Client.callTool` takes) and resolves to its
   * result; a bill is paid once and the call made again with the payment. The settlement is in the result's
   * `_meta["x402/payment-response"]` (`toolSettlement(result)`). Throws a `PaywireError` when the policy
   * refuses every offer or the signer fails; a bill that is not paid is resolved as the result it is.
   */
  async callTool(params, resultSchema, options) {
    const { native, local, sign } = this.payer[NATIVE]()
    const request = core.mcpToolRequest(params.name, JSON.stringify(params.arguments ?? {}))
    const started = core.PaidFetch.start(native, request, { signInline: local, hooks: this.hooks.points('client') })
    const call = started.takeCall()
    let step = started.takeStep()
    const meta = params._meta == null ? undefined : JSON.stringify(params._meta)
    let last = null
    let answer = null
    for (;;) {
      switch (step.kind) {
        case 'send': {
          const sent = JSON.parse(core.mcpCallParams(step, meta))
          try {
            last = await this.client.callTool(sent, resultSchema, options)
          } catch (e) {
            // A paid call's payment stays remembered (its outcome is open).
            const next = call.feedSendFailed()
            if (next.kind === 'raise') throw e
            step = next
            break
          }
          answer = core.mcpResultResponse(JSON.stringify(last))
          step = call.feedResponse(answer.status, answer.headers)
          break
        }
        case 'readBody':
          step = call.feedBody(answer.body)
          break
        case 'sign':
          step = await signStep(call, step, sign)
          break
        case 'hook':
          step = call.feedHooked(await this.hooks.run(step.hookPoint, step.hookContext))
          break
        case 'fail':
          throw fromFields(step.error)
        default:
          return last
      }
    }
  }
}

/**
 * Prices MCP tools: `paid.tool(name, tags, handler)` is a tool callback for `McpServer.registerTool` (or
 * `tool`) that bills its calls, runs `handler(args, extra)` only once a payment is verified, and returns its
 * result only once the payment has settled, with the settlement in `_meta["x402/payment-response"]`. The
 * handler sees what paid as `extra.paywire` (`{payer, payment}`).
 *
 * Options: `facilitator` (a `FacilitatorClient`; the default is the public x402.org one, test networks only),
 * `store` (a `MemoryStore`, the default, one per tool; or a store shared by processes, as the HTTP gate
 * takes), `allowOnchainSignatures`, `maxRequestBytes`, `maxReplayBytes`, `takeoverAfter`, `logger`, `hooks` (a
 * `Hooks`: your code before and after `/verify` and `/settle` and when either fails).
 */
class PaidTools {
  constructor(options = {}) {
    this.options = { maxRequestBytes: 1024 * 1024, ...options }
    if (this.options.facilitator == null) {
      const { FacilitatorClient } = require('./facilitator')
      this.options.facilitator = new FacilitatorClient()
    }
  }

  /** A tool callback for tool `name` priced at `tags` (a `PriceTag` or an array: the client picks one). */
  tool(name, tags, handler, { description } = {}) {
    if (typeof handler !== 'function') throw new TypeError('PaidTools.tool(name, tags, handler): handler must be a function')
    const list = Array.isArray(tags) ? tags : [tags]
    if (list.length === 0 || !list.every((t) => t instanceof core.PriceTag)) {
      throw new PaywireError('invalid_argument', 'a paid tool is priced by a PriceTag or an array of them')
    }
    const gate = new PaymentGate({}, this.options, [core.mcpToolRoute(name, list, description ?? undefined)])
    return async (args, extra) => {
      const meta = extra?._meta == null ? undefined : JSON.stringify(extra._meta)
      const { exchange, step } = gate.beginAttached(0, core.mcpToolHead(name, meta))
      const body = core.mcpArgumentsBody(JSON.stringify(args ?? {}))
      let result = null
      await gate.drive(exchange, step, {
        readBody: async () => body,
        runHandler: async (paid) => {
          const out = await handler(args, { ...extra, paywire: paid })
          return core.mcpHandlerResponse(JSON.stringify(out ?? { content: [] }))
        },
        send: (status, headers, answer) => {
          result = JSON.parse(core.mcpToolResult(status, headers, answer))
        },
      })
      return result
    }
  }
}

module.exports = { PayingSession, PaidTools, MemoryStore, toolSettlement }
