"""SNS's errors, worded as SNS words them."""

from __future__ import annotations

from selfmaker.services.base import ServiceError


def invalid_parameter(name: str, reason: str | None = None) -> ServiceError:
    message = f"Invalid parameter: {name}" + (f" Reason: {reason}" if reason else "")
    return ServiceError("InvalidParameter", message)


def topic_not_found() -> ServiceError:
    return ServiceError("NotFound", "Topic does not exist", 404)


def subscription_not_found() -> ServiceError:
    return ServiceError("NotFound", "Subscription does not exist", 404)


def resource_not_found() -> ServiceError:
    return ServiceError("ResourceNotFound", "Resource does not exist", 404)


def not_authorized(principal: str, action: str, resource: str) -> ServiceError:
    return ServiceError(
        "AuthorizationError", f"User: {principal} is not authorized to perform: SNS:{action} on resource: {resource}",
        403,
    )
