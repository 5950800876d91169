"""The administrator's side of increase requests (no AWS API has one): open a case, approve, deny, close.

Each change is stored first, then mailed to the requester (``notices``). The CLI (``selfmaker quota``) and
the console's root pages both come here, so they change and mail alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, Row

from selfmaker.mail import Mailer
from selfmaker.services.quotas import notices, records
from selfmaker.services.quotas.capacity import host_devices
from selfmaker.services.quotas.catalogue import QuotaBook


@dataclass(frozen=True)
class Outcome:
    row: Row  # the request as it is now
    mail: str  # where the requester's mail went: the SMTP server, or outbox:<id>
    applied: float | None = None  # an approval's value, as applied
    asked: float | None = None  # set when the host's devices capped an approval: the value it would have been


class QuotaDesk:
    def __init__(self, engine: Engine, book: QuotaBook, mailer: Mailer):
        self.engine = engine
        self.book = book
        self.mailer = mailer

    async def open_case(self, request_id: str, console_url: str | None = None) -> Outcome:
        return await self._mailed(records.change(self.engine, request_id, records.CASE_OPENED), console_url)

    async def approve(self, request_id: str, value: float | None = None, console_url: str | None = None) -> Outcome:
        """Apply ``value`` (else the desired value), but never more than this host's devices can run."""
        found = records.request(self.engine, request_id)
        if found is None:
            raise records.DecisionError(request_id)
        wanted = found.desired_value if value is None else value
        quota = self.book.get(found.quota_code)
        applied = wanted if quota is None else host_devices().capped(quota, wanted)
        row = records.change(self.engine, request_id, records.APPROVED, applied)
        return await self._mailed(row, console_url, applied, wanted if applied < wanted else None)

    async def deny(self, request_id: str, console_url: str | None = None) -> Outcome:
        return await self._mailed(records.change(self.engine, request_id, records.DENIED), console_url)

    async def close(self, request_id: str, console_url: str | None = None) -> Outcome:
        return await self._mailed(records.change(self.engine, request_id, records.CASE_CLOSED), console_url)

    async def _mailed(self, row: Row, console_url: str | None, applied: float | None = None,
                      asked: float | None = None) -> Outcome:
        mail = await notices.notify(self.mailer, self.engine, row, applied, console_url)
        return Outcome(row, mail, applied, asked)
