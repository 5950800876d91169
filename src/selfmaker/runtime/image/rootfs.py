"""The Debian root file system of the instance image, made with mmdebstrap from Debian's packages.

It holds what SageMaker's notebook instances have and lifecycle scripts rely on (see ``BASE_PACKAGES``),
plus what the admin lists in ``<data dir>/image/packages.txt``. Its digest covers the suite, the package
list and ``FORMAT``, so a changed list builds a new root beside the old one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from selfmaker.runtime.image.steps import ImageError, run_logged, server_pins

FORMAT = 3  # bump when customize() changes what a root holds
BASE_PACKAGES = (
    # shells, the usual tools, an editor or two
    "bash", "coreutils", "util-linux", "procps", "psmisc", "less", "vim", "nano", "htop", "tmux", "file",
    "findutils", "grep", "sed", "gawk", "diffutils", "patch", "man-db", "lsof", "strace",
    # what scripts fetch and unpack with
    "curl", "wget", "ca-certificates", "openssl", "git", "jq", "unzip", "zip", "tar", "gzip", "bzip2",
    "xz-utils", "rsync", "openssh-client", "gnupg", "iproute2", "iputils-ping", "netbase", "dnsutils",
    # root, services, time
    "sudo", "cron", "tzdata", "locales",
    # builds of pip packages
    "build-essential", "pkg-config", "python3-dev",
    # Python 3 at /usr/bin/python3 (boto3 and the AWS CLI come from PyPI: see PYPI_TOOLS)
    "python3", "python-is-python3", "python3-venv", "python3-pip", "python3-yaml", "python3-requests",
    # fonts, for plots
    "fontconfig", "fonts-dejavu-core", "fonts-liberation",
)
# Into the system's Python from PyPI: Debian's are too old to take endpoint_url from ~/.aws/config, which
# is how scripts in an instance reach Selfmaker. The server's own versions.
PYPI_TOOLS = ("boto3", "awscli")
_PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")
MMDEBSTRAP_TIMEOUT_S = 1800
# The host's trust store: builds and instances trust what the host trusts (a lab's TLS-inspecting proxy).
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@dataclass(frozen=True)
class RootfsSpec:
    suite: str
    mirror: str
    packages: tuple[str, ...]
    tools: tuple[str, ...]  # PyPI requirements for the system's Python

    @property
    def digest(self) -> str:
        text = json.dumps({"format": FORMAT, "suite": self.suite, "mirror": self.mirror,
                           "packages": sorted(set(self.packages)), "tools": list(self.tools)})
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def admin_packages(path: Path) -> tuple[str, ...]:
    """The admin's extra Debian packages: one name a line, ``#`` starts a comment."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return ()
    names = []
    for number, line in enumerate(lines, 1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        if not _PACKAGE_NAME.fullmatch(name):
            raise ImageError(f"{path}, line {number}: {name!r} is not a Debian package name")
        names.append(name)
    return tuple(names)


def host_suite() -> str:
    """The host's Debian release (its code name), which the image follows unless told otherwise."""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            key, _, value = line.partition("=")
            if key == "VERSION_CODENAME" and value.strip('"'):
                return value.strip('"')
    except OSError:
        pass
    return "bookworm"


def host_mirror() -> str:
    """The Debian mirror the host's apt uses (a lab's own, say), else deb.debian.org."""
    uris = []
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            words = line.split("#", 1)[0].split()
            if words[:1] == ["URIs:"]:
                uris += words[1:]
            elif words[:1] == ["deb"]:
                uris += [w for w in words[1:] if "://" in w][:1]
    for uri in uris:
        if uri.startswith(("http://", "https://")) and not uri.rstrip("/").endswith("-security"):
            return uri.rstrip("/")
    return "http://deb.debian.org/debian"


def spec(data_dir: Path) -> RootfsSpec:
    suite = os.environ.get("SELFMAKER_IMAGE_SUITE") or host_suite()
    mirror = os.environ.get("SELFMAKER_DEBIAN_MIRROR") or host_mirror()
    return RootfsSpec(suite, mirror, BASE_PACKAGES + admin_packages(data_dir / "image" / "packages.txt"),
                      pypi_tools())


def pypi_tools() -> tuple[str, ...]:
    return server_pins(PYPI_TOOLS)


def build(dest: Path, rootfs: RootfsSpec, progress: Callable[[str], None], bwrap: str) -> None:
    """Make the root file system in ``dest`` (which must not exist)."""
    tool = shutil.which("mmdebstrap")
    if tool is None:
        raise ImageError("building the instance image needs mmdebstrap (apt-get install mmdebstrap)")
    mirrors = [rootfs.mirror]
    if rootfs.suite not in ("sid", "unstable") and rootfs.mirror.rstrip("/").endswith("/debian"):
        security = rootfs.mirror.rstrip("/") + "-security"
        mirrors.append(f"deb {security} {rootfs.suite}-security main")
    argv = [tool, "--mode=root", "--variant=apt", "--format=directory",
            "--include=" + ",".join(sorted(set(rootfs.packages))), rootfs.suite, str(dest), *mirrors]
    progress(f"building the instance image ({rootfs.suite}, {len(set(rootfs.packages))} packages) with mmdebstrap")
    run_logged(argv, _tool_env(), progress, lambda line: line.startswith("I: "), MMDEBSTRAP_TIMEOUT_S,
               "mmdebstrap")
    progress("image: " + ", ".join(rootfs.tools) + " from PyPI into /usr/bin/python3")
    _run_in(bwrap, dest, ["python3", "-m", "pip", "install", "--break-system-packages", "--no-cache-dir",
                          "--disable-pip-version-check", "--progress-bar", "off", *rootfs.tools])
    customize(dest)


def customize(root: Path) -> None:
    """What a notebook instance's root has beyond Debian's packages."""
    home = root / "home" / "ec2-user"
    home.mkdir(parents=True, exist_ok=True)
    for name in (".bashrc", ".profile", ".bash_logout"):
        skel = root / "etc" / "skel" / name
        if skel.exists():
            shutil.copyfile(skel, home / name)
    with open(home / ".bashrc", "a") as bashrc:
        bashrc.write("\n# conda, as on SageMaker: `conda activate NAME`, `source activate NAME`\n"
                     "[ -f ~/anaconda3/etc/profile.d/conda.sh ] && . ~/anaconda3/etc/profile.d/conda.sh\n")
    for path in [home, *home.iterdir()]:
        os.lchown(path, 1000, 1000)
    home.chmod(0o700)
    # crontab(1) is setgid crontab, which the sandbox's no_new_privs voids: let users write their own
    # crontabs (the sticky bit keeps them from replacing another's; cron checks each file's owner).
    spool = root / "var" / "spool" / "cron" / "crontabs"
    spool.mkdir(parents=True, exist_ok=True)
    spool.chmod(0o1733)
    (root / "opt" / "ml" / "metadata").mkdir(parents=True, exist_ok=True)
    # pip's own certifi would not know the host's CAs that each start copies into the system's bundle.
    (root / "etc" / "pip.conf").write_text(f"[global]\ncert = {HOST_CA_BUNDLE}\n")
    # Where Amazon Linux has them, and cron's PATH (/usr/bin:/bin) finds them.
    for tool in ("aws", "aws_completer"):
        if (root / "usr" / "local" / "bin" / tool).exists() and not (root / "usr" / "bin" / tool).exists():
            (root / "usr" / "bin" / tool).symlink_to(f"../local/bin/{tool}")
    (root / "etc" / "selfmaker-image").write_text("Selfmaker notebook instance image\n")


def _run_in(bwrap: str, root: Path, argv: list[str]) -> None:
    """Run a build step with ``root`` as /, writable, and the host's network and trust store."""
    command = [bwrap, "--bind", str(root), "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
               "--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf", "--ro-bind", HOST_CA_BUNDLE, HOST_CA_BUNDLE,
               "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--cap-drop", "ALL", "--", *argv]
    env = _tool_env() | {"PIP_CERT": HOST_CA_BUNDLE, "PIP_ROOT_USER_ACTION": "ignore"}
    result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            errors="replace", timeout=MMDEBSTRAP_TIMEOUT_S)
    if result.returncode != 0:
        raise ImageError(f"{' '.join(argv)} failed in the image:\n" + (result.stdout + result.stderr)[-3000:])


def _tool_env() -> dict[str, str]:
    return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
            "HOME": "/root", "TMPDIR": "/tmp"}
