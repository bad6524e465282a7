"""A forwarding HTTP proxy for the tests that injects faults: it passes each
request to the upstream server unless ``fault(method, path, headers)``
says to ``"reset"`` (close the connection before forwarding), ``"drop"``
(forward, then close without answering: the server acted, the client
never heard), or returns an HTTP status to answer with instead. It
records every request (method, path, headers, body size)."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, List, Optional, Tuple, Union
from urllib.parse import urlsplit

Fault = Callable[[str, str, dict], Union[None, str, int]]


class FaultProxy:
    def __init__(self) -> None:
        self.upstream = ""
        self.fault: Optional[Fault] = None
        self.requests: List[Tuple[str, str, dict, int]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def _handle(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                hdrs = {k: v for k, v in self.headers.items()}
                with proxy._lock:
                    proxy.requests.append((self.command, self.path, hdrs, n))
                action = proxy.fault(self.command, self.path, hdrs) if proxy.fault else None
                if action == "reset":
                    self.close_connection = True
                    self.connection.close()
                    return
                if isinstance(action, int):
                    msg = b'{"error":{"code":"unavailable","message":"injected"}}'
                    self.send_response(action)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                u = urlsplit(proxy.upstream)
                c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
                fwd = {k: v for k, v in hdrs.items() if k.lower() not in ("connection", "keep-alive")}
                c.request(self.command, self.path, body=body, headers=fwd)
                r = c.getresponse()
                data = r.read()
                c.close()
                if action == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
