"""Delivering what Subscribe and Publish enqueued, in the background, with retries.

Each delivery row was written in the same transaction as its cause; here each one gets an asyncio
task that tries it, records every attempt, waits out the retry schedule between failures, and ends
``delivered``, ``failed`` (logged; an undeliverable mail is also kept in the outbox) or ``cancelled``
(its subscription went away). Rows still ``pending`` when the server stops are resumed on start.
"""

from __future__ import annotations

import asyncio
import email
import logging
import time
import uuid
from email import policy
from email.message import EmailMessage

import httpx
from sqlalchemy import Connection, Engine, insert, select, update

from selfmaker.mail import Mailer, MailError
from selfmaker.net.outbound import OutboundGuard, OutboundRefused
from selfmaker.services.sns.tables import sns_deliveries, sns_delivery_attempts, sns_subscriptions

log = logging.getLogger("selfmaker.sns")

_HTTP_TIMEOUT = 15.0
_RETRYABLE_STATUS = {408, 429}


class DeliveryFailed(Exception):
    def __init__(self, reason: str, retryable: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def enqueue(conn: Connection, *, account_id: str, region: str, topic_arn: str, subscription_arn: str,
            message_id: str, kind: str, protocol: str, endpoint: str, payload: dict) -> str:
    """Record a delivery inside the caller's transaction; ``Dispatcher.kick`` it after commit."""
    delivery_id = str(uuid.uuid4())
    now = time.time()
    conn.execute(insert(sns_deliveries).values(
        delivery_id=delivery_id, account_id=account_id, region=region, topic_arn=topic_arn,
        subscription_arn=subscription_arn, message_id=message_id, kind=kind, protocol=protocol,
        endpoint=endpoint, payload=payload, status="pending", attempts=0, created=now, updated=now,
    ))
    return delivery_id


def email_payload(message: EmailMessage) -> dict:
    return {"eml": message.as_string()}


def http_payload(url: str, headers: dict[str, str], body: str) -> dict:
    return {"url": url, "headers": headers, "body": body}


class Dispatcher:
    def __init__(self, engine: Engine, mailer: Mailer, guard: OutboundGuard, retry_delays: tuple[float, ...],
                 concurrency: int = 16):
        self.engine = engine
        self.mailer = mailer
        self.guard = guard
        self.retry_delays = retry_delays
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task] = set()
        self._http: httpx.AsyncClient | None = None

    def kick(self, delivery_ids: list[str]) -> None:
        for delivery_id in delivery_ids:
            task = asyncio.get_running_loop().create_task(self._run(delivery_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def resume(self) -> None:
        with self.engine.connect() as conn:
            pending = conn.execute(select(sns_deliveries.c.delivery_id)
                                   .where(sns_deliveries.c.status == "pending")
                                   .order_by(sns_deliveries.c.created)).scalars().all()
        if pending:
            log.info("resuming %d SNS deliveries", len(pending))
        self.kick(list(pending))

    async def close(self) -> None:
        """Stop; unfinished deliveries stay pending in the store and resume on the next start."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None  # a later delivery (after a test-mode reset) opens a new client

    async def idle(self) -> None:
        """Wait until every delivery under way has ended (for tests and orderly shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _run(self, delivery_id: str) -> None:
        try:
            await self._deliver(delivery_id)
        except Exception:
            # A bug, not a delivery failure: the row stays pending and resumes on the next start.
            log.exception("SNS delivery %s stopped unexpectedly", delivery_id)

    async def _deliver(self, delivery_id: str) -> None:
        with self.engine.connect() as conn:
            row = conn.execute(select(sns_deliveries).where(sns_deliveries.c.delivery_id == delivery_id)).first()
        if row is None or row.status != "pending":
            return
        attempts = row.attempts
        while True:
            if not self._subscription_exists(row.subscription_arn):
                self._finish(row.delivery_id, "cancelled", attempts, "the subscription no longer exists")
                return
            attempts += 1
            try:
                async with self._slots:
                    detail = await self._attempt(row.protocol, row.payload)
            except DeliveryFailed as err:
                self._record(row.delivery_id, attempts, False, err.reason)
                if not err.retryable or attempts > len(self.retry_delays):
                    self._give_up(row, attempts, err.reason)
                    return
                log.warning("SNS %s to %s failed (attempt %d), retrying: %s", row.kind, row.endpoint, attempts,
                            err.reason)
                await asyncio.sleep(self.retry_delays[attempts - 1])
                continue
            self._record(row.delivery_id, attempts, True, detail)
            self._finish(row.delivery_id, "delivered", attempts, None)
            return

    async def _attempt(self, protocol: str, payload: dict) -> str:
        if protocol in ("email", "email-json"):
            try:
                return await self.mailer.send(_message(payload))
            except MailError as err:
                raise DeliveryFailed(str(err)) from err
        return await self._post(payload)

    async def _post(self, payload: dict) -> str:
        url = httpx.URL(payload["url"])
        try:
            address = await self.guard.address(url)
        except OutboundRefused as err:
            raise DeliveryFailed(f"refused: {err}", retryable=False) from err
        headers = {**payload["headers"], "Host": url.netloc.decode("ascii")}
        # Connect to the address just checked; TLS still verifies the certificate against the name.
        extensions = {"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {}
        if self._http is None:
            self._http = httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=_HTTP_TIMEOUT)
        try:
            response = await self._http.post(url.copy_with(host=address), content=payload["body"].encode(),
                                             headers=headers, extensions=extensions)
        except httpx.HTTPError as err:
            raise DeliveryFailed(f"{type(err).__name__}: {err}") from err
        if response.is_success:
            return f"HTTP {response.status_code} from {url.host}"
        retryable = response.status_code >= 500 or response.status_code in _RETRYABLE_STATUS
        raise DeliveryFailed(f"HTTP {response.status_code} from {url.host}", retryable)

    def _subscription_exists(self, subscription_arn: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(sns_subscriptions.c.arn)
                                .where(sns_subscriptions.c.arn == subscription_arn)).first() is not None

    def _record(self, delivery_id: str, attempt: int, ok: bool, detail: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(sns_delivery_attempts).values(
                delivery_id=delivery_id, attempt=attempt, time=time.time(), ok=ok, detail=detail))
            conn.execute(update(sns_deliveries).where(sns_deliveries.c.delivery_id == delivery_id)
                         .values(attempts=attempt, last_error=None if ok else detail, updated=time.time()))

    def _give_up(self, row, attempts: int, reason: str) -> None:
        log.error("SNS %s to %s failed after %d attempts: %s", row.kind, row.endpoint, attempts, reason)
        if row.protocol in ("email", "email-json"):
            try:
                kept = self.mailer.park(_message(row.payload), reason)
                reason = f"{reason} (kept in the outbox as {kept})"
            except OSError as err:
                log.error("could not keep the undelivered mail in the outbox either: %s", err)
        self._finish(row.delivery_id, "failed", attempts, reason)

    def _finish(self, delivery_id: str, status: str, attempts: int, error: str | None) -> None:
        with self.engine.begin() as conn:
            values = {"status": status, "attempts": attempts, "last_error": error, "updated": time.time()}
            if status != "failed":
                # It may carry a confirmation token: not kept once done with. A failed one stays, to be seen.
                values["payload"] = None
            conn.execute(update(sns_deliveries).where(sns_deliveries.c.delivery_id == delivery_id).values(**values))


def _message(payload: dict) -> EmailMessage:
    return email.message_from_string(payload["eml"], policy=policy.default)
