"""A fault-injecting JSON-RPC proxy between paywire's facilitator and anvil, for the tests' own use.

It forwards every call and records its method. A fault set on a method applies to its next calls:

    "lose"  forward the call (the node acts on it), then close the connection without an answer
    "hang"  hold the call, unforwarded, until `release()` or `hold` seconds pass, then close the connection
    "fail"  answer HTTP 502 without forwarding
    "limit" answer a JSON-RPC error (-32005, "rate limit exceeded") without forwarding
    "flaky" forward the call (the node acts on it), then answer a JSON-RPC error (-32603, "upstream timeout"),
            as a gateway that timed out waiting for the node does
    "hold"  (eth_sendRawTransaction) take the transaction without forwarding it, and show it as known, in no
            block, to eth_getTransactionByHash: a node that holds a transaction it will never mine, as anvil's
            pool does with one left queued after transactions of one key came out of order

Its URL carries a fake API key in the path (`/v2/<SECRET>`), as real RPC URLs do, so tests can check that
the facilitator never repeats it.
"""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any, Dict, List, Optional, Tuple

import httpx
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak
from hexbytes import HexBytes

SECRET = "pw-test-api-key-3f9c1e"
KEEPER_METHODS = {"eth_getTransactionCount", "eth_blockNumber", "eth_getTransactionByHash"}


class RpcProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.calls: List[str] = []
        self.faults: Dict[str, Tuple[str, int]] = {}
        self.held: Dict[str, Dict[str, Any]] = {}  # transactions taken by "hold", by hash
        self.hold = 30.0
        self.released = threading.Event()
        self.lock = threading.Lock()
        self.client = httpx.Client(timeout=30)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    parsed = json.loads(body)
                    first = parsed[0] if isinstance(parsed, list) else parsed
                    method = str(first.get("method", ""))
                except (ValueError, AttributeError, IndexError):
                    first, method = None, ""
                fault = proxy.take(method)
                params = first.get("params") if isinstance(first, dict) else None
                ident = first.get("id") if isinstance(first, dict) else None
                if fault == "hold" and isinstance(params, list) and params:
                    held = proxy.held_transaction(str(params[0]))
                    self.answer(200, json.dumps({"jsonrpc": "2.0", "id": ident, "result": held["hash"]}).encode())
                    return
                if method == "eth_getTransactionByHash" and isinstance(params, list) and params:
                    held = proxy.held.get(str(params[0]).lower())
                    if held is not None:
                        self.answer(200, json.dumps({"jsonrpc": "2.0", "id": ident, "result": held}).encode())
                        return
                if fault == "hang":
                    proxy.released.wait(proxy.hold)
                    self.close_connection = True
                    return
                if fault == "fail":
                    self.answer(502, b"bad gateway")
                    return
                if fault == "limit":
                    error = {"jsonrpc": "2.0", "id": ident, "error": {"code": -32005, "message": "rate limit exceeded"}}
                    self.answer(200, json.dumps(error).encode())
                    return
                answer = proxy.client.post(proxy.upstream, content=body, headers={"Content-Type": "application/json"})
                if fault == "lose":
                    self.close_connection = True
                    return
                if fault == "flaky":
                    error = {"jsonrpc": "2.0", "id": ident, "error": {"code": -32603, "message": "upstream timeout"}}
                    self.answer(200, json.dumps(error).encode())
                    return
                self.answer(answer.status_code, answer.content)

            def answer(self, status: int, content: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2/{SECRET}"

    def held_transaction(self, raw_hex: str) -> Dict[str, Any]:
        """Keeps the signed transaction `raw_hex` as a node's pool would show it, unmined; returns that view."""
        raw = bytes.fromhex(raw_hex.removeprefix("0x"))
        tx = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
        view = {
            "hash": "0x" + keccak(raw).hex(), "from": Account.recover_transaction(raw_hex), "to": "0x" + bytes(tx["to"]).hex(),
            "nonce": hex(tx["nonce"]), "gas": hex(tx["gas"]), "value": hex(tx["value"]),
            "input": "0x" + bytes(tx["data"]).hex(), "type": hex(tx["type"]), "chainId": hex(tx["chainId"]),
            "maxFeePerGas": hex(tx["maxFeePerGas"]), "maxPriorityFeePerGas": hex(tx["maxPriorityFeePerGas"]),
            "gasPrice": hex(tx["maxFeePerGas"]), "accessList": [], "v": hex(tx["v"]), "yParity": hex(tx["v"]),
            "r": hex(tx["r"]), "s": hex(tx["s"]), "blockHash": None, "blockNumber": None, "transactionIndex": None,
        }
        with self.lock:
            self.held[view["hash"]] = view
        return view

    def take(self, method: str) -> Optional[str]:
        with self.lock:
            self.calls.append(method)
            fault = self.faults.get(method) or self.faults.get("*")
            if fault is None:
                return None
            key = method if method in self.faults else "*"
            action, left = fault
            if left <= 1:
                del self.faults[key]
            else:
                self.faults[key] = (action, left - 1)
            return action

    def fault(self, method: str, action: str, times: int = 1) -> None:
        """Applies `action` to the next `times` calls of `method` ("*": any method)."""
        with self.lock:
            self.released.clear()
            self.faults[method] = (action, times)

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
        self.released.set()

    def release(self) -> None:
        self.released.set()

    def count(self) -> int:
        """Calls so far, but the keeper's (which polls each key's nonce and the head while it has work)."""
        with self.lock:
            return len([m for m in self.calls if m not in KEEPER_METHODS])

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
        self.client.close()
