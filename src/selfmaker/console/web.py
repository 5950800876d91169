"""The console's request handling: who is signed in, CSRF, language, region, rendering and calls.

Every page is an ``async def handler(view: View) -> Response``. ``Console.route`` wraps it: no session →
the sign-in page; a POST without the session's CSRF token → 403; a ServiceError the handler lets escape →
an error page with AWS's code and message. ``view.call`` runs an API operation in-process as the signed-in
principal, through the same validation and IAM checks as a signed request.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from selfmaker.config import Settings
from selfmaker.console import i18n
from selfmaker.console.regions import regions
from selfmaker.console.sessions import COOKIE as SESSION_COOKIE
from selfmaker.console.sessions import LIFETIME, Session, SessionStore
from selfmaker.domain.instance_types import InstanceType
from selfmaker.gateway.api import ApiHandler
from selfmaker.gateway.authz import DENIED_CODES
from selfmaker.services.base import RequestContext, ServiceError
from selfmaker.services.metering import Meter

Handler = Callable[["View"], Awaitable[Response]]
REGION_COOKIE = "selfmaker-region"
NOTICE_COOKIE = "selfmaker-notice"
_HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
# Where a user whose administrator asked for a new password may go before choosing one.
_RESET_OK = frozenset({"/console/password", "/signout", "/console/language", "/signin"})
# Codes that mean "no such thing" in the services we serve, answered with a 404 page.
_NOT_FOUND = {"ResourceNotFound", "ResourceNotFoundException", "NoSuchEntity", "NotFound", "NotFoundException"}


def local_path(target: str | None, default: str = "/console/") -> str:
    """``target`` when it is a path on this server, else ``default`` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


@dataclass
class Console:
    api: ApiHandler
    sessions: SessionStore
    settings: Settings
    catalogue: dict[str, InstanceType]
    default_account: str  # the account this server runs (its root signs in with an empty user name)
    # (account, region, name) -> bytes used on a notebook instance's volume, or None
    volume_used: Callable[[str, str, str], Awaitable[int | None]]
    unenforced: list[str]  # limits this host cannot enforce on instances (shown on their pages)
    meter: Meter  # usage and cost, for the Billing page and the instance list
    # (account, region, name) -> where a notebook instance runs or waits (runtime/router.py), or None
    placement: Callable[[str, str, str], Awaitable[dict | None]]
    templates: Environment = field(init=False)

    def __post_init__(self) -> None:
        self.templates = Environment(
            loader=FileSystemLoader(_HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def route(self, path: str, handler: Handler, methods: tuple[str, ...] = ("GET",), public: bool = False) -> Route:
        async def endpoint(request: Request) -> Response:
            view = View(self, request, self.sessions.find(request.cookies.get(SESSION_COOKIE)))
            if view.session is None and not public:
                if request.headers.get("hx-request"):  # a live update after the session ended: the whole page goes
                    page = urlsplit(request.headers.get("hx-current-url", ""))
                    back = page.path + (f"?{page.query}" if page.query else "")
                    return Response(status_code=200, headers={"HX-Redirect": f"/signin?{urlencode({'next': back})}"})
                return view.redirect(f"/signin?{urlencode({'next': _path_with_query(request)})}")
            if view.session is not None and view.session.password_reset_required and request.url.path not in _RESET_OK:
                return view.redirect(f"/console/password?{urlencode({'next': _path_with_query(request)})}")
            if request.method == "POST" and not public:
                await view.read_form()
                if not view.session.csrf_ok(view.form.get("csrf_token") or request.headers.get("x-csrf-token")):
                    return view.render("error.html", status=403, code="InvalidCsrfToken", message=view.t(
                        "This form has expired. Go back, reload the page and try again."))
            try:
                response = await handler(view)
            except ServiceError as err:
                response = view.error(err)
            response.headers.update(SECURITY_HEADERS)
            return response

        return Route(path, endpoint, methods=list(methods))


class View:
    """One request to a console page: its reader, language, region and the tools to answer it."""

    def __init__(self, console: Console, request: Request, session: Session | None):
        self.console = console
        self.request = request
        self.session = session
        self.language = i18n.negotiate(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))
        self.t = i18n.gettext(self.language)
        asked = request.query_params.get("region") or request.cookies.get(REGION_COOKIE)
        self.region = asked if asked in regions() else console.settings.default_region
        self.form: FormData | dict = {}

    async def read_form(self) -> FormData:
        self.form = await self.request.form(max_files=1, max_fields=200, max_part_size=1024 * 1024)
        return self.form

    # --- the API, as the signed-in principal --------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        """The base URL for links we make for this reader (Jupyter's, mail's): the configured public URL, else
        the address the reader used to reach us."""
        return self.console.settings.public_url.rstrip("/") if self.console.settings.public_url \
            else str(self.request.base_url).rstrip("/")

    def context(self) -> RequestContext:
        """The signed-in principal as the services see a request of theirs."""
        assert self.session is not None
        return RequestContext(
            account_id=self.session.account_id,
            region=self.region,
            principal_arn=self.session.principal_arn,
            access_key_id=f"console:{self.session.principal_arn}",
            request_id=str(uuid.uuid4()),
            endpoint_url=self.endpoint_url,
        )

    async def call(self, service: str, operation: str, params: dict | None = None) -> dict:
        return await self.console.api.call(self.context(), service, operation, params or {})

    # --- answers -----------------------------------------------------------------------------------------

    def url(self, path: str, **query) -> str:
        """A console URL in the reader's region."""
        query = {"region": self.region, **{k: v for k, v in query.items() if v is not None}}
        return f"{path}?{urlencode(query)}"

    def render(self, template: str, status: int = 200, **values) -> HTMLResponse:
        notice = _read_notice(self.request.cookies.get(NOTICE_COOKIE))
        page = self.console.templates.get_template(template).render(
            view=self, t=self.t, _=self.t, gettext=self.t, ngettext=_ngettext(self.t), session=self.session,
            language=self.language, languages=i18n.LANGUAGES, region=self.region, regions=regions(),
            request=self.request, notice=notice, when=self.when, money=self.money, **values,
        )
        response = HTMLResponse(page, status_code=status)
        if NOTICE_COOKIE in self.request.cookies:
            response.delete_cookie(NOTICE_COOKIE, path="/")
        if self.request.query_params.get("region") == self.region:
            response.set_cookie(REGION_COOKIE, self.region, max_age=365 * 86400, path="/", samesite="lax",
                                httponly=True)
        return response

    def redirect(self, url: str, notice: str | None = None, error: bool = False) -> RedirectResponse:
        response = RedirectResponse(url, status_code=303)
        if notice:
            value = quote(json.dumps(["error" if error else "ok", notice]))
            response.set_cookie(NOTICE_COOKIE, value, max_age=60, path="/", samesite="lax", httponly=True)
        return response

    def error(self, err: ServiceError) -> HTMLResponse:
        denied = err.code in DENIED_CODES
        status = 403 if denied else 404 if err.code in _NOT_FOUND else 400 if err.sender_fault else 500
        return self.render("error.html", status=status, code=err.code, message=err.message, denied=denied)

    def failed(self, url: str, what: str, err: ServiceError) -> RedirectResponse:
        """Back to ``url`` with the reason an action failed (``what``: the action, in the reader's words)."""
        if err.code in DENIED_CODES:
            what = self.t("You are not allowed to do this: %(what)s", what=what)
        return self.redirect(url, f"{what} — {err.message}", error=True)

    # --- formatting --------------------------------------------------------------------------------------

    def when(self, epoch: float | dt.datetime | None) -> Markup:
        """A <time> the page's script shows in the reader's own time zone; UTC in the reader's locale without it."""
        if epoch is None or epoch == "":
            return Markup("")
        moment = epoch if isinstance(epoch, dt.datetime) else dt.datetime.fromtimestamp(float(epoch), dt.UTC)
        iso = moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Markup('<time datetime="{}">{}</time>').format(iso, i18n.format_time(moment, self.language))

    def money(self, dollars: float | None) -> str:
        if dollars is None:
            return "—"
        from babel.numbers import format_currency

        return format_currency(dollars, "USD", locale=self.language, format="¤#,##0.000", currency_digits=False)

    def size(self, size_bytes: int) -> str:
        from babel.units import format_unit

        unit, scale = next(((unit, scale) for unit, scale in (("gigabyte", 1024 ** 3), ("megabyte", 1024 ** 2))
                            if size_bytes >= scale), ("kilobyte", 1024))
        return format_unit(size_bytes / scale, f"digital-{unit}", "short", locale=self.language, format="#,##0.0")

    def regions_name(self, code: str) -> str:
        return self.t(regions().get(code, code))

    @property
    def fragment(self) -> str | None:
        """Which part of the page an htmx poll asks for (None: the whole page)."""
        return self.request.query_params.get("fragment")

    @property
    def now(self) -> float:
        return time.time()


def session_cookie(response: Response, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=int(LIFETIME), path="/", httponly=True, samesite="lax")


def _path_with_query(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _read_notice(raw: str | None) -> tuple[str, str] | None:
    if not raw:
        return None
    try:
        kind, text = json.loads(unquote(raw))
    except (ValueError, TypeError):
        return None
    return ("error" if kind == "error" else "ok", str(text))


def _ngettext(translate):
    def ngettext(singular: str, plural: str, n: int, **values) -> str:
        return translate(singular if n == 1 else plural, **{"num": n, **values})

    return ngettext
