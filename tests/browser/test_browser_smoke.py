"""The browser chain end to end: Debian's Chromium, Playwright, a real server, a screenshot."""

from __future__ import annotations


def test_health_page_in_chromium(new_page, screenshot, console_server):
    page = new_page("en-US")
    response = page.goto("/_selfmaker/health")
    assert response is not None and response.ok
    assert page.url.startswith(console_server.endpoint_url)
    assert "ok" in page.locator("body").inner_text()
    assert page.evaluate("navigator.language") == "en-US"
    path = screenshot(page, "smoke-health")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_korean_phone_page_renders(new_page, screenshot):
    page = new_page("ko-KR", phone=True)
    page.goto("/_selfmaker/health")
    page.set_content('<meta name="viewport" content="width=device-width"><h1 lang="ko">노트북 인스턴스</h1>'
                     '<button onclick="this.textContent=\'완료\'">시작</button>')
    assert page.evaluate("[navigator.language, innerWidth]") == ["ko-KR", 390]
    page.get_by_role("button", name="시작").click()
    assert page.get_by_role("button").inner_text() == "완료"
    screenshot(page, "smoke-korean-phone")
