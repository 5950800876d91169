"""FIFO topics: the IDs Publish must give one, and deduplication within AWS's five-minute window.

A message to a FIFO topic needs a MessageGroupId and a deduplication ID: given, or the SHA-256 of the body
when the topic has ContentBasedDeduplication. A message whose ID was seen in the last five minutes (in the
topic, or in its message group under ``FifoThroughputScope=MessageGroup``) is accepted and answered as the
first one was, but goes to no one. The window is kept in the store, so that a restart lets no duplicate
through; rows past their time are pruned as messages come.
"""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import Connection, delete, insert, select, update

from selfmaker.services.sns.errors import invalid_parameter
from selfmaker.services.sns.tables import sns_fifo_dedup, sns_fifo_sequences

DEDUP_WINDOW = 300.0
# Both IDs: 1 to 128 letters, digits and ASCII punctuation.
_ID = re.compile(r"^[A-Za-z0-9!-/:-@\[-`{-~]{1,128}$")


def check_message_ids(fifo: bool, group: str | None, dedup: str | None) -> None:
    """What a message must, and must not, carry to this kind of topic (the topic's attributes aside)."""
    for name, value in (("MessageGroupId", group), ("MessageDeduplicationId", dedup)):
        if value is not None and not _ID.match(value):
            raise invalid_parameter(name, f"{name} can only include alphanumeric and punctuation characters. "
                                          "1 to 128 in length.")
    if fifo and not group:
        raise invalid_parameter("The MessageGroupId parameter is required for FIFO topics")
    # A standard topic takes a MessageGroupId (AWS accepts it since 2024) and ignores it; not this one.
    if not fifo and dedup:
        raise invalid_parameter("MessageDeduplicationId", "The request includes MessageDeduplicationId parameter "
                                                          "that is not valid for this topic type")


def dedup_key(topic, group: str, dedup: str | None, message: str) -> str:
    """The key a message to ``topic`` (a FIFO topic's row) is deduplicated on."""
    if not dedup:
        if topic.attributes.get("ContentBasedDeduplication") != "true":
            raise invalid_parameter("The topic should either have ContentBasedDeduplication enabled or "
                                    "MessageDeduplicationId provided explicitly")
        dedup = hashlib.sha256(message.encode()).hexdigest()
    # A space is in neither ID, so the two parts cannot run into each other.
    return f"{group} {dedup}" if topic.attributes.get("FifoThroughputScope") == "MessageGroup" else dedup


def earlier_answer(conn: Connection, topic_arn: str, key: str, now: float) -> dict | None:
    """What Publish answered for the same message within the window, if it did; prunes what has expired."""
    conn.execute(delete(sns_fifo_dedup).where(sns_fifo_dedup.c.expires <= now))
    row = conn.execute(select(sns_fifo_dedup).where(sns_fifo_dedup.c.topic_arn == topic_arn,
                                                    sns_fifo_dedup.c.dedup_key == key)).first()
    return None if row is None else {"MessageId": row.message_id, "SequenceNumber": row.sequence_number}


def remember(conn: Connection, topic_arn: str, key: str, message_id: str, now: float) -> str:
    """Record a new message for the window; returns its sequence number (rising within the topic)."""
    last = conn.execute(select(sns_fifo_sequences.c.last)
                        .where(sns_fifo_sequences.c.topic_arn == topic_arn)).scalar()
    if last is None:
        conn.execute(insert(sns_fifo_sequences).values(topic_arn=topic_arn, last=1))
    else:
        conn.execute(update(sns_fifo_sequences).where(sns_fifo_sequences.c.topic_arn == topic_arn)
                     .values(last=last + 1))
    sequence_number = f"{(last or 0) + 1:020d}"
    conn.execute(insert(sns_fifo_dedup).values(topic_arn=topic_arn, dedup_key=key, message_id=message_id,
                                               sequence_number=sequence_number, expires=now + DEDUP_WINDOW))
    return sequence_number


def forget_topic(conn: Connection, topic_arn: str) -> None:
    """A deleted topic's window and sequence go with it: a new topic of that name starts afresh."""
    conn.execute(delete(sns_fifo_dedup).where(sns_fifo_dedup.c.topic_arn == topic_arn))
    conn.execute(delete(sns_fifo_sequences).where(sns_fifo_sequences.c.topic_arn == topic_arn))
