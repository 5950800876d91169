"""The SNS service: topics, subscriptions confirmed by mail or HTTP, and delivery in the background."""

from __future__ import annotations

from sqlalchemy import Engine

from selfmaker.mail import Mailer
from selfmaker.net.outbound import OutboundGuard
from selfmaker.services.sns.batch import BatchPublishing
from selfmaker.services.sns.delivery import Dispatcher
from selfmaker.services.sns.links import UnsubscribeTokens
from selfmaker.services.sns.outgoing import Outgoing
from selfmaker.services.sns.signing import MessageSigner
from selfmaker.services.sns.subscriptions import Subscriptions
from selfmaker.services.sns.tags import TopicTags
from selfmaker.services.sns.topics import Topics


class SNSService(Topics, Subscriptions, BatchPublishing, TopicTags):
    def __init__(self, engine: Engine, mailer: Mailer, *, allow_private_endpoints: bool = False,
                 own_host: str = "127.0.0.1", own_port: int = 0,
                 retry_delays: tuple[float, ...] = (10, 30, 60, 300, 900)):
        self.engine = engine
        self.retry_delays = retry_delays
        self.signer = MessageSigner(engine)
        self.unsubscribe_tokens = UnsubscribeTokens(engine)
        self.outgoing = Outgoing(mailer, self.signer, self.unsubscribe_tokens)
        self.guard = OutboundGuard(allow_private_endpoints, own_host, own_port,
                                   "SELFMAKER_SNS_ALLOW_PRIVATE_ENDPOINTS")
        self.dispatcher = Dispatcher(engine, mailer, self.guard, retry_delays)

    @property
    def signing_certificate(self) -> bytes:
        return self.signer.cert_pem

    async def start(self) -> None:
        """Resume the deliveries a previous run left unfinished."""
        await self.dispatcher.resume()

    async def close(self) -> None:
        await self.dispatcher.close()
