// The package as users get it: the packed tarball installs and loads in an empty folder (CommonJS and
// ESM), both entry points export the same API, the types cover it, and errors are PaywireError.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as esm from 'paywire'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const cjs = require('paywire')

/** The tarball `npm pack` made (scripts/test.sh packs into node/dist before the tests). */
function tarball() {
  const dist = resolve(here, '..', 'dist')
  const found = readdirSync(dist).filter((f) => /^paywire-.*\.tgz$/.test(f))
  assert.equal(found.length, 1, `expected one paywire tarball in ${dist}, found ${found}`)
  return join(dist, found[0])
}

test('the tarball installs and loads in an empty folder, from CommonJS and ESM', () => {
  const dir = mkdtempSync(join(tmpdir(), 'paywire-install-'))
  try {
    writeFileSync(join(dir, 'package.json'), '{"name":"empty","private":true}')
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', tarball()], { cwd: dir, stdio: 'pipe' })
    const cjsOut = execFileSync(process.execPath, ['-e', `
      const p = require('paywire'); const s = new p.LocalSigner('0x' + '11'.repeat(32));
      const tag = new p.PriceTag({ network: 'eip155:8453', payTo: '0x' + '22'.repeat(20), price: '$0.01' });
      const bill = p.buildPaymentRequired('https://api.example.com/x', [tag]);
      const h = new p.Payer(s).paySync(bill);
      console.log(p.checkPayment(bill, p.readPayment({ [h.name]: h.value })).verified.payer)`], { cwd: dir }).toString().trim()
    assert.equal(cjsOut, '0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A')
    const esmOut = execFileSync(process.execPath, ['--input-type=module', '-e', `
      import { LocalSigner, VERSION } from 'paywire'; import def from 'paywire';
      console.log(new LocalSigner('0x' + '11'.repeat(32)).address, VERSION === def.VERSION)`], { cwd: dir }).toString().trim()
    assert.equal(esmOut, '0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A true')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('the ESM and CommonJS entry points export the same names and objects', () => {
  const esmNames = Object.keys(esm).filter((k) => k !== 'default').sort()
  assert.deepEqual(esmNames, Object.keys(cjs).sort())
  // biome-ignore lint/performance/noDynamicNamespaceImportAccess: the test compares every export by name.
  for (const name of esmNames) assert.equal(esm[name], cjs[name], name)
  assert.equal(esm.default, cjs)
})

test('index.d.ts declares every runtime export', () => {
  const dts = readFileSync(join(dirname(require.resolve('paywire/package.json')), 'index.d.ts'), 'utf8')
  const missing = Object.keys(cjs).filter((k) => !new RegExp(`\\b${k}\\b`).test(dts))
  assert.deepEqual(missing, [])
})

test('TypeScript code using the public API type-checks under --strict', () => {
  const tsc = join(here, 'node_modules', 'typescript', 'bin', 'tsc')
  execFileSync(process.execPath, [tsc, '-p', join(here, 'types')], { stdio: 'pipe' })
})

test('errors are PaywireError with a code, a category and an actionable message', () => {
  assert.throws(() => esm.chainId('nowhere'), (e) => {
    assert.ok(e instanceof esm.PaywireError)
    assert.equal(e.code, 'invalid_network')
    assert.equal(e.category, 'configuration')
    assert.match(e.message, /CAIP-2/)
    return true
  })
  // Wrong argument types are coded too, not napi's own errors.
  assert.throws(() => esm.chainId(42), (e) => e instanceof esm.PaywireError && e.code === 'invalid_argument')
  assert.throws(() => new esm.LocalSigner('0x1234'), (e) => e.code === 'invalid_private_key' && !e.message.includes('1234'))
  assert.throws(() => esm.PaymentPayload.fromHeader('not base64!'), (e) => e.category === 'malformed_input')
  assert.equal(esm.statusFor(new esm.PaywireError('facilitator_unreachable', 'x')), 502)
  assert.equal(esm.errorCategory('invalid_exact_evm_payload_signature'), 'refused')
})

test('a LocalSigner never shows its key', () => {
  const key = `0x${'11'.repeat(32)}`
  const s = new esm.LocalSigner(key)
  for (const text of [String(s), JSON.stringify(s), require('node:util').inspect(s, { showHidden: true, depth: 5 })]) {
    assert.ok(!text.includes('11'.repeat(32)), text)
  }
})
