"""Service Quotas pages for SageMaker notebooks: the quotas (applied value, default, per-user limit, usage),
a request-an-increase form and the reader's request history, through the Service Quotas API as the
signed-in principal; and, for the root user, the requests to decide (open a case, approve, deny, close).

The decisions have no AWS API: they go to the same desk as ``selfmaker quota`` (stored, then mailed).
"""

from __future__ import annotations

import json

from starlette.responses import Response

from selfmaker.console.pages.sagemaker import all_instances
from selfmaker.console.web import Console, View
from selfmaker.services.base import ServiceError
from selfmaker.services.quotas import records
from selfmaker.services.quotas.catalogue import MAX_VALUE, SERVICE_CODE, TOTAL_CODE, count_text
from selfmaker.services.quotas.limits import RUNNING

PAGE = "/servicequotas/sagemaker"
MAX_PAGES = 20
_RUNNING_NAMES = set(RUNNING)
_STATUS_CLASS = {records.APPROVED: "ok", records.DENIED: "bad", records.CASE_CLOSED: "idle"}


async def _all(view: View, operation: str, key: str, params: dict) -> list[dict]:
    items: list[dict] = []
    token = None
    for _ in range(MAX_PAGES):
        page = await view.call("service-quotas", operation,
                               {"MaxResults": 100, **params, **({"NextToken": token} if token else {})})
        items += page.get(key, [])
        token = page.get("NextToken")
        if not token:
            break
    return items


def requester_arn(change: dict) -> str:
    """The caller's ARN in a request's Requester (AWS's JSON text: accountId and callerArn)."""
    try:
        return str(json.loads(change.get("Requester") or "{}").get("callerArn", ""))
    except (ValueError, AttributeError):
        return ""


def notable(row: dict) -> bool:
    """Worth a row without "show all": the total, and quotas in use, changed from their default, or per-user."""
    return row["QuotaCode"] == TOTAL_CODE or bool(row["Used"]) or row["PerUser"] is not None \
        or row["Value"] != row["Default"]


def routes(console: Console) -> list:
    provider = console.api.services["service-quotas"].provider
    desk = provider.desk

    async def usage(view: View) -> dict[str, int] | None:
        """Running notebook instances (as the quotas count them) by type, plus "total"; None when not allowed."""
        try:
            found = await all_instances(view)
        except ServiceError:
            return None
        counts: dict[str, int] = {"total": 0}
        for instance in found:
            if instance["NotebookInstanceStatus"] in _RUNNING_NAMES:
                counts[instance["InstanceType"]] = counts.get(instance["InstanceType"], 0) + 1
                counts["total"] += 1
        return counts

    async def page(view: View) -> Response:
        quotas = await _all(view, "ListServiceQuotas", "Quotas", {"ServiceCode": SERVICE_CODE})
        defaults = {quota["QuotaCode"]: quota["Value"] for quota in await _all(
            view, "ListAWSDefaultServiceQuotas", "Quotas", {"ServiceCode": SERVICE_CODE})}
        history = await _all(view, "ListRequestedServiceQuotaChangeHistory", "RequestedQuotas",
                             {"ServiceCode": SERVICE_CODE})
        assert view.session is not None
        if not view.session.is_root:  # the account's history holds everyone's: a user sees their own
            history = [change for change in history if requester_arn(change) == view.session.principal_arn]
        rows = []
        counts = await usage(view)
        for quota in quotas:
            kind = provider.book.get(quota["QuotaCode"])
            key = (kind.instance_type or "total") if kind else None
            rows.append({**quota, "Default": defaults.get(quota["QuotaCode"]),
                         "PerUser": kind.per_user if kind else None,
                         "Used": None if counts is None or key is None else counts.get(key, 0)})
        to_decide = [row for row in records.all_requests(provider.engine) if row.status in records.OPEN] \
            if view.session.is_root else []
        chosen = view.request.query_params.get("quota", "")
        show_all = view.request.query_params.get("all") == "1"
        shown = rows if show_all else [row for row in rows if notable(row) or row["QuotaCode"] == chosen]
        return view.render("quotas/quotas.html", quotas=rows, shown=shown, show_all=show_all, history=history,
                           to_decide=to_decide, chosen=chosen, count=count_text,
                           status_class=lambda s: _STATUS_CLASS.get(s, "busy"), requester=requester_arn,
                           max_value=MAX_VALUE)

    async def request_increase(view: View) -> Response:
        back = view.url(PAGE)
        code = str(view.form.get("quota_code", ""))
        what = view.t("request a quota increase")
        try:
            desired = float(str(view.form.get("desired_value", "")).strip())
            if not 0 <= desired <= MAX_VALUE:
                raise ValueError
        except ValueError:
            return view.redirect(back, view.t("Enter the new quota value as a number from 0 to %(max)s.",
                                              max=count_text(MAX_VALUE)), error=True)
        try:
            result = await view.call("service-quotas", "RequestServiceQuotaIncrease",
                                     {"ServiceCode": SERVICE_CODE, "QuotaCode": code, "DesiredValue": desired})
        except ServiceError as err:
            return view.failed(back, what, err)
        asked = result["RequestedQuota"]
        done = view.t("Requested %(value)s for %(quota)s. You will get a mail at each change.",
                      value=count_text(asked["DesiredValue"]), quota=asked["QuotaName"])
        return view.redirect(back, done)

    async def decide(view: View) -> Response:
        assert view.session is not None
        back = view.url(PAGE)
        if not view.session.is_root:
            return view.render("error.html", status=403, code="AccessDenied", denied=True,
                               message=view.t("Only the root user decides quota increase requests."))
        request_id = view.request.path_params["id"]
        action = view.request.path_params["action"]
        link = f"{view.endpoint_url}{PAGE}"
        try:
            if action == "open":
                outcome = await desk.open_case(request_id, link)
            elif action == "approve":
                raw = str(view.form.get("value", "")).strip()
                value = float(raw) if raw else None
                if value is not None and not 0 <= value <= MAX_VALUE:
                    raise ValueError
                outcome = await desk.approve(request_id, value, link)
            elif action == "deny":
                outcome = await desk.deny(request_id, link)
            elif action == "close":
                outcome = await desk.close(request_id, link)
            else:
                return view.redirect(back)
        except ValueError:
            return view.redirect(back, view.t("Enter the new quota value as a number from 0 to %(max)s.",
                                              max=count_text(MAX_VALUE)), error=True)
        except records.DecisionError as err:
            reason = view.t("Request %(id)s is %(status)s already.", id=request_id, status=err.status) if err.status \
                else view.t("There is no quota increase request %(id)s.", id=request_id)
            return view.redirect(back, reason, error=True)
        row = outcome.row
        notice = view.t("Request %(id)s is now %(status)s.", id=row.request_id, status=row.status)
        if outcome.asked is not None:
            notice += " " + view.t("Capped at %(applied)s: this host's GPUs or Neuron devices run no more at once.",
                                   applied=count_text(outcome.applied))
        return view.redirect(back, notice)

    return [
        console.route(PAGE, page),
        console.route(f"{PAGE}/request", request_increase, methods=("POST",)),
        console.route(f"{PAGE}/requests/{{id}}/{{action}}", decide, methods=("POST",)),
    ]
