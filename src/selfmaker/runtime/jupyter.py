"""Jupyter as every notebook instance runs it, and how the host asks whether it is up.

Only the gateway reaches Jupyter's Unix socket. It proves itself with the instance's secret in
``SECRET_HEADER`` (``GatewayIdentityProvider``), and forwards the browser's Host, Origin and cookies, so
Jupyter's own XSRF and origin checks judge every request as they would a browser's. A token in
``Authorization`` would not do: jupyter_server lets token-authenticated requests skip both checks.

Jupyter imports this module (``--ServerApp.identity_provider_class``) inside the sandbox, so it imports only
the standard library at the top; jupyter_server is imported when Jupyter asks for the provider, and httpx
when the host probes.
"""

from __future__ import annotations

import hmac
import os
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from selfmaker.runtime.base import Endpoint

# The request header that carries the instance's secret from the gateway; the gateway drops any copy a
# browser sends.
SECRET_HEADER = "X-Selfmaker-Jupyter-Secret"
PROVIDER = f"{__name__}.GatewayIdentityProvider"


def jupyter_command(python: str, socket: str, base_url: str, root_dir: str, provider: str = PROVIDER) -> list[str]:
    """JupyterLab as every instance runs it (the benchmark's bare baseline runs exactly this)."""
    return [
        python,
        "-m",
        "jupyterlab",
        f"--ServerApp.sock={socket}",
        f"--ServerApp.base_url={base_url}",
        f"--ServerApp.root_dir={root_dir}",
        "--ServerApp.open_browser=False",
        f"--ServerApp.identity_provider_class={provider}",
        # The gateway speaks plain HTTP on the socket, whatever TLS a user's config asks for.
        "--ServerApp.certfile=",
        "--ServerApp.keyfile=",
        # Each instance has a host name of its own, which the gateway forwards as Host.
        "--ServerApp.allow_remote_access=True",
        # No calls out to the internet from JupyterLab's pages.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]


def secret_headers(endpoint: Endpoint) -> dict[str, str]:
    """What a request to the instance's Jupyter carries to be let in."""
    return {SECRET_HEADER: endpoint.token}


async def answers(endpoint: Endpoint, base_url: str) -> bool:
    """Whether Jupyter answers on the instance's socket, to the gateway's secret."""
    import httpx

    from selfmaker.net.instance_clients import unix_transport  # no TLS setup: a start polls this often

    async with httpx.AsyncClient(transport=unix_transport(endpoint.socket_path), timeout=5.0) as client:
        try:
            response = await client.get(f"http://localhost{base_url}api/status", headers=secret_headers(endpoint))
        except httpx.TransportError:
            return False
    return response.status_code == 200


LOCAL_HTTPS_PORT = 8443
LOCAL_HTTPS_ENV = "SELFMAKER_LOCAL_HTTPS"  # set by the runtime where the instance has a network of its own


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": __name__}]


def _load_jupyter_server_extension(serverapp) -> None:
    """Jupyter at https://localhost:8443 inside the instance, as on SageMaker, where scripts (an idle
    auto-stop polling /api/sessions) reach it without a token. Only where the instance has a network
    namespace of its own: its loopback is nobody else's. Requests there get the gateway's secret added
    (any copy the client sends is replaced), so they are the instance's user, as through the gateway."""
    import ssl
    import subprocess

    from tornado.httpserver import HTTPServer

    if os.environ.pop(LOCAL_HTTPS_ENV, "") != "1" or not os.environ.get("JUPYTER_TOKEN"):
        return
    cert = os.path.join(serverapp.runtime_dir, "selfmaker-localhost.pem")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", cert, "-out", cert, "-days", "3650", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert)
    server = HTTPServer(_with_secret(serverapp.web_app), ssl_options=context)
    server.listen(LOCAL_HTTPS_PORT, "127.0.0.1")
    serverapp.log.info("Selfmaker: Jupyter also at https://localhost:%d inside the instance", LOCAL_HTTPS_PORT)


def _with_secret(app):
    from tornado.httputil import HTTPMessageDelegate, HTTPServerConnectionDelegate

    class Request(HTTPMessageDelegate):
        def __init__(self, inner):
            self.inner = inner

        def headers_received(self, start_line, headers):
            headers[SECRET_HEADER] = os.environ.get("JUPYTER_TOKEN", "")
            return self.inner.headers_received(start_line, headers)

        def data_received(self, chunk):
            return self.inner.data_received(chunk)

        def finish(self):
            return self.inner.finish()

        def on_connection_close(self):
            return self.inner.on_connection_close()

    class Connections(HTTPServerConnectionDelegate):
        def start_request(self, server_conn, request_conn):
            return Request(app.start_request(server_conn, request_conn))

        def on_close(self, server_conn):
            app.on_close(server_conn)

    return Connections()


def __getattr__(name: str):
    # Built on first use, so that the server (which imports this module for jupyter_command) never loads
    # jupyter_server; Jupyter's import of PROVIDER lands here.
    if name == "GatewayIdentityProvider":
        return _provider_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def _provider_class() -> type:
    from jupyter_server.auth.identity import IdentityProvider, User

    class GatewayIdentityProvider(IdentityProvider):
        """One user, ec2-user, on every request that carries the gateway's secret; nobody otherwise.

        Unlike a token, the header never marks a request token-authenticated, so XSRF, Origin and Referer
        checks stay on; no login form or ``?token=`` is offered, as the gateway does the signing in.
        """

        def get_user(self, handler) -> User | None:
            secret = os.environ.get("JUPYTER_TOKEN", "")
            given = handler.request.headers.get(SECRET_HEADER, "")
            if secret and hmac.compare_digest(given.encode(), secret.encode()):
                return User(username="ec2-user", name="ec2-user", display_name="ec2-user", initials="EC")
            return None

        @property
        def login_available(self) -> bool:
            return False

    return GatewayIdentityProvider
