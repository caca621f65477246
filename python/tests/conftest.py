"""Shared fixtures: the cross-language vectors, fixed keys, and ASGI apps served by uvicorn on loopback."""

from __future__ import annotations

import contextlib
import json
import pathlib
import socket
import sys
import threading
import time
from typing import Any, Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
sys.path.insert(0, str(ROOT / "tests" / "oracle"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

# Well-known development keys (anvil's first accounts): never hold value.
PAYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
PAYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ISSUER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"


def vectors(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


@contextlib.contextmanager
def served(app: Any, lifespan: str = "off") -> Iterator[str]:
    """Serves an ASGI app with uvicorn on a loopback port for the duration; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextlib.contextmanager
def served_wsgi(app: Any) -> Iterator[str]:
    """Serves a WSGI app with werkzeug's threaded server on a loopback port for the duration; yields its URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def closed_port_url() -> str:
    """A loopback URL where nothing listens."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def facilitator():
    from facilitator_double import FacilitatorDouble

    double = FacilitatorDouble()
    with served(double.app) as url:
        double.url = url
        yield double
