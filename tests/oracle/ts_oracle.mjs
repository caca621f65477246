#!/usr/bin/env node
// The official x402 TypeScript SDKs (@x402/core, @x402/evm, @x402/extensions 2.27, viem 2.55) as an oracle
// for paywire's tests. Reads one JSON request per line on stdin and answers one JSON line each:
//   {"id": N, "op": "...", ...}  ->  {"id": N, "ok": true, "result": ...} | {"id": N, "ok": false, "error": "..."}
//
// Determinism: the SDK clients read the clock once (Date.now) and 32 random bytes once
// (crypto.getRandomValues) per payment; requests that sign pin both. Signing itself is RFC 6979.

import readline from "node:readline";

let pinnedNow = null;
let pinnedRandom = null;
const realNow = Date.now;
Date.now = () => (pinnedNow === null ? realNow() : pinnedNow * 1000);
const realRandom = globalThis.crypto.getRandomValues.bind(globalThis.crypto);
globalThis.crypto.getRandomValues = (arr) => {
  if (pinnedRandom === null) return realRandom(arr);
  const out = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = pinnedRandom[i % pinnedRandom.length];
  return arr;
};

const { x402Client, x402HTTPClient } = await import("@x402/core/client");
const http = await import("@x402/core/http");
const { x402Facilitator } = await import("@x402/core/facilitator");
const { registerExactEvmScheme: registerClient } = await import("@x402/evm/exact/client");
const { registerExactEvmScheme: registerFacilitator } = await import("@x402/evm/exact/facilitator");
const { ExactEvmScheme: ExactServer } = await import("@x402/evm/exact/server");
const batchClient = await import("@x402/evm/batch-settlement/client");
const evm = await import("@x402/evm");
const ext = await import("@x402/extensions");
const viem = await import("viem");
const { privateKeyToAccount, sign: viemSign } = await import("viem/accounts");

const fromHex = (h) => Uint8Array.from(Buffer.from(h.replace(/^0x/, ""), "hex"));
const toJson = (v) => JSON.parse(JSON.stringify(v, (_, x) => (typeof x === "bigint" ? x.toString() : x)));

async function withPinned(now, nonce, fn) {
  pinnedNow = now ?? null;
  pinnedRandom = nonce ? fromHex(nonce) : null;
  try {
    return await fn();
  } finally {
    pinnedNow = null;
    pinnedRandom = null;
  }
}

// ---- client: bill -> payment header (default spend controls: known assets, $1 cap). With `eip2612Nonce`, the
// signer can read the chain (allowance 0, that nonce), so a Permit2 offer gets an EIP-2612 permit; with
// `paymentId`, the id goes into the payment-identifier extension as the SDK's helper puts it.
async function pay({ bill, key, now, nonce, eip2612Nonce, paymentId }) {
  let signer = privateKeyToAccount(key);
  if (eip2612Nonce !== undefined) {
    const reads = { nonces: BigInt(eip2612Nonce), allowance: 0n };
    signer = { ...signer, readContract: async ({ functionName }) => reads[functionName] };
  }
  // batch-settlement: a fresh in-memory channel store (no chain to recover from), so a first payment deposits
  // `extra.minDeposit` (or five prices) and signs a voucher for one price.
  const core = registerClient(new x402Client(), { signer })
    .register("eip155:*", new batchClient.BatchSettlementEvmScheme(signer));
  const client = new x402HTTPClient(core);
  const headers = bill.header ? { "payment-required": bill.header } : {};
  const body = typeof bill.body === "string" ? JSON.parse(bill.body) : bill.body;
  const pr = client.getPaymentRequiredResponse((n) => headers[n.toLowerCase()] ?? null, body);
  if (paymentId) ext.appendPaymentIdentifierToExtensions(pr.extensions, paymentId);
  const payload = await withPinned(now, nonce, () => client.createPaymentPayload(pr));
  const [headerName, headerValue] = Object.entries(client.encodePaymentSignatureHeader(payload))[0];
  const index = pr.x402Version === 1
    ? pr.accepts.findIndex((a) => a.scheme === payload.scheme && a.network === payload.network)
    : pr.accepts.findIndex((a) => JSON.stringify(a) === JSON.stringify(payload.accepted));
  return { headerName, headerValue, payload, index };
}

// ---- facilitator verification, offline: the payer is an EOA (no code), the asset and Permit2 contracts
// have code, simulations succeed. Signature checks are the SDK's own (hash + ecrecover).
async function verify({ payload, requirements, now }) {
  const contracts = new Set([requirements.asset, evm.PERMIT2_ADDRESS, evm.x402ExactPermit2ProxyAddress].map((a) => a.toLowerCase()));
  const signer = {
    getAddresses: () => ["0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"],
    getCode: async ({ address }) => (contracts.has(address.toLowerCase()) ? "0x6080604052" : "0x"),
    readContract: async ({ functionName }) => ({
      transferWithAuthorization: undefined, settle: undefined, settleWithPermit: undefined,
      balanceOf: 10n ** 30n, allowance: 2n ** 256n - 1n, authorizationState: false,
      name: requirements.extra?.name, version: requirements.extra?.version, PERMIT2: evm.PERMIT2_ADDRESS,
    })[functionName],
    verifyTypedData: (p) => viem.verifyTypedData(p),
    writeContract: async () => { throw new Error("offline"); },
    sendTransaction: async () => { throw new Error("offline"); },
    waitForTransactionReceipt: async () => { throw new Error("offline"); },
  };
  const facilitator = new x402Facilitator();
  const networks = requirements.network.startsWith("eip155:") ? [requirements.network] : ["eip155:84532"];
  registerFacilitator(facilitator, { signer, networks });
  return withPinned(now, null, async () => {
    try {
      return toJson(await facilitator.verify(payload, requirements));
    } catch (e) {
      // The SDK throws for payments it cannot even route (no scheme registered for them).
      return { isValid: false, invalidReason: `exception: ${e?.message ?? e}` };
    }
  });
}

// ---- EIP-712 digests and signatures with viem
function domainSeparator({ domain }) {
  return viem.hashDomain({ domain, types: { EIP712Domain: eip712DomainFields(domain) } });
}
function eip712DomainFields(domain) {
  const all = [["name", "string"], ["version", "string"], ["chainId", "uint256"], ["verifyingContract", "address"]];
  return all.filter(([k]) => domain[k] !== undefined).map(([name, type]) => ({ name, type }));
}
const TYPES = {
  TransferWithAuthorization: evm.authorizationTypes,
  PermitWitnessTransferFrom: evm.permit2WitnessTypes,
  Permit: { Permit: [
    { name: "owner", type: "address" }, { name: "spender", type: "address" }, { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" },
  ] },
};
// batch-settlement's types as @x402/evm signs them; ChannelConfig and ReceiveWithAuthorization are not exported,
// so they are written here from the spec, and `channelId` checks the first against the SDK's computeChannelId.
Object.assign(TYPES, {
  Voucher: evm.voucherTypes,
  Refund: evm.refundTypes,
  ClaimBatch: evm.claimBatchTypes,
  ReceiveWithAuthorization: { ReceiveWithAuthorization: evm.authorizationTypes.TransferWithAuthorization },
  ChannelConfig: { ChannelConfig: [
    { name: "payer", type: "address" }, { name: "payerAuthorizer", type: "address" },
    { name: "receiver", type: "address" }, { name: "receiverAuthorizer", type: "address" },
    { name: "token", type: "address" }, { name: "withdrawDelay", type: "uint40" }, { name: "salt", type: "bytes32" },
  ] },
});
function channelId({ config, network }) {
  return batchClient.computeChannelId(config, network);
}
async function signTyped({ key, domain, primaryType, message }) {
  const typed = { domain, types: TYPES[primaryType], primaryType, message };
  const digest = viem.hashTypedData(typed);
  const signature = await privateKeyToAccount(key).signTypedData(typed);
  return { digest, domainSeparator: domainSeparator({ domain }), signature };
}

// ---- server: price -> amount, asset, extra
async function price({ price, network }) {
  return toJson(await new ExactServer().parsePrice(price, network));
}

// ---- header codecs
function encode({ kind, value }) {
  return { PaymentRequired: http.encodePaymentRequiredHeader, PaymentPayload: http.encodePaymentSignatureHeader,
    SettleResponse: http.encodePaymentResponseHeader }[kind](value);
}
function decode({ kind, value }) {
  return { PaymentRequired: http.decodePaymentRequiredHeader, PaymentPayload: http.decodePaymentSignatureHeader,
    SettleResponse: http.decodePaymentResponseHeader }[kind](value);
}

// ---- offer-receipt credentials (EIP-712 and JWS ES256K with a did:key kid)
// A JWS ES256K signer is user code in @x402/extensions; this one signs SHA-256 of the signing input with
// RFC 6979 (viem) and names its key by did:key, which the SDK resolves when verifying.
function jwsSigner(key) {
  const pub = viem.hexToBytes(privateKeyToAccount(key).publicKey);
  const compressed = new Uint8Array([pub[64] % 2 === 0 ? 2 : 3, ...pub.slice(1, 33)]);
  const id = "z" + base58([0xe7, 0x01, ...compressed]);
  return {
    kid: `did:key:${id}#${id}`, format: "jws", algorithm: "ES256K",
    sign: async (bytes) => {
      const sig = viem.hexToBytes(await viemSign({ hash: viem.sha256(bytes), privateKey: key, to: "hex" }));
      return Buffer.from(sig.slice(0, 64)).toString("base64url");
    },
  };
}
function base58(bytes) {
  const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  let n = BigInt("0x" + Buffer.from(bytes).toString("hex"));
  let out = "";
  while (n > 0n) { out = alphabet[Number(n % 58n)] + out; n /= 58n; }
  for (const b of bytes) { if (b === 0) out = "1" + out; else break; }
  return out;
}
async function credentials({ key, now, resourceUrl, requirements, payer, network, transaction }) {
  const account = privateKeyToAccount(key);
  const signTypedData = (t) => account.signTypedData(t);
  const jws = jwsSigner(key);
  const offerInput = { acceptIndex: 0, ...requirements, offerValiditySeconds: 60 };
  return withPinned(now, null, async () => ({
    signer: account.address,
    kid: jws.kid,
    offers: [await ext.createOfferEIP712(resourceUrl, offerInput, signTypedData), await ext.createOfferJWS(resourceUrl, offerInput, jws)],
    receipts: [
      await ext.createReceiptEIP712({ resourceUrl, payer, network, transaction }, signTypedData),
      await ext.createReceiptEIP712({ resourceUrl, payer, network }, signTypedData),
      await ext.createReceiptJWS({ resourceUrl, payer, network, transaction }, jws),
      await ext.createReceiptJWS({ resourceUrl, payer, network }, jws),
    ],
  }));
}
async function verifyCredential({ kind, credential }) {
  if (credential.format === "eip712") {
    const r = kind === "offer" ? await ext.verifyOfferSignatureEIP712(credential) : await ext.verifyReceiptSignatureEIP712(credential);
    return { signer: r.signer, payload: r.payload };
  }
  const payload = kind === "offer" ? await ext.verifyOfferSignatureJWS(credential) : await ext.verifyReceiptSignatureJWS(credential);
  return { payload };
}

// ---- sign-in-with-x: the official client's payload and header for a server's info, and its own check
async function siwx({ info, chainId, key, requestUrl }) {
  const account = privateKeyToAccount(key);
  const payload = await ext.createSIWxPayload({ ...info, chainId, type: "eip191" }, account, requestUrl);
  const verified = await ext.verifySIWxSignature(payload);
  return { message: ext.createSIWxMessage({ ...info, chainId, type: "eip191" }, account.address), payload, header: ext.encodeSIWxHeader(payload), valid: verified.valid ?? verified.isValid };
}

// ---- the tables the SDK ships: v1 network names, default assets
async function tables() {
  const v1 = await import("@x402/evm/v1");
  return { networks: v1.EVM_NETWORK_CHAIN_ID_MAP, assets: evm.DEFAULT_ASSETS };
}

const OPS = { tables, pay, channelId, verify, domainSeparator, signTyped, price, encode, decode, credentials, verifyCredential, siwx };

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let req;
  try {
    req = JSON.parse(line);
    const result = await OPS[req.op](req);
    process.stdout.write(JSON.stringify({ id: req.id, ok: true, result: toJson(result) }) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ id: req?.id, ok: false, error: String(e?.message ?? e) }) + "\n");
  }
}
