"""A round-robin HTTP load balancer of paywire's own, on loopback, in front of paid API replicas (the tests' and
the demo's multi-replica mode).

Each request goes to the next replica in turn. A replica that refuses the connection (it is down) is skipped
for the next one, as a load balancer's passive health check does: nothing was delivered, so trying another
is safe. A replica that takes the request and then drops the connection (killed mid-request) answers 502:
the request may have been acted on, so it is not sent again; the client decides (and pays with the same
payment, which the replicas' shared store recognises).
"""

from __future__ import annotations

import http.server
import threading
from typing import List, Tuple

import httpx

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade", "te", "trailer"}


class LoadBalancer:
    def __init__(self, backends: List[str], port: int = 0) -> None:
        self.backends = list(backends)
        self.turn = 0
        self.lock = threading.Lock()
        self.routed: List[Tuple[str, str, int]] = []  # (path, backend, status) of every request answered
        self.client = httpx.Client(timeout=120, follow_redirects=False, limits=httpx.Limits(max_connections=256))
        balancer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.forward()

            def do_HEAD(self) -> None:
                self.forward()

            def do_POST(self) -> None:
                self.forward()

            def forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
                status, out_headers, content, backend = 502, [], b'{"error":"bad_gateway"}', ""
                for backend in balancer.order():
                    try:
                        answer = balancer.client.request(self.command, backend + self.path, headers=headers,
                                                         content=body)
                    except httpx.ConnectError:
                        continue  # down: nothing was delivered, the next replica takes it
                    except httpx.HTTPError:
                        break  # taken, then dropped: 502, never sent twice
                    status, content = answer.status_code, answer.content
                    out_headers = [(k, v) for k, v in answer.headers.multi_items() if k.lower() not in HOP_BY_HOP]
                    break
                with balancer.lock:
                    balancer.routed.append((self.path, backend, status))
                self.send_response(status)
                for k, v in out_headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(content)

        class Listener(http.server.ThreadingHTTPServer):
            request_queue_size = 256
            daemon_threads = True

        self.http = Listener(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def order(self) -> List[str]:
        """The replicas in the order this request tries them: the next in turn first."""
        with self.lock:
            start = self.turn
            self.turn = (self.turn + 1) % len(self.backends)
        return self.backends[start:] + self.backends[:start]

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.client.close()
