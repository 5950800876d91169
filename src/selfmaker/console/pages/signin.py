"""Sign-in (account root or an IAM user with a console password), sign-out, password change, language."""

from __future__ import annotations

import asyncio
import secrets
from urllib.parse import urlencode

from sqlalchemy import Engine
from starlette.responses import Response

from selfmaker.console import i18n
from selfmaker.console.lockout import Lockout
from selfmaker.console.root_password import check_root_password
from selfmaker.console.sessions import COOKIE as SESSION_COOKIE
from selfmaker.console.web import Console, View, local_path, session_cookie
from selfmaker.services.base import ServiceError
from selfmaker.services.iam.login_profiles import check_console_password

# The sign-in form has no session yet: a random cookie mirrored in a hidden field (double submit) stops
# other sites from signing a reader in to an account of theirs.
SIGNIN_CSRF_COOKIE = "selfmaker-signin-csrf"


def routes(console: Console, engine: Engine) -> list:
    lockout = Lockout(engine)

    async def signin_form(view: View, error: str | None = None, status: int = 200) -> Response:
        token = view.request.cookies.get(SIGNIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
        values = view.form if view.form else view.request.query_params
        response = view.render(
            "signin.html", status=status, error=error, signin_csrf=token,
            next=local_path(values.get("next")), account=values.get("account", console.default_account),
            user=values.get("user", ""),
        )
        response.set_cookie(SIGNIN_CSRF_COOKIE, token, path="/signin", httponly=True, samesite="strict")
        return response

    async def show(view: View) -> Response:
        if view.session is not None:
            return view.redirect(local_path(view.request.query_params.get("next")))
        return await signin_form(view)

    async def sign_in(view: View) -> Response:
        form = await view.read_form()
        cookie = view.request.cookies.get(SIGNIN_CSRF_COOKIE)
        if not cookie or not secrets.compare_digest(cookie, str(form.get("csrf_token", ""))):
            return await signin_form(view, view.t("This form has expired. Please sign in again."), 403)
        account = str(form.get("account", "")).strip()
        user = str(form.get("user", "")).strip()
        password = str(form.get("password", ""))
        key = f"{account}/{(user or 'root').lower()}"
        # Counted before the password is checked, in one store transaction: parallel guesses cannot all pass.
        wait = lockout.attempt(key)
        if wait > 0:
            return await signin_form(view, view.t(
                "Too many failed sign-in attempts. Try again in %(seconds)d seconds.", seconds=int(wait) + 1), 429)
        if not user:
            # Argon2 takes tens of milliseconds by design: off the event loop, which serves everyone else.
            ok = account == console.default_account and await asyncio.to_thread(check_root_password, engine, password)
            principal = (f"arn:aws:iam::{account}:root", view.t("Root user"), False) if ok else None
        else:
            found = await asyncio.to_thread(check_console_password, engine, account, user, password)
            principal = (found.arn, found.name, found.password_reset_required) if found else None
        if principal is None:  # already counted
            return await signin_form(view, view.t("Your account, user name or password is incorrect."), 401)
        lockout.succeeded(key)
        arn, name, reset_required = principal
        token = console.sessions.open(account, arn, name, reset_required)
        target = local_path(str(form.get("next", "")))
        if reset_required:
            target = f"/console/password?{urlencode({'next': target})}"
        response = view.redirect(target)
        session_cookie(response, token)
        response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/signin")
        return response

    async def sign_out(view: View) -> Response:
        console.sessions.close(view.session)
        response = view.redirect("/signin")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def password(view: View) -> Response:
        error = None
        if view.request.method == "POST":
            form = view.form
            if form.get("new_password") != form.get("confirm_password"):
                error = view.t("The new passwords do not match.")
            else:
                try:
                    await view.call("iam", "ChangePassword", {
                        "OldPassword": str(form.get("old_password", "")),
                        "NewPassword": str(form.get("new_password", ""))})
                except ServiceError as err:
                    error = err.message
                else:
                    console.sessions.password_changed(view.session)
                    return view.redirect(local_path(str(form.get("next", ""))), view.t("Your password was changed."))
        return view.render("password.html", status=400 if error else 200, error=error,
                           next=local_path(view.request.query_params.get("next") or str(view.form.get("next", ""))))

    async def language(view: View) -> Response:
        chosen = view.request.query_params.get("lang")
        response = view.redirect(local_path(view.request.query_params.get("next")))
        if chosen in i18n.LANGUAGES:
            response.set_cookie(i18n.COOKIE, chosen, max_age=365 * 86400, path="/", samesite="lax")
        return response

    return [
        console.route("/signin", show, public=True),
        console.route("/signin", sign_in, methods=("POST",), public=True),
        console.route("/signout", sign_out, methods=("POST",)),
        console.route("/console/password", password, methods=("GET", "POST")),
        console.route("/console/language", language, public=True),
    ]
