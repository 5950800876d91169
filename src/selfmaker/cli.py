"""The ``selfmaker`` command."""

from __future__ import annotations

import configparser
import ipaddress
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from selfmaker.config import Settings
from selfmaker.mail import DEFAULT_SENDER
from selfmaker.services.sagemaker.notebook_hosts import valid_domain

app = typer.Typer(help="Selfmaker: SageMaker notebook instances, self-hosted.", no_args_is_help=True)

PROFILE = "selfmaker"
# The store, for `up` and every command that reads it: a database URL, else SQLite in the data dir.
_DATABASE_OPTION = typer.Option(
    "--database", envvar="SELFMAKER_DATABASE_URL", show_default=False,
    help="The store: postgresql://user:pass@host/db (default: SQLite, selfmaker.db in the data dir).")


@app.callback()
def main_options() -> None:
    """Selfmaker: SageMaker notebook instances, self-hosted."""


def write_aws_profile(settings: Settings, access_key_id: str, secret_access_key: str) -> Path:
    """Write the ``selfmaker`` profile so that ``aws --profile selfmaker …`` needs no other flag."""
    aws_dir = Path(os.environ.get("AWS_CONFIG_FILE", Path.home() / ".aws" / "config")).parent
    aws_dir.mkdir(parents=True, exist_ok=True)
    config_path = Path(os.environ.get("AWS_CONFIG_FILE", aws_dir / "config"))
    credentials_path = Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE", aws_dir / "credentials"))
    config = configparser.ConfigParser()
    config.read(config_path)
    config[f"profile {PROFILE}"] = {
        "region": settings.default_region,
        "endpoint_url": settings.endpoint_url,
        "output": "json",
    }
    credentials = configparser.ConfigParser()
    credentials.read(credentials_path)
    credentials[PROFILE] = {"aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key}
    with config_path.open("w") as f:
        config.write(f)
    with os.fdopen(os.open(credentials_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        credentials.write(f)
    return config_path


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    data_dir: Annotated[
        Path, typer.Option(envvar="SELFMAKER_DATA_DIR", help="Where the store, volumes and logs live.")
    ] = Path("./data"),
    database: Annotated[str | None, _DATABASE_OPTION] = None,
    smtp_url: Annotated[str | None, typer.Option(
        envvar="SELFMAKER_SMTP_URL", help="Send mail via smtp[s]://user:pass@host:port (else: the outbox).")] = None,
    mail_from: Annotated[str, typer.Option(
        envvar="SELFMAKER_MAIL_FROM", help="From address of the mail Selfmaker sends.")] = DEFAULT_SENDER,
    public_url: Annotated[str | None, typer.Option(
        envvar="SELFMAKER_PUBLIC_URL",
        help="The URL people reach this server at, for the links it hands out (default: http://HOST:PORT).")] = None,
    notebook_domain: Annotated[str, typer.Option(
        envvar="SELFMAKER_NOTEBOOK_DOMAIN",
        help="Each notebook instance's Jupyter is at <name>-<account>.notebook.<region>.DOMAIN (on the public "
             "URL's scheme and port); a shared machine needs wildcard DNS for it. Default: localhost.")] = "localhost",
    runtime: Annotated[str, typer.Option(
        envvar="SELFMAKER_RUNTIME",
        help="Where notebook instances run: local (this host) or slurm (batch jobs of the Slurm cluster this "
             "host submits to). instance-types.yaml may set `runtime:` per type.")] = "local",
    slurm_dir: Annotated[Path | None, typer.Option(
        envvar="SELFMAKER_SLURM_DIR", show_default=False,
        help="Slurm: a directory every node mounts at the same path, for job directories and volumes "
             "(default: DATA_DIR/slurm, for a single-node cluster).")] = None,
    slurm_gateway: Annotated[str, typer.Option(
        envvar="SELFMAKER_SLURM_GATEWAY",
        help="Slurm: HOST[:PORT] to listen on for the nodes' agents (they reach this server there).")] = "0.0.0.0",
    slurm_partition: Annotated[str, typer.Option(
        envvar="SELFMAKER_SLURM_PARTITION", show_default=False,
        help="Slurm: the partition to submit to (default: the cluster's; instance-types.yaml may set "
             "`partition:` per type).")] = "",
    slurm_time_limit: Annotated[str, typer.Option(
        envvar="SELFMAKER_SLURM_TIME_LIMIT", show_default=False,
        help="Slurm: a time limit for each instance's job (sbatch --time: minutes, HH:MM:SS or D-HH:MM:SS); "
             "an instance that reaches it is Stopped.")] = "",
    test_mode: Annotated[bool, typer.Option(
        "--test-mode", envvar="SELFMAKER_TEST_MODE",
        help="For test suites: POST /moto-api/reset (moto's server-mode reset) empties the store and deletes "
             "every notebook instance. Loopback addresses only.")] = False,
) -> None:
    """Run the server in the foreground (SQLite store unless --database, local runtime)."""
    import uvicorn

    from selfmaker.gateway.app import build_server
    from selfmaker.mail import open_mailer

    if public_url and not public_url.startswith(("http://", "https://")):
        raise typer.BadParameter("must start with http:// or https://", param_hint="--public-url")
    notebook_domain = notebook_domain.strip().strip(".").lower()
    if not valid_domain(notebook_domain):
        raise typer.BadParameter("must be a DNS name such as localhost or nb.example.edu",
                                 param_hint="--notebook-domain")
    if test_mode and not _loopback(host):
        raise typer.BadParameter("a server anyone can reach must not be resettable: use --host 127.0.0.1",
                                 param_hint="--test-mode")
    settings = Settings(data_dir=data_dir.resolve(), database_url=database, host=host, port=port, smtp_url=smtp_url,
                        mail_from=mail_from, public_url=public_url, notebook_domain=notebook_domain,
                        test_mode=test_mode, runtime=runtime, slurm_dir=slurm_dir.resolve() if slurm_dir else None,
                        slurm_gateway=slurm_gateway, slurm_partition=slurm_partition,
                        slurm_time_limit=slurm_time_limit)
    try:
        mail_target = open_mailer(settings.outbox_dir, settings.smtp_url, settings.mail_from).describe()
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--smtp-url/--mail-from") from None
    from selfmaker.runtime.choice import RuntimeConfigError
    from selfmaker.services.base import ServiceError
    from selfmaker.services.quotas import QuotaConfigError
    from selfmaker.services.sagemaker.idle_config import IdleConfigError
    from selfmaker.store.db import StoreError, redacted

    try:
        server = build_server(settings)
    except ServiceError as err:  # a root password that breaks the password policy
        typer.echo(f"selfmaker up: SELFMAKER_ROOT_PASSWORD: {err.message}", err=True)
        raise typer.Exit(2) from None
    except (QuotaConfigError, IdleConfigError, RuntimeConfigError) as err:
        typer.echo(f"selfmaker up: {err}", err=True)
        raise typer.Exit(2) from None
    except StoreError as err:
        typer.echo(f"selfmaker up: --database: {err}", err=True)
        raise typer.Exit(2) from None
    config_path = write_aws_profile(settings, server.root.access_key_id, server.root.secret_access_key)
    typer.echo(f"Selfmaker listening on {settings.endpoint_url}  (data: {settings.data_dir}, store: "
               f"{redacted(settings.database)})")
    typer.echo(f"AWS profile '{PROFILE}' written to {config_path}; try:")
    typer.echo(f"  aws --profile {PROFILE} sagemaker list-notebook-instances")
    for missing in server.orchestrator.runtime.unenforced():
        typer.echo(f"Warning: this host cannot enforce {missing} for notebook instances.", err=True)
    _build_image_in_background(server.orchestrator.runtime.runtimes["local"])
    typer.echo(f"Mail goes to {mail_target}" + ("" if settings.smtp_url else "; read it with `selfmaker mail`"))
    typer.echo(f"Console: {settings.endpoint_url}/console/  (account {server.root.account_id}, root user)")
    typer.echo(f"Notebook instances: <name>-{server.root.account_id}.notebook.<region>.{settings.notebook_domain}")
    if test_mode:
        typer.echo("Test mode: POST /moto-api/reset deletes every resource of this server.", err=True)
    if server.generated_root_password:
        typer.echo(f"  Root password: {server.generated_root_password}\n  (shown this once; to choose it instead, "
                   "set SELFMAKER_ROOT_PASSWORD before the first start)")
    uvicorn.run(
        server.app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
        timeout_graceful_shutdown=5,
    )


@app.command()
def mail(
    data_dir: Annotated[
        Path, typer.Option(envvar="SELFMAKER_DATA_DIR", help="The server's data directory.")
    ] = Path("./data"),
    show: Annotated[str | None, typer.Option(help="Show the message with this id, and its links.")] = None,
) -> None:
    """List the outbox: the mail kept because no SMTP server is configured, or because sending failed."""
    from selfmaker.mail import Outbox, body_text, links
    from selfmaker.mail.outbox import STATUS_HEADER

    outbox = Outbox(Settings(data_dir=data_dir.resolve()).outbox_dir)
    if show is not None:
        message = outbox.get(show)
        if message is None:
            typer.echo(f"selfmaker mail: no message {show!r} in {outbox.directory}", err=True)
            raise typer.Exit(1)
        for header in ("Date", "From", "To", "Subject", STATUS_HEADER):
            typer.echo(f"{header}: {str(message.get(header, '')).strip()}")
        typer.echo("\n" + body_text(message).rstrip())
        found = links(message)
        if found:
            typer.echo("\nLinks:")
            for link in found:
                typer.echo(f"  {link}")
        return
    entries = outbox.list()
    if not entries:
        typer.echo(f"The outbox is empty ({outbox.directory}).")
        return
    typer.echo(f"{'ID':<31}  {'TIME':<19}  {'TO':<30}  SUBJECT")
    for entry in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.time))
        note = f"  [{entry.status}]" if entry.status.startswith("undelivered") else ""
        typer.echo(f"{entry.id:<31}  {when:<19}  {entry.to:<30}  {entry.subject}{note}")
    typer.echo(f"\n{len(entries)} message(s); show one with: selfmaker mail --show ID")



@app.command("root-password")
def root_password(
    data_dir: Annotated[
        Path, typer.Option(envvar="SELFMAKER_DATA_DIR", help="The server's data directory.")
    ] = Path("./data"),
    database: Annotated[str | None, _DATABASE_OPTION] = None,
    password: Annotated[str, typer.Option(
        envvar="SELFMAKER_ROOT_PASSWORD", prompt="New root password", hide_input=True, confirmation_prompt=True,
        help="The new password (asked for when not given).")] = "",
) -> None:
    """Set the account root's console password (the old one, and the sessions signed in with it, end)."""
    from selfmaker.console.root_password import ensure_root_password, set_root_password
    from selfmaker.services.base import ServiceError
    from selfmaker.store.db import StoreError, open_store

    settings = Settings(data_dir=data_dir.resolve(), database_url=database)
    if not settings.has_store():
        typer.echo(f"selfmaker root-password: no server data in {settings.data_dir}", err=True)
        raise typer.Exit(1)
    try:
        engine = open_store(settings.database)
    except StoreError as err:
        typer.echo(f"selfmaker root-password: --database: {err}", err=True)
        raise typer.Exit(2) from None
    try:
        ensure_root_password(engine)
        set_root_password(engine, password)
    except ServiceError as err:
        typer.echo(f"selfmaker root-password: {err.message}", err=True)
        raise typer.Exit(2) from None
    typer.echo("The root user's console password is changed.")


def _build_image_in_background(runtime) -> None:
    """The instance image, built once per host: in the background, so the API answers meanwhile; the first
    start waits for it."""
    import threading

    from selfmaker.runtime.image.rootfs import ImageError

    if getattr(runtime, "images", None) is None or runtime.images.ready(runtime.data_dir) is not None:
        return

    def build() -> None:
        typer.echo("Building the instance image (once per host, a few minutes; instances wait for it)...")
        try:
            runtime.ensure_image(lambda line: typer.echo(f"  {line}"))
        except (ImageError, OSError) as err:
            typer.echo(f"selfmaker up: the instance image could not be built: {err}", err=True)
            return
        typer.echo("The instance image is ready.")

    threading.Thread(target=build, name="image-build", daemon=True).start()


image_app = typer.Typer(help="The instance image that notebook instances run on (built once per host).",
                        no_args_is_help=True)
app.add_typer(image_app, name="image")


def _runtime(data_dir: Path):
    from selfmaker.runtime.local import LocalRuntime

    runtime = LocalRuntime(data_dir.resolve())
    if runtime.images is None:
        typer.echo("No instance image here: it needs root (instances see the host's programs).", err=True)
        raise typer.Exit(1)
    return runtime


_DATA_DIR_OPTION = typer.Option(envvar="SELFMAKER_DATA_DIR", help="The data dir whose lists to follow.")


@image_app.command("build")
def image_build(data_dir: Annotated[Path, _DATA_DIR_OPTION] = Path("./data")) -> None:
    """Build what the image lacks (the admin's packages and environments), showing progress."""
    from selfmaker.runtime.image.rootfs import ImageError

    runtime = _runtime(data_dir)
    try:
        image = runtime.ensure_image(typer.echo)
    except ImageError as err:
        typer.echo(f"selfmaker image build: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Ready: {image.rootfs} with {', '.join(image.environments)}")


@image_app.command("prune")
def image_prune(data_dir: Annotated[Path, _DATA_DIR_OPTION] = Path("./data")) -> None:
    """Delete the image directories this data dir's lists no longer use (stop instances of others first)."""
    runtime = _runtime(data_dir)
    for path in runtime.images.unused(runtime.data_dir):
        typer.echo(f"removing {path}")
        runtime.images.remove(path)


quota_app = typer.Typer(help="Service Quotas increase requests: list them, open, approve, deny or close them. "
                             "Each change mails the requester (SELFMAKER_SMTP_URL, else the outbox).",
                        no_args_is_help=True)
app.add_typer(quota_app, name="quota")
_QUOTA_DATA_DIR = typer.Option(envvar="SELFMAKER_DATA_DIR", help="The server's data directory.")
_REQUEST_ID = typer.Argument(metavar="ID", help="The request's Id.")


def _quota_store(data_dir: Path, database: str | None, command: str):
    from selfmaker.store.db import StoreError, open_store

    settings = Settings(data_dir=data_dir.resolve(), database_url=database)
    if not settings.has_store():
        typer.echo(f"selfmaker quota {command}: no server data in {settings.data_dir}", err=True)
        raise typer.Exit(1)
    try:
        return open_store(settings.database)
    except StoreError as err:
        typer.echo(f"selfmaker quota {command}: --database: {err}", err=True)
        raise typer.Exit(2) from None


def _quota_book(data_dir: Path, command: str):
    from selfmaker.domain.instance_types import load_catalogue
    from selfmaker.services.quotas import QuotaConfigError, load_quota_book

    try:
        return load_quota_book(data_dir.resolve(), load_catalogue(data_dir.resolve()))
    except QuotaConfigError as err:
        typer.echo(f"selfmaker quota {command}: {err}", err=True)
        raise typer.Exit(2) from None


@quota_app.command("list")
def quota_list(
    data_dir: Annotated[Path, _QUOTA_DATA_DIR] = Path("./data"),
    database: Annotated[str | None, _DATABASE_OPTION] = None,
    pending: Annotated[bool, typer.Option("--pending", help="Only the requests still to decide.")] = False,
) -> None:
    """Every account's quota increase requests, oldest first; then the per-user limits and the host's devices."""
    from selfmaker.services.quotas import records
    from selfmaker.services.quotas.capacity import host_devices
    from selfmaker.services.quotas.catalogue import count_text

    rows = [row for row in records.all_requests(_quota_store(data_dir, database, "list"))
            if not pending or row.status in records.OPEN]
    if not rows:
        typer.echo("No quota increase requests.")
    else:
        typer.echo(f"{'ID':<32}  {'STATUS':<11}  {'CREATED':<19}  {'ACCOUNT':<12}  {'REGION':<14}  {'DESIRED':>7}  "
                   "QUOTA  REQUESTER")
        for row in rows:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.created))
            typer.echo(f"{row.request_id:<32}  {row.status:<11}  {when:<19}  {row.account_id:<12}  "
                       f"{row.region:<14}  {count_text(row.desired_value):>7}  {row.quota_code} ({row.quota_name})  "
                       f"{row.requester}")
        typer.echo(f"\n{len(rows)} request(s); take one up with: selfmaker quota open ID; decide it with: "
                   "selfmaker quota approve ID [--value N] | deny ID | close ID")
    per_user = [quota for quota in _quota_book(data_dir, "list").all() if quota.per_user is not None]
    if per_user:
        typer.echo("\nPer-user limits (quotas.yaml per_user; running instances per creator, every region): "
                   + ", ".join(f"{quota.instance_type or 'total'} {count_text(quota.per_user)}" for quota in per_user))
    devices = host_devices()
    typer.echo(f"This host has {devices.gpus} GPU(s) and {devices.accelerators} AWS Neuron device(s): GPU and "
               "accelerator quotas never exceed what they can run.")


def _change(data_dir: Path, database: str | None, command: str, request_id: str, value: float | None = None
            ) -> None:
    import asyncio

    from selfmaker.mail import open_mailer
    from selfmaker.services.quotas import records
    from selfmaker.services.quotas.catalogue import MAX_VALUE, count_text
    from selfmaker.services.quotas.desk import QuotaDesk

    if value is not None and not 0 <= value <= MAX_VALUE:
        raise typer.BadParameter(f"must be from 0 to {MAX_VALUE}", param_hint="--value")
    settings = Settings(data_dir=data_dir.resolve())
    try:
        mailer = open_mailer(settings.outbox_dir, settings.smtp_url, settings.mail_from)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="SELFMAKER_SMTP_URL/SELFMAKER_MAIL_FROM") from None
    desk = QuotaDesk(_quota_store(data_dir, database, command), _quota_book(data_dir, command), mailer)
    act = {"open": desk.open_case, "approve": lambda rid: desk.approve(rid, value), "deny": desk.deny,
           "close": desk.close}[command]
    try:
        outcome = asyncio.run(act(request_id))
    except records.DecisionError as err:
        typer.echo(f"selfmaker quota {command}: {err}", err=True)
        raise typer.Exit(1) from None
    row = outcome.row
    if command == "approve":
        typer.echo(f"Approved: {row.quota_name} ({row.quota_code}) is {count_text(outcome.applied)} for account "
                   f"{row.account_id} in {row.region}.")
        if outcome.asked is not None:
            typer.echo(f"Capped: {count_text(outcome.asked)} was asked, but this host's GPUs or Neuron devices run "
                       f"at most {count_text(outcome.applied)} at once.")
    else:
        done = {"open": "Case opened", "deny": "Denied", "close": "Closed"}[command]
        typer.echo(f"{done}: request {row.request_id} for {row.quota_name} in {row.region}.")
    typer.echo(f"Mail to the requester: {outcome.mail}")


@quota_app.command("open")
def quota_open(
    request_id: Annotated[str, _REQUEST_ID],
    data_dir: Annotated[Path, _QUOTA_DATA_DIR] = Path("./data"),
    database: Annotated[str | None, _DATABASE_OPTION] = None,
) -> None:
    """Take a PENDING request up: it becomes CASE_OPENED, and the requester hears it is being reviewed."""
    _change(data_dir, database, "open", request_id)


@quota_app.command("approve")
def quota_approve(
    request_id: Annotated[str, _REQUEST_ID],
    value: Annotated[float | None, typer.Option(help="Apply this value instead of the one asked for.")] = None,
    data_dir: Annotated[Path, _QUOTA_DATA_DIR] = Path("./data"),
    database: Annotated[str | None, _DATABASE_OPTION] = None,
) -> None:
    """Approve a request: the account's quota in its region becomes the value (at once, no restart), capped by
    what this host's GPUs or Neuron devices can run."""
    _change(data_dir, database, "approve", request_id, value)


@quota_app.command("deny")
def quota_deny(
    request_id: Annotated[str, _REQUEST_ID],
    data_dir: Annotated[Path, _QUOTA_DATA_DIR] = Path("./data"),
    database: Annotated[str | None, _DATABASE_OPTION] = None,
) -> None:
    """Deny a request: the quota stays as it is."""
    _change(data_dir, database, "deny", request_id)


@quota_app.command("close")
def quota_close(
    request_id: Annotated[str, _REQUEST_ID],
    data_dir: Annotated[Path, _QUOTA_DATA_DIR] = Path("./data"),
    database: Annotated[str | None, _DATABASE_OPTION] = None,
) -> None:
    """Close a request without a decision (CASE_CLOSED): the quota stays as it is."""
    _change(data_dir, database, "close", request_id)


@app.command()
def usage(
    by: Annotated[str, typer.Option(help="One row per: instance, user, type, or tag KEY.")] = "instance",
    tag: Annotated[str | None, typer.Argument(metavar="[KEY]", help="The tag key, with --by tag.")] = None,
    month: Annotated[str | None, typer.Option(help="The month, YYYY-MM (default: this one, UTC).")] = None,
    data_dir: Annotated[Path, typer.Option(envvar="SELFMAKER_DATA_DIR", help="The server's data directory.")]
    = Path("./data"),
    database: Annotated[str | None, _DATABASE_OPTION] = None,
) -> None:
    """Hours and cost of notebook instances in a month, every account's, read from the store."""
    from selfmaker.usage import UsageError, lines, report

    try:
        result = report(data_dir, by, tag, month, database)
    except UsageError as err:
        typer.echo(f"selfmaker usage: {err}", err=True)
        raise typer.Exit(1) from None
    for line in lines(result):
        typer.echo(line)


@app.command()
def launch(
    template: Annotated[str, typer.Argument(help="Bundled template to launch.")] = "fastai",
    email: Annotated[str, typer.Option(help="Where to mail the Jupyter link when setup is done.")] = "",
    instance_type: Annotated[str, typer.Option(help="Notebook instance type.")] = "ml.t3.medium",
    stack_name: Annotated[str, typer.Option(help="Stack name (default: the template's name).")] = "",
    profile: Annotated[str, typer.Option(help="AWS profile of the server (written by `selfmaker up`).")] = PROFILE,
    parameter: Annotated[
        list[str] | None, typer.Option("--parameter", "-p", help="Another template parameter, as Key=Value.")
    ] = None,
) -> None:
    """Launch a bundled stack (the fast.ai notebook by default), follow it, and print the Jupyter link."""
    import boto3
    import botocore.exceptions

    from selfmaker.launch import LaunchError, check_instance_type
    from selfmaker.launch import launch as launch_stack

    session = boto3.Session(profile_name=profile)
    endpoint_url = session.client("sts").meta.endpoint_url
    parameters = {"InstanceType": instance_type, "NotificationEmail": email}
    for pair in parameter or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"'{pair}' is not Key=Value", param_hint="--parameter")
        parameters[key] = value
    try:
        check_instance_type(instance_type, endpoint_url)
        url = launch_stack(session, endpoint_url, template, stack_name or f"{template}-stack", parameters, typer.echo)
    except (LaunchError, botocore.exceptions.ClientError) as exc:
        typer.echo(f"selfmaker launch: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"\nJupyter (this link works once, for 5 minutes):\n  {url}")


if __name__ == "__main__":
    app()
