"""The built-in outbox: every message not handed to an SMTP server, one ``.eml`` file each.

Files are named ``<UTC time>-<random>.eml`` so that names sort by time and are the ids the CLI and
the console show; a header says why the message is here.
"""

from __future__ import annotations

import calendar
import os
import re
import secrets
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

STATUS_HEADER = "X-Selfmaker-Outbox"
_ID = re.compile(r"^\d{8}T\d{9}-[0-9a-f]{12}$")
_LINK = re.compile(r"https?://[^\s<>\"']+")


@dataclass(frozen=True)
class OutboxEntry:
    id: str
    time: float
    to: str
    subject: str
    status: str


class Outbox:
    def __init__(self, directory: Path):
        self.directory = directory

    def put(self, message: EmailMessage, status: str) -> str:
        """Keep ``message``; ``status`` (one line) says why it was not sent. Returns its id."""
        now = time.time()
        entry_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now * 1000) % 1000:03d}"
        entry_id += "-" + secrets.token_hex(6)
        del message[STATUS_HEADER]
        message[STATUS_HEADER] = " ".join(status.split())[:300]
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        final = self.directory / f"{entry_id}.eml"
        partial = self.directory / f".{entry_id}.partial"
        # Mail carries confirmation links: readable by the owner only, and never seen half written.
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(message.as_bytes())
        os.replace(partial, final)
        return entry_id

    def list(self) -> list[OutboxEntry]:
        """Every message kept, oldest first."""
        if not self.directory.is_dir():
            return []
        entries = []
        for path in sorted(self.directory.glob("*.eml")):
            if not _ID.match(path.stem):
                continue
            with path.open("rb") as f:
                headers = BytesParser(policy=policy.default).parse(f, headersonly=True)
            to, subject, status = (str(headers.get(name, "")).strip() for name in ("To", "Subject", STATUS_HEADER))
            entries.append(OutboxEntry(path.stem, _time_of(path.stem), to, subject, status))
        return entries

    def get(self, entry_id: str) -> EmailMessage | None:
        # Only names we made: an id can never point outside the outbox.
        if not _ID.match(entry_id):
            return None
        path = self.directory / f"{entry_id}.eml"
        if not path.is_file():
            return None
        with path.open("rb") as f:
            return BytesParser(policy=policy.default).parse(f)


def _time_of(entry_id: str) -> float:
    stamp, millis = entry_id[:15], entry_id[15:18]
    return calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%S")) + int(millis) / 1000


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    return part.get_content() if part is not None else ""


def links(message: EmailMessage) -> list[str]:
    """The URLs in a message's text, in order, each once."""
    return list(dict.fromkeys(_LINK.findall(body_text(message))))
