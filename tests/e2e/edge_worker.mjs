// Bundles apps/edge/worker.mjs for workerd as wrangler would (the "workerd" and "worker" export conditions,
// the wasm left as a module import) and writes a workerd config that serves it on 127.0.0.1:PORT:
//
//     node edge_worker.mjs OUT_DIR PORT PAY_TO FACILITATOR_URL [PUBLIC_URL [UPTO_FACILITATOR]]
//
// esbuild comes from node/ (PAYWIRE_NODE_DIR); paywire and hono from node/test (PAYWIRE_NODE_TEST_DIR), where
// the packed paywire is installed.

import { copyFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const [out, port, payTo, facilitatorUrl, publicUrl = '', uptoFacilitator = ''] = process.argv.slice(2)
const here = dirname(fileURLToPath(import.meta.url))
const nodeDir = process.env.PAYWIRE_NODE_DIR
const testDir = process.env.PAYWIRE_NODE_TEST_DIR
const { build } = createRequire(join(nodeDir, 'package.json'))('esbuild')

await build({
  entryPoints: [join(here, 'apps', 'edge', 'worker.mjs')],
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  conditions: ['workerd', 'worker', 'browser'],
  mainFields: ['module', 'main'],
  nodePaths: [join(testDir, 'node_modules')],
  plugins: [{
    name: 'wasm-module',
    setup(b) {
      b.onResolve({ filter: /\.wasm$/ }, () => ({ path: 'paywire_wasm_bg.wasm', external: true }))
    },
  }],
  logLevel: 'warning',
  outfile: join(out, 'worker.mjs'),
})
copyFileSync(join(testDir, 'node_modules', 'paywire', 'wasm', 'paywire_wasm_bg.wasm'), join(out, 'paywire_wasm_bg.wasm'))

const text = (s) => JSON.stringify(s)
writeFileSync(join(out, 'config.capnp'), `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = ${text(`127.0.0.1:${port}`)}, http = (), service = "main")],
);

const worker :Workerd.Worker = (
  modules = [
    (name = "worker.mjs", esModule = embed "worker.mjs"),
    (name = "paywire_wasm_bg.wasm", wasm = embed "paywire_wasm_bg.wasm"),
  ],
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "PAY_TO", text = ${text(payTo)}),
    (name = "FACILITATOR_URL", text = ${text(facilitatorUrl)}),
    (name = "PUBLIC_URL", text = ${text(publicUrl)}),
    (name = "UPTO_FACILITATOR", text = ${text(uptoFacilitator)}),
  ],
  globalOutbound = "internet",
);
`)
