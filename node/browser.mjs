// paywire for browsers, web workers and edge runtimes: the paying client (`wrapFetch`, `Payer`, `Policy`,
// `LocalSigner` and the x402 messages) on the WebAssembly build of the core, with the same names as the
// Node package. The package's "browser" and "worker" export conditions choose it; `npm run build:wasm`
// bundles it into wasm/paywire.mjs with the wasm inlined.

import init from './wasm/pkg/paywire_wasm.js'
import bytes from './wasm/pkg/paywire_wasm_bg.wasm'

await init({ module_or_path: bytes })

import api from './lib/browser.js'

export const {
  VERSION,
  LocalSigner,
  PaymentRequired,
  PaymentRequirements,
  PaymentPayload,
  SettleResponse,
  PaymentHeader,
  PreparedPayment,
  PaidFetch,
  purchaseKey,
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
} = api
export default api
