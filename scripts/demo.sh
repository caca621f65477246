#!/usr/bin/env bash
# paywire's main job, locally: a server bills, an agent decodes the bill, pays it under the default spend
# policy, and the server verifies the payment offline, all with the `paywire` CLI (the on-chain demo with a
# facilitator arrives with the system issue). PAYWIRE_DEMO_PRICE (up to $1, the default policy's cap),
# PAYWIRE_DEMO_NETWORK (any network with a default stablecoin, e.g. eip155:4326 for a Permit2 token) and
# PAYWIRE_DEMO_PAY_TO vary the bill.
set -euo pipefail
cd "$(dirname "$0")/.."

price=${PAYWIRE_DEMO_PRICE:-\$0.01}
network=${PAYWIRE_DEMO_NETWORK:-eip155:84532}
pay_to=${PAYWIRE_DEMO_PAY_TO:-0x209693Bc6afc0C5328bA36FaF03C514EF312287C}

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
field() { python3 -c "import json,sys; v=json.load(sys.stdin); print($1)"; }
now_ms() { python3 -c 'import time; print(int(time.time()*1000))'; }

say "Building the paywire CLI"
cargo build --locked --quiet -p paywire-cli
pw=${CARGO_TARGET_DIR:-target}/debug/paywire
start=$(now_ms)

say "1. The server answers 402 with a bill: $price on $network"
bill=$($pw bill --price "$price" --network "$network" --pay-to "$pay_to" --resource https://api.example.com/weather)
challenge=$(echo "$bill" | field 'v["value"]')
echo "PAYMENT-REQUIRED: ${challenge:0:72}…"

say "2. The agent decodes it"
$pw decode "$challenge" | field 'json.dumps(v["decoded"]["accepts"][0], indent=2)'

say "3. The agent has a key (a fresh one here)"
key=$($pw keygen)
export PAYWIRE_DEMO_KEY=$(echo "$key" | field 'v["privateKey"]')
agent=$(echo "$key" | field 'v["address"]')
echo "agent address: $agent"

say "4. The agent pays: chooses the offer under its policy (known stablecoins, at most \$1) and signs it"
paid=$($pw pay --key-env PAYWIRE_DEMO_KEY --bill "$challenge")
header=$(echo "$paid" | field 'v["value"]')
echo "$paid" | field '"%s: %s…" % (v["header"], v["value"][:72])'
echo "$paid" | field 'json.dumps({k: x for k, x in v["payload"]["payload"].items() if k != "signature"}, indent=2)'

say "5. The server verifies the payment offline (signature, payee, amount, time window)"
$pw verify --payment "$header" --bill "$challenge"

say "6. A payment for less than the bill is refused, with x402's reason"
tampered=$(echo "$paid" | python3 -c '
import base64, json, sys
p = json.load(sys.stdin)["payload"]
auth = p["payload"].get("authorization") or p["payload"]["permit2Authorization"]
(auth["permitted"] if "permitted" in auth else auth)["amount" if "permitted" in auth else "value"] = "1"
print(base64.b64encode(json.dumps(p, separators=(",", ":")).encode()).decode())')
set +e
$pw verify --payment "$tampered" --bill "$challenge"
code=$?
set -e
if [ "$code" -ne 1 ]; then echo "expected exit 1 for an invalid payment, got $code" >&2; exit 1; fi

say "Done in $(( $(now_ms) - start )) ms: billed, paid by $agent, verified; the forged payment was refused."
