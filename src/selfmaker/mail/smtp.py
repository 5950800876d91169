"""Sending one message over SMTP: ``smtp://`` (STARTTLS when offered) or ``smtps://`` (implicit TLS)."""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

_DEFAULT_PORTS = {"smtp": 25, "smtps": 465}


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in logs or reprs

    def describe(self) -> str:
        """The URL without the password, for logs and the CLI."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpConfig:
    """``smtp[s]://[user[:password]@]host[:port]``; raises ValueError saying what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme not in _DEFAULT_PORTS:
        raise ValueError(f"SMTP URL must start with smtp:// or smtps://, not {parts.scheme or 'nothing'}://")
    if not parts.hostname:
        raise ValueError("SMTP URL names no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("SMTP URL takes only user, password, host and port")
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ValueError("SMTP URL has an invalid port") from None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return SmtpConfig(parts.hostname, port, parts.scheme == "smtps", username, password)


def send_via_smtp(config: SmtpConfig, message: EmailMessage, timeout: float = 30.0) -> None:
    """Blocking send; raises smtplib.SMTPException or OSError (TLS errors included) on failure."""
    context = ssl.create_default_context()
    # gethostname, not smtplib's default getfqdn: the latter may wait on reverse DNS.
    local = socket.gethostname()
    if config.implicit_tls:
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            config.host, config.port, local_hostname=local, timeout=timeout, context=context
        )
    else:
        client = smtplib.SMTP(config.host, config.port, local_hostname=local, timeout=timeout)
    with client:
        client.ehlo()
        if not config.implicit_tls and client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
        if config.username is not None:
            client.login(config.username, config.password or "")
        client.send_message(message)
