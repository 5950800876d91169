"""Verify AWS Signature Version 4, in the Authorization header or a presigned query string.

No library verifies SigV4 on the server side, so this follows the published algorithm: rebuild the
canonical request from what arrived, sign it with the caller's secret, compare in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import quote, unquote

from selfmaker.domain.partitions import known_regions
from selfmaker.services.base import ServiceError

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_EXPIRES = 604800  # seconds: a presigned URL lives at most a week, as on AWS
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)


class AuthError(ServiceError):
    """A signature problem; ``kind`` picks the protocol's code (JSON and Query name them differently)."""

    # kind -> (JSON code, JSON status, Query code, Query status)
    CODES = {
        "missing": ("MissingAuthenticationTokenException", 403, "MissingAuthenticationToken", 403),
        "incomplete": ("IncompleteSignatureException", 400, "IncompleteSignature", 400),
        "unknown-key": ("UnrecognizedClientException", 400, "InvalidClientTokenId", 403),
        "signature": ("InvalidSignatureException", 400, "SignatureDoesNotMatch", 403),
        "expired-token": ("ExpiredTokenException", 400, "ExpiredToken", 403),
        "query-parameters": ("AuthorizationQueryParametersError", 400, "AuthorizationQueryParametersError", 400),
    }

    def __init__(self, kind: str, message: str):
        json_code, json_status, _, _ = self.CODES[kind]
        super().__init__(json_code, message, json_status)
        self.kind = kind

    def for_query(self) -> ServiceError:
        _, _, code, status = self.CODES[self.kind]
        return ServiceError(code, self.message, status)


@dataclass(frozen=True)
class SignedRequest:
    access_key_id: str
    date: str  # yyyymmdd of the scope
    region: str
    service: str
    amz_date: str  # yyyymmddThhmmssZ
    signed_headers: tuple[str, ...]
    signature: str
    security_token: str | None
    presigned: bool
    expires: int | None = None


def _parse_authorization(value: str) -> dict[str, str]:
    algorithm, _, rest = value.partition(" ")
    if algorithm != ALGORITHM:
        raise AuthError("incomplete", f"Unsupported signing algorithm '{algorithm}'; use {ALGORITHM}.")
    fields = {}
    for part in rest.split(","):
        key, sep, item = part.strip().partition("=")
        if sep:
            fields[key] = item
    for required in ("Credential", "SignedHeaders", "Signature"):
        if required not in fields:
            raise AuthError(
                "incomplete", f"Authorization header requires '{required}' parameter. Authorization={value}"
            )
    return fields


def _split_scope(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise AuthError(
            "incomplete",
            f"Credential should be scoped to a valid region, not '{credential}'. "
            "Expected <key>/<yyyymmdd>/<region>/<service>/aws4_request.",
        )
    return parts[0], parts[1], parts[2], parts[3]


def read_signature(headers: dict[str, str], query: dict[str, str]) -> SignedRequest:
    """Pull the signature's parts out of a request, without checking them yet."""
    if "X-Amz-Signature" in query:
        if query.get("X-Amz-Algorithm") != ALGORITHM:
            raise AuthError("incomplete", f"X-Amz-Algorithm must be {ALGORITHM}.")
        akid, date, region, service = _split_scope(query.get("X-Amz-Credential", ""))
        expires_text = query.get("X-Amz-Expires", "900")
        if not expires_text.isdigit() or len(expires_text) > 7:
            raise AuthError("query-parameters", "X-Amz-Expires should be a number")
        expires = int(expires_text)
        if expires < 1:
            raise AuthError("query-parameters", "X-Amz-Expires must be non-negative")
        if expires > MAX_EXPIRES:
            raise AuthError("query-parameters",
                            f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES}")
        return SignedRequest(
            akid, date, region, service, query.get("X-Amz-Date", ""),
            tuple(query.get("X-Amz-SignedHeaders", "host").split(";")), query["X-Amz-Signature"],
            query.get("X-Amz-Security-Token"), True, expires,
        )
    authorization = headers.get("authorization")
    if not authorization:
        raise AuthError("missing", "Missing Authentication Token")
    fields = _parse_authorization(authorization)
    akid, date, region, service = _split_scope(fields["Credential"])
    amz_date = headers.get("x-amz-date", "")
    return SignedRequest(
        akid, date, region, service, amz_date, tuple(fields["SignedHeaders"].split(";")),
        fields["Signature"], headers.get("x-amz-security-token"), False,
    )


def _canonical_query(raw_query: str, presigned: bool) -> str:
    pairs = []
    for part in raw_query.split("&") if raw_query else ():
        key, _, value = part.partition("=")
        key, value = unquote(key.replace("+", " ")), unquote(value.replace("+", " "))
        if presigned and key == "X-Amz-Signature":
            continue
        pairs.append((quote(key, safe="-_.~"), quote(value, safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _canonical_path(raw_path: str) -> str:
    # Clients sign the already-encoded path encoded once more (every service but S3).
    return quote(raw_path or "/", safe="/~")


@lru_cache(maxsize=1024)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _parse_amz_date(value: str) -> float:
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise AuthError("incomplete", f"Invalid X-Amz-Date '{value}'; expected yyyyMMdd'T'HHmmss'Z'.") from None


def _stamp(moment: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(moment))


def check_freshness(signed: SignedRequest, skew: float, now: float | None = None) -> None:
    now = time.time() if now is None else now
    moment = _parse_amz_date(signed.amz_date)
    if signed.presigned:
        if moment > now + skew:  # dated ahead: it would be valid for longer than it says
            raise AuthError("signature", "Request is not yet valid")
        if now > moment + (signed.expires or 0):
            raise AuthError(
                "signature",
                f"Signature expired: {signed.amz_date} is now earlier than "
                f"{_stamp(now - (signed.expires or 0))} ({_stamp(now)} - {signed.expires} sec.)",
            )
        return
    if moment < now - skew:
        raise AuthError(
            "signature",
            f"Signature expired: {signed.amz_date} is now earlier than {_stamp(now - skew)} "
            f"({_stamp(now)} - {int(skew // 60)} min.)",
        )
    if moment > now + skew:
        raise AuthError(
            "signature",
            f"Signature not yet current: {signed.amz_date} is still later than {_stamp(now + skew)} "
            f"({_stamp(now)} + {int(skew // 60)} min.)",
        )


def verify(
    signed: SignedRequest,
    secret: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: dict[str, str],
    body: bytes,
) -> None:
    """Raise AuthError unless ``signed.signature`` is what ``secret`` makes of this request.

    The payload's hash is always computed from the body that came: a signed ``x-amz-content-sha256`` is
    checked against it, never trusted in its place. A presigned request carries everything in its signed
    query string, so it may have no body."""
    if "host" not in signed.signed_headers:
        raise AuthError("incomplete", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    if signed.region not in known_regions():
        raise AuthError("signature", f"Credential should be scoped to a valid region, not '{signed.region}'.")
    if not signed.amz_date.startswith(signed.date):
        raise AuthError(
            "signature",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.",
        )
    canonical_headers = []
    for name in signed.signed_headers:
        value = headers.get(name)
        if value is None:
            raise AuthError("signature", _MISMATCH)
        canonical_headers.append(f"{name}:{' '.join(value.split())}\n")
    body_hash = hashlib.sha256(body).hexdigest()
    claimed = headers.get("x-amz-content-sha256")
    if claimed is not None and claimed not in (body_hash, UNSIGNED_PAYLOAD):
        raise AuthError("signature", "The provided 'x-amz-content-sha256' header does not match what was computed.")
    payload_hashes = [body_hash]
    if signed.presigned:
        if body:
            raise AuthError("signature", "A presigned request takes its parameters from its signed query string "
                                         "alone; this one has a body. Send it without one.")
        payload_hashes.append(UNSIGNED_PAYLOAD)  # what botocore's presigner puts in place of the body's hash
    head = "\n".join(
        (
            method,
            _canonical_path(raw_path),
            _canonical_query(raw_query, signed.presigned),
            "".join(canonical_headers),
            ";".join(signed.signed_headers),
        )
    )
    scope = f"{signed.date}/{signed.region}/{signed.service}/aws4_request"
    key = _signing_key(secret, signed.date, signed.region, signed.service)
    for payload_hash in payload_hashes:
        canonical_request = f"{head}\n{payload_hash}"
        string_to_sign = "\n".join(
            (ALGORITHM, signed.amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest())
        )
        expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, signed.signature):
            return
    raise AuthError("signature", _MISMATCH)
