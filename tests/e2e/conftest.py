"""Fixtures for the on-chain suite: a chain (scripts/localnet.py: anvil with Circle's USDC at Base Sepolia's
address) with 100 funded payers, and paywire's facilitator settling on it. scripts/test.sh installs anvil and
the token's artifacts and builds the facilitator, and passes their paths in the environment."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterator, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from localnet import (  # noqa: E402
    CHAIN_ID,
    FACILITATOR_ADDRESS,
    NETWORK,
    USDC,
    Chain,
    Facilitator,
    free_port,
    running_chain,
    stop,
    wait_for,
)
from settle_link import Link  # noqa: E402

__all__ = ["CHAIN_ID", "FACILITATOR_ADDRESS", "NETWORK", "USDC", "Chain", "Facilitator", "free_port", "stop",
           "wait_for", "WALLET", "funded_chain", "payer_key", "balances", "assert_settled", "charged_once"]

PAY_TO = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"  # anvil account 3's address: only ever paid
# Payers need no ETH (the facilitator pays the gas): plain test keys, funded with USDC by the deployment.
PAYER_KEYS = ["0x" + format(0x1000 + i, "064x") for i in range(600)]
UNFUNDED_KEY = "0x" + format(0x2000, "064x")
# Where the EIP-1271 tests place a smart wallet (funded like the payers, its code set by the test).
WALLET = "0x1271000000000000000000000000000000001271"
FUNDED = 1_000_000_000  # 1000 USDC for each payer
PRICE_ATOMIC = 10_000  # $0.01 in USDC's 6 decimals, the price every test charges
_next_payer = iter(range(len(PAYER_KEYS)))


def payer_key() -> str:
    """A payer no other test uses, so its balance can be checked exactly."""
    return PAYER_KEYS[next(_next_payer)]


def funded_chain():  # type: ignore[no-untyped-def]
    """The chain with every payer of PAYER_KEYS, and WALLET, funded."""
    from paywire import LocalSigner

    return running_chain({**{LocalSigner(key).address: FUNDED for key in PAYER_KEYS}, WALLET: FUNDED})


@pytest.fixture(scope="session")
def chain() -> Iterator[Chain]:
    with funded_chain() as c:
        yield c


@pytest.fixture(scope="session")
def facilitator(chain: Chain) -> Iterator[Facilitator]:
    workdir = Path(tempfile.mkdtemp(prefix="paywire-e2e-"))
    f = Facilitator(chain.rpc_url, workdir)
    f.start()
    try:
        yield f
    finally:
        f.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def link(facilitator: Facilitator) -> Iterator[Link]:
    """The hop from a module's servers to the session's facilitator, which can lose or hold its answers
    (settle_link.py). test_faults.py has its own, in front of a facilitator it may kill."""
    hop = Link(facilitator)
    yield hop
    hop.close()


TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"  # Transfer(address,address,uint256)


def balances(chain: Chain, payer: str) -> Tuple[int, int]:
    """The payer's and the payee's USDC."""
    return chain.balance(payer), chain.balance(PAY_TO)


def assert_settled(chain: Chain, tx: str, payer: str, amount: int = PRICE_ATOMIC) -> None:
    """`tx` succeeded on chain, sent by the facilitator, and its one USDC Transfer moved `amount` from
    `payer` to PAY_TO."""
    receipt = chain.receipt(tx)
    assert receipt["status"] == "0x1", receipt
    transfers = [log for log in receipt["logs"] if log["topics"][0] == TRANSFER]
    assert len(transfers) == 1, receipt["logs"]
    (log,) = transfers
    assert log["address"].lower() == USDC.lower()
    assert int(log["topics"][1], 16) == int(payer, 16)
    assert int(log["topics"][2], 16) == int(PAY_TO, 16)
    assert int(log["data"], 16) == amount


def charged_once(chain: Chain, tx: str, payer: str, before: Tuple[int, int]) -> None:
    """`tx` is the payment (see assert_settled), and since `before` (balances()) the payer lost and the payee
    gained exactly the price: nothing more was charged."""
    assert_settled(chain, tx, payer)
    after = balances(chain, payer)
    assert (before[0] - after[0], after[1] - before[1]) == (PRICE_ATOMIC, PRICE_ATOMIC)
