// Compiles the contracts the local chain needs beyond USDC, with npm `solc` (pure JS, no download), and
// writes their runtime code with the canonical addresses the x402 SDKs use, for `anvil_setCode`:
//
//   - Permit2, from the sources that npm @uniswap/v4-periphery ships (lib/permit2), with Permit2's own
//     settings (solc 0.8.17, via-IR, 1,000,000 optimizer runs). Its immutables are left zero in runtime
//     code, so its EIP-712 domain is computed from the chain id and its own (canonical) address.
//   - the x402 Permit2 proxies and the batch-settlement contracts (tests/contracts): test contracts written
//     by paywire from the x402 specification, not the audited deployments.
//
//   node scripts/build-contracts.mjs <node_modules dir> <output.json>
import { readFileSync, writeFileSync, readdirSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const [modules, output] = process.argv.slice(2);
if (!modules || !output) {
  console.error("usage: node scripts/build-contracts.mjs <node_modules dir> <output.json>");
  process.exit(2);
}
const require = createRequire(join(resolve(modules), "noop.js"));
const solc = require("solc");
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const permit2 = join(resolve(modules), "@uniswap/v4-periphery/lib/permit2");
const ours = join(root, "tests/contracts");

// Where an import is read from: permit2/… and solmate/… from the npm package, the rest from tests/contracts.
function read(path) {
  const file = path.startsWith("permit2/")
    ? join(permit2, path.slice("permit2/".length))
    : path.startsWith("solmate/")
      ? join(permit2, "lib", path)
      : join(ours, path);
  try {
    return { contents: readFileSync(file, "utf8") };
  } catch (e) {
    return { error: `cannot read ${path}: ${e.message}` };
  }
}

function compile(sources, settings) {
  const input = {
    language: "Solidity",
    sources: Object.fromEntries(sources.map((s) => [s, { content: read(s).contents }])),
    settings: { ...settings, outputSelection: { "*": { "*": ["evm.deployedBytecode.object"] } } },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input), { import: read }));
  const errors = (out.errors || []).filter((e) => e.severity === "error");
  if (errors.length) {
    console.error(errors.map((e) => e.formattedMessage).join("\n"));
    process.exit(1);
  }
  return out.contracts;
}

const metadata = { bytecodeHash: "none" };
const p2 = compile(["permit2/src/Permit2.sol"], {
  viaIR: true,
  optimizer: { enabled: true, runs: 1000000 },
  metadata,
});
const proxies = compile(
  readdirSync(ours).filter((f) => f.endsWith(".sol")),
  { optimizer: { enabled: true, runs: 200 }, metadata },
);
const code = (contracts, file, name) => "0x" + contracts[file][name].evm.deployedBytecode.object;
const placed = {
  solc: solc.version(),
  contracts: {
    Permit2: {
      address: "0x000000000022D473030F116dDEE9F6B43aC78BA3",
      code: code(p2, "permit2/src/Permit2.sol", "Permit2"),
    },
    x402ExactPermit2Proxy: {
      address: "0x402085c248EeA27D92E8b30b2C58ed07f9E20001",
      code: code(proxies, "x402ExactPermit2Proxy.sol", "x402ExactPermit2Proxy"),
    },
    x402UptoPermit2Proxy: {
      address: "0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002",
      code: code(proxies, "x402UptoPermit2Proxy.sol", "x402UptoPermit2Proxy"),
    },
    x402BatchSettlement: {
      address: "0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003",
      code: code(proxies, "x402BatchSettlement.sol", "x402BatchSettlement"),
    },
    ERC3009DepositCollector: {
      address: "0x4020806089470a89826cB9fB1f4059150b550004",
      code: code(proxies, "ERC3009DepositCollector.sol", "ERC3009DepositCollector"),
    },
    Permit2DepositCollector: {
      address: "0x4020425FAf3B746C082C2f942b4E5159887B0005",
      code: code(proxies, "Permit2DepositCollector.sol", "Permit2DepositCollector"),
    },
  },
};
writeFileSync(output, JSON.stringify(placed, null, 1) + "\n");
