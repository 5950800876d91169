"""Composing and sending mail: by SMTP when a server is configured, else into the outbox.

Nothing is dropped silently: a message is either accepted by the SMTP server, kept in the outbox,
or ``send`` raises MailError so that the caller can retry it and finally ``park`` it in the outbox.
"""

from __future__ import annotations

import asyncio
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path

from selfmaker.mail.outbox import Outbox
from selfmaker.mail.smtp import SmtpConfig, parse_smtp_url, send_via_smtp

DEFAULT_SENDER = "no-reply@selfmaker.localhost"


class MailError(Exception):
    """Sending failed; the text is a one-line reason fit for logs and records."""


class Mailer:
    def __init__(self, outbox: Outbox, smtp: SmtpConfig | None = None, sender: str = DEFAULT_SENDER):
        name, address = parseaddr(sender)
        if name or not address or address != sender.strip() or "@" not in address:
            raise ValueError(f"the From address must be a plain address such as {DEFAULT_SENDER}, not {sender!r}")
        self.outbox = outbox
        self.smtp = smtp
        self.sender = address

    def describe(self) -> str:
        return f"SMTP {self.smtp.describe()}" if self.smtp else f"outbox {self.outbox.directory}"

    def compose(self, to: str, subject: str, text: str, sender_name: str | None = None) -> EmailMessage:
        """A plain-text message from our sender (shown as ``sender_name``) to one address."""
        message = EmailMessage()
        local, _, domain = self.sender.partition("@")
        message["From"] = Address(sender_name or "", local, domain)
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=domain)
        message.set_content(text)
        return message

    async def send(self, message: EmailMessage) -> str:
        """Hand the message on; returns where it went. Raises MailError when the SMTP server fails."""
        if self.smtp is None:
            try:
                return f"outbox:{self.outbox.put(message, 'not sent: no SMTP server configured')}"
            except OSError as err:
                raise MailError(f"could not write to the outbox: {err}") from err
        try:
            await asyncio.to_thread(send_via_smtp, self.smtp, message)
        except OSError as err:  # SMTPException and TLS errors are OSErrors too
            raise MailError(f"{self.smtp.describe()}: {_one_line(err)}") from err
        return self.smtp.describe()

    def park(self, message: EmailMessage, reason: str) -> str:
        """Keep a message that could not be sent in the outbox, saying why; returns its id."""
        return self.outbox.put(message, f"undelivered: {reason}")


def _one_line(err: Exception) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return f"{type(err).__name__}: {text}"


def open_mailer(outbox_dir: Path, smtp_url: str | None = None, sender: str = DEFAULT_SENDER) -> Mailer:
    """The server's mailer: SMTP when ``smtp_url`` is set, else the outbox. ValueError on a bad URL."""
    return Mailer(Outbox(outbox_dir), parse_smtp_url(smtp_url) if smtp_url else None, sender)
