"""PublishBatch: up to ten messages to one topic in one call, each checked and sent as Publish would.

A malformed entry fails the whole request, as on AWS; so the answer's Failed list is always empty.
"""

from __future__ import annotations

import re
import time

from selfmaker.services.base import RequestContext, ServiceError
from selfmaker.services.sns.arns import is_fifo_topic, topic_in_scope
from selfmaker.services.sns.publish import MAX_MESSAGE_BYTES, Publishing, checked_message
from selfmaker.services.sns.topics import load_topic

MAX_ENTRIES = 10
_ENTRY_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def check_entry_ids(entries: list[dict]) -> None:
    if not entries:
        raise ServiceError("EmptyBatchRequest", "The batch request doesn't contain any entries.")
    if len(entries) > MAX_ENTRIES:
        raise ServiceError("TooManyEntriesInBatchRequest", "The batch request contains more entries than permissible.")
    ids = [entry["Id"] for entry in entries]
    if len(set(ids)) != len(ids):
        raise ServiceError("BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id.")
    for entry_id in ids:
        if len(entry_id) > 80:
            raise ServiceError("InvalidBatchEntryId",
                               f"The Id of a batch entry in the batch request is too long: {entry_id}")
        if not _ENTRY_ID.match(entry_id):
            raise ServiceError("InvalidBatchEntryId", "The Id of a batch entry in the batch request contains an "
                               f"impermissible character: {entry_id}")


class BatchPublishing(Publishing):
    async def PublishBatch(self, ctx: RequestContext, params: dict) -> dict:
        arn, entries = params["TopicArn"], params["PublishBatchRequestEntries"]
        topic_in_scope(ctx, arn, "Publish")
        check_entry_ids(entries)
        too_long = ServiceError("BatchRequestTooLong", "The length of all the messages put together is more than "
                                                       "the limit.")
        outbound = [checked_message(entry, is_fifo_topic(arn), too_long) for entry in entries]
        if sum(message.size for message in outbound) > MAX_MESSAGE_BYTES:
            raise too_long
        successful, deliveries, now = [], [], time.time()
        with self.engine.begin() as conn:
            topic = load_topic(conn, ctx, arn, "Publish")
            for entry, message in zip(entries, outbound, strict=True):
                reply, kicked = self.publish_one(conn, ctx, topic, message, now)
                successful.append({"Id": entry["Id"], **reply})
                deliveries += kicked
        self.dispatcher.kick(deliveries)
        return {"Successful": successful, "Failed": []}
