// Bundles the WebAssembly build twice from wasm/entry.mjs, the glue of lib/ with its native module swapped
// for the wasm one (wasm/native.js): wasm/paywire.mjs with the wasm inlined (browsers, Node, Deno), and
// wasm/paywire.worker.mjs importing wasm/paywire_wasm_bg.wasm as a module (Cloudflare Workers, Vercel Edge:
// runtimes that refuse to compile WebAssembly from bytes). Run by scripts/build-wasm.sh.

import { copyFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const wasmFile = join(root, 'wasm', 'pkg', 'paywire_wasm_bg.wasm')

function wasmCore(inline) {
  return {
    name: 'paywire-wasm-core',
    setup(b) {
      // lib/*.js require('../native.js'), the napi-rs loader: this build takes the wasm core instead.
      b.onResolve({ filter: /^\.\.\/native\.js$/ }, (args) =>
        args.importer.startsWith(join(root, 'lib')) ? { path: join(root, 'wasm', 'native.js') } : undefined)
      // The wasm itself: inlined as bytes, or left as an import of the file next to the bundle.
      b.onResolve({ filter: /^paywire:wasm$/ }, () =>
        inline ? { path: wasmFile } : { path: './paywire_wasm_bg.wasm', external: true })
    },
  }
}

for (const [inline, out] of [[true, 'paywire.mjs'], [false, 'paywire.worker.mjs']]) {
  await build({
    entryPoints: [join(root, 'wasm', 'entry.mjs')],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    loader: { '.wasm': 'binary' },
    plugins: [wasmCore(inline)],
    logLevel: 'warning',
    outfile: join(root, 'wasm', out),
  })
}
copyFileSync(wasmFile, join(root, 'wasm', 'paywire_wasm_bg.wasm'))
