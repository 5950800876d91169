"""The payload of one delivery to one subscription: a composed mail, or an HTTP POST."""

from __future__ import annotations

import json

from selfmaker.mail import Mailer
from selfmaker.services.sns.delivery import email_payload, http_payload
from selfmaker.services.sns.links import CERT_PATH, UnsubscribeTokens, confirm_url, unsubscribe_url
from selfmaker.services.sns.messages import (
    confirmation_envelope,
    confirmation_mail,
    notification_envelope,
    notification_mail,
    sender_name,
)
from selfmaker.services.sns.signing import MessageSigner

_USER_AGENT = "Amazon Simple Notification Service Agent"


class Outgoing:
    def __init__(self, mailer: Mailer, signer: MessageSigner, unsubscribe_tokens: UnsubscribeTokens):
        self.mailer = mailer
        self.signer = signer
        self.unsubscribe_tokens = unsubscribe_tokens

    def confirmation(self, endpoint_url: str, topic, subscription, token: str, message_id: str,
                     moment: float) -> dict:
        url = confirm_url(endpoint_url, topic.arn, token)
        envelope = confirmation_envelope(message_id, topic.arn, token, url, moment)
        display = topic.attributes.get("DisplayName", "")
        if subscription.protocol == "email":
            subject, text = confirmation_mail(display, topic.arn, url)
            return email_payload(self.mailer.compose(subscription.endpoint, subject, text, sender_name(display)))
        signed = self._signed(endpoint_url, topic, envelope)
        if subscription.protocol == "email-json":
            subject, _ = confirmation_mail(display, topic.arn, url)
            return email_payload(self.mailer.compose(subscription.endpoint, subject, json.dumps(signed),
                                                     sender_name(display)))
        return http_payload(subscription.endpoint, self._headers(envelope, None), json.dumps(signed))

    def notification(self, endpoint_url: str, topic, subscription, message_id: str, moment: float,
                     subject: str | None, message: str, attributes: dict[str, dict]) -> dict:
        unsubscribe = unsubscribe_url(endpoint_url, subscription.arn, self.unsubscribe_tokens.make(subscription.arn))
        display = topic.attributes.get("DisplayName", "")
        if subscription.protocol == "email":
            mail_subject, text = notification_mail(display, subject, message, unsubscribe)
            return email_payload(self.mailer.compose(subscription.endpoint, mail_subject, text, sender_name(display)))
        envelope = notification_envelope(message_id, topic.arn, subject, message, moment, unsubscribe, attributes)
        if subscription.protocol == "email-json":
            mail_subject, _ = notification_mail(display, subject, message, unsubscribe)
            return email_payload(self.mailer.compose(
                subscription.endpoint, mail_subject, json.dumps(self._signed(endpoint_url, topic, envelope)),
                sender_name(display)))
        headers = self._headers(envelope, subscription.arn)
        if subscription.attributes.get("RawMessageDelivery") == "true":
            return http_payload(subscription.endpoint, headers | {"x-amz-sns-rawdelivery": "true"}, message)
        return http_payload(subscription.endpoint, headers, json.dumps(self._signed(endpoint_url, topic, envelope)))

    def _signed(self, endpoint_url: str, topic, envelope: dict) -> dict:
        version = topic.attributes.get("SignatureVersion", "1")
        signed = dict(envelope, SignatureVersion=version)
        signed["Signature"] = self.signer.sign(signed)
        signed["SigningCertURL"] = endpoint_url + CERT_PATH
        return signed

    @staticmethod
    def _headers(envelope: dict, subscription_arn: str | None) -> dict[str, str]:
        headers = {
            "x-amz-sns-message-type": envelope["Type"],
            "x-amz-sns-message-id": envelope["MessageId"],
            "x-amz-sns-topic-arn": envelope["TopicArn"],
            "Content-Type": "text/plain; charset=UTF-8",
            "User-Agent": _USER_AGENT,
        }
        if subscription_arn is not None:
            headers["x-amz-sns-subscription-arn"] = subscription_arn
        return headers
