"""The instance metadata service, served on a loopback port and read by real clients: botocore's own IMDS
fetchers, boto3's default chain and the AWS CLI in a clean subprocess, httpx, and raw sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from botocore.credentials import InstanceMetadataProvider
from botocore.utils import InstanceMetadataFetcher, InstanceMetadataRegionFetcher
from sqlalchemy import insert

from selfmaker.gateway.instance_metadata import (
    MAX_TOKEN_TTL,
    CredentialsUnavailable,
    InstanceIdentity,
    InstanceMetadataService,
    Limits,
    ec2_instance_id,
)
from selfmaker.services.iam.directory import Directory
from selfmaker.services.iam.provider import IAMService
from selfmaker.services.identity import CredentialStore
from selfmaker.services.sts.instance_credentials import InstanceCredentials, InstanceCredentialsError, instance_env
from selfmaker.store.db import open_store
from selfmaker.store.tables import notebook_instances
from tests.postgres import store_at
from tests.services.support import ACCOUNT, iam_ctx

REGION = "ap-northeast-2"
ROLE = "BaseNotebookInstanceEc2InstanceRole"
VENV_BIN = Path(sys.executable).parent
CREDS = {"AccessKeyId": "ASIATESTTESTTEST0001", "SecretAccessKey": "s3cr3t", "Token": "session-token",
         "Expiration": "2999-01-01T00:00:00Z"}
TOKEN_PUT = {"X-aws-ec2-metadata-token-ttl-seconds": "21600"}


@dataclass
class Instance:
    """What the service's two callables answer; tests change it while the server runs."""

    identity: InstanceIdentity | None
    credentials: object = field(default_factory=lambda: dict(CREDS))  # a dict, or an exception to raise
    now: float = 1000.0  # the service's monotonic clock

    async def get_identity(self) -> InstanceIdentity | None:
        return self.identity

    async def get_credentials(self) -> dict:
        if isinstance(self.credentials, BaseException):
            raise self.credentials
        return self.credentials


class Served:
    """A service object behind asyncio.start_server on 127.0.0.1, on an event loop in a thread of its own."""

    def __init__(self, instance: Instance, limits: Limits | None = None, credentials=None):
        self.instance = instance
        self.service = InstanceMetadataService(
            instance.get_identity, credentials or instance.get_credentials, limits=limits,
            monotonic=lambda: instance.now,
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.writers: set[asyncio.StreamWriter] = set()
        start = asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.server = asyncio.run_coroutine_threadsafe(start, self.loop).result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            await self.service.handle(reader, writer)
        finally:
            self.writers.discard(writer)

    def close(self) -> None:
        async def stop():
            self.server.close()
            # Connections clients keep alive (botocore's pool) are cut, so their handlers end by themselves.
            for writer in list(self.writers):
                writer.transport.abort()
            handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            await asyncio.wait_for(asyncio.gather(*handlers), 5)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def token(self, ttl: str = "21600") -> str:
        response = httpx.put(f"{self.url}/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": ttl})
        assert response.status_code == 200, response.text
        return response.text

    def get(self, path: str, token: str | None = None, **kwargs) -> httpx.Response:
        headers = {"X-aws-ec2-metadata-token": token} if token is not None else {}
        return httpx.get(self.url + path, headers=headers, **kwargs)


def identity(min_version: str = "2", role: str | None = ROLE, **extra) -> InstanceIdentity:
    return InstanceIdentity(instance_id=ec2_instance_id("nb-1"), instance_type="ml.t3.medium", region=REGION,
                            account_id=ACCOUNT, role_name=role, min_version=min_version, **extra)


@contextlib.contextmanager
def serving(min_version: str = "2", role: str | None = ROLE, limits: Limits | None = None,
            credentials=None) -> Iterator[Served]:
    served = Served(Instance(identity(min_version, role)), limits, credentials)
    try:
        yield served
    finally:
        served.close()


@pytest.fixture
def v2() -> Iterator[Served]:
    with serving("2") as served:
        yield served


@pytest.fixture
def v1() -> Iterator[Served]:
    with serving("1") as served:
        yield served


def fetcher_config(served: Served, **extra) -> dict:
    return {"ec2_metadata_service_endpoint": served.url, **extra}


# --- botocore's own clients -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_botocore_fetches_role_credentials(version):
    with serving(version) as served:
        fetched = InstanceMetadataFetcher(config=fetcher_config(served)).retrieve_iam_role_credentials()
    assert fetched == {"role_name": ROLE, "access_key": CREDS["AccessKeyId"], "secret_key": CREDS["SecretAccessKey"],
                       "token": CREDS["Token"], "expiry_time": CREDS["Expiration"]}


def test_botocore_with_imdsv1_disabled_still_works_through_tokens(v2):
    config = fetcher_config(v2, ec2_metadata_v1_disabled=True)
    assert InstanceMetadataFetcher(config=config).retrieve_iam_role_credentials()["role_name"] == ROLE


def test_botocore_provider_gives_refreshable_credentials(v2):
    provider = InstanceMetadataProvider(iam_role_fetcher=InstanceMetadataFetcher(config=fetcher_config(v2)))
    creds = provider.load()
    assert creds.method == "iam-role"
    frozen = creds.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (
        CREDS["AccessKeyId"], CREDS["SecretAccessKey"], CREDS["Token"])


@pytest.mark.parametrize("version", ["1", "2"])
def test_botocore_region_fetcher_reads_the_availability_zone(version):
    with serving(version) as served:
        assert InstanceMetadataRegionFetcher(config=fetcher_config(served)).retrieve_region() == REGION


def test_untrusted_role_is_a_json_error_that_botocore_reads_as_no_credentials(v2):
    v2.instance.credentials = CredentialsUnavailable("EC2 cannot assume the role.")
    body = v2.get(f"/latest/meta-data/iam/security-credentials/{ROLE}", v2.token()).json()
    assert body["Code"] == "AssumeRoleUnauthorizedAccess" and body["Message"] == "EC2 cannot assume the role."
    assert InstanceMetadataFetcher(config=fetcher_config(v2)).retrieve_iam_role_credentials() == {}


def test_no_role_means_no_iam_and_no_credentials():
    with serving(role=None) as served:
        token = served.token()
        assert "iam/" not in served.get("/latest/meta-data/", token).text.split("\n")
        for path in ("iam/", "iam/info", "iam/security-credentials/", f"iam/security-credentials/{ROLE}"):
            assert served.get("/latest/meta-data/" + path, token).status_code == 404, path
        assert InstanceMetadataFetcher(config=fetcher_config(served)).retrieve_iam_role_credentials() == {}


# --- boto3 and the AWS CLI in a clean process -----------------------------------------------------------

CHAIN = """
import json, boto3
session = boto3.Session()
creds = session.get_credentials()
frozen = creds.get_frozen_credentials()
print(json.dumps({"method": creds.method, "access_key": frozen.access_key, "token": frozen.token,
                  "region": session.region_name}))
"""


def clean_env(served: Served, home: Path) -> dict[str, str]:
    """Nothing AWS_* but the metadata endpoint (inside an instance even that is the default address)."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": served.url}


def test_boto3_default_chain_finds_credentials_in_imds(v2, tmp_path):
    out = subprocess.run([sys.executable, "-c", CHAIN], env=clean_env(v2, tmp_path), capture_output=True,
                         text=True, timeout=60, check=True)
    found = json.loads(out.stdout)
    assert found["method"] == "iam-role"
    assert (found["access_key"], found["token"]) == (CREDS["AccessKeyId"], CREDS["Token"])
    # botocore (and so boto3 and the AWS CLI v1) never takes the region from IMDS: only env or config file.
    assert found["region"] is None


def test_boto3_and_the_cli_take_the_region_from_the_config_file(v2, tmp_path):
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "config").write_text(f"[default]\nregion = {REGION}\n")
    env = clean_env(v2, tmp_path)
    out = subprocess.run([sys.executable, "-c", CHAIN], env=env, capture_output=True, text=True, timeout=60,
                         check=True)
    assert json.loads(out.stdout)["region"] == REGION
    listed = subprocess.run([str(VENV_BIN / "aws"), "configure", "list"], env=env, capture_output=True,
                            text=True, timeout=60, check=True).stdout
    rows = {line.split()[0]: line.split()[1:] for line in listed.splitlines()[2:] if line.strip()}
    assert rows["access_key"][-1] == "iam-role" and rows["access_key"][0].endswith(CREDS["AccessKeyId"][-4:])
    assert rows["region"][0] == REGION


# --- the IMDS rules over HTTP ---------------------------------------------------------------------------


def test_token_ttl_bounds_and_echo(v2):
    put = v2.url + "/latest/api/token"
    for ttl in ("1", str(MAX_TOKEN_TTL)):
        response = httpx.put(put, headers={"X-aws-ec2-metadata-token-ttl-seconds": ttl})
        assert response.status_code == 200 and len(response.text) == 56
        assert response.headers["x-aws-ec2-metadata-token-ttl-seconds"] == ttl
        assert response.headers["content-type"] == "text/plain"
    for ttl in ("0", str(MAX_TOKEN_TTL + 1), "-5", "abc", "", "1.5", "9" * 40):
        assert httpx.put(put, headers={"X-aws-ec2-metadata-token-ttl-seconds": ttl}).status_code == 400, ttl
    assert httpx.put(put).status_code == 400
    assert httpx.get(put).status_code == 405


def test_a_token_put_through_a_proxy_is_refused(v2):
    response = httpx.put(v2.url + "/latest/api/token", headers={**TOKEN_PUT, "X-Forwarded-For": "10.0.0.9"})
    assert response.status_code == 403


def test_v2_requires_a_token(v2):
    assert v2.get("/latest/meta-data/instance-id").status_code == 401
    response = v2.get("/latest/meta-data/instance-id", v2.token("300"))
    assert response.status_code == 200 and response.text == ec2_instance_id("nb-1")
    assert 0 < int(response.headers["x-aws-ec2-metadata-token-ttl-seconds"]) <= 300


def test_v1_serves_tokenless_gets_but_checks_a_token_that_is_sent(v1):
    assert v1.get("/latest/meta-data/instance-type").text == "ml.t3.medium"
    assert v1.get("/latest/meta-data/instance-type", v1.token()).text == "ml.t3.medium"
    assert v1.get("/latest/meta-data/instance-type", "not-a-token").status_code == 401


def test_tokens_expire_and_belong_to_one_service(v2):
    token = v2.token("60")
    assert v2.get("/latest/meta-data/", token).status_code == 200
    v2.instance.now += 61
    assert v2.get("/latest/meta-data/", token).status_code == 401
    with serving("2") as other:
        assert other.get("/latest/meta-data/", v2.token()).status_code == 401
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert v2.get("/latest/meta-data/", tampered).status_code == 401


def test_listings_and_values(v2):
    token = v2.token()
    ident = v2.instance.identity

    def text(path: str) -> str:
        response = v2.get(path, token)
        assert response.status_code == 200, path
        return response.text

    assert text("/") == "latest"
    assert text("/latest/") == text("/latest") == "dynamic\nmeta-data"
    meta = text("/latest/meta-data/").split("\n")
    for entry in ("ami-id", "hostname", "iam/", "instance-id", "instance-type", "local-hostname", "local-ipv4",
                  "mac", "placement/"):
        assert entry in meta
    assert meta == sorted(meta)
    assert text("/latest/meta-data/placement/").split("\n") == ["availability-zone", "region"]
    assert text("/latest/meta-data/placement/availability-zone") == REGION + "a"
    assert text("/latest/meta-data/placement/availability-zone/") == REGION + "a"  # as botocore asks for it
    assert text("/latest/meta-data/placement/region") == REGION
    assert text("/latest/meta-data/local-ipv4") == "10.0.0.2"
    assert text("/latest/meta-data/hostname") == f"ip-10-0-0-2.{REGION}.compute.internal"
    assert text("/latest/meta-data/ami-id").startswith("ami-0") and text("/latest/meta-data/mac") == ident.mac
    assert text("/latest/meta-data/iam/").split("\n") == ["info", "security-credentials/"]
    assert text("/latest/meta-data/iam/security-credentials/") == ROLE

    creds = json.loads(text(f"/latest/meta-data/iam/security-credentials/{ROLE}"))
    assert creds.pop("Code") == "Success" and creds.pop("Type") == "AWS-HMAC"
    time.strptime(creds.pop("LastUpdated"), "%Y-%m-%dT%H:%M:%SZ")
    assert creds == CREDS

    info = json.loads(text("/latest/meta-data/iam/info"))
    assert info["Code"] == "Success"
    assert info["InstanceProfileArn"] == f"arn:aws:iam::{ACCOUNT}:instance-profile/{ROLE}"
    assert info["InstanceProfileId"].startswith("AIPA") and len(info["InstanceProfileId"]) == 21

    assert text("/latest/dynamic/") == "instance-identity/"
    document = json.loads(text("/latest/dynamic/instance-identity/document"))
    assert {k: document[k] for k in ("region", "availabilityZone", "instanceId", "instanceType", "accountId")} == {
        "region": REGION, "availabilityZone": REGION + "a", "instanceId": ident.instance_id,
        "instanceType": "ml.t3.medium", "accountId": ACCOUNT}


def test_unknown_paths_and_methods(v2):
    token = v2.token()
    for path in ("/latest/meta-data/nope", "/latest/meta-data/instance-id/more", "/2009-04-04/meta-data/",
                 "/latest/meta-data/iam/security-credentials/OtherRole", "/latest/meta-data/../../etc/passwd",
                 "/latest/api"):
        response = v2.get(path, token)
        assert response.status_code == 404, path
        assert "404 - Not Found" in response.text and response.headers["content-type"] == "text/html"
    assert httpx.post(v2.url + "/latest/meta-data/", headers={"X-aws-ec2-metadata-token": token}).status_code == 405
    head = httpx.head(v2.url + "/latest/meta-data/instance-id", headers={"X-aws-ec2-metadata-token": token})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(ec2_instance_id("nb-1")))


def test_credentials_that_fail_unexpectedly_are_a_503_and_the_service_lives_on(v2):
    v2.instance.credentials = RuntimeError("store is locked")
    token = v2.token()
    assert v2.get(f"/latest/meta-data/iam/security-credentials/{ROLE}", token).status_code == 503
    assert v2.get("/latest/meta-data/instance-id", token).status_code == 200


def test_a_gone_instance_closes_the_connection(v1):
    v1.instance.identity = None
    with pytest.raises(httpx.RemoteProtocolError):
        v1.get("/latest/meta-data/instance-id")


# --- raw sockets: framing, limits, keep-alive -----------------------------------------------------------


class Conn:
    """One raw client connection, reading responses by their Content-Length."""

    def __init__(self, served: Served):
        self.sock = socket.create_connection(("127.0.0.1", served.port), timeout=5)
        self.file = self.sock.makefile("rb")

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()
        self.sock.close()

    def send(self, raw: bytes) -> None:
        self.sock.sendall(raw)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        status = int(self.file.readline().split()[1])
        headers = {}
        while (line := self.file.readline()) not in (b"\r\n", b""):
            name, value = line.decode("latin-1").split(":", 1)
            headers[name.strip().lower()] = value.strip()
        return status, headers, self.file.read(int(headers.get("content-length", "0")))

    def ask(self, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        self.send(raw)
        return self.response()

    def rest(self) -> bytes:
        """Everything until the server closes (fails on the socket's timeout if it never does)."""
        return self.file.read()


def get(path: str, *extra: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 169.254.169.254", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_keep_alive_serves_several_requests_on_one_connection(v2):
    put = b"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n"
    with Conn(v2) as conn:
        status, _, token = conn.ask(put)
        assert status == 200
        auth = f"X-aws-ec2-metadata-token: {token.decode()}"
        paths = ["/latest/meta-data/instance-id", "/latest/meta-data/placement/region", "/nope",
                 "/latest/meta-data/local-ipv4"]
        answers = [conn.ask(get(p, auth)) for p in paths]
        assert [status for status, _, _ in answers] == [200, 200, 404, 200]
        assert answers[1][2] == REGION.encode()
        assert all("connection" not in headers for _, headers, _ in answers)
        # Pipelined: both answered, in order, on the same connection.
        conn.send(get("/latest/meta-data/instance-type", auth) + get("/latest/", auth))
        assert [conn.response()[2], conn.response()[2]] == [b"ml.t3.medium", b"dynamic\nmeta-data"]


def test_requests_per_connection_are_capped():
    with serving("1", limits=Limits(max_requests=2)) as served, Conn(served) as conn:
        status, headers, _ = conn.ask(get("/latest/meta-data/instance-id"))
        assert status == 200 and "connection" not in headers
        status, headers, _ = conn.ask(get("/latest/meta-data/instance-id"))
        assert status == 200 and headers["connection"] == "close"
        assert conn.rest() == b""


def test_garbage_gets_a_400_and_the_connection_closes(v1):
    with Conn(v1) as conn:
        conn.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n")
        answer = conn.rest()
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"connection: close" in answer.lower()


def test_a_huge_head_gets_a_431_and_closes(v1):
    with Conn(v1) as conn:
        conn.send(get("/latest/meta-data/", "X-Big: " + "a" * 20000))
        answer = conn.rest()
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_a_big_body_gets_a_413_and_closes(v1):
    with Conn(v1) as conn:
        conn.send(b"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000)
        answer = conn.rest()
    assert answer.startswith(b"HTTP/1.1 413 ")
    with Conn(v1) as conn:  # chunked, so only counting tells
        conn.send(b"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  + b"400\r\n" + b"x" * 1024 + b"\r\n" + b"10\r\n" + b"y" * 16 + b"\r\n")
        assert conn.rest().startswith(b"HTTP/1.1 413 ")
    with Conn(v1) as conn:  # the answer to HEAD has no body, an error's neither
        conn.send(b"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        status, headers, _ = conn.response()
        assert status == 413 and headers["connection"] == "close" and conn.rest() == b""
    with Conn(v1) as conn:  # more digits than int() will read: h11 refuses it
        conn.send(b"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\nContent-Length: " + b"9" * 6000 + b"\r\n\r\n")
        assert conn.rest().startswith(b"HTTP/1.1 400 ")


def test_a_slow_partial_request_is_dropped():
    with serving("1", limits=Limits(request_timeout=0.5)) as served, Conn(served) as conn:
        started = time.monotonic()
        conn.send(b"GET /latest/meta-data/ HTTP/1.1\r\nHost: x\r\n")
        for _ in range(3):  # a byte now and then does not keep it alive
            time.sleep(0.2)
            with contextlib.suppress(OSError):
                conn.send(b"X")
        assert conn.rest() == b""
        assert time.monotonic() - started < 3


def test_an_idle_keep_alive_connection_is_closed():
    with serving("1", limits=Limits(request_timeout=0.3)) as served, Conn(served) as conn:
        assert conn.ask(get("/latest/meta-data/instance-id"))[0] == 200
        assert conn.rest() == b""


def test_http_1_0_is_answered_then_closed(v1):
    with Conn(v1) as conn:
        conn.send(b"GET /latest/meta-data/placement/region HTTP/1.0\r\n\r\n")
        answer = conn.rest()
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(REGION.encode())


def test_a_client_that_hangs_up_mid_request_harms_nothing(v1):
    with Conn(v1) as conn:
        conn.send(b"GET /latest/meta-data/ HTT")
    assert v1.get("/latest/meta-data/instance-id").status_code == 200


def test_identity_rejects_an_unknown_min_version():
    with pytest.raises(ValueError):
        identity(min_version="3")


# --- the store behind it: InstanceCredentials.role_credentials ------------------------------------------

TRUST_SAGEMAKER = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


@pytest.fixture
def issuer(tmp_path) -> InstanceCredentials:
    engine = open_store(store_at(tmp_path / "db.sqlite"))
    iam = IAMService(engine, CredentialStore(engine), Directory(engine))
    iam.CreateRole(iam_ctx(), {"RoleName": "nb-role", "AssumeRolePolicyDocument": json.dumps(TRUST_SAGEMAKER)})
    iam.CreateRole(iam_ctx(), {"RoleName": "ec2-only", "AssumeRolePolicyDocument": json.dumps(
        {**TRUST_SAGEMAKER, "Statement": [{**TRUST_SAGEMAKER["Statement"][0],
                                           "Principal": {"Service": "ec2.amazonaws.com"}}]})})
    with engine.begin() as conn:
        for instance_id, role in (("nb1", "nb-role"), ("nb2", "ec2-only"), ("nb3", "missing")):
            conn.execute(insert(notebook_instances).values(
                instance_id=instance_id, account_id=ACCOUNT, region=REGION, name=instance_id,
                arn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:notebook-instance/{instance_id}", status="InService",
                instance_type="ml.t3.medium", role_arn=f"arn:aws:iam::{ACCOUNT}:role/{role}", volume_size_gb=5,
                settings={}, creation_time=0.0, last_modified_time=0.0))
    return InstanceCredentials(engine, iam.credentials, iam.directory)


def test_role_credentials_need_no_token_and_are_handed_out_again(issuer):
    first = issuer.role_credentials("nb1")
    assert set(first) == {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
    assert issuer.role_credentials("nb1") == first  # fresh: the same session, not a new one
    # The container path keeps its token check, and hands out the same session.
    settings = SimpleNamespace(port=1)  # all instance_env reads of the settings
    token = instance_env(issuer.engine, settings, "nb1")["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    assert issuer.issue("nb1", token) == first
    with pytest.raises(InstanceCredentialsError) as err:
        issuer.issue("nb1", "wrong")
    assert (err.value.status, err.value.code) == (403, "AccessDenied")


def test_role_credentials_failures(issuer):
    for instance_id, status, code in (("nb2", 403, "AccessDenied"), ("nb3", 404, "NoSuchEntity"),
                                      ("gone", 404, "NotFound")):
        with pytest.raises(InstanceCredentialsError) as err:
            issuer.role_credentials(instance_id)
        assert (err.value.status, err.value.code) == (status, code), instance_id


def test_imds_over_role_credentials_satisfies_botocore(issuer):
    async def credentials() -> dict:
        try:
            return await asyncio.to_thread(issuer.role_credentials, "nb1")
        except InstanceCredentialsError as err:
            raise CredentialsUnavailable(err.message) from err

    with serving("2", role="nb-role", credentials=credentials) as served:
        fetched = InstanceMetadataFetcher(config=fetcher_config(served)).retrieve_iam_role_credentials()
    assert fetched["access_key"] == issuer.role_credentials("nb1")["AccessKeyId"]

