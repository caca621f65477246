"""The demo (scripts/demo.py, which scripts/demo.sh runs) pointed by its environment variables at a chain and
a facilitator it did not start: this suite's. (scripts/test.sh also runs scripts/demo.sh as is.)"""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import PAY_TO, PRICE_ATOMIC, ROOT, Chain, Facilitator, payer_key

import paywire


def test_the_demo_pays_through_another_chain_and_facilitator(chain: Chain, facilitator: Facilitator) -> None:
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = chain.balance(payer), chain.balance(PAY_TO)
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        env={**os.environ, "PAYWIRE_DEMO_RPC_URL": chain.rpc_url, "PAYWIRE_DEMO_FACILITATOR_URL": facilitator.url,
             "PAYWIRE_DEMO_KEY": key, "PAYWIRE_DEMO_REQUESTS": "3", "PAYWIRE_DEMO_PAY_TO": PAY_TO},
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"using the chain at {chain.rpc_url}" in run.stdout
    assert f"using the facilitator at {facilitator.url}" in run.stdout
    assert run.stdout.count(f"paid 0.01 USDC from {payer} in transaction") == 3
    assert key.removeprefix("0x") not in run.stdout + run.stderr  # the key is never printed
    assert (chain.balance(payer), chain.balance(PAY_TO)) == (before[0] - 3 * PRICE_ATOMIC, before[1] + 3 * PRICE_ATOMIC)
