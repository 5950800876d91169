"""What every service provider shares: the request context and the error it raises.

A provider is a class with one method per operation, named as the operation is in botocore's model
(``DescribeNotebookInstance``). A method takes (ctx, params) — params already parsed and validated
against the operation's input shape — and returns a dict shaped like the output shape. Methods may be
plain or async. Providers never see HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass


class ServiceError(Exception):
    """An AWS error: ``code`` is the wire error code, ``status`` the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400, sender_fault: bool = True):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.sender_fault = sender_fault


def validation_error(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)


@dataclass(frozen=True)
class RequestContext:
    account_id: str
    region: str
    principal_arn: str
    access_key_id: str
    request_id: str
    endpoint_url: str  # the base URL clients reach this server at, for links we hand out

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"
