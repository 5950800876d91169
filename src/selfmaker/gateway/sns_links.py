"""The pages behind SNS's links: confirm a subscription or unsubscribe with a plain browser GET, and
the certificate that HTTP subscribers verify message signatures with."""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from selfmaker.services.base import ServiceError
from selfmaker.services.sns import SNSService
from selfmaker.services.sns.links import CERT_PATH, CONFIRM_PATH, UNSUBSCRIBE_PATH

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#16191f}}
h1{{font-size:1.5rem}} code{{word-break:break-all}}</style></head>
<body><h1>{title}</h1>{body}</body></html>
"""
# These pages hold tokens in their URL: never cached, never sent on as a referrer.
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status, headers=_HEADERS)


def _failed(title: str, err: ServiceError) -> HTMLResponse:
    if err.code == "InvalidParameter":
        text = "This link is not valid, or it has expired. Subscribe again to get a new one."
    else:
        text = err.message
    return _page(title, f"<p>{escape(text)}</p>", err.status)


def sns_link_routes(sns: SNSService) -> list[Route]:
    async def confirm(request: Request) -> Response:
        try:
            done = sns.confirm_with_token(request.query_params.get("TopicArn", ""),
                                          request.query_params.get("Token", ""))
        except ServiceError as err:
            return _failed("Subscription not confirmed", err)
        return _page("Subscription confirmed!", (
            f"<p>You have subscribed <b>{escape(done.endpoint)}</b> to the topic "
            f"<code>{escape(done.topic_arn)}</code>.</p>"
            f"<p>Your subscription's id is:<br><code>{escape(done.subscription_arn)}</code></p>"
            "<p>Every notification carries a link to unsubscribe.</p>"
        ))

    async def unsubscribe(request: Request) -> Response:
        try:
            done = sns.unsubscribe_with_token(request.query_params.get("SubscriptionArn", ""),
                                              request.query_params.get("Token", ""))
        except ServiceError as err:
            return _failed("Not unsubscribed", err)
        who = f"<b>{escape(done.endpoint)}</b>" if done.endpoint else "Your address"
        return _page("Subscription removed", (
            f"<p>{who} will no longer receive notifications from the topic "
            f"<code>{escape(done.topic_arn)}</code>.</p>"
        ))

    async def certificate(_request: Request) -> Response:
        return Response(sns.signing_certificate, media_type="application/x-pem-file")

    return [
        Route(CONFIRM_PATH, confirm, methods=["GET"]),
        Route(UNSUBSCRIBE_PATH, unsubscribe, methods=["GET"]),
        Route(CERT_PATH, certificate, methods=["GET"]),
    ]
