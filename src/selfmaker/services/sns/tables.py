"""SNS's tables, on the shared schema ``metadata``: topics, subscriptions, confirmation tokens,
the delivery outbox (one row per message to one endpoint, one attempt row per try), and FIFO deduplication."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from selfmaker.store.tables import metadata

sns_topics = Table(
    "sns_topics",
    metadata,
    Column("arn", String(512), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(256), nullable=False),
    Column("attributes", JSON, nullable=False),  # the settable ones (DisplayName, Policy, …) as given
    Column("subscriptions_deleted", Integer, nullable=False, default=0),
    Column("creation_time", Float, nullable=False),
    UniqueConstraint("account_id", "region", "name"),
)

sns_subscriptions = Table(
    "sns_subscriptions",
    metadata,
    Column("arn", String(600), primary_key=True),
    Column("topic_arn", String(512), ForeignKey("sns_topics.arn", ondelete="CASCADE"), nullable=False),
    Column("owner", String(12), nullable=False),  # the subscriber's account
    Column("principal", String(2048), nullable=False),  # who subscribed
    Column("protocol", String(16), nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("confirmed", Boolean, nullable=False, default=False),
    Column("confirmation_authenticated", Boolean, nullable=False, default=False),
    Column("authenticate_on_unsubscribe", Boolean, nullable=False, default=False),
    Column("attributes", JSON, nullable=False),  # RawMessageDelivery …
    Column("creation_time", Float, nullable=False),
    Index("ix_sns_subscriptions_topic", "topic_arn"),
)

# Only a hash of each token is kept: the store alone cannot confirm anything.
sns_confirm_tokens = Table(
    "sns_confirm_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("subscription_arn", String(600), ForeignKey("sns_subscriptions.arn", ondelete="CASCADE"),
           nullable=False),
    Column("expires", Float, nullable=False),
)

# Written in the same transaction as what caused it (Subscribe, Publish), so that a restart resumes
# what was not yet delivered. ``payload`` is what to send; it is cleared once sent.
sns_deliveries = Table(
    "sns_deliveries",
    metadata,
    Column("delivery_id", String(36), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("topic_arn", String(512), nullable=False),
    Column("subscription_arn", String(600), nullable=False),  # no foreign key: the record outlives it
    Column("message_id", String(36), nullable=False),
    Column("kind", String(32), nullable=False),  # SubscriptionConfirmation | Notification
    Column("protocol", String(16), nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("payload", JSON),
    Column("status", String(16), nullable=False),  # pending | delivered | failed | cancelled
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Index("ix_sns_deliveries_status", "status"),
)

sns_delivery_attempts = Table(
    "sns_delivery_attempts",
    metadata,
    Column("attempt_id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(36), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("time", Float, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("detail", Text, nullable=False),  # where it went, or why it failed
    Index("ix_sns_delivery_attempts_delivery", "delivery_id"),
)

# FIFO topics: the deduplication IDs seen in the last five minutes (kept in the store, so a restart does
# not let a duplicate through), with what Publish answered for them; rows past ``expires`` are pruned.
sns_fifo_dedup = Table(
    "sns_fifo_dedup",
    metadata,
    Column("topic_arn", String(512), primary_key=True),
    Column("dedup_key", String(300), primary_key=True),  # the ID, after the message group in MessageGroup scope
    Column("message_id", String(36), nullable=False),
    Column("sequence_number", String(20), nullable=False),
    Column("expires", Float, nullable=False),
    Index("ix_sns_fifo_dedup_expires", "expires"),
)

# The last sequence number each FIFO topic handed out.
sns_fifo_sequences = Table(
    "sns_fifo_sequences",
    metadata,
    Column("topic_arn", String(512), primary_key=True),
    Column("last", Integer, nullable=False),
)
