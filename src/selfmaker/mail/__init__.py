"""Outgoing mail, independent of who sends it: SMTP when configured, else the built-in outbox."""

from selfmaker.mail.mailer import DEFAULT_SENDER, Mailer, MailError, open_mailer
from selfmaker.mail.outbox import Outbox, OutboxEntry, body_text, links
from selfmaker.mail.smtp import SmtpConfig, parse_smtp_url

__all__ = [
    "DEFAULT_SENDER", "MailError", "Mailer", "Outbox", "OutboxEntry", "SmtpConfig", "body_text", "links",
    "open_mailer", "parse_smtp_url",
]
