"""Each notebook instance's Jupyter lives on an origin of its own, so a notebook's pages cannot read the console
or another instance.

HTTP: a notebook host serves its Jupyter and nothing else (no console, API, health or SNS pages), the main
host never serves a notebook, old ``/notebook/…`` links redirect, the notebook session cookie is host-only,
Jupyter's XSRF and origin checks stay on behind the proxy, and nobody answers ``Access-Control-Allow-Origin: *``.

Chromium: one browser holds an admin console session and sessions for two instances; a script on one
instance (an HTML file on its volume, and code in the instance's own origin, as a notebook's output runs)
tries, as an attacker would, to read a console page and the other instance's files. Both reads fail.
"""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError
from playwright.sync_api import expect

from selfmaker.console.sessions import COOKIE as CONSOLE_COOKIE
from selfmaker.gateway.notebook_proxy import SESSION_COOKIE
from selfmaker.runtime.jupyter import SECRET_HEADER
from tests.browser.conftest import LONG_TIMEOUT_MS
from tests.conftest import running_server
from tests.console.conftest import sign_in as console_sign_in
from tests.e2e.jupyter_client import NotebookSession
from tests.security.conftest import ROLE, ROOT_PASSWORD, notebook_origin, presigned

EVIL = "http://evil.example"
NOT_JUPYTER_PATHS = ["/console/", "/signin", "/_selfmaker/health", "/sagemaker/notebook-instances",
                     "/_selfmaker/sns/confirm?TopicArn=x&Token=y", "/cloudformation/stacks"]


def _set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    parsed = {}
    for header in response.headers.get_list("set-cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        parsed.update({name: cookie for name in cookie})
    return parsed


# --- addresses ---------------------------------------------------------------------------------------------


def test_urls_name_the_instance_host(security_server, instances):
    sagemaker = security_server.client("sagemaker")
    origin = notebook_origin(security_server, instances.alice)
    host = urlsplit(origin).netloc
    assert host == f"alice-notes-{security_server.account_id}.notebook.us-east-1.localhost:{security_server.port}"
    assert sagemaker.describe_notebook_instance(NotebookInstanceName=instances.alice)["Url"] == host
    listed = {item["NotebookInstanceName"]: item["Url"]
              for item in sagemaker.list_notebook_instances()["NotebookInstances"]}
    assert listed[instances.alice] == host
    assert presigned(security_server, instances.alice).startswith(f"{origin}/?authToken=")
    # Host names are lowercase, so names that differ only in case would share one: refused.
    with pytest.raises(ClientError, match="duplicate"):
        sagemaker.create_notebook_instance(NotebookInstanceName="alice-notes", InstanceType="ml.t3.medium",
                                           RoleArn=ROLE)


# --- a notebook host is Jupyter's alone; the main host is never Jupyter's --------------------------------------


def test_notebook_host_serves_only_jupyter(security_server, instances):
    origin = notebook_origin(security_server, instances.mallory)
    for path in NOT_JUPYTER_PATHS:  # no session: the proxy's refusal, not the page
        reply = httpx.get(origin + path)
        assert reply.status_code == 403 and reply.text.startswith("403 Forbidden"), path
    session = NotebookSession(presigned(security_server, instances.mallory))
    for path in NOT_JUPYTER_PATHS:  # with a session: Jupyter's answer (it has no such page)
        reply = session.get(path.lstrip("/"), follow_redirects=True)
        assert reply.status_code == 404 and str(reply.url).startswith(origin), (path, reply.status_code, reply.url)
        assert "csrf_token" not in reply.text and CONSOLE_COOKIE not in reply.headers.get("set-cookie", "")
    # The AWS API is not there either, signed or not.
    sts = boto3.client("sts", endpoint_url=origin, region_name=security_server.region,
                       aws_access_key_id=security_server.access_key_id,
                       aws_secret_access_key=security_server.secret_access_key,
                       config=Config(retries={"max_attempts": 1}))
    with pytest.raises((ClientError, ResponseParserError)):  # the proxy's 403, not an AWS answer
        sts.get_caller_identity()
    assert security_server.client("sts").get_caller_identity()["Account"] == security_server.account_id
    reply = session.http.post("/", data={"Action": "GetCallerIdentity", "Version": "2011-06-15"})
    assert "GetCallerIdentityResult" not in reply.text


def test_main_host_never_serves_a_notebook(security_server, instances):
    session = NotebookSession(presigned(security_server, instances.mallory))
    cookie = {SESSION_COOKIE: session.http.cookies[SESSION_COOKIE]}  # even with a live notebook session
    for path in ("/lab", "/tree", "/api/contents", "/api/kernels", "/files/x.txt"):
        reply = httpx.get(security_server.endpoint_url + path, cookies=cookie)
        assert "JupyterLab" not in reply.text and "_xsrf" not in reply.headers.get("set-cookie", ""), path
        assert reply.status_code != 200 or "/signin" in str(reply.url), path


def test_old_links_redirect_to_the_instance_host(security_server, instances):
    origin = notebook_origin(security_server, instances.alice)
    old = f"{security_server.endpoint_url}/notebook/{security_server.account_id}/us-east-1"
    token = urlsplit(presigned(security_server, instances.alice)).query.removeprefix("authToken=")
    reply = httpx.get(f"{old}/{instances.alice}/auth?authToken={token}&view=lab")
    assert reply.status_code == 302
    assert reply.headers["location"] == f"{origin}/?authToken={token}&view=lab"
    deep = httpx.get(f"{old}/{instances.alice.lower()}/lab/tree/notes.ipynb?reset")
    assert deep.status_code == 302 and deep.headers["location"] == f"{origin}/lab/tree/notes.ipynb?reset"
    # Followed like a browser would: the old sign-in link still signs in, once.
    with httpx.Client(timeout=30) as browser:
        landed = browser.get(f"{old}/{instances.alice}/auth?authToken={token}&view=lab", follow_redirects=True)
        assert landed.status_code == 200 and str(landed.url).startswith(f"{origin}/lab")
    missing = httpx.get(f"{old}/no-such-notebook/auth?authToken=x")
    assert missing.status_code == 404 and "There is no notebook instance no-such-notebook" in missing.text


# --- cookies -------------------------------------------------------------------------------------------------


def test_session_cookies_are_host_only(security_server, instances):
    first = httpx.get(presigned(security_server, instances.mallory))
    assert first.status_code == 302 and first.headers["location"] == "/tree"
    morsel = _set_cookies(first)[SESSION_COOKIE][SESSION_COOKIE]
    assert morsel["domain"] == "" and morsel["path"] == "/"  # no Domain: this instance's host only
    assert morsel["httponly"] and morsel["samesite"].lower() == "lax" and not morsel["secure"]  # http here
    # The console's cookies are host-only too, so the browser never sends them to a notebook host.
    with httpx.Client(base_url=security_server.endpoint_url, timeout=30) as console:
        form = console.get("/signin")
        signed_in = console_sign_in(console, password=ROOT_PASSWORD)
        assert signed_in.status_code == 303
        for reply in (form, signed_in, console.get("/console/")):
            for name, cookie in _set_cookies(reply).items():
                assert cookie[name]["domain"] == "", name
        assert CONSOLE_COOKIE in _set_cookies(signed_in)
    # One instance's session is worth nothing on another's host.
    alice = notebook_origin(security_server, instances.alice)
    stolen = httpx.get(f"{alice}/api/contents", cookies={SESSION_COOKIE: first.cookies[SESSION_COOKIE]})
    assert stolen.status_code == 403


def test_session_cookie_is_secure_behind_https(tmp_path):
    public = "https://lab.example.edu:8443"
    with running_server(tmp_path, SELFMAKER_PUBLIC_URL=public) as server:
        sagemaker = server.client("sagemaker")
        sagemaker.create_notebook_instance(NotebookInstanceName="tls", InstanceType="ml.t3.medium", RoleArn=ROLE)
        url = presigned(server, "tls")
        host = f"tls-{server.account_id}.notebook.us-east-1.localhost:8443"
        assert url.startswith(f"https://{host}/?authToken=")
        assert sagemaker.describe_notebook_instance(NotebookInstanceName="tls")["Url"] == host
        # As the TLS proxy in front would pass it on: plain HTTP to us, the public Host.
        reply = httpx.get(f"{server.endpoint_url}/?{urlsplit(url).query}", headers={"Host": host})
        assert reply.status_code == 302
        morsel = _set_cookies(reply)[SESSION_COOKIE][SESSION_COOKIE]
        assert morsel["secure"] and morsel["domain"] == ""


def test_jupyter_cookies_stay_with_each_browser(security_server, instances):
    """The proxy keeps no cookie jar of its own: each browser gets its own XSRF token from Jupyter."""
    tokens = []
    for _ in range(2):
        session = NotebookSession(presigned(security_server, instances.mallory))
        lab = session.get("lab")
        assert lab.status_code == 200
        tokens.append(_set_cookies(lab)["_xsrf"]["_xsrf"].value)
    assert tokens[0] != tokens[1]


# --- Jupyter's own checks ------------------------------------------------------------------------------------


def test_jupyter_enforces_xsrf_behind_the_proxy(security_server, instances):
    origin = notebook_origin(security_server, instances.mallory)
    session = NotebookSession(presigned(security_server, instances.mallory))
    xsrf = session.xsrf()
    cookies = {SESSION_COOKIE: session.http.cookies[SESSION_COOKIE], "_xsrf": xsrf}
    new_file = {"type": "file", "format": "text", "content": "x"}
    with httpx.Client(base_url=origin, cookies=cookies, timeout=30) as raw:
        # A form post from anywhere (the cookies go along): no _xsrf field or header, no file.
        refused = raw.post("/api/contents", json={"type": "file"})
        assert refused.status_code == 403 and "_xsrf" in refused.text
        made = raw.post("/api/contents", json={"type": "file"}, headers={"X-XSRFToken": xsrf})
        assert made.status_code == 201, made.text
        refused = raw.put("/api/contents/without-xsrf.txt", json=new_file)
        assert refused.status_code == 403 and "_xsrf" in refused.text
        # A browser's copy of the gateway's secret header changes nothing: the proxy drops it.
        refused = raw.put("/api/contents/without-xsrf.txt", json=new_file, headers={SECRET_HEADER: "guess"})
        assert refused.status_code == 403
        # Cross-origin, even with the token (a page elsewhere that somehow had it): Jupyter's origin check.
        foreign = raw.put("/api/contents/foreign.txt", json=new_file, headers={"X-XSRFToken": xsrf, "Origin": EVIL})
        assert foreign.status_code in (403, 404)
        written = raw.put("/api/contents/with-xsrf.txt", json=new_file,
                          headers={"X-XSRFToken": xsrf, "Origin": origin})
        assert written.status_code == 201, written.text
    assert httpx.get(f"{origin}/api/status", headers={SECRET_HEADER: "guess"}).status_code == 403  # no session


def test_no_wildcard_cors(security_server, instances):
    origin = notebook_origin(security_server, instances.mallory)
    session = NotebookSession(presigned(security_server, instances.mallory))
    answers = [
        session.get("api/contents", headers={"Origin": EVIL}),
        session.http.options("/api/contents", headers={"Origin": EVIL, "Access-Control-Request-Method": "PUT"}),
        session.get("lab", headers={"Origin": EVIL}),
        httpx.options(security_server.endpoint_url + "/", headers={"Origin": EVIL,
                                                                   "Access-Control-Request-Method": "POST"}),
        httpx.get(security_server.endpoint_url + "/console/", headers={"Origin": EVIL}),
        httpx.get(f"{origin}/api/contents", headers={"Origin": EVIL}),
    ]
    for reply in answers:
        assert reply.headers.get("access-control-allow-origin") in (None, ""), (reply.request.url, reply.headers)
    api = security_server.client("sts").get_caller_identity()["ResponseMetadata"]["HTTPHeaders"]
    assert "access-control-allow-origin" not in api


# --- in Chromium: a page on one notebook goes after the console and another notebook --------------------------

# What an attacker's page runs: credentialed reads of a console page and of the other instance's file list,
# a WebSocket to the other instance, and a look at the cookies it can see.
ATTACK = """async ({consoleUrl, otherUrl, otherSocketUrl, ownUrl}) => {
  const read = async (url) => {
    try {
      const reply = await fetch(url, {credentials: "include"});
      return {read: true, status: reply.status, body: (await reply.text()).slice(0, 4000)};
    } catch (error) {
      return {read: false, error: String(error)};
    }
  };
  const socket = (url) => new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.onopen = () => { ws.close(); resolve({opened: true}); };
    ws.onerror = () => resolve({opened: false});
    setTimeout(() => resolve({opened: false, timedOut: true}), 15000);
  });
  let cookies;
  try { cookies = document.cookie; } catch (error) { cookies = "unreadable: " + error; }
  return {
    console: await read(consoleUrl), other: await read(otherUrl), otherSocket: await socket(otherSocketUrl),
    own: ownUrl ? await read(ownUrl) : null, cookies,
  };
}"""

ATTACK_PAGE = """<!doctype html>
<html><head><title>Interesting results</title><link rel="icon" href="data:,"></head>
<body><pre id="out"></pre>
<script>
const attack = {attack};
attack({params}).then((found) => {{ document.getElementById("out").textContent = JSON.stringify(found); }});
</script></body></html>
"""


@pytest.fixture
def victim_browser(browser, security_server, instances):
    """One browser context (one person's browser) holding an admin console session and sessions for both
    instances; yields (context, console errors seen by its pages)."""
    context = browser.new_context()
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(security_server.endpoint_url + "/console/")
    page.get_by_label("Password", exact=True).fill(ROOT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")
    page.close()
    for name in (instances.alice, instances.mallory):  # what following each presigned link leaves behind
        assert context.request.get(presigned(security_server, name), max_redirects=0).status == 302
    yield context
    context.close()


def _unexpected(errors: list[tuple[str, str]], targets: tuple[str, ...]) -> list[str]:
    """Console errors other than the refusals the attack provokes (CORS blocks and the failed loads and
    WebSocket of its targets)."""
    def expected(text: str, url: str) -> bool:
        return (("blocked by CORS policy" in text and any(target in text for target in targets))
                or (text.startswith("Failed to load resource") and url.startswith(targets))
                or (text.startswith("WebSocket connection to") and any(target in text for target in targets)))
    return [text for text, url in errors if not expected(text, url)]


def test_a_notebook_page_cannot_read_the_console_or_another_notebook(victim_browser, security_server, instances):
    context = victim_browser
    mallory = notebook_origin(security_server, instances.mallory)
    alice = notebook_origin(security_server, instances.alice)
    console_url = security_server.endpoint_url + "/console/"
    other_url = f"{alice}/api/contents"
    params = {"consoleUrl": console_url, "otherUrl": other_url,
              "otherSocketUrl": alice.replace("http://", "ws://") + "/api/events/subscribe"}
    # Something worth stealing on the other instance, and the browser can read both targets itself.
    NotebookSession(presigned(security_server, instances.alice)).put(
        "api/contents/alice-secret.txt", json={"type": "file", "format": "text", "content": "s3cret"})
    assert "alice-secret.txt" in context.request.get(other_url).text()
    assert "csrf_token" in context.request.get(console_url).text()
    # The console's cookie is the console host's alone.
    assert CONSOLE_COOKIE in [c["name"] for c in context.cookies(security_server.endpoint_url)]
    assert CONSOLE_COOKIE not in [c["name"] for c in context.cookies(mallory)]

    errors: list[tuple[str, str]] = []
    context.on("console", lambda m: errors.append((m.text, m.location.get("url", ""))) if m.type == "error" else None)
    context.on("weberror", lambda e: errors.append((str(e.error), "")))

    # 1. An HTML file on mallory's volume, opened from JupyterLab (Jupyter serves it sandboxed).
    page = context.new_page()
    NotebookSession(presigned(security_server, instances.mallory)).put(
        "api/contents/attack.html",
        json={"type": "file", "format": "text",
              "content": ATTACK_PAGE.format(attack=ATTACK, params=json.dumps(params))})
    page.goto(f"{mallory}/files/attack.html", referer=f"{mallory}/lab")
    out = page.locator("#out")
    expect(out).not_to_have_text("", timeout=60_000)
    from_file = json.loads(out.text_content())
    # 2. Script in mallory's own origin: JupyterLab's page, where a notebook's outputs run.
    page.goto(f"{mallory}/lab")
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=LONG_TIMEOUT_MS)
    in_origin = page.evaluate(ATTACK, {**params, "ownUrl": f"{mallory}/api/contents"})

    for found in (from_file, in_origin):
        assert found["console"]["read"] is False, found["console"]
        assert found["other"]["read"] is False, found["other"]
        assert found["otherSocket"]["opened"] is False
        assert CONSOLE_COOKIE not in found["cookies"] and SESSION_COOKIE not in found["cookies"]
    assert in_origin["own"]["read"] and in_origin["own"]["status"] == 200  # the script could read its own
    assert CONSOLE_COOKIE not in [c["name"] for c in context.cookies(mallory)]
    assert _unexpected(errors, (console_url, alice, alice.replace("http://", "ws://"))) == []
