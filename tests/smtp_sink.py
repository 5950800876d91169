"""Real receivers for tests: an SMTP server (aiosmtpd) and an HTTP endpoint, both in this process."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.conftest import free_port


def wait_until(found: Callable, timeout: float = 15.0, what: str = "the condition"):
    """Poll ``found()`` until it returns something truthy; return that."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = found()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class SmtpSink:
    """An SMTP server that keeps every message it accepts; with ``login`` it requires AUTH."""

    def __init__(self, port: int | None = None, login: tuple[str, str] | None = None):
        self.port = port or free_port()
        self.login = login
        self.messages: list[EmailMessage] = []
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        user = f"{self.login[0]}:{self.login[1]}@" if self.login else ""
        return f"smtp://{user}127.0.0.1:{self.port}"

    async def handle_DATA(self, _server, _session, envelope) -> str:
        self.messages.append(BytesParser(policy=policy.default).parsebytes(envelope.content))
        return "250 OK"

    def _authenticate(self, _server, _session, _envelope, _mechanism, data) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == self.login
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself

    def start(self) -> SmtpSink:
        options = {}
        if self.login:
            options = {"authenticator": self._authenticate, "auth_required": True, "auth_require_tls": False}
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, to: str, subject_contains: str = "", timeout: float = 15.0) -> EmailMessage:
        def match():
            return next((m for m in self.messages
                         if m["To"] == to and subject_contains in str(m["Subject"])), None)
        return wait_until(match, timeout, f"mail to {to} about {subject_contains!r}")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class HttpReceiver:
    """An HTTP endpoint that records every POST; ``fail_next`` answers that many with 500 first."""

    def __init__(self):
        self.requests: list[Received] = []
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = 200
                if receiver.fail_next:
                    receiver.fail_next -= 1
                    status = 500
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> HttpReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, message_type: str, count: int = 1, timeout: float = 15.0) -> list[Received]:
        def enough():
            found = [r for r in self.requests if r.headers.get("x-amz-sns-message-type") == message_type]
            return found if len(found) >= count else None
        return wait_until(enough, timeout, f"{count} {message_type} POST(s)")
