"""Links written before each notebook instance had a host of its own: ``/notebook/<account>/<region>/<name>/…``
on the server's main host (in old mails, bookmarks). They answer with a redirect to the instance's host,
the sign-in token and view kept, or with a page that says there is no such instance."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from sqlalchemy import Engine, func, select
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from selfmaker.config import Settings
from selfmaker.services.sagemaker.notebook_hosts import notebook_origin
from selfmaker.store.tables import notebook_instances


def legacy_notebook_routes(engine: Engine, settings: Settings) -> list[Route]:
    async def redirect(request: Request) -> Response:
        account, region, name = (request.path_params[key] for key in ("account", "region", "name"))
        with engine.connect() as conn:
            row = conn.execute(
                select(notebook_instances).where(
                    notebook_instances.c.account_id == account,
                    notebook_instances.c.region == region,
                    func.lower(notebook_instances.c.name) == name.lower(),
                )
            ).first()
        if row is None:
            return PlainTextResponse(
                f"There is no notebook instance {name} in account {account}, region {region}. Notebook instances "
                "are now opened at a host name of their own: open yours from the console, or create a new link "
                "with CreatePresignedNotebookInstanceUrl.",
                404,
            )
        # The scheme and port people reach this server at, as the console's links use.
        base = settings.public_url or str(request.base_url)
        origin = notebook_origin(base, row.name, row.account_id, row.region, settings.notebook_domain)
        rest = request.path_params.get("path", "")
        if rest == "auth":  # the old sign-in link: the new one is /?authToken=…
            kept = {key: request.query_params[key] for key in ("authToken", "view") if key in request.query_params}
            return RedirectResponse(f"{origin}/?{urlencode(kept)}", status_code=302)
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"{origin}/{quote(rest)}{query}", status_code=302)

    prefix = "/notebook/{account}/{region}/{name}"
    return [
        Route(prefix, redirect, methods=["GET", "HEAD"]),
        Route(prefix + "/{path:path}", redirect, methods=["GET", "HEAD"]),
    ]
