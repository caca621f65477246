// Bundles the browser build (wasm/paywire.mjs): browser.mjs, the glue of lib/ with its native module
// swapped for the WebAssembly one (wasm/native.js), and the wasm inlined. Run by scripts/build-wasm.sh.

import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

const wasmCore = {
  name: 'paywire-wasm-core',
  setup(b) {
    // lib/*.js require('../native.js'), the napi-rs loader: the browser build takes the wasm core instead.
    b.onResolve({ filter: /^\.\.\/native\.js$/ }, (args) =>
      args.importer.startsWith(join(root, 'lib')) ? { path: join(root, 'wasm', 'native.js') } : undefined)
  },
}

await build({
  entryPoints: [join(root, 'browser.mjs')],
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  loader: { '.wasm': 'binary' },
  plugins: [wasmCore],
  logLevel: 'warning',
  outfile: join(root, 'wasm', 'paywire.mjs'),
})
