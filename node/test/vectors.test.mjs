// Every file of tests/vectors/ through the Node API (formats: tests/vectors/README.md). The Rust runner
// (core/tests/vectors.rs) and the Python suite (python/tests/test_vectors.py) run the same files.

import { describe, it, test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'

import * as paywire from 'paywire'
import { vectorRunners } from './support/vector-runners.mjs'

const VECTORS = new URL('../../tests/vectors/', import.meta.url)

const load = (file) => JSON.parse(readFileSync(new URL(`${file}.json`, VECTORS), 'utf8'))
const RUNNERS = vectorRunners(paywire)

const FILES = readdirSync(VECTORS)
  .filter((name) => name.endsWith('.json'))
  .map((name) => name.slice(0, -'.json'.length))
  .sort()

test('every vector file has a Node runner, and every runner a file', () => {
  assert.deepEqual(FILES, Object.keys(RUNNERS).sort())
})

test('the asset table has exactly the vector entries', () => {
  assert.equal(paywire.knownAssets().length, load('assets').cases.length)
})

let total = 0
let passed = 0

for (const file of FILES.filter((f) => Object.hasOwn(RUNNERS, f))) {
  const data = load(file)
  describe(file, () => {
    it('is a non-empty formatVersion 1 file with unique case names', () => {
      assert.equal(data.formatVersion, 1)
      assert.ok(Array.isArray(data.cases) && data.cases.length > 0, `${file}.json has no cases`)
      const names = data.cases.map((c) => c.name)
      assert.equal(new Set(names).size, names.length, 'duplicate case names')
    })
    for (const [index, c] of (data.cases ?? []).entries()) {
      total += 1
      it(c.name, async () => {
        await RUNNERS[file](c, index)
        passed += 1
      })
    }
  })
}

// Registered last, so it runs after every case: the count, and a failure that says how many failed.
test('every vector case ran and passed', (t) => {
  t.diagnostic(`vectors: ${passed} of ${total} cases passed in ${FILES.length} files`)
  assert.ok(total > 0, 'no cases')
  assert.equal(passed, total, `${total - passed} of ${total} vector cases failed`)
})
