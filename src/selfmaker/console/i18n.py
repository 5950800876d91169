"""English and Korean: which the reader gets, the Korean catalogue, and dates in the reader's locale.

English texts are the message ids; Korean ones come from ``locales/ko/*.po`` (one file per area of the
console, merged), read with Babel at start. The language is the ``selfmaker-lang`` cookie when set, else
the best match of the browser's Accept-Language, else English.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_datetime
from babel.messages.pofile import read_po

LANGUAGES = {"en": "English", "ko": "한국어"}
DEFAULT = "en"
COOKIE = "selfmaker-lang"
_LOCALES = Path(__file__).parent / "locales"


@cache
def catalogue(language: str) -> dict[str, str]:
    texts: dict[str, str] = {}
    for po in sorted((_LOCALES / language).glob("*.po")):
        with po.open("rb") as f:
            for message in read_po(f, locale=language):
                if message.id and message.string and not message.fuzzy:
                    texts[message.id] = message.string
    return texts


def gettext(language: str):
    texts = catalogue(language) if language != DEFAULT else {}

    def translate(message: str, **values) -> str:
        text = texts.get(message, message)
        return text % values if values else text

    return translate


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.split("-")[0].lower()))
    for _quality, _position, language in sorted(ranked):
        if language in LANGUAGES:
            return language
    return DEFAULT


def format_time(epoch: float | dt.datetime | None, language: str) -> str:
    """A timestamp as the reader's language writes it (in UTC; the page's script turns it to local time)."""
    if epoch is None:
        return ""
    when = epoch if isinstance(epoch, dt.datetime) else dt.datetime.fromtimestamp(float(epoch), dt.UTC)
    return format_datetime(when, "medium", tzinfo=dt.UTC, locale=Locale.parse(language)) + " UTC"
