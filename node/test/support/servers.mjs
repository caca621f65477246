// Starts and stops HTTP servers on free loopback ports for the end-to-end tests.

import { createServer } from 'node:http'
import { serve } from '@hono/node-server'

/** Serves an Express app; resolves to { url, close }. */
export async function serveExpress(app) {
  const server = createServer(app)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) }
}

/** Serves a Hono app; resolves to { url, close }. */
export async function serveHono(app) {
  const server = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s))
  })
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) }
}
