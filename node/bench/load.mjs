// The load generator of the serving benchmarks (python/bench/serve.py, node/bench/serve.mjs): GETs `url`, each
// request with its own payment header, `concurrency` at a time over keep-alive connections (node:http, no
// dependencies), and reports paid requests per second. Every answer must be a 200.
//
//   node bench/load.mjs URL HEADERS_FILE [CONCURRENCY]    (HEADERS_FILE: one "name<TAB>value" per line)
//
// Written in Node rather than with httpx because httpx's client, on this 2-core machine, tops out below what
// the servers can take: it measured itself instead of them.
import { readFileSync } from 'node:fs'
import http from 'node:http'
import { pathToFileURL } from 'node:url'

/** Sends one GET per header; resolves to requests per second. */
export async function load(url, headers, concurrency = 8) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency })
  const target = new URL(url)
  const queue = headers.slice()
  const one = ([name, value]) =>
    new Promise((resolve, reject) => {
      const req = http.request(
        { host: target.hostname, port: target.port, path: target.pathname + target.search, agent, headers: { [name]: value } },
        (res) => {
          const chunks = []
          res.on('data', (c) => chunks.push(c))
          res.on('end', () =>
            res.statusCode === 200
              ? resolve()
              : reject(new Error(`${res.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 200)}`)),
          )
        },
      )
      req.on('error', reject)
      req.end()
    })
  const worker = async () => {
    while (queue.length > 0) await one(queue.pop())
  }
  const start = process.hrtime.bigint()
  await Promise.all(Array.from({ length: concurrency }, worker))
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  agent.destroy()
  return headers.length / seconds
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [url, file, concurrency = '8'] = process.argv.slice(2)
  const headers = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => line.split('\t'))
  console.log(JSON.stringify({ requestsPerSecond: await load(url, headers, Number(concurrency)) }))
}
