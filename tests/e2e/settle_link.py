"""A hop between paid servers and paywire's facilitator that can fail the next /settle, shared by the fault
tests and the shared-store tests."""

from __future__ import annotations

import http.server
import json
import signal
import threading
from typing import List, Optional

import httpx
from localnet import Facilitator


class Link:
    """The hop from a server to the facilitator, which can fail the next /settle: "kill" the facilitator
    (SIGKILL) before it sees the request, "drop" its answer after it settled (`drops` times in a row), or
    "restart" it first. `hold(path)` holds the next call of `path` ("/verify" or "/settle") after the
    facilitator answered it, until `let_go()`: the server that made the call waits meanwhile (and may be
    killed); `held` is set once a call is held."""

    def __init__(self, facilitator: Facilitator) -> None:
        self.facilitator = facilitator
        self.fault: Optional[str] = None
        self.drops = 1
        self.settle_answers: List[dict] = []
        self.settle_requests: List[dict] = []  # the /settle bodies servers sent, in order
        self.hold_path: Optional[str] = None
        self.held = threading.Event()
        self.released = threading.Event()
        link = self

        class Hop(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.forward()

            def do_POST(self) -> None:
                self.forward()

            def forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fault = link.take() if self.path == "/settle" else None
                if fault == "kill":
                    link.facilitator.stop(signal.SIGKILL)
                    self.close_connection = True  # no answer: the connection just ends, as with a dead process
                    return
                if fault == "restart":
                    link.facilitator.restart()
                answer = httpx.request(self.command, link.facilitator.url + self.path, content=body,
                                       headers={"Content-Type": "application/json"}, timeout=60)
                if self.path == "/settle":
                    link.settle_requests.append(json.loads(body))
                    link.settle_answers.append(answer.json())
                if link.hold_path == self.path:
                    link.hold_path = None
                    link.held.set()
                    link.released.wait(60)
                if fault == "drop":
                    self.close_connection = True
                    return
                try:
                    self.send_response(answer.status_code)
                    # Said outright, though HTTP/1.0 implies it: java.net.http would pool the connection and
                    # could send the server's next call on it after it closed (a fault of its own, not the one
                    # a test arms; FacilitatorClientTest covers it).
                    self.send_header("Connection", "close")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer.content)))
                    self.end_headers()
                    self.wfile.write(answer.content)
                except OSError:
                    self.close_connection = True  # the server that asked is gone (killed while held)

        class Listener(http.server.ThreadingHTTPServer):
            request_queue_size = 256  # the default backlog of 5 resets connections when 50 clients pay at once

        self.http = Listener(("127.0.0.1", 0), Hop)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def hold(self, path: str) -> None:
        self.held.clear()
        self.released.clear()
        self.hold_path = path

    def let_go(self) -> None:
        self.hold_path = None
        self.released.set()

    def take(self) -> Optional[str]:
        fault = self.fault
        if fault == "drop" and self.drops > 1:
            self.drops -= 1  # the next /settle is dropped too
        else:
            self.fault, self.drops = None, 1
        return fault

    def close(self) -> None:
        self.let_go()
        self.http.shutdown()
        self.http.server_close()
