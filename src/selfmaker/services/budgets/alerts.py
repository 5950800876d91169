"""A budget alert as AWS Budgets words one, and its delivery: by mail through the server's mailer, or
published to an SNS topic through the SNS provider. One subscriber failing never keeps the others from it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from selfmaker.mail import Mailer, MailError
from selfmaker.services.base import RequestContext, ServiceError, invoke
from selfmaker.services.budgets.shapes import amount_text

log = logging.getLogger(__name__)

SENDER_NAME = "AWS Budgets"
class DeliveryFailed(Exception):
    """One subscriber's message could not go out; the text says why."""


_OPERATORS = {"GREATER_THAN": "greater than", "LESS_THAN": "less than", "EQUAL_TO": "equal to"}


@dataclass(frozen=True)
class Alert:
    account_id: str
    budget_name: str
    budget_type: str  # COST | USAGE
    limit: float
    unit: str
    notification_type: str  # ACTUAL | FORECASTED
    operator: str
    threshold: float
    threshold_type: str
    threshold_amount: float  # the threshold in the budget's unit
    amount: float  # the actual or forecasted spend that crossed it
    period: tuple[float, float]
    subscribers: tuple[dict, ...]

    def money(self, value: float) -> str:
        return f"${value:,.2f}" if self.unit == "USD" else f"{amount_text(value)} {self.unit}"

    @property
    def subject(self) -> str:
        verb = "is forecasted to exceed" if self.notification_type == "FORECASTED" else "has exceeded"
        if self.operator == "LESS_THAN":
            verb = "is forecasted to be below" if self.notification_type == "FORECASTED" else "is below"
        return f"AWS Budgets: {self.budget_name} {verb} your alert threshold"

    @property
    def text(self) -> str:
        kind = "Cost" if self.budget_type == "COST" else "Usage"
        start, end = (datetime.fromtimestamp(edge, UTC).strftime("%Y-%m-%d") for edge in self.period)
        threshold = f"{amount_text(self.threshold)}% of {self.money(self.limit)}" \
            if self.threshold_type == "PERCENTAGE" else self.money(self.threshold)
        return (
            f"AWS Budget Notification {datetime.now(UTC).strftime('%B %d, %Y')}\n"
            f"AWS Account {self.account_id}\n\n"
            f"You requested that we alert you when the {self.notification_type} {kind} associated with your "
            f"{self.budget_name} budget is {_OPERATORS[self.operator]} {self.money(self.threshold_amount)} for "
            f"the current budget period. The {self.notification_type} {kind} associated with this budget is "
            f"{self.money(self.amount)}.\n\n"
            f"Budget Name: {self.budget_name}\n"
            f"Budget Type: {kind}\n"
            f"Budgeted Amount: {self.money(self.limit)}\n"
            f"Alert Type: {self.notification_type}\n"
            f"Alert Threshold: {threshold}\n"
            f"{self.notification_type} Amount: {self.money(self.amount)}\n"
            f"Budget Period: {start} to {end} (UTC)\n"
        )


class AlertSender:
    def __init__(self, mailer: Mailer, providers: Mapping[str, object], endpoint_url: str):
        self.mailer, self.providers, self.endpoint_url = mailer, providers, endpoint_url

    async def send(self, account_id: str, subscribers: tuple[dict, ...], subject: str, text: str) -> None:
        """One message to each subscriber; a failure is logged (a mail kept in the outbox) and the rest go on."""
        for subscriber in subscribers:
            try:
                if subscriber["SubscriptionType"] == "EMAIL":
                    await self._mail(subscriber["Address"], subject, text)
                else:
                    await self._publish(account_id, subscriber["Address"], subject, text)
            except DeliveryFailed as err:
                log.warning("budget alert to %s failed: %s", subscriber["Address"], err)
            except Exception:  # a bug must not keep the other subscribers from theirs either
                log.exception("budget alert to %s failed", subscriber["Address"])

    async def _mail(self, address: str, subject: str, text: str) -> None:
        message = self.mailer.compose(address, subject, text, sender_name=SENDER_NAME)
        try:
            await self.mailer.send(message)
        except MailError as err:
            self.mailer.park(message, str(err))  # not lost: the administrator finds it in the outbox
            raise DeliveryFailed(f"{err} (kept in the outbox)") from err

    async def _publish(self, account_id: str, topic_arn: str, subject: str, text: str) -> None:
        # As the budget's account, in the topic's region: a topic of another account is refused, as SNS would.
        region = topic_arn.split(":")[3]
        ctx = RequestContext(account_id, region, f"arn:aws:iam::{account_id}:root", "", str(uuid.uuid4()),
                             self.endpoint_url)
        publish = self.providers["sns"].Publish  # type: ignore[attr-defined]
        try:
            await invoke(publish, ctx, {"TopicArn": topic_arn, "Subject": subject[:100], "Message": text})
        except ServiceError as err:
            raise DeliveryFailed(f"{err.code}: {err.message}") from err
