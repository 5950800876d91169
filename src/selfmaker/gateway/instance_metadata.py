"""The EC2 instance metadata service (IMDS) as a notebook instance finds it at 169.254.169.254:80.

Only the protocol: whoever listens inside an instance's network namespace hands each accepted connection to
``InstanceMetadataService.handle``, and the service learns which instance it serves from the two callables
it was built with. It speaks HTTP/1.1 with keep-alive (parsed by h11), IMDSv2 session tokens (PUT
/latest/api/token) and, when the instance allows it, tokenless IMDSv1 GETs, and serves the paths SDKs and
scripts read: the role's credentials, region and availability zone, instance id and type, the identity
document. Every connection is bounded in size, time and number of requests; bad input gets a 4xx and the
connection closes, never a 500.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import math
import secrets
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import urlsplit

import h11

from selfmaker.domain.partitions import partition_of

log = logging.getLogger(__name__)

MAX_TOKEN_TTL = 21600  # seconds, as EC2: six hours
TOKEN_PATH = "/latest/api/token"
TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "x-aws-ec2-metadata-token"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def ec2_instance_id(seed: str) -> str:
    """An EC2-looking instance id (``i-`` and 17 hex digits), the same for the same seed."""
    return "i-" + hashlib.sha256(seed.encode()).hexdigest()[:17]


def _digest(seed: str) -> bytes:
    return hashlib.sha256(seed.encode()).digest()


@dataclass
class InstanceIdentity:
    """What the metadata service says about one instance; empty fields are filled in plausibly."""

    instance_id: str
    instance_type: str  # e.g. "ml.t3.medium"
    region: str
    account_id: str
    role_name: str | None  # None: no instance profile, so no iam/ at all
    min_version: str  # "1": tokenless GETs work; "2": every GET needs a session token
    availability_zone: str = ""  # region + "a"
    ami_id: str = ""
    local_ipv4: str = "10.0.0.2"
    hostname: str = ""  # EC2's private DNS name for local_ipv4
    mac: str = ""
    launch_time: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if self.min_version not in ("1", "2"):
            raise ValueError(f"min_version must be '1' or '2', not {self.min_version!r}")
        self.availability_zone = self.availability_zone or self.region + "a"
        # One image per region, as SageMaker's notebook AMI is.
        self.ami_id = self.ami_id or "ami-0" + _digest("ami/" + self.region).hex()[:16]
        if not self.hostname:
            name = "ip-" + self.local_ipv4.replace(".", "-")
            domain = "ec2.internal" if self.region == "us-east-1" else f"{self.region}.compute.internal"
            self.hostname = f"{name}.{domain}"
        if not self.mac:
            # Locally administered unicast (0x02 first), stable per instance.
            self.mac = ":".join(f"{b:02x}" for b in b"\x02" + _digest("mac/" + self.instance_id)[:5])

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    @property
    def instance_profile_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:instance-profile/{self.role_name}"

    @property
    def instance_profile_id(self) -> str:
        tail = base64.b32encode(_digest(self.instance_profile_arn)).decode()[:17]
        return "AIPA" + tail


class CredentialsUnavailable(Exception):
    """The instance has a role but no credentials for it now (role missing, or it does not trust the
    instance). Served as EC2 does: 200 with a JSON Code and Message, which SDKs read as "no credentials"."""

    def __init__(self, message: str, code: str = "AssumeRoleUnauthorizedAccess"):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Limits:
    max_head_bytes: int = 8192  # request line and headers
    max_body_bytes: int = 1024  # IMDS requests carry none; a little is tolerated
    max_requests: int = 100  # per connection, then it closes
    # Seconds a client has to deliver a whole request, counted from the accept or the previous response:
    # both the keep-alive idle limit and the bound on a request sent a byte at a time.
    request_timeout: float = 10.0
    write_timeout: float = 10.0


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/plain"
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False


class _Refused(Exception):
    """A request that gets an error and a closed connection; HEAD's error has no body, so the method counts."""

    def __init__(self, status: int, method: bytes):
        super().__init__(status)
        self.status = status
        self.method = method


class _Tokens:
    """IMDSv2 session tokens: stateless (expiry and nonce, HMAC-signed with a key of this service object's),
    so they cost no memory however many a client asks for, and die with the service."""

    def __init__(self, monotonic: Callable[[], float]):
        self._key = secrets.token_bytes(32)
        self._monotonic = monotonic

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:24]

    def issue(self, ttl: int) -> str:
        payload = struct.pack(">d", self._monotonic() + ttl) + secrets.token_bytes(10)
        return base64.urlsafe_b64encode(payload + self._mac(payload)).decode()  # 56 characters, as EC2's

    def remaining(self, token: str) -> int | None:
        """Whole seconds the token has left, or None when it is not ours or has expired."""
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            return None
        if len(raw) != 42 or not hmac.compare_digest(raw[18:], self._mac(raw[:18])):
            return None
        left = struct.unpack(">d", raw[:8])[0] - self._monotonic()
        return math.ceil(left) if left > 0 else None


_CREDENTIALS = object()  # the tree's leaf that is fetched, not stored
Tree = dict[str, object]  # directories are dicts; leaves are text, or _CREDENTIALS


def _now() -> str:
    return datetime.now(UTC).strftime(TIME_FORMAT)


def _tree(ident: InstanceIdentity) -> Tree:
    meta: Tree = {
        "ami-id": ident.ami_id,
        "ami-launch-index": "0",
        "hostname": ident.hostname,
        "instance-id": ident.instance_id,
        "instance-life-cycle": "on-demand",
        "instance-type": ident.instance_type,
        "local-hostname": ident.hostname,
        "local-ipv4": ident.local_ipv4,
        "mac": ident.mac,
        "placement": {"availability-zone": ident.availability_zone, "region": ident.region},
        "services": {
            "domain": "amazonaws.com.cn" if ident.partition == "aws-cn" else "amazonaws.com",
            "partition": ident.partition,
        },
    }
    if ident.role_name is not None:
        info = {"Code": "Success", "LastUpdated": ident.launch_time.strftime(TIME_FORMAT),
                "InstanceProfileArn": ident.instance_profile_arn, "InstanceProfileId": ident.instance_profile_id}
        meta["iam"] = {"info": json.dumps(info, indent=2),
                       "security-credentials": {ident.role_name: _CREDENTIALS}}
    document = {
        "accountId": ident.account_id,
        "architecture": "x86_64",
        "availabilityZone": ident.availability_zone,
        "billingProducts": None,
        "devpayProductCodes": None,
        "marketplaceProductCodes": None,
        "imageId": ident.ami_id,
        "instanceId": ident.instance_id,
        "instanceType": ident.instance_type,
        "kernelId": None,
        "pendingTime": ident.launch_time.strftime(TIME_FORMAT),
        "privateIp": ident.local_ipv4,
        "ramdiskId": None,
        "region": ident.region,
        "version": "2017-09-30",
    }
    dynamic: Tree = {"instance-identity": {"document": json.dumps(document, indent=2)}}
    return {"latest": {"dynamic": dynamic, "meta-data": meta}}


def _error(status: int, close: bool = False) -> _Reply:
    title = f"{status} - {HTTPStatus(status).phrase}"
    page = (
        '<?xml version="1.0" encoding="iso-8859-1"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
        '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
        f" <head>\n  <title>{title}</title>\n </head>\n <body>\n  <h1>{title}</h1>\n </body>\n</html>\n"
    )
    return _Reply(status, page.encode(), "text/html", close=close)


def _path(target: bytes) -> str:
    text = target.decode("ascii", "replace")  # h11 has already refused anything but visible ASCII
    if text.startswith(("http://", "https://")):  # absolute form, as sent to a proxy
        return urlsplit(text).path or "/"
    return text.split("?", 1)[0]


class InstanceMetadataService:
    """One per instance: its tokens are good only here."""

    def __init__(
        self,
        identity: Callable[[], Awaitable[InstanceIdentity | None]],
        credentials: Callable[[], Awaitable[dict]],
        *,
        limits: Limits | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._identity = identity
        self._credentials = credentials
        self.limits = limits or Limits()
        self._tokens = _Tokens(monotonic)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection until the client closes it, a limit is reached, or the instance is gone."""
        try:
            await self._serve(reader, writer)
        except (OSError, TimeoutError):
            pass  # the peer went away or stalled: nothing more to say to it
        except Exception:
            log.exception("instance metadata connection failed")
        finally:
            writer.close()
            try:
                async with asyncio.timeout(self.limits.write_timeout):
                    await writer.wait_closed()
            except (OSError, TimeoutError):
                pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_head_bytes)
        for served in range(1, self.limits.max_requests + 1):
            try:
                request = await self._read_request(conn, reader, writer)
            except _Refused as err:
                await self._send(conn, writer, err.method, _error(err.status, close=True))
                return
            if request is None:
                return
            identity = await self._identity()
            if identity is None:
                return  # the instance is gone: so is its metadata service
            reply = await self._answer(identity, request)
            reply.close = reply.close or served == self.limits.max_requests
            await self._send(conn, writer, request.method, reply)
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return  # closing (Connection: close, HTTP/1.0, or a limit)
            conn.start_next_cycle()

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> h11.Request | None:
        """The next whole request (its body read and dropped), or None when the client closed cleanly."""
        request: h11.Request | None = None
        body = 0
        async with asyncio.timeout(self.limits.request_timeout):
            while True:
                try:
                    event = conn.next_event()
                except h11.RemoteProtocolError as err:
                    raise _Refused(err.error_status_hint, request.method if request else b"GET") from err
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(4096))
                elif isinstance(event, h11.Request):
                    request = event
                    # h11 has checked it is a number it could read (a 6000-digit one is its 400).
                    length = dict(event.headers).get(b"content-length", b"0")
                    if int(length) > self.limits.max_body_bytes:
                        raise _Refused(413, event.method)
                    if conn.client_is_waiting_for_100_continue:
                        await self._write(writer, conn.send(h11.InformationalResponse(status_code=100)))
                elif isinstance(event, h11.Data):
                    body += len(event.data)
                    if body > self.limits.max_body_bytes:
                        raise _Refused(413, request.method if request else b"GET")
                elif isinstance(event, h11.EndOfMessage):
                    return request
                else:  # ConnectionClosed (PAUSED cannot come before EndOfMessage)
                    return None

    async def _answer(self, identity: InstanceIdentity, request: h11.Request) -> _Reply:
        path = _path(request.target)
        method = request.method
        headers: dict[str, list[str]] = {}
        for name, value in request.headers:
            headers.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))

        if path.rstrip("/") == TOKEN_PATH:
            return self._token(method, headers)
        if method not in (b"GET", b"HEAD"):
            return _error(405)
        extra: list[tuple[str, str]] = []
        if TOKEN_HEADER in headers:
            # A token that is present must be good, whatever the instance's minimum version.
            values = headers[TOKEN_HEADER]
            left = self._tokens.remaining(values[0]) if len(values) == 1 else None
            if left is None:
                return _error(401)
            extra.append((TTL_HEADER, str(left)))
        elif identity.min_version == "2":
            return _error(401)

        node: object = _tree(identity)
        segments = [s for s in path.split("/") if s]
        for segment in segments:
            if not isinstance(node, dict) or segment not in node:
                return _error(404)
            node = node[segment]
        if isinstance(node, dict):
            body = self._listing(node, slashes=len(segments) >= 2).encode()
        elif node is _CREDENTIALS:
            reply = await self._role_credentials()
            reply.headers += extra
            return reply
        else:
            body = str(node).encode()
        return _Reply(200, body, headers=extra)

    def _token(self, method: bytes, headers: dict[str, list[str]]) -> _Reply:
        if method != b"PUT":
            return _error(405)
        if "x-forwarded-for" in headers:
            return _error(403)  # as EC2: a token is never handed through a proxy
        values = headers.get(TTL_HEADER, [])
        value = values[0].strip() if len(values) == 1 else ""
        if not (value.isascii() and value.isdigit() and len(value) <= 6 and 1 <= int(value) <= MAX_TOKEN_TTL):
            return _error(400)
        return _Reply(200, self._tokens.issue(int(value)).encode(), headers=[(TTL_HEADER, value)])

    @staticmethod
    def _listing(node: dict, slashes: bool) -> str:
        # Within meta-data and dynamic, subdirectories end with "/"; the version levels list bare names.
        return "\n".join(k + "/" if slashes and isinstance(v, dict) else k for k, v in sorted(node.items()))

    async def _role_credentials(self) -> _Reply:
        try:
            issued = await self._credentials()
            body = {"Code": "Success", "LastUpdated": _now(), "Type": "AWS-HMAC",
                    **{key: str(issued[key]) for key in ("AccessKeyId", "SecretAccessKey", "Token", "Expiration")}}
        except CredentialsUnavailable as err:
            body = {"Code": err.code, "LastUpdated": _now(), "Message": err.message}
        except Exception:  # a store that fails, or an answer without a field: say so, and stay up
            log.exception("instance metadata: credentials failed")
            return _error(503)
        return _Reply(200, json.dumps(body, indent=2).encode())

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, method: bytes, reply: _Reply) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return  # mid-response already: nothing well-formed can be said
        headers = [
            ("content-type", reply.content_type),
            ("content-length", str(len(reply.body))),
            ("date", formatdate(usegmt=True)),
            ("server", "EC2ws"),
            *reply.headers,
        ]
        if reply.close:
            headers.append(("connection", "close"))
        data = conn.send(h11.Response(status_code=reply.status, headers=headers,
                                      reason=HTTPStatus(reply.status).phrase.encode()))
        if method != b"HEAD" and reply.body:
            data += conn.send(h11.Data(data=reply.body))
        data += conn.send(h11.EndOfMessage())
        await self._write(writer, data)

    async def _write(self, writer: asyncio.StreamWriter, data: bytes | None) -> None:
        if data:
            writer.write(data)
            async with asyncio.timeout(self.limits.write_timeout):
                await writer.drain()
