// The route variants an attacker tries (frameworks.test.mjs, wasm.test.mjs): requests that some framework
// routes to a handler of `/a` or `/dear`, and that must therefore be billed.

import assert from 'node:assert/strict'
import { request } from 'node:http'

/** Requests that some framework routes to a handler of `/a` or `/dear`, and must therefore be billed. */
export const VARIANTS = ['/a', '/A', '/a/', '/A/', '/%61', '//a', '/a//', '/./a', '/x/../a', '/a;x=1', '/dear', '/DEAR', '/dear/', '/Dear//']

/** Sends a raw request line (fetch would normalise `//`, `./` and `..`), returning status and body. */
export function raw(url, path, method = 'GET') {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** No variant of a priced route is served without payment. */
export async function noFreeVariant(url, framework) {
  for (const path of VARIANTS) {
    for (const method of ['GET', 'HEAD']) {
      const r = await raw(url, path, method)
      assert.ok(!(r.status >= 200 && r.status < 300), `${framework}: ${method} ${path} answered ${r.status} unpaid: ${r.body}`)
    }
  }
}
