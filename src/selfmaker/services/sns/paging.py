"""SNS lists come 100 to a page; a bad NextToken is SNS's InvalidParameter."""

from __future__ import annotations

from selfmaker.services.base import ServiceError
from selfmaker.services.pagination import page
from selfmaker.services.sns.errors import invalid_parameter

PAGE_SIZE = 100


def sns_page(items: list, next_token: str | None) -> tuple[list, str | None]:
    try:
        return page(items, PAGE_SIZE, next_token)
    except ServiceError:
        raise invalid_parameter("NextToken") from None
