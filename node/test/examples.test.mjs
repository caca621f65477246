// The examples in node/examples run as a user runs them (from a folder where paywire and express are
// installed): the paid API serves, the agent pays it through a facilitator on loopback.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'
import { FacilitatorDouble } from './support/facilitator.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const KEY = `0x${'4c'.repeat(32)}`

function run(script, env) {
  const child = spawn(process.execPath, [script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  child.out = ''
  child.stdout.on('data', (d) => { child.out += d })
  child.stderr.on('data', (d) => { child.out += d })
  return child
}

test('the agent example pays the paid-API example', async () => {
  // Inside node/test so that `paywire` and `express` resolve from its node_modules.
  const dir = mkdtempSync(join(here, '.examples-'))
  const facilitator = new FacilitatorDouble()
  const url = await facilitator.listen()
  let api
  try {
    for (const f of ['paid-api.mjs', 'agent.mjs']) copyFileSync(resolve(here, '..', 'examples', f), join(dir, f))
    api = run(join(dir, 'paid-api.mjs'), { PORT: '0', FACILITATOR_URL: url })
    while (!/paid API on (\S+)/.test(api.out)) {
      const [chunk] = await Promise.race([once(api.stdout, 'data'), once(api, 'exit').then(() => { throw new Error(api.out) })])
      void chunk
    }
    const base = api.out.match(/paid API on (\S+)/)[1]
    const unpaid = await fetch(`${base}/weather`)
    assert.equal(unpaid.status, 402)
    const agent = run(join(dir, 'agent.mjs'), { PRIVATE_KEY: KEY, API_URL: `${base}/weather` })
    const [code] = await once(agent, 'exit')
    assert.equal(code, 0, agent.out)
    assert.match(
      agent.out,
      /^#1 200 \d+ ms: paid 0\.001 USDC from 0x[0-9a-fA-F]{40} in transaction 0x[0-9a-f]{64}; \{"city":"Lisbon","tempC":21,"paidBy":"0x[0-9a-fA-F]{40}"\}$/m,
    )
    assert.match(agent.out, /^spent \$0\.001 in all$/m)
    assert.equal(facilitator.settled.length, 1)
  } finally {
    api?.kill()
    await facilitator.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
