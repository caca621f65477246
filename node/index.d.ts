// paywire: x402 payments for Node. Types of the public API: the core's classes and functions (generated
// in native.d.ts from the Rust binding) and the JS glue (payer, fetch, facilitator, Express, Hono).

import type {
  AcceptedPayment,
  AccessPolicy,
  Issuer,
  LocalSigner,
  PaymentHeader,
  PaymentPayload,
  PaymentRequired,
  PaymentRequirements,
  PreparedPayment,
  PriceTag,
  SettleResponse,
  SupportedResponse,
  VerifyResponse,
  ErrorCategory,
  Amount,
} from './native'

export {
  FACILITATOR_RETRIES_WITHOUT_ANSWER,
  Exchange,
  FetchOptions,
  FetchRequest,
  FetchStarted,
  FetchStep,
  FrameworkRoute,
  Gate,
  GateOptions,
  PaidFetch,
  PricedRoute,
  RequestHead,
  RouteOptions,
  Started,
  Step,
  StoreAnswer,
  facilitatorEndpoint,
  facilitatorHeaders,
  facilitatorUnreachable,
  purchaseKey,
  readSettleAnswer,
  readSupportedAnswer,
  readVerifyAnswer,
  redactUrl,
  settleAgain,
  AcceptedPayment,
  AccessPolicy,
  AccessPolicyOptions,
  Amount,
  BillOptions,
  ErrorCategory,
  HeadersLike,
  Issuer,
  LocalSigner,
  MAX_HEADER_BYTES,
  PaymentHeader,
  PaymentPayload,
  PaymentRequired,
  PaymentRequirements,
  PreparedPayment,
  PriceTag,
  PriceTagOptions,
  RECEIPT_HEADER,
  REDIS_CLAIM,
  REDIS_GET,
  REDIS_KEY_PREFIX,
  REDIS_RELEASE,
  REDIS_REPLACE,
  SettleResponse,
  SignedOffer,
  SignedReceipt,
  SupportedResponse,
  TypedDataHashes,
  VERSION,
  VerifiedPayment,
  VerifyOptions,
  VerifyResponse,
  buildPaymentRequired,
  carriesPayment,
  chainId,
  checkPayment,
  checkRpcUrls,
  decode,
  decodeHeaderJson,
  decodeHeaderText,
  encodeJsonText,
  errorCategory,
  errorCodes,
  facilitatorRequest,
  knownAssets,
  offersIn,
  outcomeIsOpen,
  parsePrice,
  paymentIdentifierDeclaration,
  readPayment,
  readSettlement,
  receiptExtension,
  receiptIn,
  recoverAddress,
  settlementHeader,
  statusForReason,
  toCaip2,
  typedDataHashes,
  verifyPayment,
  verifyToResponse,
  verifyVoucher,
  MCP_PAYMENT_META_KEY,
  MCP_PAYMENT_RESPONSE_META_KEY,
  McpResponse,
  mcpArgumentsBody,
  mcpCallParams,
  mcpHandlerResponse,
  mcpResultResponse,
  mcpToolHead,
  mcpToolRequest,
  mcpToolResult,
  mcpToolRoute,
} from './native'

/** An offer a payer refused, and why. */
export interface OfferRefusal {
  index: number
  offer: string
  reasons: string[]
}

/**
 * paywire's error. `code` is stable and machine-readable (x402's reason string where x402 has one);
 * `message` says what was wrong and what to do.
 */
export declare class PaywireError extends Error {
  constructor(code: string, message: string, details?: { category?: ErrorCategory | null; payer?: string | null; refusals?: OfferRefusal[]; cause?: unknown })
  readonly name: 'PaywireError'
  code: string
  category: ErrorCategory | null
  payer: string | null
  refusals: OfferRefusal[]
}

/** The HTTP status for an error code or a `PaywireError` (402, 400, 409, 412, 500, 502). */
export declare function statusFor(error: string | PaywireError): number

/**
 * Anything that signs 32-byte digests for an Ethereum address: a KMS, a hardware wallet, a remote signer.
 * `signDigest` signs the digest as is (not as an EIP-191 message) and returns 65 bytes `r || s || v`
 * (`v` 0/1 or 27/28) or their 0x hex; paywire checks that each signature recovers to `address`.
 */
export interface Signer {
  readonly address: string
  signDigest(digest: Uint8Array): Uint8Array | string | Promise<Uint8Array | string>
}

/** A payer's limits (members as paywire's JSON policy; USD amounts as "$0.05"). */
export interface PolicyOptions {
  networks?: Array<string | number>
  prefer?: Array<string | number>
  payTo?: string[]
  /** USD per payment, default "$1"; `null` for no cap. */
  maxPerPayment?: string | null
  budget?: string
  maxAmount?: Amount
  maxValiditySeconds?: number
  allowKnownAssets?: boolean
  allowAnyAsset?: boolean
  allowedAssets?: Array<{ chainId: number; address: string; maxPerPayment: Amount; budget?: Amount }>
}

/** What a payer may pay (default: known stablecoins only, at most $1 per payment). */
export declare class Policy {
  constructor(options?: PolicyOptions)
  toString(): string
}

export interface PayerOptions {
  /** Seconds added to `maxTimeoutSeconds` when choosing `validBefore` (default 300; 0 = the official clients' window). */
  expiryMargin?: number
  /** How many purchases are remembered for reuse on retry (default 4096). */
  maxRemembered?: number
  /** Tests: a fixed Unix time, or a function returning the time. */
  clock?: number | (() => number)
  /** Tests: fixed randomness, consumed in order. */
  randomness?: Uint8Array
}

/** A bill: a `PaymentRequired`, a `PAYMENT-REQUIRED` header value, or a v1 JSON body. */
export type Bill = PaymentRequired | string

/** Pays bills under a policy, signing at most one live payment per purchase. */
export declare class Payer {
  constructor(signer: LocalSigner | Signer, policy?: Policy | PolicyOptions | null, options?: PayerOptions)
  readonly signer: LocalSigner | Signer
  readonly address: string
  /** Spent so far in known stablecoins, as a USD string such as "$0.03". */
  readonly spentUsd: string
  restoreSpentUsd(spent: string): void
  /** The index of the offer this payer would pay (throws `no_acceptable_offer` with every refusal). */
  select(bill: Bill): number
  /** Pays a bill; `purchase` names the purchase, so a retry of the same purchase gets the same payment. */
  pay(bill: Bill, purchase?: string | null, options?: { eip2612Nonce?: Amount }): Promise<PaymentHeader>
  /** `pay` for signers that sign synchronously (a `LocalSigner`). */
  paySync(bill: Bill, purchase?: string | null, options?: { eip2612Nonce?: Amount }): PaymentHeader
  prepare(bill: Bill, purchase?: string | null, options?: { eip2612Nonce?: Amount }): PaymentHeader | PreparedPayment
  complete(prepared: PreparedPayment, signatures: Array<Uint8Array | string>): PaymentHeader
  /** Forgets the payment of a purchase once a response to the paid request arrived. */
  forget(purchase: string): void
  /** This payer's batch-settlement channels as JSON text, to keep where you choose and give to `importChannels`. */
  exportChannels(): string
  /** Takes in channels `exportChannels` wrote; returns how many. A malformed text changes nothing. */
  importChannels(text: string): number
}

/** A viem account that can sign raw hashes (`privateKeyToAccount`, `mnemonicToAccount`, ...). */
export interface ViemLikeAccount {
  address: string
  sign?: (args: { hash: `0x${string}` }) => Promise<`0x${string}`>
}

/** A paywire signer from a viem local account. */
export declare function fromViemAccount(account: ViemLikeAccount): Signer

/** A point of an exchange at which hooks run (the core's, the same in every language). */
export type HookPoint =
  | 'beforeVerify' | 'afterVerify' | 'verifyFailure' | 'beforeSettle' | 'afterSettle' | 'settleFailure'
  | 'beforePaymentCreation' | 'afterPaymentCreation' | 'paymentCreationFailure'

/** What a hook is told: the core's JSON context (members that do not apply are absent). */
export interface HookContext {
  /** The point, in snake case as the core names it (`before_verify`). */
  hook: string
  method: string
  resource: string
  paymentRequired?: Record<string, unknown>
  requirements?: Record<string, unknown>
  paymentPayload?: Record<string, unknown>
  payer?: string
  verifyResponse?: Record<string, unknown>
  settleResponse?: Record<string, unknown>
  error?: { code: string; message: string }
}

/** A hook: returns `{ abort: true, reason }` to stop the exchange at a point that may stop it. */
export type Hook = (context: HookContext) => void | { abort: true; reason: string; message?: string } | Promise<void | { abort: true; reason: string; message?: string }>

/**
 * Hooks by point, run in the order added: before and after `/verify` and `/settle` and on failure (server),
 * before and after payment creation and on failure (client). Before anything is paid or charged, a hook may
 * abort (`payment_aborted` on the client; the bill with its reason on the server) and a hook that throws stops
 * the exchange (`hook_failed`); afterwards hooks only observe.
 */
export declare class Hooks {
  on(point: HookPoint, hook: Hook): this
  onBeforeVerify(hook: Hook): this
  onAfterVerify(hook: Hook): this
  onVerifyFailure(hook: Hook): this
  onBeforeSettle(hook: Hook): this
  onAfterSettle(hook: Hook): this
  onSettleFailure(hook: Hook): this
  onBeforePaymentCreation(hook: Hook): this
  onAfterPaymentCreation(hook: Hook): this
  onPaymentCreationFailure(hook: Hook): this
  /** The points with hooks (of one side when given). */
  points(side?: 'server' | 'client'): HookPoint[]
}

type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/**
 * Wraps `fetch` so it pays x402 bills with `payer`: one paid retry at most, never a second payment for the
 * same request, the body kept for the retry, a retry of a request whose outcome is open reusing its payment.
 */
export declare function wrapFetch(
  fetch: FetchLike,
  payer: Payer,
  options?: {
    hooks?: Hooks
    signIn?: boolean
    passFacilitators?: string[]
    /** JSON-RPC URLs by network (`eip155:<chain id>`): where a bill declares `eip2612GasSponsoring`, the payer's Permit2 allowance and EIP-2612 nonce are read there, so a payer who never approved Permit2 pays with a permit. */
    rpcUrls?: Record<string, string> | Map<string, string>
  },
): (input: string | URL | Request, init?: RequestInit) => Promise<Response>
/**
 * Asks the server of `url` (a batch-settlement route) to return the payer's channel balance (`amount` units, or
 * everything it did not charge); resolves to the refund's receipt, rejects with a `PaywireError` when refused.
 */
export declare function refund(fetch: FetchLike, payer: Payer, url: string | URL, options?: { amount?: Amount }): Promise<SettleResponse>
/** The decoded settlement receipt (`PAYMENT-RESPONSE`) of a response from a wrapped fetch, or null. */
export declare function settlement(response: Response): SettleResponse | null
/** The payment a wrapped fetch sent for a response, or null. */
export declare function payment(response: Response): PaymentHeader | null

/** Facilitator auth headers: for every endpoint, keyed by endpoint, or made per call. */
export type FacilitatorHeaders =
  | Record<string, string>
  | Partial<Record<'verify' | 'settle' | 'supported', Record<string, string>>>
  | ((endpoint: 'verify' | 'settle' | 'supported') => Record<string, any> | Promise<Record<string, any>>)

export declare const DEFAULT_FACILITATOR_URL: string

/** What the middleware needs from a facilitator. */
export interface Facilitator {
  verify(payment: PaymentPayload, requirements: PaymentRequirements): Promise<VerifyResponse>
  settle(payment: PaymentPayload, requirements: PaymentRequirements): Promise<SettleResponse>
}

/** A facilitator client over fetch. */
export declare class FacilitatorClient implements Facilitator {
  constructor(url?: string, options?: { headers?: FacilitatorHeaders; timeoutMs?: number; fetch?: FetchLike })
  readonly url: string
  readonly timeoutMs: number
  verify(payment: PaymentPayload, requirements: PaymentRequirements): Promise<VerifyResponse>
  /** Settles; once more with the same body when the facilitator reports `settlement_pending`. */
  settle(payment: PaymentPayload, requirements: PaymentRequirements): Promise<SettleResponse>
  supported(): Promise<SupportedResponse>
}

/**
 * A store of payment records shared by several processes (a Redis key or an SQL row per key); each method
 * must be atomic on its key. An entry is the JSON text the core writes (one format in every language); drop
 * it after `expiresAt` (Unix seconds).
 */
export interface PaymentStore {
  /** Stores `entry` under `key` and resolves to null, or to the live entry already there. */
  claim(key: string, entry: string, expiresAt: number): Promise<string | null>
  /** The live entry under `key`, if any. */
  get(key: string): Promise<string | null>
  /** Stores `entry` under `key` if the live entry there has `token`; resolves to whether it did. */
  replace(key: string, token: string, entry: string, expiresAt: number): Promise<boolean>
  /** Forgets the entry under `key` if it has `token`. */
  release(key: string, token: string): Promise<void>
}

/**
 * The payment store on Redis, shared by every replica of a paid API (Node and Python replicas alike: the key
 * layout and scripts are the core's). `client` is a connected node-redis (`sendCommand`) or ioredis (`call`)
 * client; `prefix` keeps several APIs apart on one Redis.
 */
export declare class RedisStore implements PaymentStore {
  constructor(
    client: { sendCommand(args: string[]): Promise<unknown> } | { call(...args: string[]): Promise<unknown> },
    options?: { prefix?: string },
  )
  claim(key: string, entry: string, expiresAt: number): Promise<string | null>
  get(key: string): Promise<string | null>
  replace(key: string, token: string, entry: string, expiresAt: number): Promise<boolean>
  release(key: string, token: string): Promise<void>
}

/** The gate's own memory store (the default), bounded in entries and bytes. */
export declare class MemoryStore {
  constructor(options?: { maxEntries?: number; maxBytes?: number })
  readonly maxEntries: number
  readonly maxBytes: number
}

/** What a route costs and what its bill says. */
export interface Route {
  tags: PriceTag | PriceTag[]
  description?: string
  mimeType?: string
  /** 1 bills the way v1 clients expect (JSON body, `X-PAYMENT`). */
  x402Version?: 1 | 2
  /** false refuses access receipts on this route (a receipt names a URL, not a method or price). */
  receipts?: boolean
}

/** `"[METHOD] /path"` (`{name}` or `:name` one segment, `{name:path}` or `*` the rest) → price. */
export type Routes = Record<string, PriceTag | PriceTag[] | Route>

export interface MiddlewareOptions {
  /** Default: the public x402.org facilitator (test networks only). */
  facilitator?: Facilitator
  /** Receipts (`X-PAYWIRE-RECEIPT`) accepted instead of a new payment. */
  access?: AccessPolicy
  /** Signs offers into bills and a receipt into each settlement. */
  issuer?: Issuer
  store?: MemoryStore | PaymentStore
  /** Paths are matched with letter case (default false: matching without case only bills more). */
  caseSensitive?: boolean
  /** The app's external origin: bills and receipts name it instead of the client's Host header. */
  publicUrl?: string
  allowOnchainSignatures?: boolean
  /** Default 10 MiB. */
  maxRequestBytes?: number
  /** Default 1 MiB. */
  maxReplayBytes?: number
  /**
   * Seconds after which a payment left in flight by a process that died mid-request is taken over by a retry
   * of the same request (default 300). Replicas sharing a store need it; keep it above your slowest request.
   */
  takeoverAfter?: number
  /** Your code before and after `/verify` and `/settle` and when either fails. */
  hooks?: Hooks
  /**
   * Sign-in-with-x: bills declare it, and a wallet that paid for a resource signs in to it again without paying
   * (`true`, or settings; off by default).
   */
  signIn?: boolean | { statement?: string; accessSeconds?: number; maxAgeSeconds?: number; expirationSeconds?: number }
  /** Where a client that paid gets a pass (a facilitator's base URL), named in bills; `access` must trust its key. */
  passFacilitator?: string
  /**
   * The key of the batch-settlement offers' `extra.receiverAuthorizer`, when the server holds it: it signs their
   * claims and payers' cooperative refunds (without it, the facilitator signs claims and refunds are refused);
   * a batch-settlement tag without `receiverAuthorizer` then takes its address.
   */
  receiverAuthorizer?: LocalSigner
  /**
   * The `/supported` answer of the facilitator given as `facilitator` (`await facilitator.supported()`, read when
   * the middleware is made): fills in what price tags leave out, as the official servers do (an upto tag's
   * `facilitatorAddress`, a batch-settlement tag's `receiverAuthorizer`). Another facilitator's answer would name
   * keys the settling one does not hold.
   */
  supported?: SupportedResponse | Record<string, unknown>
  /**
   * When the middleware claims its batch-settlement charges by itself, in the background: once the oldest
   * charge not claimed is `everySeconds` old (default 300; what an earlier process left counts as
   * served at the first request), once the charges since the last claim reach `atAmount` atomic units (default 0: not by amount), and
   * at once when a payer starts a withdrawal. An `everySeconds` above half a route's withdraw delay (900 s by
   * default) is refused when the middleware is made. `everySeconds: 0` and no `atAmount` leave claims to you
   * (`claim()`, well within the offers' withdraw delay). `tickSeconds` is how often it checks (default 5).
   */
  claims?: { everySeconds?: number; atAmount?: string | number | bigint; tickSeconds?: number }
  logger?: Pick<Console, 'warn' | 'error'> & Partial<Pick<Console, 'info'>>
}

/** What a request paid with (`req.paywire` in Express, `c.get('paywire')` in Hono). */
export interface Paid {
  payer: string
  /** null when the request presented a valid access receipt instead. */
  payment: AcceptedPayment | null
  receipt: Record<string, any> | null
}

/** What a claim did: one claim and one sweep per batch-settlement offer (the facilitator's answers). */
export interface ClaimSummary {
  claims: Array<{ network: string; success: boolean; transaction: string; channels: number; amount: string; errorReason?: string | null; errorMessage?: string | null }>
  settles: Array<{ network: string; success: boolean; transaction: string; amount?: string | null; errorReason?: string | null }>
}
/** A middleware that can claim what its `batch-settlement` routes charged. */
export interface Claiming {
  /** Claims every channel's charges at the facilitator and sweeps them to the receiver (the `claims` schedule also does). */
  claim(): Promise<ClaimSummary>
  /** Stops the scheduled claims (at shutdown; Fastify's plugin does it on close); resolves when a run in progress has ended. */
  close(): Promise<void>
}
/** Express middleware that bills `routes`. */
export declare function paymentMiddleware(routes: Routes, options?: MiddlewareOptions): ((req: any, res: any, next: (err?: any) => void) => void) & Claiming
/** An Express route-level middleware pricing the route it is put on: `app.get(path, paid(tag), handler)`. */
export declare function paid(route: PriceTag | PriceTag[] | Route, options?: MiddlewareOptions): ((req: any, res: any, next: (err?: any) => void) => void) & Claiming
/** Hono middleware that bills `routes`. */
export declare function honoPaymentMiddleware(routes: Routes, options?: MiddlewareOptions): ((c: any, next: () => Promise<void>) => Promise<void>) & Claiming
/**
 * The Fastify plugin: `fastify.register(fastifyPaywire, { routes, facilitator })`; a route can also be priced
 * where it is declared, with `config: { paywire: tag }`. The handler sees what was paid as `request.paywire`.
 * With batch-settlement routes, `await fastify.paywireClaim()` (a `() => Promise<ClaimSummary>` the plugin
 * decorates the instance with) claims the channels' charges and sweeps them.
 */
export declare function fastifyPaywire(fastify: any, options: MiddlewareOptions & { routes?: Routes }, done: (err?: Error) => void): void

/** An MCP client: anything with `callTool` as `@modelcontextprotocol/sdk`'s `Client` has it. */
export interface McpClientLike {
  callTool(params: { name: string; arguments?: Record<string, unknown>; _meta?: Record<string, unknown> }, resultSchema?: any, options?: any): Promise<any>
}

/**
 * Calls MCP tools through `client` and pays the ones that bill, with `payer` under its policy; every other
 * member is the client's. A call is paid at most once; a paid call whose outcome was left open keeps its
 * payment for a retry of the same tool with the same arguments.
 */
export declare class PayingSession {
  constructor(client: McpClientLike, payer: Payer, options?: { hooks?: Hooks })
  readonly client: McpClientLike
  readonly payer: Payer
  /** Calls a tool, paying its bill once; resolves to the tool's result (its settlement in `_meta`). */
  callTool(params: { name: string; arguments?: Record<string, unknown>; _meta?: Record<string, unknown> }, resultSchema?: any, options?: any): Promise<any>
  [member: string]: any
}

/** What a paid tool's handler sees as `extra.paywire`. */
export interface PaidToolCall {
  payer: string
  payment: AcceptedPayment | null
}

/** Options of `PaidTools`: the gate's, for tool calls. */
export interface PaidToolsOptions {
  facilitator?: Facilitator
  store?: MemoryStore | PaymentStore
  allowOnchainSignatures?: boolean
  /** The largest arguments taken, in bytes (default 1 MiB). */
  maxRequestBytes?: number
  maxReplayBytes?: number
  takeoverAfter?: number
  /** Your code before and after `/verify` and `/settle` and when either fails. */
  hooks?: Hooks
  logger?: Pick<Console, 'warn' | 'error'>
}

/** Prices MCP tools on the core's gate. */
export declare class PaidTools {
  constructor(options?: PaidToolsOptions)
  /**
   * A tool callback for `McpServer.registerTool(name, config, callback)`: bills the call, runs `handler` once a
   * payment is verified, and returns its result once the payment has settled.
   */
  tool<A = any>(
    name: string,
    tags: PriceTag | PriceTag[],
    handler: (args: A, extra: any & { paywire: PaidToolCall }) => any | Promise<any>,
    options?: { description?: string },
  ): (args: A, extra: any) => Promise<any>
}

/** The settlement a tool result carries (`_meta["x402/payment-response"]`), or null. */
export declare function toolSettlement(result: any): SettleResponse | null

/** Response headers a browser client must be allowed to read. */
export declare const EXPOSED_HEADERS: string
/** Request headers a browser client sends. */
export declare const ALLOWED_HEADERS: string

declare global {
  namespace Express {
    interface Request {
      paywire?: Paid
    }
  }
}
