"""Open a notebook instance the way a browser does, and run code in a kernel over the proxy.

Each instance is served at a host of its own (``<name>-<account>.notebook.<region>.localhost``), so the session
talks to that origin; it sends Jupyter's XSRF token back as a browser's JupyterLab does.
"""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlsplit

import httpx
from websockets.sync.client import connect


class NotebookSession:
    def __init__(self, authorized_url: str):
        parts = urlsplit(authorized_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.base = "/"  # Jupyter's base_url: the instance has the whole host
        self.http = httpx.Client(base_url=self.origin, timeout=30, event_hooks={"request": [self._xsrf]})
        self.first = self.http.get(authorized_url, follow_redirects=False)

    def _xsrf(self, request: httpx.Request) -> None:
        # What JupyterLab does: echo the _xsrf cookie in a header on every request that changes something.
        token = self.http.cookies.get("_xsrf")
        if token and request.method not in ("GET", "HEAD", "OPTIONS"):
            request.headers["X-XSRFToken"] = token

    def xsrf(self) -> str:
        """Jupyter's XSRF token (cookie ``_xsrf``), fetched with a page that sets it if need be."""
        if "_xsrf" not in self.http.cookies:
            self.get("lab").raise_for_status()  # its page sets the cookie
        return self.http.cookies["_xsrf"]

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.http.get(self.base + path, **kwargs)

    def post(self, path: str, **kwargs) -> httpx.Response:
        self.xsrf()
        return self.http.post(self.base + path, **kwargs)

    def put(self, path: str, **kwargs) -> httpx.Response:
        self.xsrf()
        return self.http.put(self.base + path, **kwargs)

    def run(self, code: str, timeout: float = 60) -> str:
        """Execute ``code`` in a fresh kernel (Jupyter's default: conda_python3 on the instance image)
        through the WebSocket proxy; return its text output."""
        kernel = self.post("api/kernels", json={})
        kernel.raise_for_status()
        kernel_id = kernel.json()["id"]
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        url = f"ws://{urlsplit(self.origin).netloc}{self.base}api/kernels/{kernel_id}/channels"
        try:
            with connect(url, additional_headers={"Cookie": cookie}, origin=self.origin, open_timeout=timeout) as ws:
                msg_id = uuid.uuid4().hex
                ws.send(json.dumps({
                    "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                               "session": uuid.uuid4().hex, "version": "5.3"},
                    "parent_header": {}, "metadata": {}, "channel": "shell",
                    "content": {"code": code, "silent": False, "store_history": False,
                                "user_expressions": {}, "allow_stdin": False},
                }))
                output = []
                while True:
                    message = json.loads(ws.recv(timeout=timeout))
                    if message.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    kind = message["msg_type"]
                    if kind == "stream":
                        output.append(message["content"]["text"])
                    elif kind in ("execute_result", "display_data"):
                        output.append(message["content"]["data"].get("text/plain", ""))
                    elif kind == "error":
                        output.append("ERROR: " + message["content"]["ename"])
                    elif kind == "status" and message["content"]["execution_state"] == "idle":
                        return "".join(output)
        finally:
            self.http.delete(f"{self.base}api/kernels/{kernel_id}")
