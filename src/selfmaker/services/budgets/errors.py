"""AWS Budgets' errors, in its words (all HTTP 400, as Budgets answers them)."""

from __future__ import annotations

from selfmaker.services.base import RequestContext, ServiceError

LIMIT_TEXT = "You've exceeded the notification or subscriber limit."


def invalid(message: str) -> ServiceError:
    return ServiceError("InvalidParameterException", message)


def not_found(message: str) -> ServiceError:
    return ServiceError("NotFoundException", message)


def duplicate(message: str) -> ServiceError:
    return ServiceError("DuplicateRecordException", message)


def over_limit(message: str = LIMIT_TEXT) -> ServiceError:
    return ServiceError("CreationLimitExceededException", message)


def budget_arn(account_id: str, name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:budgets::{account_id}:budget/{name}"


def own_account(ctx: RequestContext, operation: str, params: dict) -> str:
    """The request's AccountId, which must be the caller's: another account's budgets are not its to touch."""
    account = params["AccountId"]
    if account != ctx.account_id:
        resource = budget_arn(account, params.get("BudgetName") or "*", ctx.partition)
        raise ServiceError("AccessDeniedException", f"User: {ctx.principal_arn} is not authorized to perform: "
                                                    f"budgets:{operation} on resource: {resource}")
    return account

