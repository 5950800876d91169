"""The outbox: mail the server kept instead of sending it (no SMTP server, or delivery failed).

It holds every user's mail, subscription-confirmation links included, so only the account's root user
may read it; IAM users get a 403 page that says so.
"""

from __future__ import annotations

import re

from starlette.responses import Response

from selfmaker.console.web import Console, View
from selfmaker.mail import Outbox, body_text, parse_smtp_url
from selfmaker.mail.outbox import STATUS_HEADER

_LINK = re.compile(r"(https?://[^\s<>\"']+)")
HEADERS = ("Date", "From", "To", "Subject")


def text_parts(text: str) -> list[tuple[str, bool]]:
    """The body as (text, is a link) pieces, for a template to make the links clickable without |safe."""
    return [(piece, index % 2 == 1) for index, piece in enumerate(_LINK.split(text)) if piece]


def routes(console: Console) -> list:
    outbox = Outbox(console.settings.outbox_dir)

    def smtp_server() -> str | None:
        if not console.settings.smtp_url:
            return None
        try:
            return parse_smtp_url(console.settings.smtp_url).describe()  # never the password
        except ValueError:
            return "SMTP"

    def status_label(view: View, status: str) -> str:
        if status.startswith("undelivered"):
            return view.t("Undelivered: %(reason)s", reason=status.partition(":")[2].strip())
        return view.t("Not sent: no SMTP server is configured")

    def root_only(view: View) -> Response | None:
        assert view.session is not None
        if view.session.is_root:
            return None
        return view.render("mail/root_only.html", status=403)

    async def messages(view: View) -> Response:
        if (refused := root_only(view)) is not None:
            return refused
        entries = sorted(outbox.list(), key=lambda entry: entry.time, reverse=True)
        return view.render("mail/outbox.html", entries=entries, smtp=smtp_server(),
                           status_label=lambda status: status_label(view, status))

    async def message(view: View) -> Response:
        if (refused := root_only(view)) is not None:
            return refused
        entry_id = view.request.path_params["id"]
        found = outbox.get(entry_id)
        if found is None:
            return view.render("error.html", status=404, code="NotFound",
                               message=view.t("There is no message %(id)s in the outbox.", id=entry_id))
        status = str(found.get(STATUS_HEADER, "")).strip()
        return view.render(
            "mail/message.html", entry_id=entry_id, mail_status=status_label(view, status),
            headers=[(name, str(found.get(name, "")).strip()) for name in HEADERS],
            parts=text_parts(body_text(found)),
        )

    return [
        console.route("/console/mail", messages),
        console.route("/console/mail/{id}", message),
    ]
