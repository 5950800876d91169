"""What a sandbox sees of the host's file system: the system's programs, read-only, and nothing else.

Shown: /usr (with the merged-/usr links /bin, /sbin, /lib*), /opt but for /opt/ml, the Python and
package that run the sandbox, and a minimal /etc of its own: the host's configuration files that
programs need and that hold no secret, plus generated passwd/group/shadow (root and ec2-user only),
hosts, hostname, resolv.conf and sudoers. Hidden: everything else (/var, /srv, /mnt, the data directory,
the host's shadow, SSH keys, TLS private keys, database configuration...). A kept entry must also be readable
by every host user: what the host keeps from its own users it keeps from sandboxes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

# Top-level host directories shown read-only.
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "opt")
# Host /etc entries shown read-only: what programs read, never credentials or keys.
ETC_KEPT = (
    "alternatives", "bash.bashrc", "bash_completion", "bash_completion.d", "bindresvport.blacklist",
    "ca-certificates", "ca-certificates.conf", "debian_version", "default", "dpkg", "environment",
    "ethertypes", "fonts", "gai.conf", "host.conf", "inputrc", "issue", "issue.net", "ld.so.cache",
    "ld.so.conf", "ld.so.conf.d", "locale.alias", "locale.gen", "localtime", "login.defs", "magic",
    "magic.mime", "manpath.config", "mailcap", "mime.types", "mke2fs.conf", "netconfig", "networks",
    "nsswitch.conf", "os-release", "pam.conf", "pam.d", "perl", "profile.d", "protocols", "python3",
    "python3.11", "python3.12", "rpc", "services", "shells", "skel", "ssl/certs", "ssl/openssl.cnf",
    "ssh/ssh_config", "ssh/ssh_config.d", "sudo.conf", "terminfo", "timezone", "vim", "wgetrc", "X11",
    "xdg", "xml", "sgml", "security/limits.conf", "security/limits.d", "security/pam_env.conf",
    "security/access.conf", "security/group.conf", "security/time.conf", "security/namespace.conf",
    "ucf.conf", "java-17-openjdk", "R", "gitconfig", "pip.conf",
)
# Written for each sandbox (see write_etc).
ETC_GENERATED = ("passwd", "group", "shadow", "gshadow", "hosts", "hostname", "resolv.conf", "sudoers", "profile")


def system_view() -> list[str]:
    """bwrap arguments for the host's system directories."""
    args = []
    for name in SYSTEM_DIRS:
        path = f"/{name}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path] if name != "opt" else _opt_view()
    return args


def needed_view(needed: set[str]) -> list[str]:
    """bwrap arguments showing `needed` host paths (the Python that runs the sandbox) wherever they are;
    after the sandbox's fresh directories, which they may lie in (a Python under /root)."""
    shown = tuple(f"/{name}/" for name in SYSTEM_DIRS)
    args = []
    for path in sorted(needed):
        if not (path + "/").startswith(shown):
            args += bind_below_fresh("--ro-bind", path)
    return args


def _opt_view() -> list[str]:
    """The host's /opt without /opt/ml, which is the sandbox's own."""
    args = ["--dir", "/opt"]
    for entry in sorted(os.scandir("/opt"), key=lambda e: e.name):
        if entry.name != "ml":
            args += ["--symlink", os.readlink(entry.path), entry.path] if entry.is_symlink() else [
                "--ro-bind", entry.path, entry.path]
    return args


def etc_view(generated: Path) -> list[str]:
    """bwrap arguments for a read-only /etc of kept host entries and this sandbox's generated files."""
    args = ["--tmpfs", "/etc"]
    made_dirs: set[str] = set()
    for entry in ETC_KEPT:
        host = f"/etc/{entry}"
        if not os.path.lexists(host) or not _world_readable(host):
            continue  # what the host keeps from its own users (mode o-r) it keeps from sandboxes too
        parent = os.path.dirname(host)
        if parent != "/etc" and parent not in made_dirs:
            args += ["--dir", parent]
            made_dirs.add(parent)
        args += ["--symlink", os.readlink(host), host] if os.path.islink(host) else ["--ro-bind", host, host]
    for name in ETC_GENERATED:
        if (generated / name).exists():
            args += ["--ro-bind", str(generated / name), f"/etc/{name}"]
    args += ["--symlink", "../proc/self/mounts", "/etc/mtab", "--remount-ro", "/etc"]
    return args


def write_etc(directory: Path, *, hostname: str, user: str, uid: int, gid: int, home: str,
              resolv_conf: str, sudo_path: str, profile_tail: str, root_access: bool = True,
              profile_base: str | None = None) -> None:
    """Generate the sandbox's own identity files into `directory` (host side, never sandbox-writable; or
    the upper layer of an instance on the image, which root inside may change as a VM's root would).

    Without `root_access` (RootAccess Disabled) the user is not in sudoers. With `profile_base` (the host's
    /etc/profile) the profile is that and `profile_tail`; without, `profile_tail` goes to profile.d.
    """
    directory.mkdir(mode=0o755, exist_ok=True)
    files = {
        "passwd": f"root:x:0:0:root:/root:/bin/bash\n{user}:x:{uid}:{gid}::{home}:/bin/bash\n"
                  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        "group": f"root:x:0:\n{user}:x:{gid}:\nnogroup:x:65534:\n",
        "shadow": f"root:*:19000:0:99999:7:::\n{user}:!:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n",
        "gshadow": f"root:*::\n{user}:!::\nnogroup:*::\n",
        "hosts": f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n",
        "hostname": hostname + "\n",
        "resolv.conf": resolv_conf,
        # sudo resets PATH to secure_path: keep the notebook environment on it, as SageMaker keeps conda's.
        "sudoers": f'Defaults env_reset\nDefaults secure_path="{sudo_path}"\n'
                   "root ALL=(ALL:ALL) ALL\n" + (f"{user} ALL=(ALL) NOPASSWD:ALL\n" if root_access else ""),
    }
    if profile_base is None:
        (directory / "profile.d").mkdir(mode=0o755, exist_ok=True)
        files["profile.d/selfmaker.sh"] = profile_tail
    else:
        files["profile"] = profile_base + profile_tail
    modes = {"shadow": 0o640, "gshadow": 0o640, "sudoers": 0o440}
    for name, text in files.items():
        path = directory / name
        path.write_text(text)
        path.chmod(modes.get(name, 0o644))


def host_profile() -> str:
    return _read("/etc/profile")


def host_resolv_conf() -> str:
    """The host's resolver configuration, for sandboxes that share the host's network."""
    return _read("/etc/resolv.conf")


def bind_below_fresh(kind: str, path: str) -> list[str]:
    """bwrap arguments binding a host path at the same place below a directory the sandbox gets fresh.

    bwrap would create the missing parents with mode 0700; ec2-user must be able to traverse them.
    """
    args = []
    for parent in reversed(Path(path).parents[:-1]):
        args += ["--perms", "0755", "--dir", str(parent)]
    return [*args, kind, path, path]


def _world_readable(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & stat.S_IROTH)
    except OSError:
        return os.path.islink(path)  # a dangling link shows nothing


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        return ""
