"""Mail to the requester at each change of a quota increase request (opened, approved, denied, closed).

The address is the requester's IAM user tag ``email`` (any case of the key); the root user, roles and users
without one have none, and their mail is kept in the outbox, where the root user reads it in the console.
Plain English: the console's language is a browser cookie, not a setting of the user.
"""

from __future__ import annotations

from email.message import EmailMessage

from sqlalchemy import Engine, Row, select

from selfmaker.mail import Mailer, MailError
from selfmaker.services.iam.tables import iam_users
from selfmaker.services.quotas import records
from selfmaker.services.quotas.catalogue import count_text

EMAIL_TAG = "email"
SENDER_NAME = "Selfmaker Service Quotas"
_WHAT = {
    records.CASE_OPENED: "is being reviewed",
    records.APPROVED: "was approved",
    records.DENIED: "was denied",
    records.CASE_CLOSED: "was closed without a change",
}


def requester_address(engine: Engine, requester_arn: str) -> str | None:
    """The IAM user's ``email`` tag, when it looks like an address."""
    with engine.connect() as conn:
        tags = conn.execute(select(iam_users.c.tags).where(iam_users.c.arn == requester_arn)).scalar()
    for tag in tags or []:
        value = str(tag.get("Value", "")).strip()
        if tag.get("Key", "").lower() == EMAIL_TAG and "@" in value and not any(c.isspace() for c in value):
            return value
    return None


def compose(mailer: Mailer, row: Row, to: str, applied: float | None, console_url: str | None) -> EmailMessage:
    what = _WHAT[row.status]
    lines = [f"Your request to raise '{row.quota_name}' to {count_text(row.desired_value)} (account "
             f"{row.account_id}, {row.region}) {what}."]
    if row.status == records.APPROVED and applied is not None:
        lines.append(f"The quota is now {count_text(applied)}.")
    if row.status == records.DENIED:
        lines.append("The quota stays as it was; ask your Selfmaker administrator why.")
    lines += ["", f"Request ID: {row.request_id}", f"Requested by: {row.requester}"]
    if console_url:
        lines.append(f"Your requests: {console_url}")
    return mailer.compose(to, f"Service Quotas: your request {what} ({row.quota_name})", "\n".join(lines) + "\n",
                          sender_name=SENDER_NAME)


async def notify(mailer: Mailer, engine: Engine, row: Row, applied: float | None = None,
                 console_url: str | None = None) -> str:
    """Send the mail for ``row``'s new status; returns where it went (the SMTP server, or ``outbox:<id>``)."""
    to = requester_address(engine, row.requester)
    message = compose(mailer, row, to or "", applied, console_url)
    if to is None:
        reason = f"not sent: {row.requester} has no email address (IAM user tag '{EMAIL_TAG}')"
        return f"outbox:{mailer.outbox.put(message, reason)}"
    try:
        return await mailer.send(message)  # the outbox too, without an SMTP server
    except MailError as err:
        return f"outbox:{mailer.park(message, str(err))}"
