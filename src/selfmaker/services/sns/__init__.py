"""Amazon SNS: topics, email and HTTP(S) subscriptions, Publish with background delivery."""

from selfmaker.services.sns.provider import SNSService

__all__ = ["SNSService"]
