"""AWS Budgets' errors, in its words (all HTTP 400, as Budgets answers them)."""

from __future__ import annotations

import re

from selfmaker.services.base import RequestContext, ServiceError

LIMIT_TEXT = "You've exceeded the notification or subscriber limit."
# The model's BudgetName pattern has a Java inline flag mid-way that Python cannot compile (so the shape validator
# skips it); here it is with Python's scoped flag.
_NAME_PATTERN = r"^(?![^:\\]*/action/|(?i).*<script>.*</script>.*)[^:\\]+$"
_NAME = re.compile(r"(?![^:\\]*/action/|(?i:.*<script>.*</script>.*))[^:\\]+", re.DOTALL)


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
    _check_names(params)
    account = params["AccountId"]
    if account != ctx.account_id:
        resource = budget_arn(account, params.get("BudgetName") or "*", ctx.partition)
        raise ServiceError("AccessDeniedException", f"User: {ctx.principal_arn} is not authorized to perform: "
                                                    f"budgets:{operation} on resource: {resource}")
    return account


def _check_names(params: dict) -> None:
    for path, value in (("budgetName", params.get("BudgetName")),
                        ("budget.budgetName", (params.get("Budget") or {}).get("BudgetName")),
                        ("newBudget.budgetName", (params.get("NewBudget") or {}).get("BudgetName"))):
        if value is not None and not _NAME.fullmatch(value):
            raise ServiceError("ValidationException", f"1 validation error detected: Value '{value}' at '{path}' "
                                                      "failed to satisfy constraint: Member must satisfy regular "
                                                      f"expression pattern: {_NAME_PATTERN}")
