"""SageMaker's conda layout, built once per host on the image: ``/home/ec2-user/anaconda3`` and its
environments, each a layer of its own that every instance's overlay stacks read-only.

The ``conda`` layer is anaconda3 itself: the ``base`` environment (a venv of the image's Python) with
``bin/conda``, ``bin/activate``, ``bin/deactivate`` and ``etc/profile.d/conda.sh`` (see assets/). Each
environment ``NAME`` is a venv at ``anaconda3/envs/NAME`` with its packages from PyPI (conda's channels are
not reachable here); every environment but ``JupyterSystemEnv`` is a Jupyter kernel ``conda_NAME`` (its
kernelspec in ``/usr/local/share/jupyter/kernels``, where Jupyter and nbconvert of any environment find it).

Which environments the host offers is the admin's ``<data dir>/image/environments.yaml`` (or the file that
``SELFMAKER_ENVIRONMENTS_FILE`` names)::

    python3: [ipykernel, boto3, numpy]        # NAME: the PyPI requirements of that environment
    pytorch_p310: [ipykernel, torch, torchvision]

Without one, ``DEFAULT_ENVIRONMENTS``. ``JupyterSystemEnv`` is always there, with the Jupyter that the
server itself runs (same versions), and whatever the admin's list adds to it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from selfmaker.runtime.image import rootfs
from selfmaker.runtime.image.steps import ImageError, run_logged, server_pins

FORMAT = 1  # bump when the layout of an environment's layer changes
CONDA_FORMAT = 2  # bump when the conda layer's does (its assets count by themselves)
CONDA_ROOT = "/home/ec2-user/anaconda3"
KERNELS_DIR = "/usr/local/share/jupyter/kernels"
JUPYTER_ENV = "JupyterSystemEnv"
HOST_PYTHON = "/.selfmaker-host/python"  # in the sandbox: modules the runtime puts there at every start
ASSETS = Path(__file__).with_name("assets")
DEFAULT_ENVIRONMENTS: dict[str, list[str]] = {
    "python3": ["ipykernel", "nbconvert", "boto3", "numpy", "pandas", "matplotlib"],
    # fastai too, beyond SageMaker's: the course's students then share it as well as PyTorch
    "pytorch_p310": ["ipykernel", "nbconvert", "boto3", "numpy", "pandas", "matplotlib", "scipy", "scikit-learn",
                     "pillow", "torch", "torchvision", "fastai"],
}
# The Jupyter of the server, so an instance behaves as the tests and the gateway expect.
_JUPYTER_DISTRIBUTIONS = ("jupyterlab", "jupyter_server", "notebook", "nbconvert")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_REQUIREMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9_,.-]+\])?([<>=!~]=?[A-Za-z0-9.*+!_-]+,?)*")
BUILD_TIMEOUT_S = 3600


@dataclass(frozen=True)
class Environment:
    name: str
    requirements: tuple[str, ...]

    @property
    def kernel(self) -> str | None:
        return None if self.name == JUPYTER_ENV else f"conda_{self.name}"

    def digest(self, below: str) -> str:
        config = (ASSETS / "jupyter_server_config.py").read_text() if self.name == JUPYTER_ENV else ""
        text = json.dumps({"format": FORMAT, "below": below, "name": self.name,
                           "requirements": list(self.requirements), "config": config})
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def jupyter_requirements() -> tuple[str, ...]:
    return server_pins(_JUPYTER_DISTRIBUTIONS)


def environments(data_dir: Path) -> list[Environment]:
    """The host's environments, JupyterSystemEnv first."""
    path = Path(os.environ.get("SELFMAKER_ENVIRONMENTS_FILE") or data_dir / "image" / "environments.yaml")
    listed = DEFAULT_ENVIRONMENTS
    if path.exists():
        try:
            listed = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ImageError(f"{path}: {err}") from None
        if not isinstance(listed, dict):
            raise ImageError(f"{path}: expected NAME: [requirements] lines")
    found = {JUPYTER_ENV: Environment(JUPYTER_ENV, jupyter_requirements())}
    for name, requirements in listed.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name) or name == "base":
            raise ImageError(f"{path}: {name!r} is not a usable environment name")
        if not isinstance(requirements, list) or not all(
                isinstance(r, str) and _REQUIREMENT.fullmatch(r.replace(" ", "")) for r in requirements):
            raise ImageError(f"{path}: {name}: expected a list of PyPI requirements such as numpy or torch>=2")
        wanted = [r.replace(" ", "") for r in requirements]
        if name == JUPYTER_ENV:
            found[name] = Environment(name, found[name].requirements + tuple(wanted))
        else:
            kernel = [] if any(re.match(r"ipykernel\b", r) for r in wanted) else ["ipykernel"]
            found[name] = Environment(name, tuple(kernel + wanted))
    return list(found.values())


class LayerBuilder:
    """Builds layers by running commands in a sandbox of the image (as root, with the host's network:
    the admin's own list, never a tenant's input)."""

    def __init__(self, bwrap: str, rootfs: Path, pip_cache: Path, progress: Callable[[str], None]):
        self.bwrap, self.rootfs, self.pip_cache, self.progress = bwrap, rootfs, pip_cache, progress

    def conda(self, dest: Path) -> None:
        """The ``base`` environment with conda's commands."""
        anaconda = _inside(dest, CONDA_ROOT)
        self._run(dest, f"python3 -m venv {CONDA_ROOT} && mkdir -p {CONDA_ROOT}/envs {CONDA_ROOT}/etc/profile.d")
        for name in ("activate", "activate.csh", "activate.fish", "Activate.ps1"):
            (anaconda / "bin" / name).unlink(missing_ok=True)
        for asset, target, mode in (("conda.py", "bin/conda", 0o755), ("activate.sh", "bin/activate", 0o755),
                                    ("deactivate.sh", "bin/deactivate", 0o755),
                                    ("conda.sh", "etc/profile.d/conda.sh", 0o644)):
            shutil.copyfile(ASSETS / asset, anaconda / target)
            (anaconda / target).chmod(mode)
        # Login shells (`sudo -u ec2-user -i`, as lifecycle scripts use) get the conda function too.
        profile_d = dest / "etc" / "profile.d"
        profile_d.mkdir(parents=True, mode=0o755)
        (dest / "etc").chmod(0o755)
        (profile_d / "conda.sh").write_text(
            f"[ -f {CONDA_ROOT}/etc/profile.d/conda.sh ] && . {CONDA_ROOT}/etc/profile.d/conda.sh\n")
        _own_home(dest)

    def environment(self, dest: Path, env: Environment) -> None:
        prefix = f"{CONDA_ROOT}/envs/{env.name}"
        quoted = " ".join(_sh_quote(r) for r in env.requirements)
        self.progress(f"image: environment {env.name}: pip install {' '.join(env.requirements)}")
        self._run(dest, f"python3 -m venv {prefix} && {prefix}/bin/python -m pip install "
                               f"--disable-pip-version-check --progress-bar off --upgrade pip {quoted}")
        env_dir = _inside(dest, prefix)
        if env.name == JUPYTER_ENV:
            # Jupyter lists only the conda_* kernels, as SageMaker's; its own Python is no kernel.
            shutil.rmtree(env_dir / "share" / "jupyter" / "kernels" / "python3", ignore_errors=True)
            config = env_dir / "etc" / "jupyter"
            config.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ASSETS / "jupyter_server_config.py", config / "jupyter_server_config.py")
            # https://localhost:8443 inside the instance (the extension in runtime/jupyter.py)
            extensions = config / "jupyter_server_config.d"
            extensions.mkdir(exist_ok=True)
            (extensions / "selfmaker.json").write_text(
                json.dumps({"ServerApp": {"jpserver_extensions": {"selfmaker_jupyter": True}}}))
            # Jupyter imports the server's identity provider and extension (runtime/jupyter.py) from there.
            for site in env_dir.glob("lib/python3*/site-packages"):
                (site / "selfmaker.pth").write_text(HOST_PYTHON + "\n")
        else:
            kernel = _inside(dest, KERNELS_DIR) / str(env.kernel)
            kernel.mkdir(parents=True)
            (kernel / "kernel.json").write_text(json.dumps(_kernelspec(env, prefix), indent=1))
        _own_home(dest)

    def _run(self, dest: Path, script: str) -> None:
        """Run ``script`` with the image as /, and ``dest``'s anaconda3 and Jupyter data over it, writable."""
        self.pip_cache.mkdir(parents=True, exist_ok=True)
        argv = [self.bwrap, "--ro-bind", str(self.rootfs), "/", "--dev", "/dev", "--proc", "/proc",
                "--tmpfs", "/tmp", "--tmpfs", "/run", "--tmpfs", "/home", "--tmpfs", "/root",
                "--tmpfs", "/usr/local/share", "--unshare-pid", "--unshare-ipc", "--die-with-parent",
                "--cap-drop", "ALL",  # root's files only: a package's setup code gets no more
                "--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf",
                "--ro-bind", rootfs.HOST_CA_BUNDLE, rootfs.HOST_CA_BUNDLE,
                "--bind", str(self.pip_cache), "/root/.cache/pip"]
        pip_view, pip_env = host_pip_view(self.pip_cache / "host-pip.conf")
        argv += pip_view
        for path in _top_dirs(dest, create=("home/ec2-user/anaconda3", "usr/local/share/jupyter")):
            argv += ["--bind", str(dest / path), "/" + path]
        argv += ["--", "/bin/sh", "-ec", script]
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
               "PIP_ROOT_USER_ACTION": "ignore", "PIP_CERT": rootfs.HOST_CA_BUNDLE,
               "PIP_CONFIG_FILE": "/root/.cache/pip/host-pip.conf"}
        env |= pip_env
        run_logged(argv, env, self.progress, lambda line: line.startswith(("Collecting", "Successfully")),
                   BUILD_TIMEOUT_S, "building an environment")


_PIP_SETTINGS = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CONSTRAINT", "PIP_TRUSTED_HOST",
                 "PIP_DEFAULT_TIMEOUT")
_HOST_VIEW = "/tmp/host"
# The host's, then the server user's (the build runs as root, with HOME=/root)
_PIP_CONFIGS = ("/etc/pip.conf", "/etc/xdg/pip/pip.conf", "~/.config/pip/pip.conf", "~/.pip/pip.conf")


def host_pip_view(merged: Path) -> tuple[list[str], dict[str, str]]:
    """What gives a build the host's pip settings (a lab's mirror, a folder of wheels): bwrap arguments
    showing the local folders and files they name, read-only, under /tmp/host (the image's root is
    read-only), and the PIP_* variables to set; the pip.conf files, merged and pointed there, go to
    ``merged``, which the build reads as PIP_CONFIG_FILE."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    for config in _PIP_CONFIGS:
        try:
            parser.read(os.path.expanduser(config))
        except configparser.Error:
            continue
    env = {k: v for k, v in os.environ.items() if k in _PIP_SETTINGS}
    values = [*env.values(), *(v for section in parser.sections() for v in parser[section].values())]
    local = set()
    for value in values:
        for word in value.split():
            path = word.removeprefix("file://")
            if path.startswith("/") and os.path.exists(path) and not path.startswith(("/proc", "/sys", "/dev")):
                local.add(os.path.dirname(path) if path.endswith("/simple") else path)

    def inside(value: str) -> str:
        words = []
        for word in value.split():
            scheme = "file://" if word.startswith("file://") else ""
            path = word.removeprefix(scheme)
            if any(path == p or path.startswith(p + "/") for p in local):
                word = scheme + _HOST_VIEW + path
            words.append(word)
        return " ".join(words)

    for section in parser.sections():
        for key, value in parser[section].items():
            parser[section][key] = inside(value)
    with open(merged, "w") as f:
        parser.write(f)
    args = []
    for path in sorted(local):
        args += ["--ro-bind", path, _HOST_VIEW + path]
    return args, {k: inside(v) for k, v in env.items()}


def _kernelspec(env: Environment, prefix: str) -> dict:
    # The kernel runs with its environment activated, as nb_conda_kernels does on SageMaker: `!pip`, `!python`
    # and `%conda` reach this environment.
    path = f"{prefix}/bin:{CONDA_ROOT}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return {
        "argv": [f"{prefix}/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": str(env.kernel),
        "language": "python",
        "env": {"PATH": path, "CONDA_PREFIX": prefix, "CONDA_DEFAULT_ENV": env.name},
        "metadata": {"debugger": True},
    }


def _inside(layer: Path, path: str) -> Path:
    return layer / path.lstrip("/")


def _top_dirs(layer: Path, create: tuple[str, ...] = ()) -> list[str]:
    """The deepest directories of a layer worth binding: its anaconda3 and its shared Jupyter data."""
    for path in create:
        (layer / path).mkdir(parents=True, exist_ok=True)
    return [p for p in ("home/ec2-user/anaconda3", "usr/local/share/jupyter") if (layer / p).is_dir()]


def _own_home(layer: Path) -> None:
    """ec2-user owns anaconda3 and all in it, as on SageMaker (so `pip install` needs no sudo)."""
    home = layer / "home"
    if not home.is_dir():
        return
    home.chmod(0o755)
    for directory, dirs, names in os.walk(home / "ec2-user"):
        os.lchown(directory, 1000, 1000)
        for name in dirs + names:
            os.lchown(os.path.join(directory, name), 1000, 1000)
    (home / "ec2-user").chmod(0o700)
    for path in ("usr", "usr/local", "usr/local/share", "usr/local/share/jupyter"):
        if (layer / path).is_dir():
            (layer / path).chmod(0o755)


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
