"""CloudFormation pages: the stacks list; creating a stack (choose a template, then review its parameters, as
AWS's quick-create links open it); a stack's detail (info, events, resources, outputs, parameters, template);
deleting a stack.

Templates are kept between steps as the API takes them: a TemplateURL (bundled ``selfmaker://`` templates,
http(s) addresses) or a TemplateBody (pasted or uploaded) carried in a hidden field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.responses import Response

from selfmaker.console.web import Console, View
from selfmaker.protocol.models import service_model
from selfmaker.services.base import ServiceError

TABS = ("info", "events", "resources", "outputs", "parameters", "template")
LIVE_TABS = frozenset({"info", "events", "resources", "outputs"})  # what changes while the stack works
MAX_UPLOAD = 1024 * 1024
_NAMED_PARAMETER = re.compile(r"Parameter '([A-Za-z0-9]+)'")
_MISSING_PARAMETERS = re.compile(r"Parameters: \[([^\]]*)\] must have values")
_LINK = re.compile(r"https?://[^\s<>\"']+")


def status_class(status: str) -> str:
    if status.endswith("_IN_PROGRESS"):
        return "busy"
    if "FAILED" in status or "ROLLBACK" in status:
        return "bad"
    return "idle" if status == "DELETE_COMPLETE" else "ok"


def in_progress(status: str) -> bool:
    return status.endswith("_IN_PROGRESS")


def is_link(value: str | None) -> bool:
    return bool(value and _LINK.fullmatch(value))


def bundled_templates() -> list[str]:
    folder = resources.files("selfmaker.templates")
    return sorted(f"selfmaker://{p.name}" for p in folder.iterdir() if p.name.endswith((".yaml", ".yml")))


def resource_link(view: View, resource: dict) -> str | None:
    """Our page for a stack's resource, when we have one."""
    physical = resource.get("PhysicalResourceId")
    if not physical or resource.get("ResourceStatus") == "DELETE_COMPLETE":
        return None
    kind = resource["ResourceType"]
    # SageMaker's physical ids are ARNs (…:notebook-instance/<name>); its pages go by name.
    name = quote(physical.rsplit("/", 1)[-1] if physical.startswith("arn:") else physical, safe="")
    if kind == "AWS::SageMaker::NotebookInstance":
        return view.url(f"/sagemaker/notebook-instances/{name}")
    if kind == "AWS::SageMaker::NotebookInstanceLifecycleConfig":
        return view.url(f"/sagemaker/lifecycle-configurations/{name}")
    if kind == "AWS::Logs::LogGroup":
        return view.url("/cloudwatch/log-group", group=physical)
    return None


# --- the template between the steps -----------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    url: str | None = None
    body: str | None = None

    @property
    def params(self) -> dict:
        return {"TemplateURL": self.url} if self.url is not None else {"TemplateBody": self.body or ""}


class TemplateProblem(Exception):
    """The chosen template cannot be read; ``source`` says which part of the form to show it at."""

    def __init__(self, source: str, message: str):
        super().__init__(message)
        self.source = source
        self.message = message


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _lines(text: str) -> str:
    """Form submission turns line ends into CRLF; the template had (and should keep) plain ones."""
    return text.replace("\r\n", "\n")


async def chosen_template(view: View) -> Template:
    """The template the chooser's form names (each of its forms says its ``source``)."""
    form = view.form
    source = _text(form.get("source"))
    if source in ("bundled", "url"):
        url = _text(form.get("template_url")).strip()
        if not url:
            raise TemplateProblem(source, view.t("Enter the template's URL."))
        return Template(url=url)
    if source == "body":
        body = _lines(_text(form.get("template_body")))
        if not body.strip():
            raise TemplateProblem(source, view.t("Paste the template's text."))
        return Template(body=body)
    upload = form.get("template_file")
    if source != "file" or not isinstance(upload, UploadFile) or not upload.filename:
        raise TemplateProblem("file", view.t("Choose a template file to upload."))
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise TemplateProblem("file", view.t("The file is larger than 1 MiB."))
    try:
        return Template(body=_lines(data.decode("utf-8")))
    except UnicodeDecodeError:
        raise TemplateProblem("file", view.t("The file is not UTF-8 text.")) from None


def carried_template(view: View) -> Template:
    """The template the review form carries in its hidden fields."""
    if "template_body" in view.form:
        return Template(body=_lines(_text(view.form.get("template_body"))))
    return Template(url=_text(view.form.get("template_url")))


# --- the review form -------------------------------------------------------------------------------------------


@dataclass
class Review:
    """What the review page shows: the template's summary and the reader's values."""

    template: Template
    summary: dict
    stack_name: str
    values: dict[str, str]
    acknowledged: bool = False
    errors: dict[str, str] | None = None  # field id → message; "" for the page's top

    def values_for_page(self) -> dict:
        return dict(chosen=self.template, summary=self.summary, stack_name=self.stack_name, values=self.values,
                    acknowledged=self.acknowledged, errors=self.errors or {})


def initial_values(summary: dict, given: dict[str, str]) -> dict[str, str]:
    """Each parameter's first value: ``param_<Key>`` from a quick-create link, else its default."""
    values = {}
    for parameter in summary.get("Parameters", []):
        key = parameter["ParameterKey"]
        values[key] = given.get(f"param_{key}", parameter.get("DefaultValue") or "")
    return values


def entered_values(summary: dict, form) -> dict[str, str]:
    return {p["ParameterKey"]: _text(form.get(f"param_{p['ParameterKey']}")) for p in summary.get("Parameters", [])}


def stack_parameters(summary: dict, values: dict[str, str]) -> list[dict]:
    """CreateStack's Parameters: every value given; an empty one without a default is left for the API to ask."""
    chosen = []
    for parameter in summary.get("Parameters", []):
        key = parameter["ParameterKey"]
        if values.get(key) or parameter.get("DefaultValue") is not None:
            chosen.append({"ParameterKey": key, "ParameterValue": values.get(key, "")})
    return chosen


def field_errors(err: ServiceError, keys: set[str]) -> dict[str, str]:
    """Where on the review form a CreateStack error belongs (AWS's messages name the parameter)."""
    if err.code == "InsufficientCapabilitiesException":
        return {"capabilities": err.message}
    if err.code == "AlreadyExistsException" or "'stackName'" in err.message:
        return {"stack-name": err.message}
    missing = _MISSING_PARAMETERS.search(err.message)
    named = [k.strip() for k in missing.group(1).split(",")] if missing else _NAMED_PARAMETER.findall(err.message)
    fields = {f"param-{key}": err.message for key in named if key in keys}
    return fields or {"": err.message}


# --- the routes ------------------------------------------------------------------------------------------------


def routes(console: Console) -> list:
    async def stacks(view: View) -> Response:
        found = await all_stacks(view)
        values = dict(stacks=found, status_class=status_class, busy=any(in_progress(s["StackStatus"]) for s in found))
        if view.fragment == "rows":
            return view.render("cloudformation/_stack_rows.html", **values)
        return view.render("cloudformation/stacks.html", **values)

    async def choose(view: View, problem: TemplateProblem | None = None, url: str = "", body: str = "") -> Response:
        """Step 1; again with the ``problem`` the chosen template had, keeping what the reader gave."""
        bundled = {template: await template_description(view, template) for template in bundled_templates()}
        stack_name = view.request.query_params.get("stackName") or _text(view.form.get("stack_name"))
        return view.render("cloudformation/create.html", status=400 if problem else 200, bundled=bundled,
                           problem=problem, url=url, body=body, stack_name=stack_name)

    async def review_link(view: View) -> Response:
        """The quick-create link: ?templateURL=…&stackName=…&param_<Key>=…"""
        query = view.request.query_params
        url = query.get("templateURL", "").strip()
        if not url:
            return view.redirect(view.url("/cloudformation/stacks/create"))
        template = Template(url=url)
        try:
            summary = await summarize(view, template)
        except ServiceError as err:
            return await choose(view, TemplateProblem("url", err.message), url=url)
        return show_review(view, Review(template, summary, query.get("stackName", ""),
                                        initial_values(summary, dict(query))))

    async def review_posted(view: View) -> Response:
        if view.form.get("step") == "create":
            return await create(view)
        try:
            template = await chosen_template(view)
            summary = await summarize(view, template)
        except (TemplateProblem, ServiceError) as err:
            problem = err if isinstance(err, TemplateProblem) else TemplateProblem(
                _text(view.form.get("source")) or "url", err.message)
            return await choose(view, problem, url=_text(view.form.get("template_url")),
                                body=_lines(_text(view.form.get("template_body"))))
        return show_review(view, Review(template, summary, _text(view.form.get("stack_name")),
                                        initial_values(summary, {})))

    async def create(view: View) -> Response:
        template = carried_template(view)
        try:
            summary = await summarize(view, template)
        except ServiceError as err:
            source = "url" if template.url is not None else "body"
            return await choose(view, TemplateProblem(source, err.message), url=template.url or "",
                                body=template.body or "")
        name = _text(view.form.get("stack_name")).strip()
        values = entered_values(summary, view.form)
        needed = set(summary.get("Capabilities") or [])
        acknowledged = needed & set(view.form.getlist("capabilities"))
        review = Review(template, summary, name, values, acknowledged=bool(acknowledged))
        if not name:
            review.errors = {"stack-name": view.t("Enter a stack name.")}
            return show_review(view, review, status=400)
        params = {"StackName": name, **template.params, "Parameters": stack_parameters(summary, values)}
        if acknowledged:
            params["Capabilities"] = sorted(acknowledged)
        try:
            created = await view.call("cloudformation", "CreateStack", params)
        except ServiceError as err:
            review.errors = field_errors(err, {p["ParameterKey"] for p in summary.get("Parameters", [])})
            return show_review(view, review, status=400)
        return view.redirect(view.url("/cloudformation/stacks/detail", stackId=created["StackId"], tab="events"),
                             view.t("Creating stack %(name)s.", name=name))

    def show_review(view: View, review: Review, status: int = 200) -> Response:
        if review.errors:  # what the reader typed into a NoEcho field is not sent back
            for parameter in review.summary.get("Parameters", []):
                if parameter.get("NoEcho"):
                    review.values[parameter["ParameterKey"]] = ""
        return view.render("cloudformation/review.html", status=status, **review.values_for_page())

    async def detail(view: View) -> Response:
        stack = await find_stack(view)
        if isinstance(stack, Response):
            return stack
        tab = view.request.query_params.get("tab", "info")
        tab = tab if tab in TABS else "info"
        values = dict(stack=stack, tab=tab, tabs=TABS, status_class=status_class, is_link=is_link,
                      resource_link=lambda r: resource_link(view, r),
                      live=in_progress(stack["StackStatus"]) and tab in LIVE_TABS, **await tab_values(view, stack, tab))
        if view.fragment == "live":
            return view.render("cloudformation/_stack_live.html", **values)
        return view.render("cloudformation/detail.html", **values)

    async def delete(view: View) -> Response:
        stack = await find_stack(view)
        if isinstance(stack, Response):
            return stack
        name, stack_id = stack["StackName"], stack["StackId"]
        back = view.url("/cloudformation/stacks/detail", stackId=stack_id, tab="events")
        if view.request.method == "GET":
            return view.render("cloudformation/delete.html", stack=stack, status_class=status_class)
        try:
            await view.call("cloudformation", "DeleteStack", {"StackName": stack_id})
        except ServiceError as err:
            return view.failed(back, view.t("delete stack %(name)s", name=name), err)
        return view.redirect(back, view.t("Deleting stack %(name)s.", name=name))

    return [
        console.route("/cloudformation/stacks", stacks),
        console.route("/cloudformation/stacks/create", choose),
        console.route("/cloudformation/stacks/create/review", review_link),
        console.route("/cloudformation/stacks/create/review", review_posted, methods=("POST",)),
        console.route("/cloudformation/stacks/detail", detail),
        console.route("/cloudformation/stacks/delete", delete, methods=("GET", "POST")),
    ]


# --- calls -----------------------------------------------------------------------------------------------------


@cache
def live_statuses() -> list[str]:
    """ListStacks's filter for every status but DELETE_COMPLETE, as AWS's console asks."""
    return [s for s in service_model("cloudformation").shape_for("StackStatus").enum if s != "DELETE_COMPLETE"]


async def all_stacks(view: View) -> list[dict]:
    """Every stack but the deleted ones, newest first."""
    found, token = [], None
    while True:
        page = await view.call("cloudformation", "ListStacks", {"StackStatusFilter": live_statuses(),
                                                                **({"NextToken": token} if token else {})})
        found += page.get("StackSummaries", [])
        token = page.get("NextToken")
        if not token:
            return sorted(found, key=lambda s: s.get("CreationTime") or 0, reverse=True)


async def summarize(view: View, template: Template) -> dict:
    return await view.call("cloudformation", "GetTemplateSummary", template.params)


async def template_description(view: View, url: str) -> str | None:
    try:
        return (await summarize(view, Template(url=url))).get("Description")
    except ServiceError:
        return None


async def find_stack(view: View) -> dict | Response:
    """The stack ?stackId= names (a name or an ARN), or the page saying it is not there."""
    stack_id = view.request.query_params.get("stackId", "").strip()
    if not stack_id:
        return view.redirect(view.url("/cloudformation/stacks"))
    try:
        return (await view.call("cloudformation", "DescribeStacks", {"StackName": stack_id}))["Stacks"][0]
    except ServiceError as err:
        if err.code == "ValidationError" and err.message.endswith("does not exist"):
            return view.render("error.html", status=404, code=err.code, message=err.message)
        raise


async def tab_values(view: View, stack: dict, tab: str) -> dict:
    stack_id = stack["StackId"]
    if tab == "events":
        events = await view.call("cloudformation", "DescribeStackEvents", {"StackName": stack_id})
        return {"events": events.get("StackEvents", [])}
    if tab == "resources":
        found = await view.call("cloudformation", "DescribeStackResources", {"StackName": stack_id})
        return {"resources": found.get("StackResources", [])}
    if tab == "template":
        found = await view.call("cloudformation", "GetTemplate", {"StackName": stack_id})
        return {"template_body": found["TemplateBody"]}
    return {}
