"""Every text the console shows in English has its Korean; the .po files hold no stale or broken entries."""

from __future__ import annotations

import re
from pathlib import Path

from selfmaker.console import i18n

CONSOLE = Path(i18n.__file__).parent
# _("…") and _('…') in templates; view.t("…") / t("…") / self.t("…") in page code (first argument, one line).
_TEMPLATE_TEXT = re.compile(r"""\b_\(\s*(?:"((?:[^"\\]|\\.)+)"|'((?:[^'\\]|\\.)+)')""")
_CODE_TEXT = re.compile(r"""\bt\(\s*"((?:[^"\\]|\\.)+)"[,)]""")
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def english_texts() -> set[str]:
    texts = set()
    for template in (CONSOLE / "templates").rglob("*.html"):
        for double, single in _TEMPLATE_TEXT.findall(template.read_text()):
            texts.add(double or single)
    for module in CONSOLE.rglob("*.py"):
        texts.update(_CODE_TEXT.findall(module.read_text()))
    return {text.replace('\\"', '"').replace("\\'", "'") for text in texts}


def test_every_console_text_has_korean():
    korean = i18n.catalogue("ko")
    missing = sorted(text for text in english_texts() if text not in korean)
    assert not missing, f"{len(missing)} texts without Korean: {missing[:20]}"


def test_korean_keeps_every_placeholder():
    for english, korean in i18n.catalogue("ko").items():
        assert set(_PLACEHOLDER.findall(english)) == set(_PLACEHOLDER.findall(korean)), english


def test_language_negotiation():
    assert i18n.negotiate(None, "ko-KR,ko;q=0.9,en-US;q=0.8") == "ko"
    assert i18n.negotiate(None, "en-US,en;q=0.9,ko;q=0.8") == "en"
    assert i18n.negotiate(None, "fr-FR, ko;q=0.5") == "ko"
    assert i18n.negotiate(None, "de-DE") == "en"
    assert i18n.negotiate("ko", "en-US") == "ko"  # the reader's own choice wins
    assert i18n.negotiate("xx", "ko") == "ko"


def test_dates_follow_the_readers_language():
    assert i18n.format_time(0, "en") == "Jan 1, 1970, 12:00:00\u202fAM UTC"
    assert i18n.format_time(0, "ko").startswith("1970. 1. 1.")


def test_areas_agree_on_shared_texts():
    from babel.messages.pofile import read_po

    seen: dict[str, tuple[str, str]] = {}
    for po in sorted((CONSOLE / "locales" / "ko").glob("*.po")):
        with po.open("rb") as f:
            for message in read_po(f):
                if not message.id:
                    continue
                first = seen.setdefault(message.id, (po.name, message.string))
                assert first[1] == message.string, f"{message.id!r}: {first} vs {po.name}: {message.string!r}"
