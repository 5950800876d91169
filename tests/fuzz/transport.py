"""Sending a case: through boto3 (parameter validation off, no retries), or as a raw body signed with SigV4;
either way the answer is read the same: HTTP status and the protocol's error code."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

import boto3
import httpx
from botocore import xform_name
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from selfmaker.protocol.models import service_model

_TIMEOUT = 30.0  # a request that takes longer counts as a hang
_XML_CODE = re.compile(rb"<Code>([^<]*)</Code>")


@dataclass
class Answer:
    status: int | None  # None: no answer at all (connection dropped, or past the timeout)
    code: str  # the error code, "" for a success
    problem: str = ""  # why the answer itself is wrong (no error code on an error, unparseable success…)


class Transport:
    def __init__(self, endpoint_url: str, access_key_id: str, secret_access_key: str, region: str):
        self.endpoint_url = endpoint_url.rstrip("/")
        self.region = region
        self.credentials = Credentials(access_key_id, secret_access_key)
        self.http = httpx.Client(timeout=_TIMEOUT)
        self._clients: dict[str, object] = {}
        self._seen: dict | None = None  # the last response boto3 received, from its before-parse event

    def close(self) -> None:
        self.http.close()

    def client(self, service: str):
        if service not in self._clients:
            client = boto3.client(
                service, endpoint_url=self.endpoint_url, region_name=self.region,
                aws_access_key_id=self.credentials.access_key, aws_secret_access_key=self.credentials.secret_key,
                config=Config(parameter_validation=False, retries={"total_max_attempts": 1},
                              read_timeout=_TIMEOUT, connect_timeout=5),
            )
            client.meta.events.register("before-parse", self._record)
            self._clients[service] = client
        return self._clients[service]

    def _record(self, response_dict: dict, **_) -> None:
        self._seen = response_dict

    def via_boto3(self, service: str, operation: str, params: dict, protocol: str) -> Answer | None:
        """The answer, or None when boto3 could not even build the request (the caller then sends it raw)."""
        self._seen = None
        method = getattr(self.client(service), xform_name(operation))
        try:
            method(**params)
            parse_problem = ""
        except ClientError:
            parse_problem = ""
        except (ConnectionError, HTTPClientError) as err:
            return Answer(None, "", f"no answer: {type(err).__name__}")
        except Exception as err:  # client-side: botocore could not serialize these params, or read the answer
            if self._seen is None:
                return None
            parse_problem = f"boto3 could not read the answer: {type(err).__name__}: {err}"[:300]
        seen = self._seen
        if seen is None:
            return None
        answer = read(seen["status_code"], seen["body"], protocol)
        if parse_problem and not answer.problem and answer.status is not None and answer.status < 300:
            answer.problem = parse_problem
        return answer

    def raw(self, service: str, protocol: str, body: bytes, headers: dict[str, str]) -> Answer:
        request = AWSRequest("POST", self.endpoint_url + "/", data=body, headers=headers)
        # Signed as boto3 signs it: with the model's signing name (service-quotas signs as "servicequotas").
        SigV4Auth(self.credentials, service_model(service).signing_name, self.region).add_auth(request)
        try:
            response = self.http.post(self.endpoint_url + "/", content=body, headers=dict(request.headers.items()))
        except httpx.HTTPError as err:
            return Answer(None, "", f"no answer: {type(err).__name__}")
        return read(response.status_code, response.content, protocol)


def read(status: int, body: bytes, protocol: str) -> Answer:
    """Status, error code, and whether the body is what the protocol promises."""
    if protocol == "json":
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            return Answer(status, "", "the body is not JSON")
        code = str(document.get("__type", "")).rpartition("#")[2] if isinstance(document, dict) else ""
    else:
        try:
            ElementTree.fromstring(body)
        except ElementTree.ParseError:
            return Answer(status, "", "the body is not XML")
        found = _XML_CODE.search(body)
        code = found.group(1).decode() if found else ""
    if status >= 400 and not code:
        return Answer(status, "", "an error without an error code")
    return Answer(status, code if status >= 400 else "")
