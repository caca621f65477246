// Opens a page in headless Chromium (Debian's, driven by playwright-core) and prints what it leaves in
// window.result as JSON; the page's console goes to stderr. Used by tests/e2e/test_browser.py:
//
//     PAYWIRE_NODE_TEST_DIR=node/test node browser_pay.mjs URL CHROMIUM_PATH
//
// playwright-core is installed in node/test (its package.json pins it).

import { createRequire } from 'node:module'
import { join } from 'node:path'

const { chromium } = createRequire(join(process.env.PAYWIRE_NODE_TEST_DIR, 'package.json'))('playwright-core')

const [url, executablePath] = process.argv.slice(2)
const browser = await chromium.launch({ executablePath, args: ['--disable-gpu'] })
try {
  const page = await browser.newPage()
  page.on('console', (m) => process.stderr.write(`page: ${m.text()}\n`))
  page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`))
  await page.goto(url)
  await page.waitForFunction(() => window.result !== undefined, null, { timeout: 90_000 })
  process.stdout.write(`${JSON.stringify(await page.evaluate(() => window.result))}\n`)
} finally {
  await browser.close()
}
