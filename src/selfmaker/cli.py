"""The ``selfmaker`` command."""

from __future__ import annotations

import configparser
import os
from pathlib import Path
from typing import Annotated

import typer

from selfmaker.config import Settings

app = typer.Typer(help="Selfmaker: SageMaker notebook instances, self-hosted.", no_args_is_help=True)

PROFILE = "selfmaker"


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


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    data_dir: Annotated[
        Path, typer.Option(envvar="SELFMAKER_DATA_DIR", help="Where the store, volumes and logs live.")
    ] = Path("./data"),
) -> None:
    """Run the server in the foreground (SQLite store, local runtime)."""
    import uvicorn

    from selfmaker.gateway.app import build_server

    settings = Settings(data_dir=data_dir.resolve(), host=host, port=port)
    server = build_server(settings)
    config_path = write_aws_profile(settings, server.root.access_key_id, server.root.secret_access_key)
    typer.echo(f"Selfmaker listening on {settings.endpoint_url}  (data: {settings.data_dir})")
    typer.echo(f"AWS profile '{PROFILE}' written to {config_path}; try:")
    typer.echo(f"  aws --profile {PROFILE} sagemaker list-notebook-instances")
    uvicorn.run(
        server.app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    app()
