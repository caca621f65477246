// paywire on the WebAssembly build of its core, for web pages, web workers and edge runtimes: the paying
// client (`wrapFetch`, `Payer`, `Policy`, `LocalSigner`), the x402 messages, and the payment gate with its Hono
// middleware, with the same names as the Node package. build/wasm.mjs bundles it twice: wasm/paywire.mjs with
// the wasm inlined (browsers, Node, Deno) and wasm/paywire.worker.mjs importing paywire_wasm_bg.wasm as a
// module (Cloudflare Workers and other runtimes that refuse to compile WebAssembly from bytes).

import init from './pkg/paywire_wasm.js'
import wasm from 'paywire:wasm'

await init({ module_or_path: wasm })
// The glue reads the core's constants as it loads, so it loads once the core is ready.
const { default: api } = await import('../lib/wasm.js')

export const {
  VERSION,
  LocalSigner,
  PaymentRequired,
  PaymentRequirements,
  PaymentPayload,
  SettleResponse,
  VerifyResponse,
  SupportedResponse,
  PaymentHeader,
  PreparedPayment,
  PaidFetch,
  PriceTag,
  PricedRoute,
  Gate,
  buildPaymentRequired,
  purchaseKey,
  readPayment,
  readSettlement,
  decodeHeaderJson,
  statusFor,
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
} = api
export default api
