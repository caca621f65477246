"""An agent paying for an API with httpx: a 402 is paid under the policy and the request retried.

    PAYWIRE_KEY=0x... python agent.py http://127.0.0.1:8000/weather

The key's address needs USDC on the bill's network (Base Sepolia testnet USDC is free from Circle's faucet).
Where a server asks for Permit2 and offers to sponsor its approval (``eip2612GasSponsoring``), name a JSON-RPC
endpoint for the network, ``PAYWIRE_RPC_URLS=eip155:84532=https://...`` (comma-separated for more): the
payer's Permit2 allowance and EIP-2612 nonce are read there, and a payer who never approved Permit2 pays
with a permit instead of a transaction of its own.
"""

import os
import sys

import httpx

import paywire
import paywire.httpx

url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/weather"
signer = paywire.LocalSigner(os.environ["PAYWIRE_KEY"])
# At most $0.01 per request and $1 in all; only the known stablecoins.
payer = paywire.Payer(signer, paywire.Policy(max_per_payment="$0.01", budget="$1"))

# "eip155:84532=https://...,eip155:8453=https://..." as {network: url}.
rpc_urls = dict(entry.split("=", 1) for entry in os.environ.get("PAYWIRE_RPC_URLS", "").split(",") if "=" in entry)

with httpx.Client(transport=paywire.httpx.PaymentTransport(payer, rpc_urls=rpc_urls), timeout=30) as client:
    try:
        response = client.get(url)
    except paywire.PaywireError as e:  # the bill broke the policy, or the signer failed
        sys.exit(f"not paid: {e.message} [{e.code}]")

print(response.status_code, response.text)
receipt = paywire.httpx.settlement(response)
if receipt is not None:
    print(f"paid {payer.spent_usd} from {signer.address}; transaction {receipt.transaction} on {receipt.network}")
# Like the Node agent and `paywire fetch`: success only for a 2xx answer.
sys.exit(0 if 200 <= response.status_code < 300 else 1)
