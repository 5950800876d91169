"""SageMaker pages: notebook instances (list, actions, Jupyter links)."""

from __future__ import annotations

from starlette.responses import Response

from selfmaker.console.web import Console, View
from selfmaker.services.base import ServiceError

TRANSITIONAL = {"Pending", "Stopping", "Updating", "Deleting"}
# The states each action is offered in (SageMaker refuses it in the others).
ACTIONS = {"start": {"Stopped", "Failed"}, "stop": {"InService"}, "delete": {"Stopped", "Failed"}}
_OPERATIONS = {"start": "StartNotebookInstance", "stop": "StopNotebookInstance", "delete": "DeleteNotebookInstance"}


def status_class(status: str) -> str:
    return {"InService": "ok", "Failed": "bad", "Stopped": "idle"}.get(status, "busy")


async def all_instances(view: View) -> list[dict]:
    instances, token = [], None
    while True:
        page = await view.call("sagemaker", "ListNotebookInstances",
                               {"MaxResults": 100, "SortBy": "CreationTime", "SortOrder": "Descending",
                                **({"NextToken": token} if token else {})})
        instances += page.get("NotebookInstances", [])
        token = page.get("NextToken")
        if not token:
            return instances


def routes(console: Console) -> list:
    def hourly(instance_type: str) -> float | None:
        known = console.catalogue.get(instance_type)
        return known.price_per_hour if known else None

    async def instances(view: View) -> Response:
        found = await all_instances(view)
        running = [i for i in found if i["NotebookInstanceStatus"] in ("InService", "Pending", "Updating")]
        values = dict(
            instances=found, actions=ACTIONS, status_class=status_class, hourly=hourly,
            busy=any(i["NotebookInstanceStatus"] in TRANSITIONAL for i in found),
            running=running, running_cost=sum(hourly(i["InstanceType"]) or 0 for i in running),
        )
        if view.fragment == "rows":
            return view.render("sagemaker/_instance_rows.html", **values)
        return view.render("sagemaker/instances.html", **values)

    async def act(view: View) -> Response:
        name = view.request.path_params["name"]
        action = view.request.path_params["action"]
        back = view.url("/sagemaker/notebook-instances")
        if action not in _OPERATIONS:
            return view.redirect(back)
        words = {"start": view.t("start notebook instance %(name)s", name=name),
                 "stop": view.t("stop notebook instance %(name)s", name=name),
                 "delete": view.t("delete notebook instance %(name)s", name=name)}[action]
        try:
            await view.call("sagemaker", _OPERATIONS[action], {"NotebookInstanceName": name})
        except ServiceError as err:
            return view.failed(back, words, err)
        done = {"start": view.t("Starting %(name)s.", name=name), "stop": view.t("Stopping %(name)s.", name=name),
                "delete": view.t("Deleting %(name)s.", name=name)}[action]
        return view.redirect(back, done)

    async def open_jupyter(view: View) -> Response:
        name = view.request.path_params["name"]
        result = await view.call("sagemaker", "CreatePresignedNotebookInstanceUrl", {"NotebookInstanceName": name})
        url = result["AuthorizedUrl"]
        if view.request.query_params.get("view") == "lab":
            url += "&view=lab"
        return view.redirect(url)

    return [
        console.route("/sagemaker/notebook-instances", instances),
        console.route("/sagemaker/notebook-instances/{name}/open", open_jupyter),
        console.route("/sagemaker/notebook-instances/{name}/{action}", act, methods=("POST",)),
    ]
