"""Console fixtures: a server with a known root password, and a signed-in HTTP client."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import ServerProcess, running_server

ROOT_PASSWORD = "console-root-password-0001"


def csrf_field(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: httpx.Client, password: str = ROOT_PASSWORD, user: str = "", account: str = "123456789012",
            next_path: str = "/console/") -> httpx.Response:
    form = client.get("/signin")
    return client.post("/signin", data={"csrf_token": csrf_field(form.text), "account": account, "user": user,
                                        "password": password, "next": next_path})


@pytest.fixture(scope="module")
def console_server(tmp_path_factory) -> ServerProcess:
    with running_server(tmp_path_factory.mktemp("console"), SELFMAKER_ROOT_PASSWORD=ROOT_PASSWORD) as proc:
        yield proc


@pytest.fixture
def root_client(console_server) -> httpx.Client:
    """The root user, signed in afresh for one test (which may sign it out)."""
    with httpx.Client(base_url=console_server.endpoint_url, timeout=30) as client:
        assert sign_in(client).status_code == 303
        yield client


@pytest.fixture(scope="module")
def root(console_server) -> httpx.Client:
    """The root user, signed in once for a module's tests."""
    with httpx.Client(base_url=console_server.endpoint_url, timeout=30) as client:
        assert sign_in(client).status_code == 303
        yield client
