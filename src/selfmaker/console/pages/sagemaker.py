"""SageMaker pages: notebook instances (list, create, detail, actions, Jupyter links) and lifecycle configurations."""

from __future__ import annotations

import asyncio
import base64
import binascii

from starlette.responses import Response

from selfmaker.console.pages.billing import instance_costs, usd
from selfmaker.console.pages.logs import log_events_url, log_group_url
from selfmaker.console.web import Console, View, local_path
from selfmaker.domain.instance_types import InstanceType
from selfmaker.runtime.base import JUPYTER_STREAM, ON_CREATE_STREAM, ON_START_STREAM
from selfmaker.services.base import ServiceError
from selfmaker.services.sagemaker.idle import stop_reason
from selfmaker.services.sagemaker.orchestrator import LOG_GROUP

TRANSITIONAL = {"Pending", "Stopping", "Updating", "Deleting"}
RUNNING = {"InService", "Pending", "Updating"}  # the states that cost money on AWS
# The states each action is offered in (SageMaker refuses it in the others).
ACTIONS = {"start": {"Stopped", "Failed"}, "stop": {"InService"}, "delete": {"Stopped", "Failed"}}
_OPERATIONS = {"start": "StartNotebookInstance", "stop": "StopNotebookInstance", "delete": "DeleteNotebookInstance"}
DEFAULT_TYPE = "ml.t3.medium"
DEFAULT_VOLUME_GB = 5  # AWS's default, and its minimum
MAX_VOLUME_GB = 16384
MAX_PAGES = 20  # of any listing read whole for a select


def status_class(status: str) -> str:
    return {"InService": "ok", "Failed": "bad", "Stopped": "idle"}.get(status, "busy")


async def _all(view: View, operation: str, key: str, params: dict | None = None) -> list[dict]:
    """Every item of a SageMaker List* operation, following NextToken."""
    items: list[dict] = []
    token = None
    for _ in range(MAX_PAGES):
        page = await view.call("sagemaker", operation,
                               {"MaxResults": 100, **(params or {}), **({"NextToken": token} if token else {})})
        items += page.get(key, [])
        token = page.get("NextToken")
        if not token:
            break
    return items


async def all_instances(view: View, **params) -> list[dict]:
    return await _all(view, "ListNotebookInstances", "NotebookInstances",
                      {"SortBy": "CreationTime", "SortOrder": "Descending", **params})


async def all_lifecycle_configs(view: View) -> list[dict]:
    return await _all(view, "ListNotebookInstanceLifecycleConfigs", "NotebookInstanceLifecycleConfigs",
                      {"SortBy": "Name", "SortOrder": "Ascending"})


async def role_arns(view: View) -> list[str] | None:
    """The account's role ARNs, or None when the reader may not list them (the form then asks for text)."""
    arns: list[str] = []
    marker = None
    try:
        for _ in range(MAX_PAGES):
            page = await view.call("iam", "ListRoles", {"MaxItems": 100, **({"Marker": marker} if marker else {})})
            arns += [role["Arn"] for role in page.get("Roles", [])]
            marker = page.get("Marker")
            if not page.get("IsTruncated") or not marker:
                break
    except ServiceError:
        return None
    return arns


async def failure_log(view: View, name: str) -> tuple[str, str]:
    """(link, its label) to the log stream that tells why ``name`` failed: its most recently written one (a
    lifecycle script's or Jupyter's), else its OnCreate stream."""
    stream = f"{name}/{ON_CREATE_STREAM}"
    try:
        page = await view.call("logs", "DescribeLogStreams",
                               {"logGroupName": LOG_GROUP, "logStreamNamePrefix": f"{name}/", "limit": 50})
    except ServiceError:  # no logs yet, or not allowed to list them: the OnCreate link is still the best guess
        page = {}
    written = [s for s in page.get("logStreams", []) if s.get("lastEventTimestamp")]
    if written:
        stream = max(written, key=lambda s: s["lastEventTimestamp"])["logStreamName"]
    label = {ON_CREATE_STREAM: view.t("View OnCreate log"), ON_START_STREAM: view.t("View OnStart log")}.get(
        stream.removeprefix(f"{name}/"), view.t("View Jupyter log"))
    return log_events_url(view, LOG_GROUP, stream), label


async def idle_stop(view: View, name: str, last_modified: float) -> str | None:
    """Why the idle auto-stop stopped ``name``, from the line it wrote when the instance entered its state."""
    at = int(last_modified * 1000)
    try:
        page = await view.call("logs", "GetLogEvents", {
            "logGroupName": LOG_GROUP, "logStreamName": f"{name}/{JUPYTER_STREAM}",
            "startTime": at - 1000, "endTime": at + 1000, "limit": 100})
    except ServiceError:  # no such stream, or not allowed to read it: nothing to say
        return None
    return stop_reason(page.get("events", []), last_modified)


def decode_script(scripts: list[dict] | None) -> str | None:
    if not scripts:
        return None
    try:
        return base64.b64decode(scripts[0]["Content"]).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return None


def encode_script(text: str) -> list[dict]:
    text = text.replace("\r\n", "\n")
    return [{"Content": base64.b64encode(text.encode()).decode()}] if text.strip() else []


def type_label(view: View, kind: InstanceType) -> str:
    parts = [view.t("%(vcpus)d vCPU", vcpus=kind.vcpus),
             view.t("%(memory)s GiB memory", memory=f"{kind.memory_gib:g}")]
    if kind.gpus:
        parts.append(view.t("%(gpus)d × %(model)s GPU", gpus=kind.gpus, model=kind.gpu_model or "NVIDIA"))
    if kind.accelerators:
        parts.append(view.t("%(count)d × %(model)s accelerator", count=kind.accelerators,
                            model=kind.accelerator_model or "AWS Neuron"))
    if kind.price_per_hour is None:
        parts.append(view.t("price unknown"))
    else:
        parts.append(view.t("%(price)s per hour", price=view.money(kind.price_per_hour)))
    if kind.estimated:
        parts.append(view.t("specs estimated"))
    return f"{kind.name} — " + ", ".join(parts)


def gpu_line(view: View, placement: dict, kind: InstanceType | None) -> str | None:
    """The GPUs Slurm assigned, e.g. "GPU 0, 1 — NVIDIA T4", named as the node's driver names them, else as the
    instance type's catalogue does (None: no GPUs assigned)."""
    ids = ", ".join(str(index) for index in placement.get("gpu_ids") or [])
    if not ids:
        return None
    models = list(dict.fromkeys(model for model in placement.get("gpu_models") or [] if model))
    if not models and kind is not None and kind.gpu_model:
        models = [kind.gpu_model]
    if not models:
        return view.t("GPU %(ids)s", ids=ids)
    return view.t("GPU %(ids)s — %(model)s", ids=ids, model=", ".join(models))


def read_instance_form(view: View) -> tuple[dict, dict, dict]:
    """(values to show again, CreateNotebookInstance parameters, field errors) from the create form."""
    form = view.form
    keys, tag_values = form.getlist("tag_key"), form.getlist("tag_value")
    values = {
        "name": str(form.get("name", "")).strip(),
        "instance_type": str(form.get("instance_type", DEFAULT_TYPE)),
        "volume_size": str(form.get("volume_size", DEFAULT_VOLUME_GB)).strip(),
        "lifecycle_config": str(form.get("lifecycle_config", "")).strip(),
        "role_arn": str(form.get("role_arn", "")).strip(),
        "direct_internet": "Disabled" if form.get("direct_internet") == "Disabled" else "Enabled",
        "root_access": "Disabled" if form.get("root_access") == "Disabled" else "Enabled",
        "tags": [(str(k).strip(), str(v)) for k, v in zip(keys, tag_values, strict=False) if str(k).strip() or v],
    }
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = view.t("Enter a name for the notebook instance.")
    if not values["role_arn"]:
        errors["role_arn"] = view.t("Choose or enter the IAM role the notebook instance runs as.")
    try:
        volume = int(values["volume_size"])
        if not DEFAULT_VOLUME_GB <= volume <= MAX_VOLUME_GB:
            raise ValueError
    except ValueError:
        volume = DEFAULT_VOLUME_GB
        errors["volume_size"] = view.t("Enter a whole number of GB from %(low)d to %(high)d.",
                                       low=DEFAULT_VOLUME_GB, high=MAX_VOLUME_GB)
    if any(value and not key for key, value in values["tags"]):
        errors["tags"] = view.t("Each tag with a value needs a key.")
    params = {
        "NotebookInstanceName": values["name"], "InstanceType": values["instance_type"],
        "RoleArn": values["role_arn"], "VolumeSizeInGB": volume,
        "DirectInternetAccess": values["direct_internet"], "RootAccess": values["root_access"],
        **({"LifecycleConfigName": values["lifecycle_config"]} if values["lifecycle_config"] else {}),
        "Tags": [{"Key": key, "Value": value} for key, value in values["tags"] if key],
    }
    return values, params, errors


def routes(console: Console) -> list:
    def hourly(instance_type: str) -> float | None:
        known = console.catalogue.get(instance_type)
        return known.price_per_hour if known else None

    # --- notebook instances: list and actions ---------------------------------------------------------------

    async def instances(view: View) -> Response:
        found = await all_instances(view)
        running = [i for i in found if i["NotebookInstanceStatus"] in RUNNING]
        failed = [i["NotebookInstanceName"] for i in found if i["NotebookInstanceStatus"] == "Failed"]
        values = dict(
            instances=found, actions=ACTIONS, status_class=status_class, hourly=hourly,
            busy=any(i["NotebookInstanceStatus"] in TRANSITIONAL for i in found),
            running=running, running_cost=sum(hourly(i["InstanceType"]) or 0 for i in running),
            month_cost=await asyncio.to_thread(instance_costs, console.meter, view.session.account_id),
            usd=lambda dollars: usd(dollars, view.language),
            log_links={name: await failure_log(view, name) for name in failed},
        )
        if view.fragment == "rows":
            return view.render("sagemaker/_instance_rows.html", **values)
        return view.render("sagemaker/instances.html", **values)

    async def act(view: View) -> Response:
        name = view.request.path_params["name"]
        action = view.request.path_params["action"]
        back = local_path(view.form.get("next"), view.url("/sagemaker/notebook-instances"))
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

    # --- create ------------------------------------------------------------------------------------------------

    async def create_form(view: View, values: dict, errors: dict | None = None, error: str | None = None,
                          status: int = 200) -> Response:
        try:
            configs: list[dict] | None = await all_lifecycle_configs(view)
        except ServiceError:
            configs = None
        # Cheapest first; types of unknown price after those of known price.
        kinds = sorted(console.catalogue.values(),
                       key=lambda k: (k.price_per_hour is None, k.price_per_hour or 0, k.vcpus, k.name))
        return view.render(
            "sagemaker/create.html", status=status, values=values, errors=errors or {}, error=error,
            roles=await role_arns(view), configs=configs,
            cpu_types=[(k.name, type_label(view, k)) for k in kinds if not k.gpus and not k.accelerators],
            gpu_types=[(k.name, type_label(view, k)) for k in kinds if k.gpus],
            accelerator_types=[(k.name, type_label(view, k)) for k in kinds if k.accelerators],
            default_volume=DEFAULT_VOLUME_GB, max_volume=MAX_VOLUME_GB,
        )

    async def create_page(view: View) -> Response:
        values = {"name": "", "instance_type": DEFAULT_TYPE if DEFAULT_TYPE in console.catalogue else "",
                  "volume_size": str(DEFAULT_VOLUME_GB), "lifecycle_config": "", "role_arn": "",
                  "direct_internet": "Enabled", "root_access": "Enabled", "tags": []}
        return await create_form(view, values)

    async def create(view: View) -> Response:
        values, params, errors = read_instance_form(view)
        if errors:
            return await create_form(view, values, errors, view.t("Correct the fields marked below."), 400)
        try:
            await view.call("sagemaker", "CreateNotebookInstance", params)
        except ServiceError as err:
            return await create_form(view, values, error=f"{err.code}: {err.message}", status=400)
        return view.redirect(view.url(f"/sagemaker/notebook-instances/{params['NotebookInstanceName']}"),
                             view.t("Creating notebook instance %(name)s.", name=params["NotebookInstanceName"]))

    # --- detail ------------------------------------------------------------------------------------------------

    async def tags_of(view: View, arn: str) -> list[dict] | None:
        try:
            return (await view.call("sagemaker", "ListTags", {"ResourceArn": arn, "MaxResults": 50})).get("Tags", [])
        except ServiceError:
            return None

    async def detail(view: View) -> Response:
        name = view.request.path_params["name"]
        try:
            instance = await view.call("sagemaker", "DescribeNotebookInstance", {"NotebookInstanceName": name})
        except ServiceError as err:
            return gone(view, name, err)
        state = instance["NotebookInstanceStatus"]
        placement = (await console.placement(view.session.account_id, view.region, instance["NotebookInstanceName"])
                     if state in RUNNING else None)
        values = dict(
            instance=instance, name=name, state=state, actions=ACTIONS, status_class=status_class,
            busy=state in TRANSITIONAL, running=state in RUNNING, hourly=hourly(instance["InstanceType"]),
            failure_log=await failure_log(view, name) if state == "Failed" else None,
            idle_stop=await idle_stop(view, name, instance["LastModifiedTime"])
            if state in ("Stopping", "Stopped") else None,
            logs_url=log_group_url(view, LOG_GROUP, f"{name}/"),
            self_url=view.url(f"/sagemaker/notebook-instances/{name}"), placement=placement,
            gpus=gpu_line(view, placement, console.catalogue.get(instance["InstanceType"])) if placement else None,
        )
        if view.fragment == "status":
            return view.render("sagemaker/_instance_detail.html", **values)
        used = await console.volume_used(view.session.account_id, view.region, instance["NotebookInstanceName"])
        return view.render("sagemaker/instance.html", tags=await tags_of(view, instance["NotebookInstanceArn"]),
                           volume_used=used, unenforced=console.unenforced, **values)

    def gone(view: View, name: str, err: ServiceError) -> Response:
        if "RecordNotFound" not in err.message:
            raise err
        if view.fragment:  # a poll of an instance just deleted: back to the list
            response = Response(status_code=200)
            response.headers["HX-Redirect"] = view.url("/sagemaker/notebook-instances")
            return response
        return view.render("error.html", status=404, code="RecordNotFound", message=view.t(
            "There is no notebook instance named %(name)s in %(region)s.", name=name,
            region=view.regions_name(view.region)))

    # --- lifecycle configurations ------------------------------------------------------------------------------

    async def lifecycle_configs(view: View) -> Response:
        return view.render("sagemaker/lifecycle_configs.html", configs=await all_lifecycle_configs(view))

    async def lifecycle_config(view: View) -> Response:
        name = view.request.path_params["name"]
        config = await view.call("sagemaker", "DescribeNotebookInstanceLifecycleConfig",
                                 {"NotebookInstanceLifecycleConfigName": name})
        try:
            users = [i for i in await all_instances(view, NotebookInstanceLifecycleConfigNameContains=name)
                     if i.get("NotebookInstanceLifecycleConfigName") == name]
        except ServiceError:
            users = None
        return view.render("sagemaker/lifecycle_config.html", config=config, users=users,
                           on_create=decode_script(config.get("OnCreate")),
                           on_start=decode_script(config.get("OnStart")))

    async def lifecycle_config_form(view: View) -> Response:
        return view.render("sagemaker/lifecycle_config_create.html", values={}, error=None)

    async def create_lifecycle_config(view: View) -> Response:
        values = {key: str(view.form.get(key, "")) for key in ("name", "on_create", "on_start")}
        name = values["name"].strip()
        params = {"NotebookInstanceLifecycleConfigName": name, "OnCreate": encode_script(values["on_create"]),
                  "OnStart": encode_script(values["on_start"])}
        error = None if name else view.t("Enter a name for the lifecycle configuration.")
        if error is None:
            try:
                await view.call("sagemaker", "CreateNotebookInstanceLifecycleConfig", params)
            except ServiceError as err:
                error = f"{err.code}: {err.message}"
        if error:
            return view.render("sagemaker/lifecycle_config_create.html", status=400, values=values, error=error)
        return view.redirect(view.url(f"/sagemaker/lifecycle-configurations/{name}"),
                             view.t("Created lifecycle configuration %(name)s.", name=name))

    return [
        console.route("/sagemaker/notebook-instances", instances),
        console.route("/sagemaker/notebook-instances/create", create_page),
        console.route("/sagemaker/notebook-instances/create", create, methods=("POST",)),
        console.route("/sagemaker/notebook-instances/{name}", detail),
        console.route("/sagemaker/notebook-instances/{name}/open", open_jupyter),
        console.route("/sagemaker/notebook-instances/{name}/{action}", act, methods=("POST",)),
        console.route("/sagemaker/lifecycle-configurations", lifecycle_configs),
        console.route("/sagemaker/lifecycle-configurations/create", lifecycle_config_form),
        console.route("/sagemaker/lifecycle-configurations/create", create_lifecycle_config, methods=("POST",)),
        console.route("/sagemaker/lifecycle-configurations/{name}", lifecycle_config),
    ]
