// paywire's Node paying session calling a paid MCP tool of a server it starts over stdio:
//
//   PAYWIRE_NODE_TEST_DIR=node/test PRIVATE_KEY=0x... SERVER_COMMAND=python SERVER_ARGS='["mcp_server.py"]' node mcp_agent.mjs
//
// Prints the tool result as JSON on one line.
import { createRequire } from 'node:module'
import path from 'node:path'

const require = createRequire(path.join(process.env.PAYWIRE_NODE_TEST_DIR, 'package.json'))
const { Client } = require('@modelcontextprotocol/sdk/client/index.js')
const { StdioClientTransport } = require('@modelcontextprotocol/sdk/client/stdio.js')
const paywire = require('paywire')

const client = new Client({ name: 'agent', version: '1.0.0' })
await client.connect(new StdioClientTransport({
  command: process.env.SERVER_COMMAND,
  args: JSON.parse(process.env.SERVER_ARGS),
  env: process.env,
}))
const payer = new paywire.Payer(new paywire.LocalSigner(process.env.PRIVATE_KEY))
const result = await new paywire.PayingSession(client, payer).callTool({ name: 'get_weather', arguments: { city: 'Lagos' } })
console.log(JSON.stringify(result))
await client.close()
