"""The servers and clients of the on-chain suite, each run the way its users run it: paywire's shipped
examples (and the fault-test apps in apps/) as processes, paid through the facilitator on anvil.

Besides conftest's variables, the environment names the built packages (scripts/test.sh sets them):

    PAYWIRE_BIN                 the paywire CLI
    PAYWIRE_NODE_DIR            node/, built (npm run build), with its dev dependencies installed
    PAYWIRE_NODE_TEST_DIR       node/test, where the official x402 TypeScript packages are installed
    PAYWIRE_KOTLIN_CLASSPATH    the Kotlin package's classes, its examples and their dependencies
    PAYWIRE_NATIVE_DIR          the directory of libpaywire_ffi (the Kotlin package's native library)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

from conftest import ROOT, free_port, stop, wait_for
from localnet import env

TX = re.compile(r"transaction (0x[0-9a-fA-F]{64})")
APPS = Path(__file__).resolve().parent / "apps"


@dataclass
class Server:
    """A paid API: its base URL and the path of its paid resource."""

    base: str
    process: subprocess.Popen
    name: str = ""

    def url(self, path: str = "/weather") -> str:
        return self.base + path


@contextlib.contextmanager
def _serving(command: List[str], health: str, env_: Dict[str, str], cwd: Optional[Path] = None,
             sig: int = signal.SIGTERM) -> Iterator[Server]:
    """Runs a paid API on a free port (passed as PORT and to `command`'s "{port}"), ready once `health`
    answers; stopped with `sig` on exit."""
    port = str(free_port())
    process = subprocess.Popen([arg.replace("{port}", port) for arg in command], cwd=cwd,
                               env={**os.environ, **env_, "PORT": port}, stdout=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}{health}", process=process)
        yield Server(f"http://127.0.0.1:{port}", process, " ".join(command))
    finally:
        stop(process, sig)


def _api_env(facilitator_url: str, pay_to: str, price: str) -> Dict[str, str]:
    return {"PAY_TO": pay_to, "FACILITATOR_URL": facilitator_url, "PRICE": price}


def python_asgi(facilitator_url: str, pay_to: str, price: str = "$0.01", app: str = "example",
                extra: Optional[Dict[str, str]] = None) -> contextlib.AbstractContextManager[Server]:
    """FastAPI with paywire.asgi under uvicorn: python/examples/paid_api.py, or apps/paid_app.py (whose
    `extra` environment may name a shared store and public URL)."""
    cwd, module = (ROOT / "python" / "examples", "paid_api") if app == "example" else (APPS, "paid_app")
    command = [sys.executable, "-m", "uvicorn", f"{module}:app", "--port", "{port}", "--log-level", "critical"]
    return _serving(command, "/health", {**_api_env(facilitator_url, pay_to, price), **(extra or {})}, cwd,
                    signal.SIGINT)


def node_express(facilitator_url: str, pay_to: str, price: str = "$0.01", app: str = "example",
                 extra: Optional[Dict[str, str]] = None) -> contextlib.AbstractContextManager[Server]:
    """Express with paywire's middleware: node/examples/paid-api.mjs, or apps/paid_app.mjs (whose `extra`
    environment may name a shared store and public URL)."""
    node_dir = env("PAYWIRE_NODE_DIR")
    script = Path(node_dir) / "examples" / "paid-api.mjs" if app == "example" else APPS / "paid_app.mjs"
    return _serving(["node", str(script)], "/" if app == "example" else "/health",
                    {**_api_env(facilitator_url, pay_to, price), "PAYWIRE_NODE_DIR": node_dir, **(extra or {})})


def python_flask(facilitator_url: str, pay_to: str, price: str = "$0.01", app: str = "example",
                 extra: Optional[Dict[str, str]] = None) -> contextlib.AbstractContextManager[Server]:
    """Flask with paywire.wsgi under Werkzeug's server: python/examples/paid_api_flask.py, or
    apps/paid_app_flask.py (with `extra` environment)."""
    cwd, script = (ROOT / "python" / "examples", "paid_api_flask.py") if app == "example" else (APPS, "paid_app_flask.py")
    return _serving([sys.executable, script], "/health", {**_api_env(facilitator_url, pay_to, price), **(extra or {})},
                    cwd)


def node_hono(facilitator_url: str, pay_to: str, price: str = "$0.01", app: str = "paid_app",
              extra: Optional[Dict[str, str]] = None) -> contextlib.AbstractContextManager[Server]:
    """Hono (on @hono/node-server) with paywire's Hono middleware: apps/paid_app_hono.mjs (with `extra`
    environment), on the packed paywire installed in PAYWIRE_NODE_TEST_DIR."""
    return _serving(["node", str(APPS / "paid_app_hono.mjs")], "/health",
                    {**_api_env(facilitator_url, pay_to, price), "PAYWIRE_NODE_TEST_DIR": env("PAYWIRE_NODE_TEST_DIR"),
                     **(extra or {})})


def node_fastify(facilitator_url: str, pay_to: str, price: str = "$0.01", app: str = "example",
                 extra: Optional[Dict[str, str]] = None) -> contextlib.AbstractContextManager[Server]:
    """Fastify with paywire's plugin: node/examples/paid-api-fastify.mjs, or apps/paid_app_fastify.mjs (with
    `extra` environment)."""
    node_dir = env("PAYWIRE_NODE_DIR")
    script = Path(node_dir) / "examples" / "paid-api-fastify.mjs" if app == "example" else APPS / "paid_app_fastify.mjs"
    return _serving(["node", str(script)], "/" if app == "example" else "/health",
                    {**_api_env(facilitator_url, pay_to, price), "PAYWIRE_NODE_DIR": node_dir, **(extra or {})})


def jvm_httpserver(facilitator_url: str, pay_to: str, price: str = "$0.01", app: str = "example",
                   extra: Optional[Dict[str, str]] = None) -> contextlib.AbstractContextManager[Server]:
    """The JDK's HttpServer with paywire's PaymentFilter: kotlin/examples/PaidApi.kt, or the fault-test app
    (kotlin/src/test/kotlin/dev/paywire/FaultsApp.kt, whose `extra` environment may name a Redis store and
    public URL)."""
    main = "dev.paywire.examples.PaidApiKt" if app == "example" else "dev.paywire.FaultsAppKt"
    command = ["java", f"-Djna.library.path={env('PAYWIRE_NATIVE_DIR')}", "-cp", env("PAYWIRE_KOTLIN_CLASSPATH"), main]
    return _serving(command, "/health", {**_api_env(facilitator_url, pay_to, price), **(extra or {})})


def official_express(facilitator_url: str, pay_to: str, price: str = "$0.01",
                     extra: Optional[Dict[str, str]] = None) -> contextlib.AbstractContextManager[Server]:
    """The official @x402/express server (apps/official_server.mjs; `extra` may turn sign-in on)."""
    return _serving(["node", str(APPS / "official_server.mjs")], "/health",
                    {**_api_env(facilitator_url, pay_to, price), "PAYWIRE_NODE_TEST_DIR": env("PAYWIRE_NODE_TEST_DIR"),
                     **(extra or {})})


SERVERS: Dict[str, Callable[..., contextlib.AbstractContextManager[Server]]] = {
    "python-asgi": python_asgi,
    "python-flask": python_flask,
    "node-express": node_express,
    "node-fastify": node_fastify,
    "jvm-httpserver": jvm_httpserver,
}


@dataclass
class Outcome:
    """What a client reported: the final status, the body, and the settlement transaction if it paid."""

    status: int
    body: str
    transaction: Optional[str]
    output: str


def _run(command: List[str], extra: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, env={**os.environ, **extra}, capture_output=True, text=True, timeout=120)


def _from_text(run: subprocess.CompletedProcess) -> Outcome:
    """Parses the examples' output: "STATUS BODY" on the first line, then "... transaction 0x…" when paid."""
    first, _, rest = run.stdout.partition("\n")
    status, _, body = first.partition(" ")
    if not status.isdigit():
        raise AssertionError(f"unexpected output (exit {run.returncode}): {run.stdout}{run.stderr}")
    found = TX.search(rest)
    return Outcome(int(status), body, found.group(1) if found else None, run.stdout + run.stderr)


def cli_client(url: str, key: str, extra: Optional[Dict[str, str]] = None) -> Outcome:
    """`paywire fetch`; `extra`'s PAYWIRE_RPC_URLS (as the examples read it) become --rpc-url flags."""
    rpc = [f for e in (extra or {}).get("PAYWIRE_RPC_URLS", "").split(",") if e for f in ("--rpc-url", e)]
    run = _run([env("PAYWIRE_BIN"), "fetch", url, "--key-env", "PAYWIRE_KEY", "--json", *rpc], {"PAYWIRE_KEY": key})
    if run.returncode not in (0, 1):
        raise AssertionError(f"paywire fetch exited {run.returncode}: {run.stderr}")
    answer = json.loads(run.stdout)
    settlement = answer["settlement"] or {}
    tx = settlement.get("transaction") if settlement.get("success") else None
    return Outcome(answer["status"], answer["body"], tx, run.stderr)


def python_client(url: str, key: str, extra: Optional[Dict[str, str]] = None) -> Outcome:
    script = str(ROOT / "python" / "examples" / "agent.py")
    return _from_text(_run([sys.executable, script, url], {"PAYWIRE_KEY": key, **(extra or {})}))


def node_client(url: str, key: str, extra: Optional[Dict[str, str]] = None) -> Outcome:
    script = Path(env("PAYWIRE_NODE_DIR")) / "examples" / "agent.mjs"
    run = _run(["node", str(script)], {"PRIVATE_KEY": key, "API_URL": url, **(extra or {})})
    # agent.mjs prints "#1 STATUS MS ms: ... in transaction 0x…; BODY".
    line = run.stdout.splitlines()[0] if run.stdout else ""
    m = re.match(r"#1 (\d+) \d+ ms: (.*?); (.*)$", line)
    if not m:
        raise AssertionError(f"unexpected output (exit {run.returncode}): {run.stdout}{run.stderr}")
    found = TX.search(m.group(2))
    return Outcome(int(m.group(1)), m.group(3), found.group(1) if found else None, run.stdout + run.stderr)


def kotlin_client(url: str, key: str, extra: Optional[Dict[str, str]] = None) -> Outcome:
    command = ["java", f"-Djna.library.path={env('PAYWIRE_NATIVE_DIR')}", "-cp", env("PAYWIRE_KOTLIN_CLASSPATH"),
               "dev.paywire.examples.AgentKt", url]
    return _from_text(_run(command, {"PAYWIRE_KEY": key, **(extra or {})}))


def official_fetch_client(url: str, key: str) -> Outcome:
    """The official @x402/fetch client (apps/official_client.mjs)."""
    run = _run(["node", str(APPS / "official_client.mjs")],
               {"PRIVATE_KEY": key, "API_URL": url, "PAYWIRE_NODE_TEST_DIR": env("PAYWIRE_NODE_TEST_DIR")})
    return _from_text(run)


CLIENTS: Dict[str, Callable[[str, str], Outcome]] = {
    "rust-cli": cli_client,
    "python": python_client,
    "node": node_client,
    "kotlin": kotlin_client,
}
