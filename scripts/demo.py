"""paywire's main job, all three x402 parties for real on this machine (run by scripts/demo.sh):

- a chain: anvil with Circle's USDC (FiatTokenV2_2) deployed and the agent's wallet funded;
- a facilitator: paywire-facilitator, verifying and settling from its own key;
- a paid API in Python: FastAPI with paywire's ASGI middleware (python/examples/paid_api.py);
- an agent in Node: fetch wrapped by paywire (node/examples/agent.mjs), making N paid requests.

It prints every payment and its transaction, checks each transaction on chain and that the balances moved by
exactly N times the price, prints the timings, and stops every process it started.

Environment (all optional):
    PAYWIRE_DEMO_REQUESTS         paid requests to make (default 5)
    PAYWIRE_DEMO_PRICE            price per request (default $0.01)
    PAYWIRE_DEMO_PAY_TO           the API's payee
    PAYWIRE_DEMO_RPC_URL          use this chain instead of starting anvil; then PAYWIRE_DEMO_KEY must hold
                                  the network's default USDC, and PAYWIRE_DEMO_NETWORK must name the chain
    PAYWIRE_DEMO_NETWORK          CAIP-2 network of that chain (default eip155:84532)
    PAYWIRE_DEMO_KEY              the agent's private key (default: a fresh key, funded on the local chain)
    PAYWIRE_DEMO_FACILITATOR_URL  use this facilitator instead of starting paywire's
    PAYWIRE_DEMO_FACILITATOR_KEY  the started facilitator's key when PAYWIRE_DEMO_RPC_URL is set (it pays gas)
    PAYWIRE_DEMO_REPLICAS         run the paid API as this many replicas (default 1) sharing one Redis server
                                  (Debian's redis-server, PAYWIRE_REDIS_SERVER) behind paywire's load balancer
                                  (scripts/load_balancer.py); each payment is served and settled once
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from load_balancer import LoadBalancer  # noqa: E402
from localnet import (  # noqa: E402
    FACILITATOR_KEY,
    NETWORK,
    Chain,
    Facilitator,
    free_port,
    redis_server,
    running_chain,
    stop,
    wait_for,
)

import paywire  # noqa: E402

DEFAULT_PAY_TO = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
TX = re.compile(r"in transaction (0x[0-9a-fA-F]{64})")


def say(text: str) -> None:
    print(f"\n\033[1m{text}\033[0m", flush=True)


def money(atomic: int, decimals: int, symbol: str) -> str:
    sign = "-" if atomic < 0 else ""
    whole, frac = divmod(abs(atomic), 10**decimals)
    return f"{sign}{whole}.{frac:0{decimals}d} {symbol}"


@contextlib.contextmanager
def chain_for(network: str, token: Dict[str, Any], agent: str) -> Iterator[Chain]:
    rpc_url = os.environ.get("PAYWIRE_DEMO_RPC_URL")
    if rpc_url:
        print(f"using the chain at {rpc_url} ({network}), {token['symbol']} at {token['address']}")
        yield Chain(rpc_url, token["address"])
        return
    with running_chain({agent: 10 * 10 ** token["decimals"]}) as chain:
        print(f"anvil on {chain.rpc_url} (chain id {paywire.chain_id(network)}), Circle's FiatTokenV2_2 (USDC) "
              f"at {chain.asset}; the agent {agent} funded with 10 USDC")
        yield chain


@contextlib.contextmanager
def facilitator_for(chain: Chain, network: str) -> Iterator[str]:
    url = os.environ.get("PAYWIRE_DEMO_FACILITATOR_URL")
    if url:
        print(f"using the facilitator at {url}")
        yield url
        return
    key = os.environ.get("PAYWIRE_DEMO_FACILITATOR_KEY") or FACILITATOR_KEY
    if os.environ.get("PAYWIRE_DEMO_RPC_URL") and not os.environ.get("PAYWIRE_DEMO_FACILITATOR_KEY"):
        raise SystemExit("PAYWIRE_DEMO_RPC_URL is set: set PAYWIRE_DEMO_FACILITATOR_URL, or "
                         "PAYWIRE_DEMO_FACILITATOR_KEY to a key with gas on that chain")
    workdir = Path(tempfile.mkdtemp(prefix="paywire-demo-"))
    facilitator = Facilitator(chain.rpc_url, workdir, paywire.chain_id(network), key)
    try:
        facilitator.start()
        print(f"paywire-facilitator on {facilitator.url}, settling from {paywire.LocalSigner(key).address} "
              f"(settlements kept in {facilitator.db.name})")
        yield facilitator.url
    finally:
        facilitator.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def replica(facilitator_url: str, network: str, price: str, pay_to: str, extra: Dict[str, str]) -> Iterator[str]:
    """python/examples/paid_api.py under uvicorn; its base URL."""
    port = free_port()
    env = {**os.environ, "PAY_TO": pay_to, "FACILITATOR_URL": facilitator_url, "PRICE": price, "NETWORK": network,
           **extra}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "paid_api:app", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT / "python" / "examples",
        env=env,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process=server)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server, signal.SIGINT)


@contextlib.contextmanager
def paid_api(facilitator_url: str, network: str, price: str, pay_to: str,
             replicas: int) -> Iterator[Tuple[str, Optional[LoadBalancer]]]:
    """The paid API's URL: one process, or `replicas` of them on one Redis behind a load balancer."""
    described = f"python/examples/paid_api.py (FastAPI + paywire.asgi): {price} per request, paid to {pay_to}"
    if replicas <= 1:
        with replica(facilitator_url, network, price, pay_to, {}) as base:
            print(f"{described}, on {base}/weather")
            yield f"{base}/weather", None
        return
    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(redis_server())
        # The balancer listens first: a port only picked, not held, could go to a replica meanwhile.
        balancer = LoadBalancer([])
        stack.callback(balancer.close)
        # Every replica names the balancer's origin in its bills, so a payment is good at any of them.
        extra = {"REDIS_URL": redis_url, "PUBLIC_URL": balancer.url}
        balancer.backends = [stack.enter_context(replica(facilitator_url, network, price, pay_to, extra))
                             for _ in range(replicas)]
        print(f"{described}, as {replicas} replicas sharing Redis at {redis_url}, behind a load balancer on "
              f"{balancer.url}/weather")
        yield f"{balancer.url}/weather", balancer


def main() -> int:
    started = time.monotonic()
    requests = int(os.environ.get("PAYWIRE_DEMO_REQUESTS", "5"))
    price = os.environ.get("PAYWIRE_DEMO_PRICE", "$0.01")
    network = os.environ.get("PAYWIRE_DEMO_NETWORK", NETWORK)
    pay_to = os.environ.get("PAYWIRE_DEMO_PAY_TO", DEFAULT_PAY_TO)
    replicas = int(os.environ.get("PAYWIRE_DEMO_REPLICAS", "1"))
    # The agent's key goes to the agent through its environment only; it is never printed.
    signer = paywire.LocalSigner(os.environ["PAYWIRE_DEMO_KEY"]) if os.environ.get("PAYWIRE_DEMO_KEY") \
        else paywire.LocalSigner.generate()
    agent = signer.address
    token = next((a for a in paywire.known_assets() if a["network"] == network), None)
    if token is None:
        raise SystemExit(f"{network} has no default stablecoin in paywire's table; choose another network")
    price_atomic = paywire.parse_price(price, token["decimals"])

    say("1. The chain")
    with chain_for(network, token, agent) as chain:
        say("2. The facilitator")
        with facilitator_for(chain, network) as facilitator_url:
            say("3. The paid API (Python)")
            with paid_api(facilitator_url, network, price, pay_to, replicas) as (api, balancer):
                ready = time.monotonic()
                before = {"agent": chain.balance(agent), "payee": chain.balance(pay_to)}
                say(f"4. The agent (Node, paywire's fetch) makes {requests} paid requests")
                agent_env = {**os.environ, "PRIVATE_KEY": signer.secret_hex(), "API_URL": api,
                             "REQUESTS": str(requests)}
                run = subprocess.run(["node", str(ROOT / "node" / "examples" / "agent.mjs")], env=agent_env,
                                     stdout=subprocess.PIPE, text=True, timeout=600)
                paid_at = time.monotonic()
                print(run.stdout, end="")
                if balancer is not None:
                    per = {b: sum(1 for path, to, status in balancer.routed if to == b and status == 200)
                           for b in balancer.backends}
                    print("paid answers per replica: " + ", ".join(f"{b} {n}" for b, n in per.items()))
                after = {"agent": chain.balance(agent), "payee": chain.balance(pay_to)}
                transactions: List[str] = TX.findall(run.stdout)

                say("5. On chain")
                problems: List[str] = []
                if run.returncode != 0:
                    problems.append(f"the agent exited with {run.returncode}")
                for tx in transactions:
                    receipt = chain.receipt(tx)
                    ok = receipt["status"] == "0x1"
                    print(f"{tx}: block {int(receipt['blockNumber'], 16)}, status {'success' if ok else 'REVERTED'}, "
                          f"gas {int(receipt['gasUsed'], 16)} paid by the facilitator {receipt['from']}")
                    if not ok:
                        problems.append(f"{tx} reverted")
                if len(set(transactions)) != requests:
                    problems.append(f"{len(set(transactions))} distinct transactions for {requests} requests")
                expected = requests * price_atomic
                rows: Dict[str, int] = {"agent": -expected, "payee": expected}
                print(f"\n{'':8}{'before':>18}{'after':>18}{'change':>18}{'expected':>18}")
                for who in ("agent", "payee"):
                    change = after[who] - before[who]
                    print(f"{who:8}{money(before[who], token['decimals'], token['symbol']):>18}"
                          f"{money(after[who], token['decimals'], token['symbol']):>18}"
                          f"{money(change, token['decimals'], token['symbol']):>18}"
                          f"{money(rows[who], token['decimals'], token['symbol']):>18}")
                    if change != rows[who]:
                        problems.append(f"the {who}'s balance changed by {change}, not {rows[who]}")
    done = time.monotonic()
    say("6. Timings")
    print(f"start-up (chain, token, facilitator, API): {ready - started:6.2f} s")
    print(f"{requests} paid requests (402, sign, verify, settle on chain, serve; node start-up included): {paid_at - ready:6.2f} s, "
          f"{(paid_at - ready) / max(requests, 1) * 1000:.0f} ms each")
    print(f"shut-down: {done - paid_at:6.2f} s")
    if problems:
        say("FAILED: " + "; ".join(problems))
        return 1
    say(f"Done: {requests} requests paid {money(expected, token['decimals'], token['symbol'])} "
        f"({price} each) and every transfer is on chain. Nothing is left running.")
    return 0


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks, so every process is stopped


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main())
